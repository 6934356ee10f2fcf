//! rjup: one command from a project directory to a password-protected JupyterLab.

mod archive;
mod cli;
mod commands;
mod config;
mod engine;
mod environment;
mod error;
mod http;
mod image;
mod jupyter;
mod lab;
mod lock;
mod net;
mod password;
mod progress;
mod settings;
mod smoke;
mod state;
mod tls;
mod websocket;

fn main() -> std::process::ExitCode {
    let cli = <cli::Cli as clap::Parser>::parse();
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rjup: error: {err:#}");
            std::process::ExitCode::from(error::exit_code(&err))
        }
    }
}
