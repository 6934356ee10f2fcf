//! A lab as a one-replica Swarm service: the second [`Runtime`]. Swarm does the
//! scheduling, the restarts, the rescheduling when a node is lost, and the rolling
//! update with rollback; rjup observes, plans with the same config-hash label as for
//! containers, and waits until the lab answers on the node that runs it.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::models::{ServiceSpec, Task, TaskState};

use super::cleanup::Cleanup;
use super::ready::Readiness;
use super::{Observed, Runtime, Status};
use crate::engine::{Engine, Role};
use crate::error::Error;
use crate::lab::label;
use crate::lab::service::{self, Desired};
use crate::settings::Spec;
use crate::ui::printer::Printer;

pub struct Services<'a> {
    engine: &'a Engine,
    /// The service's name, `rjup-<lab>`.
    name: String,
    project: String,
    cleanup: &'a Cleanup,
    printer: Printer,
    timeout: Duration,
}

/// Where the lab's task is: its state, its node, and Swarm's words about it.
#[derive(Debug, Default, Clone)]
pub struct Placement {
    pub state: String,
    pub node: Option<String>,
    pub address: Option<IpAddr>,
    /// The task's error, or the scheduler's message while it waits.
    pub why: Option<String>,
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
pub async fn existing(
    engine: &Engine,
    spec: &Spec,
) -> anyhow::Result<Option<bollard::models::Service>> {
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

pub fn service_label<'a>(service: &'a bollard::models::Service, key: &str) -> Option<&'a String> {
    service.spec.as_ref()?.labels.as_ref()?.get(key)
}

/// The task that is to run (the newest one Swarm wants running), else the newest.
fn current(tasks: &[Task]) -> Option<&Task> {
    tasks
        .iter()
        .find(|t| t.desired_state == Some(TaskState::RUNNING))
        .or_else(|| tasks.first())
}

fn index(task: &Task) -> u64 {
    task.version.as_ref().and_then(|v| v.index).unwrap_or(0)
}

fn state_of(task: &Task) -> Option<TaskState> {
    task.status.as_ref().and_then(|s| s.state)
}

/// Where service `id`'s task runs now, and the address of its node.
pub async fn placement(engine: &Engine, id: &str) -> anyhow::Result<Placement> {
    placement_since(engine, id, 0).await
}

/// As [`placement`], of a task Swarm made or changed after version `since`: after an
/// update, the task before it may still answer for a moment.
async fn placement_since(engine: &Engine, id: &str, since: u64) -> anyhow::Result<Placement> {
    let tasks: Vec<Task> = engine
        .tasks(id)
        .await?
        .into_iter()
        .filter(|t| index(t) > since)
        // The task being replaced is newer than `since` too, as it is told to stop.
        .filter(|t| since == 0 || t.desired_state == Some(TaskState::RUNNING))
        .collect();
    let Some(task) = current(&tasks) else {
        return Ok(Placement {
            state: "no task".into(),
            ..Default::default()
        });
    };
    let status = task.status.clone().unwrap_or_default();
    let mut placement = Placement {
        state: status.state.map_or("unknown".into(), |s| s.to_string()),
        why: status.err.or(status.message).filter(|m| !m.is_empty()),
        ..Default::default()
    };
    if let Some(node) = task.node_id.as_deref() {
        if let Some(node) = engine.node(node).await? {
            placement.node = node.description.and_then(|d| d.hostname);
            placement.address = node
                .status
                .and_then(|s| s.addr)
                .and_then(|a| a.parse().ok());
        }
    }
    Ok(placement)
}

/// A task of this service that failed for good: rejected by its node (a missing
/// project path), or failed (its command), with Swarm's error.
fn failure(tasks: &[Task], since: u64) -> Option<String> {
    tasks
        .iter()
        .filter(|t| index(t) > since)
        .find(|t| matches!(state_of(t), Some(TaskState::REJECTED | TaskState::FAILED)))
        .map(|t| {
            let status = t.status.clone().unwrap_or_default();
            let why = status.err.or(status.message).unwrap_or_default();
            format!(
                "the lab's task was {} by Swarm: {why}",
                state_of(t).map_or("failed".into(), |s| s.to_string())
            )
        })
}

impl<'a> Services<'a> {
    pub fn new(
        engine: &'a Engine,
        spec: &Spec,
        cleanup: &'a Cleanup,
        printer: Printer,
        timeout: Duration,
    ) -> Services<'a> {
        Services {
            engine,
            name: service::service_name(spec),
            project: spec.dir.display().to_string(),
            cleanup,
            printer,
            timeout,
        }
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
    pub async fn prune_secrets(&self, keep: &[String]) -> anyhow::Result<usize> {
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
    async fn version(&self, id: &str) -> anyhow::Result<(u64, bollard::models::Service)> {
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
            if let Some(why) = failure(&tasks, since) {
                drop(wait);
                return Err(self
                    .not_ready(id, why, "fix what Swarm says (the project directory must exist at the same path on every node the lab may run on) and run `rjup up` again")
                    .await);
            }
            let placement = placement_since(self.engine, id, since).await?;
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
    pub async fn remove(&self, id: &str) -> anyhow::Result<()> {
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

    async fn create(&self, desired: &Desired, ready: &Readiness) -> anyhow::Result<()> {
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
                let _ = self.remove(&id).await;
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
    ) -> anyhow::Result<()> {
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

    async fn stopped(&self, id: &str) -> anyhow::Result<Option<String>> {
        let tasks = self.engine.tasks(id).await?;
        Ok(match current(&tasks).and_then(state_of) {
            Some(TaskState::RUNNING) => None,
            Some(TaskState::FAILED | TaskState::REJECTED) => failure(&tasks, 0),
            Some(other) => Some(format!("the lab's task is {other}, no longer running")),
            None => Some("the lab's service has no task".into()),
        })
    }

    async fn log_tail(&self, id: &str, lines: u64) -> String {
        use futures_util::StreamExt;
        let mut text = Vec::new();
        let mut stream = Box::pin(self.engine.service_logs(id, Some(lines), false));
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                chunk = stream.next() => match chunk {
                    Some(Ok(chunk)) => text.extend_from_slice(&chunk),
                    _ => break,
                },
                // A node that is gone never ends its part of the log.
                () = &mut deadline => break,
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// The host port: as asked, else the lab's own, else the remembered or default one,
/// passing over ports other labs of the cluster publish (Swarm would leave a lab on a
/// taken port pending where the other lab's node is the only one allowed).
pub async fn choose_port(
    engine: &Engine,
    spec: &Spec,
    state: &crate::state::ProjectState,
    observed: Option<&Observed>,
) -> anyhow::Result<u16> {
    if let crate::settings::PortRequest::Fixed(port) = spec.port {
        return Ok(port);
    }
    if let Some(port) = observed.and_then(|o| o.port) {
        return Ok(port);
    }
    let project = spec.dir.display().to_string();
    let taken: Vec<u16> = engine
        .services(label::PROJECT)
        .await?
        .iter()
        .filter(|s| service_label(s, label::PROJECT) != Some(&project))
        .filter_map(|s| service_label(s, label::PORT)?.parse().ok())
        .collect();
    let mut port = state.port()?.unwrap_or(crate::settings::DEFAULT_PORT);
    while taken.contains(&port) {
        port = port.checked_add(1).unwrap_or(1024);
    }
    Ok(port)
}

/// The image every node runs.
pub struct Image {
    /// What nodes pull: `image:` itself, or the pushed build by digest.
    pub reference: String,
    /// What the config hash and the `image` label compare.
    pub id: String,
    pub pulled: bool,
}

/// Pull mode: each node pulls `image:`, pinned to the digest the registry holds now
/// when it says. Build mode: build on the
/// manager, push to `swarm.registry`, and run the push by digest, so every node runs
/// exactly this build; a build the service already runs is not pushed again.
pub async fn image(
    engine: &Engine,
    spec: &Spec,
    state: &crate::state::ProjectState,
    observed: Option<&Observed>,
    rebuild: bool,
    printer: Printer,
) -> anyhow::Result<Image> {
    let plan = crate::environment::image_plan::plan(&spec.name, spec.owner, &spec.image);
    let tag = match &plan {
        crate::environment::image_plan::ImagePlan::Pull { reference } => {
            // Pinned by digest, as `docker service create` pins: a node that holds the
            // image then starts it without asking the registry again, which a tag makes
            // it do on every start, a failover's included.
            let pinned = match engine.registry_digest(reference).await {
                Some(digest) if !reference.contains('@') => format!("{reference}@{digest}"),
                _ => reference.clone(),
            };
            return Ok(Image {
                reference: pinned.clone(),
                id: pinned,
                pulled: true,
            });
        }
        crate::environment::image_plan::ImagePlan::Build { tag, .. } => tag.clone(),
    };
    let registry = spec
        .swarm
        .as_ref()
        .and_then(|s| s.registry.clone())
        .ok_or(Error::NoSwarmRegistry)?;
    let flags = crate::lab::image::BuildFlags {
        state: Some(state.clone()),
        ..Default::default()
    };
    let id = crate::lab::image::ensure(engine, &plan, flags, rebuild, printer).await?;
    if let Some(current) = observed.filter(|o| o.image_id.as_deref() == Some(id.as_str())) {
        let running = engine
            .service(&current.id)
            .await?
            .and_then(|s| s.spec?.task_template?.container_spec?.image);
        if let Some(reference) = running {
            return Ok(Image {
                reference,
                id,
                pulled: false,
            });
        }
    }
    let target = format!("{registry}/{tag}");
    printer.say(format!("Pushing {target}"));
    let reference = engine.push(&id, &target).await?;
    Ok(Image {
        reference,
        id,
        pulled: false,
    })
}

/// What `down` (and `check --down`) removed of a Swarm lab.
pub struct Removed {
    pub service: bool,
    /// Secrets of the project with no service: left by an interrupted `up`.
    pub leftover_secrets: usize,
}

/// Removes the project's service and every secret labelled with the project, the
/// latter even with no service: an `up` cut off between making the secrets and the
/// service leaves them behind, and nothing else would ever remove them.
pub async fn remove_lab(engine: &Engine, spec: &Spec, printer: Printer) -> anyhow::Result<Removed> {
    require_manager(engine).await?;
    let cleanup = Cleanup::default();
    let services = Services::new(engine, spec, &cleanup, printer, Duration::ZERO);
    match existing(engine, spec).await? {
        Some(found) => {
            services
                .remove(found.id.as_deref().unwrap_or_default())
                .await?;
            Ok(Removed {
                service: true,
                leftover_secrets: 0,
            })
        }
        None => Ok(Removed {
            service: false,
            leftover_secrets: services.prune_secrets(&[]).await?,
        }),
    }
}

/// Where `rjup check` reaches a running Swarm lab: its port on its node.
pub async fn target(
    engine: &Engine,
    spec: &Spec,
    state: &crate::state::ProjectState,
    printer: Printer,
) -> anyhow::Result<crate::lab_client::Target> {
    require_manager(engine).await?;
    let not_running = || Error::LabNotRunning {
        name: spec.name.clone(),
    };
    let found = existing(engine, spec).await?.ok_or_else(not_running)?;
    let placement = placement(engine, found.id.as_deref().unwrap_or_default()).await?;
    let address = placement
        .address
        .filter(|_| placement.state == "running")
        .ok_or_else(not_running)?;
    let port: u16 = service_label(&found, label::PORT)
        .and_then(|p| p.parse().ok())
        .ok_or_else(not_running)?;
    let tls = match service_label(&found, label::SCHEME).map(String::as_str) {
        // The kept certificate, whatever nodes it names.
        Some("https") => crate::lab::certificate::for_lab(spec, state, None, printer)?,
        _ => None,
    };
    super::ready::probe_target(
        std::net::SocketAddr::new(address, port),
        tls.as_ref(),
        state.existing_cookie_secret()?.as_deref(),
    )
}
