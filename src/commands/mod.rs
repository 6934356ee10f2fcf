//! One file per verb. This module only picks the verb and runs it.

mod build;
mod check;
mod completions;
mod down;
mod init;
mod lock;
mod logs;
mod ls;
mod password;
mod status;
mod up;
mod view;

use crate::cli::{Cli, Command};
use crate::error::{Code, Error};

/// `--json`: stdout carries only JSON, so nothing may draw bars or stop to ask.
fn machine_output(json: bool) {
    if json {
        crate::progress::plain();
        crate::password::never_prompt();
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let project = cli.project.as_deref();
    match cli.command {
        Command::Completions(args) => completions::run(args),
        Command::Init(args) => init::run(project, args),
        command => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)?;
            runtime.block_on(async {
                let work = async {
                    match command {
                        Command::Up(args) => up::run(project, args).await,
                        Command::Down(args) => down::run(project, args).await,
                        Command::Check(args) => check::run(project, args).await,
                        Command::Build(args) => build::run(project, args).await,
                        Command::Lock(args) => lock::run(project, args).await,
                        Command::Ls(args) => ls::run(args).await,
                        Command::Status(args) => status::run(project, args).await,
                        Command::Logs(args) => logs::run(project, args).await,
                        Command::Password(args) => password::run(project, args).await,
                        Command::Completions(_) | Command::Init(_) => unreachable!("handled above"),
                    }
                };
                tokio::select! {
                    result = work => result,
                    _ = tokio::signal::ctrl_c() => {
                        up::abandon().await;
                        Err(Error::new(Code::Interrupted, "interrupted; nothing half-made was left behind, and `rjup up` picks up from here").into())
                    }
                }
            })
        }
    }
}
