//! A lab as one container on one engine: the first [`Runtime`]. Its port is chosen
//! among what the engine's host publishes ([`ports`]); the accounts file is copied into
//! the running container ([`accounts`]).

pub mod accounts;
pub mod acme;
pub mod ports;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use bollard::models::ContainerInspectResponse;

use super::cleanup::Cleanup;
use super::ready::{lab_address, probe_target, Readiness};
use super::view::LabView;
use super::{AccountsCopy, Image, Log, Observed, Removed, Runtime, Status};
use crate::archive::Archive;
use crate::engine::{Engine, Flavour};
use crate::environment::image_plan::{self, ImagePlan};
use crate::error::Error;
use crate::lab::admission::{self, Delivery};
use crate::lab::container::Desired;
use crate::lab::image::BuildFlags;
use crate::lab::{certificate, label, Inputs};
use crate::lab_client::Target;
use crate::password::Check;
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub struct Containers<'a> {
    engine: &'a Engine,
    spec: &'a Spec,
    /// The container's name, `rjup-<lab>`.
    name: String,
    project: String,
    cleanup: Cleanup,
    printer: Printer,
}

impl<'a> Containers<'a> {
    pub fn new(engine: &'a Engine, spec: &'a Spec, printer: Printer) -> Containers<'a> {
        Containers {
            engine,
            spec,
            name: spec.container_name(),
            project: spec.dir.display().to_string(),
            cleanup: Cleanup::default(),
            printer,
        }
    }

    /// The same runtime, registering what it makes with `cleanup`; the readiness it
    /// is given says how long a lab may take to answer.
    pub fn converging(self, cleanup: &Cleanup, _timeout: Duration) -> Containers<'a> {
        Containers {
            cleanup: cleanup.clone(),
            ..self
        }
    }

    /// The project's container, if there is one; refuses one of another project's.
    async fn existing(&self) -> anyhow::Result<Option<ContainerInspectResponse>> {
        existing(self.engine, self.spec).await
    }

    /// The project's lab, once a replacement an interrupted `up` left is settled.
    async fn find(&self) -> anyhow::Result<Option<Observed>> {
        self.settle_replacement().await?;
        let Some(container) = self.engine.inspect(&self.name).await? else {
            return Ok(None);
        };
        check_owner(&container, &self.project, &self.name)?;
        Ok(Some(observe(&container)))
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

    /// The lab's files and its accounts, in one copy: each copy costs the engine a
    /// mount of the container's files (40 ms on Docker here).
    async fn copy_in(&self, id: &str, desired: &Desired) -> anyhow::Result<()> {
        let both = Archive::join(&[&desired.files, &desired.accounts])?;
        self.engine.upload(id, both).await
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
        // What kind of engine this is ([`Runtime::desired`] needs it) costs Podman a
        // request of its own: ask it meanwhile, but not over ssh, where a second
        // request at once is a second ssh login (~0.3 s).
        let (observed, flavour) = if self.engine.over_ssh() {
            (self.find().await, self.engine.flavour().await)
        } else {
            tokio::join!(self.find(), self.engine.flavour())
        };
        let observed = observed?;
        flavour?;
        Ok(observed)
    }

    async fn delivery(&self, bind: IpAddr) -> anyhow::Result<Delivery> {
        admission::delivery(self.engine, bind).await
    }

    /// The port asked for, else the remembered one, else the first free one; the
    /// running lab keeps its own.
    async fn port(&self, state: &ProjectState, observed: Option<&Observed>) -> anyhow::Result<u16> {
        let ours = observed
            .filter(|o| o.status == Status::Running)
            .and_then(|o| o.port);
        ports::choose(self.engine, self.spec, state, ours, self.printer).await
    }

    async fn image(
        &self,
        state: &ProjectState,
        _observed: Option<&Observed>,
        rebuild: bool,
    ) -> anyhow::Result<Image> {
        let spec = self.spec;
        let plan = image_plan::plan(&spec.name, spec.owner, &spec.image);
        let flags = BuildFlags {
            log: Some(state.build_log()),
            state: Some(state.clone()),
            ..BuildFlags::default()
        };
        let id =
            crate::lab::image::ensure(self.engine, &plan, flags, rebuild, self.printer).await?;
        Ok(Image {
            reference: plan.reference().to_string(),
            id,
            pulled: matches!(plan, ImagePlan::Pull { .. }),
        })
    }

    async fn probe_address(&self, port: u16) -> anyhow::Result<SocketAddr> {
        lab_address(&self.engine.lab_host().await, self.spec.bind, port)
    }

    async fn acme(
        &self,
        wanted: &crate::config::Acme,
        timeout: Duration,
    ) -> anyhow::Result<crate::lab::acme::AcmeLab> {
        acme::obtain(self.engine, self.spec, wanted, timeout, self.printer).await
    }

    async fn desired(&self, inputs: &Inputs<'_>) -> anyhow::Result<Desired> {
        let flavour = self.engine.flavour().await?;
        crate::lab::container::desired(&Inputs {
            rootless: flavour.rootless,
            podman: flavour.podman,
            ..*inputs
        })
    }

    async fn create(
        &self,
        desired: &Desired,
        ready: &Readiness,
        check: &Check,
    ) -> anyhow::Result<()> {
        let made = self.create_as(&self.name, desired).await?;
        if let Err(err) = check.pass().await {
            self.discard(made).await;
            return Err(err);
        }
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
        check: &Check,
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
        if let Err(err) = check.pass().await {
            self.discard(made).await;
            self.cleanup.done_if(stopped);
            return Err(err);
        }
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

    async fn settle(
        &self,
        changed: bool,
        observed: Option<&Observed>,
        desired: &Desired,
        state: &ProjectState,
    ) -> anyhow::Result<()> {
        if changed {
            warn_ignored_limits(self.engine.flavour().await?, self.spec, self.printer);
            // A lab made anew without `tls: acme` needs the renewer no more.
            if !matches!(self.spec.tls, crate::config::TlsConfig::Acme(_)) {
                acme::release(self.engine, &self.spec.name).await?;
            }
        } else if let Some(running) = observed {
            // The accounts are no part of the config hash: a running lab gets them anew
            // when they differ from what was last copied in, in case `rjup user`'s own
            // copy failed after it saved them, or raced another change.
            accounts::sync_if_changed(self.engine, &running.id, desired, state).await?;
        }
        Ok(())
    }

    async fn exists(&self) -> anyhow::Result<bool> {
        Ok(self.existing().await?.is_some())
    }

    async fn view(&self, state: &ProjectState) -> anyhow::Result<LabView> {
        let spec = self.spec;
        let container = self.existing().await?;
        let view = LabView::new(
            &self.engine.lab_host().await,
            &spec.name,
            &self.project,
            &self.name,
            container.as_ref(),
            state.port()?,
            spec.bind,
        )
        .on_engine(self.engine.name())
        .sharing(&spec.allow, spec.collaboration);
        let bind = view.bind.parse().unwrap_or(spec.bind);
        let mut view = view.admission(bind, self.delivery(bind).await?);
        if matches!(spec.tls, crate::config::TlsConfig::Acme(_)) {
            let status = acme::status(self.engine, &spec.name).await?;
            if let (Some(status), Some(port)) = (&status, view.port) {
                if view.state == "running" {
                    view.urls = crate::lab::acme::urls(&status.names, port);
                }
            }
            view.certificate = status.as_ref().map(super::view::CertificateView::of);
        }
        Ok(view)
    }

    async fn logs(&self, tail: Option<u64>, follow: bool) -> anyhow::Result<Log<'_>> {
        if self.existing().await?.is_none() {
            return Err(Error::NoLabLog {
                name: self.spec.name.clone(),
            }
            .into());
        }
        Ok(Box::pin(self.engine.logs(&self.name, tail, follow)))
    }

    async fn remove(&self) -> anyhow::Result<Removed> {
        if self.existing().await?.is_none() {
            acme::release(self.engine, &self.spec.name).await?;
            return Ok(Removed::NoContainer);
        }
        self.engine.remove(&self.name).await?;
        // The renewer stops renewing its certificate, and lets its port go when no
        // other lab needs it.
        acme::release(self.engine, &self.spec.name).await?;
        Ok(Removed::Container)
    }

    /// Its port and address as its labels say, on the engine's host; over HTTPS,
    /// trusting exactly the certificate rjup gave it.
    async fn target(&self, state: &ProjectState) -> anyhow::Result<Target> {
        let spec = self.spec;
        let Some(container) = self.existing().await? else {
            return Err(Error::LabNotRunning {
                name: spec.name.clone(),
            }
            .into());
        };
        let labels = container.config.and_then(|c| c.labels).unwrap_or_default();
        let port: u16 = labels
            .get(label::PORT)
            .and_then(|p| p.parse().ok())
            .context("the lab's container has no port label")?;
        let bind = labels
            .get(label::BIND)
            .and_then(|b| b.parse().ok())
            .unwrap_or(spec.bind);
        let host = self.engine.lab_host().await;
        let tls = match labels.get(label::SCHEME).map(String::as_str) {
            Some("https") => certificate::trust(spec, state, Some(&host), self.printer, &[])?,
            _ => None,
        };
        probe_target(
            lab_address(&host, bind, port)?,
            tls.as_ref(),
            state.existing_cookie_secret()?.as_deref(),
        )
    }

    /// Copied into the running container, which reads it anew; a stopped one gets it
    /// when it starts.
    async fn copy_accounts(
        &self,
        lab_file: &[u8],
        state: &ProjectState,
    ) -> anyhow::Result<AccountsCopy> {
        let Some(found) = self.existing().await? else {
            return Ok(AccountsCopy::NoLab);
        };
        Ok(
            match accounts::push(self.engine, &found, lab_file, state).await? {
                true => AccountsCopy::Live,
                false => AccountsCopy::Stopped,
            },
        )
    }
}

/// Limits the engine accepts and shows in inspect but does not apply deserve a word, not
/// silence: the hardening the README promises is weaker on such an engine.
fn warn_ignored_limits(flavour: Flavour, spec: &Spec, printer: Printer) {
    if flavour.ignores_pids_limit {
        printer.warn(format!(
            "this engine applies no pids limit (no cgroup driver, as in rootless Docker without cgroup v2), so the lab's limit of {} processes is not enforced",
            spec.resources.pids
        ));
    }
}

/// Every rjup lab container on the engine, across projects, as `ls` shows them.
pub async fn list(engine: &Engine) -> anyhow::Result<Vec<LabView>> {
    let host = engine.lab_host().await;
    let mut labs = Vec::new();
    for container in engine.labs(label::PROJECT).await? {
        let labels = container
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let name = labels.get(label::NAME).cloned().unwrap_or_default();
        let project = labels.get(label::PROJECT).cloned().unwrap_or_default();
        let container_name = container
            .name
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        let view = LabView::new(
            &host,
            &name,
            &project,
            &container_name,
            Some(&container),
            None,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        );
        let bind = view
            .bind
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let delivery = admission::delivery(engine, bind).await?;
        labs.push(view.admission(bind, delivery).on_engine(engine.name()));
    }
    Ok(labs)
}

/// The project's lab container, if there is one; refuses one of another project's.
async fn existing(
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

fn label_of<'a>(container: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
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
