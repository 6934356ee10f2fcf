//! A change of the lab's named accounts (`rjup user`), brought to the lab. The accounts
//! are kept in rjup's state; a lab that can take the file while it runs reads it anew,
//! without a restart, and with no lab they wait for the next `rjup up`. Cutting off an
//! account that could run code ends more: see [`Cutoff`].

use std::time::Duration;

use super::{converge, Options};
use crate::engine::Engine;
use crate::error::{exit_code, Code, Error};
use crate::jupyter::accounts::{Accounts, Cutoff};
use crate::password::Hashing;
use crate::runtime::cleanup::Cleanup;
use crate::runtime::{self, AccountsCopy};
use crate::settings::{self, Overrides, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

/// How long a lab made afresh, or a Swarm lab after its service update, may take to
/// answer.
const TIMEOUT: Duration = Duration::from_secs(120);

/// How far a change went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// The running lab has it now.
    Lab,
    /// The lab was updated with it, since it cannot take a file while it runs (a Swarm
    /// service): its task restarted.
    Restarted,
    /// Only rjup's state: no lab runs.
    State,
    /// Only rjup's state, with new secrets: the next `up` makes the lab afresh.
    StateAfresh,
    /// The account could run code: the lab runs afresh, in a new container with new
    /// secrets; with the new certificate's fingerprint when it serves a self-signed one.
    Afresh { fingerprint: Option<String> },
    /// As [`Reached::Afresh`], for a lab updated rather than replaced (a Swarm
    /// service): an update to a new task.
    AfreshByUpdate,
    /// The account could run code, and the lab could not be made afresh from the
    /// project's files (the reason): it was taken down instead.
    TakenDown(String),
}

impl Reached {
    /// What `rjup user` says after `done`, of lab `name`.
    pub fn describe(&self, done: &str, name: &str) -> String {
        let code = "it could run code in the lab";
        let afresh = "a new container (whatever was left in the old one is gone; running kernels were lost) and a new cookie secret (everyone logs in again)";
        match self {
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
            Reached::AfreshByUpdate => format!("{done}; {code}, so the Swarm service of lab \"{name}\" was updated with a new cookie secret (everyone logs in again), which restarted its task in a new container (running kernels were lost)"),
            Reached::TakenDown(why) => format!("{done}; {code}, and lab \"{name}\" could not be made afresh ({why}), so it was taken down, and nothing the account could have taken stays in use; fix that and run `rjup up`, which makes it with a new cookie secret"),
        }
    }

    /// Whether the change cut off what the account could have taken (the lab's secrets).
    pub fn cut_off(&self) -> bool {
        !matches!(self, Reached::Lab | Reached::Restarted | Reached::State)
    }
}

/// The project's lab whose accounts change.
pub struct Change<'a> {
    pub engine: &'a Engine,
    pub spec: &'a Spec,
    pub state: &'a ProjectState,
    pub printer: Printer,
    pub cleanup: &'a Cleanup,
}

impl Change<'_> {
    /// Applies `edit` to the stored accounts, then brings them to the lab, as far as its
    /// runtime takes them while it runs ([`AccountsCopy`]). With [`Cutoff::Everything`]
    /// the lab's secrets are made anew as well, and a running lab is made afresh.
    pub async fn apply(
        &self,
        edit: impl FnOnce(&mut Accounts) -> anyhow::Result<()>,
        cutoff: Cutoff,
    ) -> anyhow::Result<Reached> {
        let lab = runtime::for_spec(self.engine, self.spec, self.printer);
        lab.prepare().await?;
        let lock = self.state.lock_project(self.printer).await?;
        let mut accounts = self.state.accounts()?;
        edit(&mut accounts)?;
        self.state.set_accounts(&accounts)?;
        let new_certificate = cutoff == Cutoff::Everything && self.state.rotate_lab_secrets()?;
        // The copy stays under the lock: a concurrent `rjup user` that saved after us
        // must not have its list overwritten in the lab by our older one. It ends the
        // account's sessions at once, even should the lab not be made afresh.
        let copied = lab.copy_accounts(&accounts.lab_file(), self.state).await?;
        // converge takes the project lock itself.
        drop(lock);
        let waiting = match cutoff {
            Cutoff::Sessions => Reached::State,
            Cutoff::Everything => Reached::StateAfresh,
        };
        match (copied, cutoff) {
            // A stopped lab's config no longer matches the new secret: the next `up`
            // replaces it.
            (AccountsCopy::NoLab | AccountsCopy::Stopped, _) => Ok(waiting),
            (AccountsCopy::Live, Cutoff::Sessions) => Ok(Reached::Lab),
            (AccountsCopy::Live, Cutoff::Everything) => self.afresh(&lab, new_certificate).await,
            (AccountsCopy::NeedsUpdate, _) => self.update(&lab, cutoff).await,
        }
    }

    /// The lab made anew from the project's files, with the secrets just made, in a new
    /// container (create-then-swap): nothing the cut-off account left in the old one
    /// survives. When rjup.yaml no longer makes this lab, the lab is taken down.
    async fn afresh(
        &self,
        lab: &runtime::LabRuntime<'_>,
        new_certificate: bool,
    ) -> anyhow::Result<Reached> {
        let (spec, hashed) = match self.remade()? {
            Ok(remade) => remade,
            Err(why) => {
                lab.remove().await?;
                return Ok(Reached::TakenDown(why));
            }
        };
        let options = Options {
            force_recreate: true,
            rebuild: false,
            timeout: TIMEOUT,
        };
        let outcome = converge(
            self.engine,
            &spec,
            self.state,
            Hashing::ready(hashed),
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

    /// A lab that takes accounts only through an update of itself (a Swarm service,
    /// whose secrets cannot change), updated with the new ones.
    async fn update(
        &self,
        lab: &runtime::LabRuntime<'_>,
        cutoff: Cutoff,
    ) -> anyhow::Result<Reached> {
        let (spec, hashed) = match self.remade()? {
            Ok(remade) => remade,
            Err(why) if cutoff == Cutoff::Everything => {
                lab.remove().await?;
                return Ok(Reached::TakenDown(why));
            }
            Err(why) => return Err(Error::config(why).into()),
        };
        let options = Options {
            force_recreate: false,
            rebuild: false,
            timeout: TIMEOUT,
        };
        converge(
            self.engine,
            &spec,
            self.state,
            Hashing::ready(hashed),
            &options,
            self.printer,
            self.cleanup,
        )
        .await?;
        Ok(match cutoff {
            Cutoff::Sessions => Reached::Restarted,
            Cutoff::Everything => Reached::AfreshByUpdate,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_change_cut_off_is_said_with_the_lab_and_its_runtime() {
        let said = |reached: Reached| reached.describe("Account \"ada\" removed", "demo");
        assert_eq!(
            said(Reached::Lab),
            "Account \"ada\" removed; lab \"demo\" knows it now, without a restart"
        );
        assert!(said(Reached::Restarted).contains("the Swarm service of lab \"demo\" was updated"));
        assert!(said(Reached::Afresh {
            fingerprint: Some("AB:CD".into())
        })
        .ends_with("SHA-256 fingerprint AB:CD"));
        assert!(said(Reached::TakenDown(
            "rjup.yaml now names the lab \"x\"".into()
        ))
        .contains(
            "could not be made afresh (rjup.yaml now names the lab \"x\"), so it was taken down"
        ));
        for kept in [Reached::Lab, Reached::Restarted, Reached::State] {
            assert!(!kept.cut_off(), "{kept:?}");
        }
        for cut in [
            Reached::StateAfresh,
            Reached::Afresh { fingerprint: None },
            Reached::AfreshByUpdate,
            Reached::TakenDown(String::new()),
        ] {
            assert!(cut.cut_off(), "{cut:?}");
        }
    }
}
