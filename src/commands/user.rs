//! `rjup user`: the lab's named accounts. They are kept in rjup's state and reach a
//! running lab without a restart; with no lab, they wait for the next `rjup up`.

use std::path::Path;
use std::time::Duration;

use crate::accounts::{Accounts, Role};
use crate::cleanup::Cleanup;
use crate::cli::{UserCommand, UserLsArgs};
use crate::converge::{self, container, service, Options};
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::password;
use crate::printer::Printer;
use crate::settings::{self, Overrides, Spec};
use crate::state::ProjectState;

/// How long a Swarm lab may take to answer after its service update.
const SWARM_TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    command: UserCommand,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let state = ProjectState::for_project(&spec.dir, &spec.name)?;
    let lab = Lab {
        endpoint,
        spec: &spec,
        state: &state,
        printer,
        cleanup,
    };
    match command {
        UserCommand::Ls(args) => list(&state, &args, printer),
        UserCommand::Add(args) => {
            let role = if args.read_only {
                Role::ReadOnly
            } else {
                Role::Collaborator
            };
            // Refused before anyone is asked for a password.
            state.accounts()?.check_new(&args.name, role)?;
            let hash = new_hash(&args.name, args.password.password_stdin, printer)?;
            let reached = lab
                .change(|accounts| accounts.add(&args.name, role, hash))
                .await?;
            lab.tell(
                &format!("Account \"{}\" added ({})", args.name, role.word()),
                reached,
            );
            Ok(())
        }
        UserCommand::Rm(args) => {
            state.accounts()?.remove(&args.name)?;
            let reached = lab
                .change(|accounts| accounts.remove(&args.name).map(drop))
                .await?;
            lab.tell(
                &format!(
                    "Account \"{}\" removed; its sessions end at their next request",
                    args.name
                ),
                reached,
            );
            Ok(())
        }
        UserCommand::Passwd(args) => {
            state.accounts()?.find(&args.name, "changed")?;
            let hash = new_hash(&args.name, args.password.password_stdin, printer)?;
            let reached = lab
                .change(|accounts| {
                    accounts.find(&args.name, "changed")?.hash = hash;
                    Ok(())
                })
                .await?;
            lab.tell(
                &format!(
                    "Password of \"{}\" changed; its sessions end at their next request",
                    args.name
                ),
                reached,
            );
            Ok(())
        }
    }
}

fn new_hash(name: &str, from_stdin: bool, printer: Printer) -> anyhow::Result<String> {
    let secret = password::for_account(name, from_stdin, printer)?;
    password::hash(&secret)
}

fn list(state: &ProjectState, args: &UserLsArgs, printer: Printer) -> anyhow::Result<()> {
    let listing = state.accounts()?.listing();
    if args.json {
        return Ok(printer.out(serde_json::json!({ "accounts": listing }))?);
    }
    for account in listing {
        printer.out(format!("{:<32} {}", account.name, account.role))?;
    }
    Ok(())
}

/// How far a change went.
enum Reached {
    /// The running lab has it now.
    Lab,
    /// The Swarm lab was updated with it: its task restarted.
    Restarted,
    /// Only rjup's state: no lab runs.
    State,
}

struct Lab<'a> {
    endpoint: &'a Endpoint,
    spec: &'a Spec,
    state: &'a ProjectState,
    printer: Printer,
    cleanup: &'a Cleanup,
}

impl Lab<'_> {
    /// Applies `edit` to the stored accounts, then brings them to the lab: a container
    /// gets the file copied in and reads it anew; a Swarm lab, whose secrets cannot
    /// change, gets a new secret and a service update.
    async fn change(
        &self,
        edit: impl FnOnce(&mut Accounts) -> anyhow::Result<()>,
    ) -> anyhow::Result<Reached> {
        let engine = Engine::connect(self.endpoint).await?;
        if self.spec.swarm.is_some() {
            service::require_manager(&engine).await?;
        }
        let lock = self.state.lock(self.printer).await?;
        let mut accounts = self.state.accounts()?;
        edit(&mut accounts)?;
        self.state.set_accounts(&accounts)?;
        if self.spec.swarm.is_some() {
            // converge takes the project lock itself.
            drop(lock);
            return self.update_service(&engine).await;
        }
        // The copy stays under the lock: a concurrent `rjup user` that saved after us
        // must not have its list overwritten in the lab by our older one.
        let Some(found) = container::existing(&engine, self.spec).await? else {
            return Ok(Reached::State);
        };
        match container::push_accounts(&engine, &found, &accounts.lab_file(), self.state).await? {
            true => Ok(Reached::Lab),
            false => Ok(Reached::State),
        }
    }

    async fn update_service(&self, engine: &Engine) -> anyhow::Result<Reached> {
        let hashed = self.state.password_hash()?;
        let (Some(hashed), Some(_)) = (hashed, service::existing(engine, self.spec).await?) else {
            return Ok(Reached::State);
        };
        let options = Options {
            force_recreate: false,
            rebuild: false,
            timeout: SWARM_TIMEOUT,
        };
        converge::converge(
            engine,
            self.spec,
            self.state,
            &hashed,
            &options,
            self.printer,
            self.cleanup,
        )
        .await?;
        Ok(Reached::Restarted)
    }

    fn tell(&self, done: &str, reached: Reached) {
        let name = &self.spec.name;
        self.printer.say(match reached {
            Reached::Lab => format!("{done}; lab \"{name}\" knows it now, without a restart"),
            Reached::Restarted => format!("{done}; the Swarm service of lab \"{name}\" was updated with it, which restarted its task (running kernels were lost)"),
            Reached::State => format!("{done}; lab \"{name}\" is not running and will have it from the next `rjup up`"),
        });
    }
}
