//! `rjup user`: the lab's named accounts. They are kept in rjup's state and reach a
//! running lab without a restart; with no lab, they wait for the next `rjup up`
//! ([`crate::converge::accounts`]). Cutting off an account that could run code ends
//! more: see [`Cutoff`].

use std::path::Path;

use crate::cli::{UserAddArgs, UserCommand, UserLsArgs, UserNameArgs, UserPasswdArgs};
use crate::config::TlsConfig;
use crate::converge::accounts::{self, Reached};
use crate::engine::endpoint::Endpoint;
use crate::jupyter::accounts::{Accounts, Cutoff, Role};
use crate::password;
use crate::runtime::cleanup::Cleanup;
use crate::settings::{self, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

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
        (_, false) => crate::runtime::identify(&super::connect(endpoint).await?, found).await?,
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
        UserCommand::Add(args) => add(&lab, &args).await,
        UserCommand::Rm(args) => remove(&lab, &args).await,
        UserCommand::Passwd(args) => passwd(&lab, &args).await,
    }
}

async fn add(lab: &Lab<'_>, args: &UserAddArgs) -> anyhow::Result<()> {
    let role = if args.read_only {
        Role::ReadOnly
    } else {
        Role::Collaborator
    };
    // Refused before anyone is asked for a password.
    lab.state.accounts()?.check_new(&args.name, role)?;
    let hash = new_hash(&args.name, args.password.password_stdin, lab.printer)?;
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

async fn remove(lab: &Lab<'_>, args: &UserNameArgs) -> anyhow::Result<()> {
    let role = lab.state.accounts()?.find(&args.name, "removed")?.role;
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

async fn passwd(lab: &Lab<'_>, args: &UserPasswdArgs) -> anyhow::Result<()> {
    let role = lab.state.accounts()?.find(&args.name, "changed")?.role;
    let hash = new_hash(&args.name, args.password.password_stdin, lab.printer)?;
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

struct Lab<'a> {
    endpoint: &'a Endpoint,
    spec: &'a Spec,
    state: &'a ProjectState,
    printer: Printer,
    cleanup: &'a Cleanup,
}

impl Lab<'_> {
    /// Applies `edit` to the stored accounts and brings them to the lab
    /// ([`accounts::Change::apply`]).
    async fn change(
        &self,
        edit: impl FnOnce(&mut Accounts) -> anyhow::Result<()>,
        cutoff: Cutoff,
    ) -> anyhow::Result<Reached> {
        let engine = super::connect(self.endpoint).await?;
        let change = accounts::Change {
            engine: &engine,
            spec: self.spec,
            state: self.state,
            printer: self.printer,
            cleanup: self.cleanup,
        };
        change.apply(edit, cutoff).await
    }

    fn tell(&self, done: &str, reached: Reached) {
        self.printer.say(reached.describe(done, &self.spec.name));
        // rjup cannot make anew a certificate it did not make.
        if reached.cut_off() && matches!(self.spec.tls, TlsConfig::Files { .. }) {
            self.printer.warn("the account could also read the TLS key you gave the lab (`tls.key` or RJUP_TLS_KEY): replace that certificate and key");
        }
    }
}
