//! `rjup user`: the lab's named accounts. They are kept in rjup's state and reach a
//! running lab without a restart; with no lab, they wait for the next `rjup up`.
//! Cutting off an account that could run code ends more: see [`Cutoff`].

use std::path::Path;
use std::time::Duration;

use crate::cli::{UserCommand, UserLsArgs};
use crate::config::TlsConfig;
use crate::converge::{self, Options};
use crate::engine::endpoint::Endpoint;
use crate::engine::Engine;
use crate::error::{exit_code, Code};
use crate::jupyter::accounts::{Accounts, Cutoff, Role};
use crate::password;
use crate::runtime::cleanup::Cleanup;
use crate::runtime::container;
use crate::runtime::swarm as service;
use crate::settings::{self, Overrides, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

/// How long a lab made afresh, or a Swarm lab after its service update, may take to
/// answer.
const TIMEOUT: Duration = Duration::from_secs(120);

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    command: UserCommand,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    // Accounts are rjup's own: a project whose files rjup cannot use (a broken
    // rjup.yaml, which anyone who writes in the lab can make) must not keep an
    // account in, so the lab is found by its directory as `down` finds it.
    let found = settings::find(project)?;
    if let Some(why) = &found.invalid {
        printer.warn(format!(
            "{why} (`rjup user` goes on, finding the lab by its project directory)"
        ));
    }
    let spec = match (&command, found.name_known) {
        (_, true) => found.spec,
        (UserCommand::Ls(_), false) => {
            let mut spec = found.spec;
            if let Some(name) = ProjectState::kept_name(&spec.dir) {
                spec.name = name;
            }
            spec
        }
        (_, false) => converge::identify(&Engine::connect(endpoint).await?, found).await?,
    };
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
            // A new account has taken nothing yet.
            let reached = lab
                .change(
                    |accounts| accounts.add(&args.name, role, hash),
                    Cutoff::Sessions,
                )
                .await?;
            lab.tell(
                &format!("Account \"{}\" added ({})", args.name, role.word()),
                reached,
            );
            Ok(())
        }
        UserCommand::Rm(args) => {
            let role = state.accounts()?.find(&args.name, "removed")?.role;
            let reached = lab
                .change(
                    |accounts| accounts.remove(&args.name).map(drop),
                    role.cutoff(),
                )
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
            let role = state.accounts()?.find(&args.name, "changed")?.role;
            let hash = new_hash(&args.name, args.password.password_stdin, printer)?;
            let reached = lab
                .change(
                    |accounts| {
                        accounts.find(&args.name, "changed")?.hash = hash;
                        Ok(())
                    },
                    role.cutoff(),
                )
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
    /// Only rjup's state, with new secrets: the next `up` makes the lab afresh.
    StateAfresh,
    /// The account could run code: the lab runs afresh, in a new container with new
    /// secrets; with the new certificate's fingerprint when it serves a self-signed one.
    Afresh { fingerprint: Option<String> },
    /// As [`Reached::Afresh`], for a Swarm lab: a service update to a new task.
    AfreshOnSwarm,
    /// The account could run code, and the lab could not be made afresh from the
    /// project's files (the reason): it was taken down instead.
    TakenDown(String),
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
    /// change, gets a new secret and a service update. With [`Cutoff::Everything`] the
    /// lab's secrets are made anew as well, and a running lab is made afresh.
    async fn change(
        &self,
        edit: impl FnOnce(&mut Accounts) -> anyhow::Result<()>,
        cutoff: Cutoff,
    ) -> anyhow::Result<Reached> {
        let engine = Engine::connect(self.endpoint).await?;
        if self.spec.swarm.is_some() {
            service::require_manager(&engine).await?;
        }
        let lock = self.state.lock(self.printer).await?;
        let mut accounts = self.state.accounts()?;
        edit(&mut accounts)?;
        self.state.set_accounts(&accounts)?;
        let new_certificate = cutoff == Cutoff::Everything && self.state.rotate_lab_secrets()?;
        if self.spec.swarm.is_some() {
            // converge takes the project lock itself.
            drop(lock);
            return self.update_service(&engine, cutoff).await;
        }
        // The copy stays under the lock: a concurrent `rjup user` that saved after us
        // must not have its list overwritten in the lab by our older one. It ends the
        // account's sessions at once, even should the lab not be made afresh.
        let waiting = match cutoff {
            Cutoff::Sessions => Reached::State,
            Cutoff::Everything => Reached::StateAfresh,
        };
        let Some(found) = container::existing(&engine, self.spec).await? else {
            return Ok(waiting);
        };
        let running =
            container::push_accounts(&engine, &found, &accounts.lab_file(), self.state).await?;
        drop(lock);
        match (cutoff, running) {
            (Cutoff::Sessions, true) => Ok(Reached::Lab),
            // A stopped lab's config no longer matches the new secret: the next `up`
            // replaces it.
            (_, false) => Ok(waiting),
            (Cutoff::Everything, true) => self.afresh(&engine, new_certificate).await,
        }
    }

    /// The lab made anew from the project's files, with the secrets just made, in a new
    /// container (create-then-swap): nothing the cut-off account left in the old one
    /// survives. When rjup.yaml no longer makes this lab, the lab is taken down.
    async fn afresh(&self, engine: &Engine, new_certificate: bool) -> anyhow::Result<Reached> {
        let (spec, hashed) = match self.remade()? {
            Ok(remade) => remade,
            Err(why) => {
                engine.remove(&self.spec.container_name()).await?;
                return Ok(Reached::TakenDown(why));
            }
        };
        let options = Options {
            force_recreate: true,
            rebuild: false,
            timeout: TIMEOUT,
        };
        let outcome = converge::converge(
            engine,
            &spec,
            self.state,
            &hashed,
            &options,
            self.printer,
            self.cleanup,
        )
        .await
        .map_err(|e| {
            e.context(format!(
                "the account is cut off, but lab \"{}\" could not be made afresh, and runs on with its old cookie secret; run `rjup up` to make it afresh, or `rjup down`",
                self.spec.name
            ))
        })?;
        Ok(Reached::Afresh {
            fingerprint: outcome.fingerprint.filter(|_| new_certificate),
        })
    }

    /// The lab as the project's files make it now, and the owner's hash; or why it
    /// cannot be made from them (an rjup.yaml or environment file rjup refuses, or one
    /// that names another lab).
    fn remade(&self) -> anyhow::Result<Result<(Spec, String), String>> {
        let spec = match settings::resolve(Some(&self.spec.dir), Overrides::default()) {
            Ok(spec) => spec,
            Err(e) if exit_code(&e) == Code::Config as u8 => return Ok(Err(format!("{e:#}"))),
            Err(e) => return Err(e),
        };
        if spec.name != self.spec.name {
            return Ok(Err(format!(
                "rjup.yaml now names the lab \"{}\"",
                spec.name
            )));
        }
        match self.state.password_hash()? {
            Some(hashed) => Ok(Ok((spec, hashed))),
            None => Ok(Err("rjup keeps no password hash for it".to_string())),
        }
    }

    async fn update_service(&self, engine: &Engine, cutoff: Cutoff) -> anyhow::Result<Reached> {
        if service::existing(engine, self.spec).await?.is_none() {
            return Ok(match cutoff {
                Cutoff::Sessions => Reached::State,
                Cutoff::Everything => Reached::StateAfresh,
            });
        }
        let (spec, hashed) = match self.remade()? {
            Ok(remade) => remade,
            Err(why) if cutoff == Cutoff::Everything => {
                service::remove_lab(engine, self.spec, self.printer).await?;
                return Ok(Reached::TakenDown(why));
            }
            Err(why) => return Err(crate::error::Error::config(why).into()),
        };
        let options = Options {
            force_recreate: false,
            rebuild: false,
            timeout: TIMEOUT,
        };
        converge::converge(
            engine,
            &spec,
            self.state,
            &hashed,
            &options,
            self.printer,
            self.cleanup,
        )
        .await?;
        Ok(match cutoff {
            Cutoff::Sessions => Reached::Restarted,
            Cutoff::Everything => Reached::AfreshOnSwarm,
        })
    }

    fn tell(&self, done: &str, reached: Reached) {
        let name = &self.spec.name;
        let code = "it could run code in the lab";
        let afresh = "a new container (whatever was left in the old one is gone; running kernels were lost) and a new cookie secret (everyone logs in again)";
        self.printer.say(match &reached {
            Reached::Lab => format!("{done}; lab \"{name}\" knows it now, without a restart"),
            Reached::Restarted => format!("{done}; the Swarm service of lab \"{name}\" was updated with it, which restarted its task (running kernels were lost)"),
            Reached::State => format!("{done}; lab \"{name}\" is not running and will have it from the next `rjup up`"),
            Reached::StateAfresh => format!("{done}; lab \"{name}\" is not running, and {code}: the next `rjup up` makes it afresh, in a new container with a new cookie secret"),
            Reached::Afresh { fingerprint: None } => {
                format!("{done}; {code}, so lab \"{name}\" was made afresh: {afresh}")
            }
            Reached::Afresh {
                fingerprint: Some(fingerprint),
            } => format!("{done}; {code}, so lab \"{name}\" was made afresh: {afresh}, and a new self-signed TLS certificate and key, SHA-256 fingerprint {fingerprint}"),
            Reached::AfreshOnSwarm => format!("{done}; {code}, so the Swarm service of lab \"{name}\" was updated with a new cookie secret (everyone logs in again), which restarted its task in a new container (running kernels were lost)"),
            Reached::TakenDown(why) => format!("{done}; {code}, and lab \"{name}\" could not be made afresh ({why}), so it was taken down, and nothing the account could have taken stays in use; fix that and run `rjup up`, which makes it with a new cookie secret"),
        });
        // rjup cannot make anew a certificate it did not make.
        let cut_off = !matches!(reached, Reached::Lab | Reached::Restarted | Reached::State);
        if cut_off && matches!(self.spec.tls, TlsConfig::Files { .. }) {
            self.printer.warn("the account could also read the TLS key you gave the lab (`tls.key` or RJUP_TLS_KEY): replace that certificate and key");
        }
    }
}
