//! A lab as one container on one engine: the first [`Runtime`].

pub mod ports;

use bollard::models::ContainerInspectResponse;
use sha2::{Digest, Sha256};

use super::cleanup::Cleanup;
use super::ready::Readiness;
use super::{Observed, Runtime, Status};
use crate::engine::Engine;
use crate::error::Error;
use crate::lab::container::Desired;
use crate::lab::label;
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub struct Containers<'a> {
    engine: &'a Engine,
    /// The container's name, `rjup-<lab>`.
    name: String,
    project: String,
    cleanup: &'a Cleanup,
    printer: Printer,
}

impl<'a> Containers<'a> {
    pub fn new(
        engine: &'a Engine,
        spec: &Spec,
        cleanup: &'a Cleanup,
        printer: Printer,
    ) -> Containers<'a> {
        Containers {
            engine,
            name: spec.container_name(),
            project: spec.dir.display().to_string(),
            cleanup,
            printer,
        }
    }

    /// Where a replacement waits until it answers. Lab names cannot hold a dot, so
    /// this never names another project's lab.
    fn replacement_name(&self) -> String {
        format!("{}.next", self.name)
    }

    /// Creates the container under `name` with its files copied in, registered for
    /// removal should the command be interrupted before it serves.
    async fn create_as(&self, name: &str, desired: &Desired) -> anyhow::Result<Made> {
        let created = self.engine.create(name, desired.body.clone()).await?;
        for warning in &created.warnings {
            self.printer.warn(warning);
        }
        let id = created.id;
        let registered = self.cleanup.remove_container(self.engine, &id);
        let made = Made { id, registered };
        if let Err(err) = self.copy_in(&made.id, desired).await {
            self.discard(made).await;
            return Err(err);
        }
        Ok(made)
    }

    async fn copy_in(&self, id: &str, desired: &Desired) -> anyhow::Result<()> {
        self.engine.upload(id, desired.files.clone()).await?;
        self.sync_accounts(id, desired).await
    }

    /// Copies the accounts file into the lab `id`, which reads it anew when it changes.
    async fn sync_accounts(&self, id: &str, desired: &Desired) -> anyhow::Result<()> {
        self.engine.upload(id, desired.accounts.clone()).await
    }

    async fn discard(&self, made: Made) {
        let _ = self.engine.remove(&made.id).await;
        self.cleanup.done(made.registered);
    }

    /// Starts `id` and waits until it answers.
    async fn start_and_wait(
        &self,
        id: &str,
        desired: &Desired,
        ready: &Readiness,
    ) -> anyhow::Result<()> {
        if let Err(e) = self.engine.start(id).await {
            ports::taken_late(self.engine, e, desired.bind, desired.port).await?;
        }
        ready.wait(self, id).await
    }

    /// A replacement left by an interrupted `up`: finish its swap if the lab itself is
    /// gone, else drop it, since it never replaced anything.
    async fn settle_replacement(&self) -> anyhow::Result<()> {
        let next = self.replacement_name();
        let Some(leftover) = self.engine.inspect(&next).await? else {
            return Ok(());
        };
        check_owner(&leftover, &self.project, &next)?;
        if self.engine.inspect(&self.name).await?.is_none() {
            self.engine.rename(&next, &self.name).await
        } else {
            self.engine.remove(&next).await
        }
    }

    /// Brings the old lab back after a failed replacement, and says how that went.
    async fn restore(
        &self,
        old: &Observed,
        ready: &Readiness,
        failure: anyhow::Error,
    ) -> anyhow::Error {
        if old.status != Status::Running {
            return failure.context(format!(
                "the replacement of {} did not serve, so it was removed; the previous lab is kept as it was ({})",
                self.name,
                describe(&old.status)
            ));
        }
        let moved;
        let ready = match old.port {
            Some(port) => {
                moved = ready.on_port(port);
                &moved
            }
            None => ready,
        };
        let back = async {
            self.engine.start(&old.id).await?;
            ready.wait(self, &old.id).await
        }
        .await;
        match back {
            Ok(()) => failure.context(format!(
                "the replacement of {} did not serve, so it was removed and the previous lab was started again: it answers as before, at the same address with the same password",
                self.name
            )),
            Err(again) => failure.context(format!(
                "the replacement of {} did not serve, so it was removed, and the previous lab did not come back either ({again:#}); run `rjup up` once the cause below is fixed",
                self.name
            )),
        }
    }
}

/// A container this run made, removed on Ctrl-C until it is withdrawn.
struct Made {
    id: String,
    registered: crate::runtime::cleanup::Registered,
}

fn describe(status: &Status) -> String {
    match status {
        Status::Running => "running".into(),
        Status::Stopped => "stopped".into(),
        Status::Broken(state) => state.clone(),
    }
}

impl Runtime for Containers<'_> {
    type Desired = Desired;

    fn name(&self) -> &str {
        &self.name
    }

    fn wanted(desired: &Desired) -> (&str, &str) {
        (&desired.config_hash, &desired.image_id)
    }

    async fn observe(&self) -> anyhow::Result<Option<Observed>> {
        self.settle_replacement().await?;
        let Some(container) = self.engine.inspect(&self.name).await? else {
            return Ok(None);
        };
        check_owner(&container, &self.project, &self.name)?;
        Ok(Some(observe(&container)))
    }

    async fn create(&self, desired: &Desired, ready: &Readiness) -> anyhow::Result<()> {
        let made = self.create_as(&self.name, desired).await?;
        match self.start_and_wait(&made.id, desired, ready).await {
            Ok(()) => {
                self.cleanup.done(made.registered);
                Ok(())
            }
            Err(err) => {
                // A lab that never served is removed, so the next `up` starts clean.
                self.discard(made).await;
                Err(err)
            }
        }
    }

    async fn start(
        &self,
        current: &Observed,
        desired: &Desired,
        ready: &Readiness,
    ) -> anyhow::Result<()> {
        // Accounts may have changed while it was stopped.
        self.sync_accounts(&current.id, desired).await?;
        self.start_and_wait(&current.id, desired, ready).await
    }

    async fn replace(
        &self,
        current: &Observed,
        desired: &Desired,
        ready: &Readiness,
    ) -> anyhow::Result<()> {
        // One port, one publisher: the old lab stops before the new one starts. Should
        // this command be interrupted before the swap is done, the replacement (registered
        // later, so undone first) is removed and then the old lab started again.
        let stopped = (current.status == Status::Running)
            .then(|| self.cleanup.restart_container(self.engine, &current.id));
        let made = match self.create_as(&self.replacement_name(), desired).await {
            Ok(made) => made,
            Err(err) => {
                self.cleanup.done_if(stopped);
                return Err(err);
            }
        };
        let swapped = async {
            self.engine.stop(&current.id).await?;
            self.start_and_wait(&made.id, desired, ready).await
        }
        .await;
        if let Err(failure) = swapped {
            self.printer.say(format!(
                "The replacement of {} did not serve; bringing back the previous lab",
                self.name
            ));
            self.discard(made).await;
            let failure = self.restore(current, ready, failure).await;
            self.cleanup.done_if(stopped);
            return Err(failure);
        }
        self.engine.remove(&current.id).await?;
        self.cleanup.done_if(stopped);
        self.engine.rename(&made.id, &self.name).await?;
        self.cleanup.done(made.registered);
        Ok(())
    }

    async fn stopped(&self, id: &str) -> anyhow::Result<Option<String>> {
        let Some(container) = self.engine.inspect(id).await? else {
            return Ok(Some(
                "the lab's container disappeared while starting".into(),
            ));
        };
        let state = container.state.unwrap_or_default();
        if state.running != Some(true) || state.restarting == Some(true) {
            return Ok(Some(format!(
                "the lab exited while starting (exit code {})",
                state.exit_code.unwrap_or_default()
            )));
        }
        Ok(None)
    }

    async fn log_tail(&self, id: &str, lines: u64) -> String {
        self.engine.log_tail(id, lines).await
    }
}

/// The project's lab container, if there is one; refuses one of another project's.
pub async fn existing(
    engine: &Engine,
    spec: &Spec,
) -> anyhow::Result<Option<ContainerInspectResponse>> {
    let name = spec.container_name();
    let container = engine.inspect(&name).await?;
    if let Some(c) = &container {
        check_owner(c, &spec.dir.display().to_string(), &name)?;
    }
    Ok(container)
}

/// Copies the accounts file into the running lab `container`, owned by the user it runs
/// as; the lab reads it anew at its next request. False when it is not running: its
/// next start copies the file in.
pub async fn push_accounts(
    engine: &Engine,
    container: &ContainerInspectResponse,
    lab_file: &[u8],
    state: &ProjectState,
) -> anyhow::Result<bool> {
    let running = container.state.as_ref().and_then(|s| s.running) == Some(true);
    let (Some(id), true) = (container.id.as_deref(), running) else {
        return Ok(false);
    };
    let owner = container
        .config
        .as_ref()
        .and_then(|c| c.user.as_deref())
        .and_then(|user| user.split_once(':'))
        .and_then(|(uid, gid)| Some((uid.parse().ok()?, gid.parse().ok()?)))
        .map_or(crate::archive::ROOT, |(uid, gid)| crate::archive::Owner {
            uid,
            gid,
        });
    let archive = crate::jupyter::server_config::accounts_file(lab_file, owner);
    engine.upload(id, archive.clone()).await?;
    state.set_accounts_copied(&copied(id, &archive))?;
    Ok(true)
}

/// What [`ProjectState::set_accounts_copied`] keeps for `archive` copied into `id`.
fn copied(id: &str, archive: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(id.as_bytes());
    hasher.update(archive);
    hex::encode(hasher.finalize())
}

/// Copies the accounts file into the running lab `id` unless it is what was last
/// copied there.
pub async fn sync_accounts_if_changed(
    engine: &Engine,
    id: &str,
    desired: &Desired,
    state: &ProjectState,
) -> anyhow::Result<()> {
    let marker = copied(id, &desired.accounts);
    if state.accounts_copied()?.as_deref() == Some(marker.as_str()) {
        return Ok(());
    }
    engine.upload(id, desired.accounts.clone()).await?;
    state.set_accounts_copied(&marker)
}

/// Refuses to touch a container of the lab's name that belongs to another project.
fn check_owner(
    container: &ContainerInspectResponse,
    project: &str,
    name: &str,
) -> anyhow::Result<()> {
    let owner = label_of(container, label::PROJECT);
    if owner == Some(project) {
        return Ok(());
    }
    Err(Error::NameTaken {
        name: name.to_string(),
        owner: owner.map(str::to_string),
    }
    .into())
}

pub fn label_of<'a>(container: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
    container
        .config
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn observe(container: &ContainerInspectResponse) -> Observed {
    let state = container
        .state
        .as_ref()
        .and_then(|s| s.status)
        .map_or_else(|| "unknown".to_string(), |s| s.to_string());
    Observed {
        id: container.id.clone().unwrap_or_default(),
        status: Status::of_container(&state),
        config_hash: label_of(container, label::CONFIG_HASH).map(str::to_string),
        image_id: container.image.clone(),
        port: label_of(container, label::PORT).and_then(|p| p.parse().ok()),
    }
}
