//! One file per verb. This module only picks the verb, decides how it prints, and
//! undoes what an interrupted verb left half-made.

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
mod user;

use crate::cli::{Cli, Command};
use crate::engine::endpoint::{Endpoint, Env};
use crate::error::Error;
use crate::runtime::cleanup::Cleanup;
use crate::ui::printer::{Level, Printer};

/// `--json` decides how a verb prints: stdout then carries only JSON, and nothing may
/// draw bars or stop to ask.
fn wants_json(command: &Command) -> bool {
    match command {
        Command::Up(a) => a.json,
        Command::Down(a) => a.json,
        Command::Check(a) => a.json,
        Command::Ls(a) => a.json,
        Command::Status(a) => a.json,
        Command::User(crate::cli::UserCommand::Ls(a)) => a.json,
        Command::Build(_)
        | Command::Lock(_)
        | Command::Logs(_)
        | Command::Password(_)
        | Command::User(_)
        | Command::Init(_)
        | Command::Completions(_)
        | Command::AcmeRenewer => false,
    }
}

/// Connects to the engine, remembering what kind it is in rjup's state between
/// commands ([`crate::engine::Engine::connect`]).
async fn connect(endpoint: &Endpoint) -> anyhow::Result<crate::engine::Engine> {
    crate::engine::Engine::connect(endpoint, crate::state::engines_dir().ok()).await
}

/// The project's lab for a verb that only finds it ([`crate::settings::find`]): an
/// rjup.yaml that cannot be used costs one warning line, and the verb goes on.
async fn find_lab(
    project: Option<&std::path::Path>,
    engine: &crate::engine::Engine,
    verb: &str,
    printer: Printer,
) -> anyhow::Result<crate::settings::Spec> {
    let found = crate::settings::find(project)?;
    if let Some(why) = &found.invalid {
        printer.warn(format!(
            "{why} (`rjup {verb}` goes on, finding the lab by its project directory; `rjup up` refuses the file until it is fixed)"
        ));
    }
    crate::runtime::identify(engine, found).await
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let project = cli.project.as_deref();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => Level::Quiet,
        (false, 0) => Level::Normal,
        (false, _) => Level::Verbose,
    };
    crate::ui::logging::init(cli.verbose);
    let printer = Printer::new(wants_json(&cli.command), level);
    match cli.command {
        Command::Completions(args) => completions::run(args),
        Command::Init(args) => init::run(project, args, printer),
        // In its own container: no engine, no project, no state directory.
        Command::AcmeRenewer => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)?
            .block_on(crate::acme::renewer::run()),
        command => {
            // Before anything else: a mistyped context costs nothing.
            let endpoint = Endpoint::resolve(cli.context.as_deref(), &Env::from_process())?;
            let endpoint = &endpoint;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)?;
            let cleanup = Cleanup::default();
            runtime.block_on(async {
                let work = async {
                    match command {
                        Command::Up(args) => {
                            up::run(project, endpoint, args, printer, &cleanup).await
                        }
                        Command::Down(args) => down::run(project, endpoint, args, printer).await,
                        Command::Check(args) => {
                            check::run(project, endpoint, args, printer, &cleanup).await
                        }
                        Command::Build(args) => build::run(project, endpoint, args, printer).await,
                        Command::Lock(args) => lock::run(project, endpoint, args, printer).await,
                        Command::Ls(args) => ls::run(endpoint, args, printer).await,
                        Command::Status(args) => {
                            status::run(project, endpoint, args, printer).await
                        }
                        Command::Logs(args) => logs::run(project, endpoint, args, printer).await,
                        Command::Password(args) => {
                            password::run(project, endpoint, args, printer, &cleanup).await
                        }
                        Command::User(command) => {
                            user::run(project, endpoint, command, printer, &cleanup).await
                        }
                        Command::Completions(_) | Command::Init(_) | Command::AcmeRenewer => {
                            unreachable!("handled above")
                        }
                    }
                };
                tokio::select! {
                    result = work => result,
                    _ = tokio::signal::ctrl_c() => {
                        cleanup.run().await;
                        Err(Error::Interrupted.into())
                    }
                }
            })
        }
    }
}
