//! A lab as a one-replica Swarm service: the second [`Runtime`]. Swarm does the
//! scheduling, the restarts, the rescheduling when a node is lost, and the rolling
//! update with rollback; rjup observes, plans with the same config-hash label as for
//! containers, and waits until the lab answers on the node that runs it. Its port is
//! chosen among the cluster's labs ([`port`]), its image is one every node can pull
//! ([`image`]), and where it runs is its task's node ([`placement`]).

pub mod acme;
pub mod image;
pub mod placement;
pub mod port;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bollard::models::{Service, ServiceSpec, TaskState};

use super::cleanup::Cleanup;
use super::ready::{probe_target, Readiness};
use super::view::LabView;
use super::{AccountsCopy, Image, Log, Observed, Removed, Runtime, Status};
use crate::engine::{Engine, Role};
use crate::error::Error;
use crate::lab::admission::Delivery;
use crate::lab::service::{self, Desired};
use crate::lab::{certificate, label, Inputs};
use crate::lab_client::Target;
use crate::password::Check;
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::ui::printer::Printer;
use placement::{current, state_of};

pub struct Services<'a> {
    engine: &'a Engine,
    spec: &'a Spec,
    /// The service's name, `rjup-<lab>`.
    name: String,
    project: String,
    cleanup: Cleanup,
    printer: Printer,
    timeout: Duration,
}

/// Refuses a `swarm:` lab on an engine that cannot run services.
pub async fn require_manager(engine: &Engine) -> anyhow::Result<()> {
    match engine.swarm_role().await? {
        Role::Manager => Ok(()),
        Role::Other { state } => Err(Error::NotSwarmManager {
            engine: engine.name().to_string(),
            what: state,
        }
        .into()),
    }
}

/// The project's service, if there is one; refuses one of another project's.
async fn existing(engine: &Engine, spec: &Spec) -> anyhow::Result<Option<Service>> {
    let name = service::service_name(spec);
    let Some(service) = engine.service(&name).await? else {
        return Ok(None);
    };
    let owner = service_label(&service, label::PROJECT);
    if owner != Some(&spec.dir.display().to_string()) {
        return Err(Error::NameTaken {
            name,
            owner: owner.cloned(),
        }
        .into());
    }
    Ok(Some(service))
}

pub fn service_label<'a>(service: &'a Service, key: &str) -> Option<&'a String> {
    service.spec.as_ref()?.labels.as_ref()?.get(key)
}

impl<'a> Services<'a> {
    pub fn new(engine: &'a Engine, spec: &'a Spec, printer: Printer) -> Services<'a> {
        Services {
            engine,
            spec,
            name: service::service_name(spec),
            project: spec.dir.display().to_string(),
            cleanup: Cleanup::default(),
            printer,
            timeout: Duration::ZERO,
        }
    }

    /// The same runtime, registering what it makes with `cleanup`, and waiting up to
    /// `timeout` for Swarm to run the lab.
    pub fn converging(self, cleanup: &Cleanup, timeout: Duration) -> Services<'a> {
        Services {
            cleanup: cleanup.clone(),
            timeout,
            ..self
        }
    }

    /// The project's service, if there is one; refuses one of another project's.
    async fn existing(&self) -> anyhow::Result<Option<Service>> {
        existing(self.engine, self.spec).await
    }

    /// Makes the desired secrets (or finds them: same contents, same name) and returns
    /// the service spec that references them by id.
    async fn with_secrets(&self, desired: &Desired) -> anyhow::Result<ServiceSpec> {
        let mut spec = desired.spec.clone();
        let refs = spec
            .task_template
            .as_mut()
            .and_then(|t| t.container_spec.as_mut())
            .and_then(|c| c.secrets.as_mut());
        for (reference, secret) in refs.into_iter().flatten().zip(&desired.secrets) {
            let id = self
                .engine
                .ensure_secret(
                    &secret.name,
                    &secret.contents,
                    desired.secret_labels.clone(),
                )
                .await?;
            reference.secret_id = Some(id);
        }
        Ok(spec)
    }

    /// Removes this project's secrets that `keep` does not name: the old password's,
    /// once the lab runs with the new one, or all of them with no service.
    async fn prune_secrets(&self, keep: &[String]) -> anyhow::Result<usize> {
        let mine = format!("{}={}", label::PROJECT, self.project);
        let mut removed = 0;
        for (id, name) in self.engine.secrets(&mine).await? {
            if !keep.contains(&name) {
                self.engine.remove_secret(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The service's version index: what an update must name, and what tasks made
    /// after it are newer than.
    async fn version(&self, id: &str) -> anyhow::Result<(u64, Service)> {
        let service = self
            .engine
            .service(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the lab's service {} disappeared", self.name))?;
        let version = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
        Ok((version, service))
    }

    /// Waits until the task made after `since` runs, and returns its node's address;
    /// a task Swarm rejects or that fails ends the wait with Swarm's reason.
    async fn running_on(&self, id: &str, since: u64) -> anyhow::Result<IpAddr> {
        let started = Instant::now();
        let wait = crate::ui::progress::Wait::new("Waiting for Swarm to run the lab", self.printer);
        loop {
            let tasks = self.engine.tasks(id).await?;
            if let Some(why) = placement::failure(&tasks, since) {
                drop(wait);
                return Err(self
                    .not_ready(id, why, "fix what Swarm says (the project directory must exist at the same path on every node the lab may run on) and run `rjup up` again")
                    .await);
            }
            let placement = placement::placement_since(self.engine, id, since).await?;
            if placement.state == "running" {
                if let Some(address) = placement.address {
                    return Ok(address);
                }
            }
            if started.elapsed() >= self.timeout {
                drop(wait);
                let why = format!(
                    "the lab's task is still {} after {} s: {}",
                    placement.state,
                    self.timeout.as_secs(),
                    placement
                        .why
                        .unwrap_or_else(|| "Swarm gave no reason".into())
                );
                let fix = "check `swarm.constraints` in rjup.yaml against `docker node ls`, or raise --timeout";
                return Err(self.not_ready(id, why, fix).await);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn not_ready(&self, id: &str, failure: String, fix: &'static str) -> anyhow::Error {
        let log = self.log_tail(id, 25).await;
        let log = log.trim_end();
        // A task that was never scheduled or never started has nothing to show but why.
        if log.is_empty() {
            return Error::TaskNotRunning { failure, fix }.into();
        }
        Error::NotReady {
            failure,
            fix,
            log: log.to_string(),
        }
        .into()
    }

    /// Waits until the lab runs and its login page answers on its node.
    async fn answer(&self, id: &str, since: u64, ready: &Readiness) -> anyhow::Result<()> {
        let address = self.running_on(id, since).await?;
        ready.at(address).wait(self, id).await
    }

    /// Removes the service and every secret of the project: `down`, and a first `up`
    /// that never served.
    async fn remove_service(&self, id: &str) -> anyhow::Result<()> {
        self.engine.remove_service(id).await?;
        // The engine refuses to remove a secret while a task that mounts it still
        // exists; tasks go shortly after their service.
        let started = Instant::now();
        loop {
            match self.prune_secrets(&[]).await {
                Ok(_) => return Ok(()),
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(500)).await
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn secret_names(desired: &Desired) -> Vec<String> {
    desired.secrets.iter().map(|s| s.name.clone()).collect()
}

impl Runtime for Services<'_> {
    type Desired = Desired;

    fn name(&self) -> &str {
        &self.name
    }

    fn wanted(desired: &Desired) -> (&str, &str) {
        (&desired.config_hash, &desired.image_id)
    }

    async fn observe(&self) -> anyhow::Result<Option<Observed>> {
        let Some(service) = self.engine.service(&self.name).await? else {
            return Ok(None);
        };
        let owner = service_label(&service, label::PROJECT);
        if owner != Some(&self.project) {
            return Err(Error::NameTaken {
                name: self.name.clone(),
                owner: owner.cloned(),
            }
            .into());
        }
        let id = service.id.clone().unwrap_or_default();
        // A task still starting, or being rescheduled, is Swarm's to finish: waiting
        // for it is the whole of converging. One Swarm gave up on is broken.
        let tasks = self.engine.tasks(&id).await?;
        let status = match current(&tasks).and_then(state_of) {
            Some(TaskState::FAILED | TaskState::REJECTED) | None => Status::Broken(
                current(&tasks)
                    .and_then(state_of)
                    .map_or("without a task".into(), |s| s.to_string()),
            ),
            Some(_) => Status::Running,
        };
        Ok(Some(Observed {
            id,
            status,
            config_hash: service_label(&service, label::CONFIG_HASH).cloned(),
            image_id: service_label(&service, label::IMAGE).cloned(),
            port: service_label(&service, label::PORT).and_then(|p| p.parse().ok()),
        }))
    }

    async fn create(
        &self,
        desired: &Desired,
        ready: &Readiness,
        check: &Check,
    ) -> anyhow::Result<()> {
        // A service starts as it is made: nothing to make ahead of the check.
        check.pass().await?;
        let made = async {
            let spec = self.with_secrets(desired).await?;
            self.engine.create_service(spec).await
        }
        .await;
        let id = match made {
            Ok(id) => id,
            Err(err) => {
                let _ = self.prune_secrets(&[]).await;
                return Err(err);
            }
        };
        let registered = self.cleanup.remove_service(self.engine, &id);
        match self.answer(&id, 0, ready).await {
            Ok(()) => {
                self.cleanup.done(registered);
                Ok(())
            }
            Err(err) => {
                // A lab that never served is removed, secrets and all, so the next
                // `up` starts clean.
                let _ = self.remove_service(&id).await;
                self.cleanup.done(registered);
                Err(err)
            }
        }
    }

    async fn start(
        &self,
        current: &Observed,
        _desired: &Desired,
        ready: &Readiness,
    ) -> anyhow::Result<()> {
        self.answer(&current.id, 0, ready).await
    }

    async fn replace(
        &self,
        current: &Observed,
        desired: &Desired,
        ready: &Readiness,
        check: &Check,
    ) -> anyhow::Result<()> {
        check.pass().await?;
        let mut spec = self.with_secrets(desired).await?;
        let (version, service) = self.version(&current.id).await?;
        // A forced or broken lab restarts even when its spec is the same.
        let force = service
            .spec
            .and_then(|s| s.task_template)
            .and_then(|t| t.force_update)
            .unwrap_or(0);
        if let Some(task) = spec.task_template.as_mut() {
            task.force_update = Some(force + 1);
        }
        self.engine
            .update_service(&current.id, version, spec)
            .await?;
        let (since, _) = self.version(&current.id).await?;
        // A new task that fails makes Swarm roll back (`FailureAction: rollback`) to the
        // previous version, whose secrets are therefore kept.
        if let Err(failure) = self.answer(&current.id, since, ready).await {
            return Err(failure.context(format!(
                "the new version of {} did not serve; Swarm rolls the service back to the previous one",
                self.name
            )));
        }
        let keep = secret_names(desired);
        if let Err(e) = self.prune_secrets(&keep).await {
            self.printer
                .warn(format!("an old secret of the lab stays: {e:#}"));
        }
        Ok(())
    }

    async fn answers(&self, current: &Observed, ready: &Readiness) -> anyhow::Result<()> {
        self.answer(&current.id, 0, ready).await
    }

    async fn settle(
        &self,
        changed: bool,
        _observed: Option<&Observed>,
        _desired: &Desired,
        _state: &ProjectState,
    ) -> anyhow::Result<()> {
        // A lab made anew without `tls: acme` needs the renewer no more.
        if changed && !matches!(self.spec.tls, crate::config::TlsConfig::Acme(_)) {
            acme::release(self.engine, &self.spec.name).await?;
        }
        Ok(())
    }

    async fn stopped(&self, id: &str) -> anyhow::Result<Option<String>> {
        let tasks = self.engine.tasks(id).await?;
        Ok(match current(&tasks).and_then(state_of) {
            Some(TaskState::RUNNING) => None,
            Some(TaskState::FAILED | TaskState::REJECTED) => placement::failure(&tasks, 0),
            Some(other) => Some(format!("the lab's task is {other}, no longer running")),
            None => Some("the lab's service has no task".into()),
        })
    }

    async fn log_tail(&self, id: &str, lines: u64) -> String {
        self.engine.service_log_text(id, Some(lines)).await
    }

    /// Only a Swarm manager runs services.
    async fn prepare(&self) -> anyhow::Result<()> {
        require_manager(self.engine).await?;
        // Refused before the port and the image: a build pushed for a lab that cannot
        // be made would be wasted.
        if matches!(self.spec.tls, crate::config::TlsConfig::Acme(_)) {
            acme::check(self.spec)?;
        }
        Ok(())
    }

    async fn delivery(&self, _bind: IpAddr) -> anyhow::Result<Delivery> {
        Ok(Delivery::SWARM)
    }

    async fn port(&self, state: &ProjectState, observed: Option<&Observed>) -> anyhow::Result<u16> {
        port::choose(self.engine, self.spec, state, observed.and_then(|o| o.port)).await
    }

    async fn image(
        &self,
        state: &ProjectState,
        observed: Option<&Observed>,
        rebuild: bool,
    ) -> anyhow::Result<Image> {
        image::get(
            self.engine,
            self.spec,
            state,
            observed,
            rebuild,
            self.printer,
        )
        .await
    }

    /// The node is not known before the task runs: the lab is probed there
    /// ([`Readiness::at`]), on its port.
    async fn probe_address(&self, port: u16) -> anyhow::Result<SocketAddr> {
        Ok(SocketAddr::new(self.spec.bind, port))
    }

    /// Every node's renewer gets a certificate for its node's address, into that
    /// node's volume: the lab finds one wherever it runs ([`acme`]).
    async fn acme(
        &self,
        wanted: &crate::config::Acme,
        timeout: Duration,
    ) -> anyhow::Result<crate::lab::acme::AcmeLab> {
        acme::obtain(self.engine, self.spec, wanted, timeout, self.printer).await
    }

    /// The lab answers on whichever node runs it, and moves to another when its node
    /// is lost: a self-signed certificate names every node (one that joins later
    /// makes a new one).
    async fn serving_addresses(&self) -> anyhow::Result<Vec<IpAddr>> {
        self.engine.node_addresses().await
    }

    async fn desired(&self, inputs: &Inputs<'_>) -> anyhow::Result<Desired> {
        if self.spec.gpus.is_some() {
            self.printer.warn("`gpus` is not carried to a Swarm service (Swarm gives GPUs only as generic resources a node advertises); the lab runs without them");
        }
        service::desired(&Inputs {
            rootless: false,
            podman: false,
            ..*inputs
        })
    }

    async fn host(&self) -> anyhow::Result<Option<IpAddr>> {
        Ok(placement::placement(self.engine, &self.name).await?.address)
    }

    async fn exists(&self) -> anyhow::Result<bool> {
        require_manager(self.engine).await?;
        Ok(self.existing().await?.is_some())
    }

    /// A Swarm lab's `bind` is its node's address; who it admits is judged where it is
    /// published.
    async fn view(&self, _state: &ProjectState) -> anyhow::Result<LabView> {
        require_manager(self.engine).await?;
        let spec = self.spec;
        let found = self.existing().await?;
        let placement = match &found {
            Some(s) => {
                placement::placement(self.engine, s.id.as_deref().unwrap_or_default()).await?
            }
            None => Default::default(),
        };
        let view = LabView::of_service(
            &spec.name,
            &self.project,
            &self.name,
            found.as_ref(),
            &placement,
        )
        .on_engine(self.engine.name())
        .sharing(&spec.allow, spec.collaboration);
        let mut view = view.admission(spec.bind, Delivery::SWARM);
        // The certificate of the node the lab runs on, as that node's renewer logged it.
        if let (crate::config::TlsConfig::Acme(_), Some(address)) = (&spec.tls, placement.address) {
            let status = acme::status(self.engine, &spec.name, address).await?;
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
        require_manager(self.engine).await?;
        let Some(found) = self.existing().await? else {
            return Err(Error::NoLabLog {
                name: self.spec.name.clone(),
            }
            .into());
        };
        let id = found.id.unwrap_or_default();
        Ok(Box::pin(self.engine.service_logs(&id, tail, follow)))
    }

    /// The project's service and every secret labelled with the project, the latter
    /// even with no service: an `up` cut off between making the secrets and the
    /// service leaves them behind, and nothing else would ever remove them.
    async fn remove(&self) -> anyhow::Result<Removed> {
        require_manager(self.engine).await?;
        match self.existing().await? {
            Some(found) => {
                self.remove_service(found.id.as_deref().unwrap_or_default())
                    .await?;
                acme::release(self.engine, &self.spec.name).await?;
                Ok(Removed::Service)
            }
            None => Ok(match self.prune_secrets(&[]).await? {
                0 => Removed::NoService,
                n => Removed::LeftoverSecrets(n),
            }),
        }
    }

    /// Its port on its node.
    async fn target(&self, state: &ProjectState) -> anyhow::Result<Target> {
        require_manager(self.engine).await?;
        let spec = self.spec;
        let not_running = || Error::LabNotRunning {
            name: spec.name.clone(),
        };
        let found = self.existing().await?.ok_or_else(not_running)?;
        let placement =
            placement::placement(self.engine, found.id.as_deref().unwrap_or_default()).await?;
        let address = placement
            .address
            .filter(|_| placement.state == "running")
            .ok_or_else(not_running)?;
        let port: u16 = service_label(&found, label::PORT)
            .and_then(|p| p.parse().ok())
            .ok_or_else(not_running)?;
        let tls = match service_label(&found, label::SCHEME).map(String::as_str) {
            // The kept certificate, whatever nodes it names.
            Some("https") => certificate::trust(spec, state, None, self.printer, &[address])?,
            _ => None,
        };
        probe_target(
            SocketAddr::new(address, port),
            tls.as_ref(),
            state.existing_cookie_secret()?.as_deref(),
        )
    }

    /// A service's secrets cannot change: new accounts are a new secret, which only
    /// an update of the service brings to the lab.
    async fn copy_accounts(
        &self,
        _lab_file: &[u8],
        _state: &ProjectState,
    ) -> anyhow::Result<AccountsCopy> {
        Ok(match self.existing().await? {
            Some(_) => AccountsCopy::NeedsUpdate,
            None => AccountsCopy::NoLab,
        })
    }
}

/// Every rjup lab service of the cluster, as `ls` shows them, on a Swarm manager;
/// none elsewhere.
pub async fn list(engine: &Engine) -> anyhow::Result<Vec<LabView>> {
    if engine.swarm_role().await? != Role::Manager {
        return Ok(Vec::new());
    }
    let mut labs = Vec::new();
    for found in engine.services(label::PROJECT).await? {
        let id = found.id.clone().unwrap_or_default();
        let placement = placement::placement(engine, &id).await?;
        let get = |key| service_label(&found, key).cloned().unwrap_or_default();
        let service_name = found
            .spec
            .as_ref()
            .and_then(|s| s.name.clone())
            .unwrap_or_default();
        let bind = get(label::BIND)
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        labs.push(
            LabView::of_service(
                &get(label::NAME),
                &get(label::PROJECT),
                &service_name,
                Some(&found),
                &placement,
            )
            .admission(bind, Delivery::SWARM)
            .on_engine(engine.name()),
        );
    }
    Ok(labs)
}
