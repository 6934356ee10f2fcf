//! rjup: one command from a project directory to a password-protected JupyterLab.

fn main() -> std::process::ExitCode {
    let cli = <rjup::cli::Cli as clap::Parser>::parse();
    match rjup::commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // A reader that stopped reading (`rjup logs | head`) got what it wanted.
        Err(err) if rjup::error::is_broken_pipe(&err) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rjup: error: {err:#}");
            std::process::ExitCode::from(rjup::error::exit_code(&err))
        }
    }
}
