//! How a lab runs: as one container on one engine ([`container`]) or as a one-replica
//! Swarm service ([`swarm`]). Each is a [`Runtime`]: it answers the steps
//! [`crate::converge`] takes and the questions the verbs ask, its own way.
//! [`for_spec`] picks the runtime a project's lab runs on; it is the one place outside
//! the settings that looks at `swarm:`.

pub mod cleanup;
pub mod container;
pub mod ready;
pub mod swarm;
pub mod view;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;

use crate::engine::{Engine, Role};
use crate::lab::admission::Delivery;
use crate::lab::{label, Inputs};
use crate::lab_client::Target;
use crate::password::Check;
use crate::settings::{Found, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;
use cleanup::Cleanup;
use container::Containers;
use ready::Readiness;
use swarm::Services;
use view::LabView;

/// A lab as the engine reports it, whatever runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The engine's id for it.
    pub id: String,
    pub status: Status,
    pub config_hash: Option<String>,
    pub image_id: Option<String>,
    /// The host port it was published on.
    pub port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Running,
    /// Made but not started, or stopped: starting it is enough.
    Stopped,
    /// Restarting in a loop, paused or dead: it will not serve as it is.
    Broken(String),
}

impl Status {
    /// From Docker's container state: created, running, restarting, paused, exited, dead.
    pub fn of_container(state: &str) -> Status {
        match state {
            "running" => Status::Running,
            "created" | "exited" => Status::Stopped,
            other => Status::Broken(other.to_string()),
        }
    }
}

/// The image a lab runs, as its runtime got it.
pub struct Image {
    /// What the lab is created from: a tag, `image:`, or a pushed build by digest.
    pub reference: String,
    /// What the config hash and the `image` label compare.
    pub id: String,
    /// Pulled as it is rather than built: it has no home for the lab's user.
    pub pulled: bool,
}

/// A lab's log, as the engine streams it.
pub type Log<'a> = Pin<Box<dyn Stream<Item = anyhow::Result<Vec<u8>>> + 'a>>;

/// What `down` (and `check --down`) removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    /// The lab's container.
    Container,
    /// No container: nothing to stop.
    NoContainer,
    /// The lab's service and every secret of the project.
    Service,
    /// No service: nothing to stop.
    NoService,
    /// No service, but this many secrets an interrupted `up` left, now removed.
    LeftoverSecrets(usize),
}

impl Removed {
    /// Whether anything was removed.
    pub fn any(self) -> bool {
        matches!(
            self,
            Removed::Container | Removed::Service | Removed::LeftoverSecrets(_)
        )
    }

    /// What `down` says about lab `name` of the project at `dir`; `forget` when its
    /// password goes too.
    pub fn describe(self, name: &str, dir: &Path, forget: bool) -> String {
        let dir = dir.display();
        match self {
            Removed::Container => {
                let kept = if forget {
                    "and the image"
                } else {
                    "the image and the password"
                };
                format!("Lab \"{name}\" is down. Kept: the files in {dir}, {kept}")
            }
            Removed::NoContainer => format!("Lab \"{name}\" has no container; nothing to stop"),
            Removed::Service => format!("Lab \"{name}\" is down: its service and secrets are removed. Kept: the files in {dir}, the image and the password"),
            Removed::NoService => format!("Lab \"{name}\" has no service; nothing to stop"),
            Removed::LeftoverSecrets(n) => format!("Lab \"{name}\" has no service; removed {n} secret(s) an interrupted `rjup up` left"),
        }
    }

    /// What `check --down` reports for its step.
    pub fn step(self) -> &'static str {
        match self {
            Removed::Container | Removed::NoContainer => "lab removed",
            Removed::Service | Removed::NoService | Removed::LeftoverSecrets(_) => {
                "lab's service and secrets removed"
            }
        }
    }
}

/// How far a copy of the accounts file got ([`Runtime::copy_accounts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountsCopy {
    /// There is no lab: the next `up` gives it the accounts.
    NoLab,
    /// The lab is stopped: its next start copies the file in.
    Stopped,
    /// The running lab has the file and reads it at its next request.
    Live,
    /// The lab cannot take a file while it runs (a Swarm service's secrets cannot
    /// change): only an update of the lab itself brings the accounts to it.
    NeedsUpdate,
}

/// One way of running a lab. The first group of methods are the steps of convergence,
/// in the order [`crate::converge`] takes them; the second answers the verbs.
#[allow(async_fn_in_trait)]
pub trait Runtime {
    /// What the runtime creates a lab from.
    type Desired;

    /// The name the user's lab goes by, for what rjup says.
    fn name(&self) -> &str;

    /// The config hash and image id of the desired lab, to compare with [`Observed`].
    fn wanted(desired: &Self::Desired) -> (&str, &str);

    /// Refuses, before anything is looked at, an engine that cannot run this lab.
    async fn prepare(&self) -> anyhow::Result<()> {
        Ok(())
    }

    /// The project's lab as it is now, if there is one.
    async fn observe(&self) -> anyhow::Result<Option<Observed>>;

    /// How clients reach a lab published on `bind`, as far as it decides the address
    /// the lab sees them come from ([`crate::lab::admission`]).
    async fn delivery(&self, bind: IpAddr) -> anyhow::Result<Delivery>;

    /// The host port to publish on, given the lab `observed` now.
    async fn port(&self, state: &ProjectState, observed: Option<&Observed>) -> anyhow::Result<u16>;

    /// The image to run, pulled or built (`rebuild`: even when it is there).
    async fn image(
        &self,
        state: &ProjectState,
        observed: Option<&Observed>,
        rebuild: bool,
    ) -> anyhow::Result<Image>;

    /// Where rjup probes the lab once it is published on `port`: checked before
    /// anything is made, since a lab rjup cannot reach would never count as up.
    async fn probe_address(&self, port: u16) -> anyhow::Result<SocketAddr>;

    /// For `tls: acme`: has the engine's renewer give the lab its certificate, as
    /// `wanted` asks, waiting for it (up to `timeout`) before the lab is made. A refusal
    /// leaves the renewer, and the lab's previous certificate, as they were.
    async fn acme(
        &self,
        wanted: &crate::config::Acme,
        timeout: Duration,
    ) -> anyhow::Result<crate::lab::acme::AcmeLab>;

    /// Addresses besides the engine's host's a self-signed certificate must name: where
    /// else the lab may come to be served.
    async fn serving_addresses(&self) -> anyhow::Result<Vec<IpAddr>> {
        Ok(Vec::new())
    }

    /// The lab wanted, made from `inputs` as this runtime makes it.
    async fn desired(&self, inputs: &Inputs<'_>) -> anyhow::Result<Self::Desired>;

    /// Makes and starts a lab where there was none, passing `check` before it starts;
    /// one that never answers, or fails the check, is removed.
    async fn create(
        &self,
        desired: &Self::Desired,
        ready: &Readiness,
        check: &Check,
    ) -> anyhow::Result<()>;

    /// Starts the stopped lab `current`, unchanged.
    async fn start(
        &self,
        current: &Observed,
        desired: &Self::Desired,
        ready: &Readiness,
    ) -> anyhow::Result<()>;

    /// Replaces `current` with a lab made from `desired`, keeping `current` until the
    /// replacement answers, and restoring it if the replacement never does; `check`
    /// passes before `current` is stopped.
    async fn replace(
        &self,
        current: &Observed,
        desired: &Self::Desired,
        ready: &Readiness,
        check: &Check,
    ) -> anyhow::Result<()>;

    /// Waits until the running lab `current` answers: where it answers is the
    /// runtime's to say (a Swarm lab, on its node).
    async fn answers(&self, current: &Observed, ready: &Readiness) -> anyhow::Result<()>
    where
        Self: Sized,
    {
        ready.wait(self, &current.id).await
    }

    /// Why the lab `id` stopped serving (it exited, or restarts in a loop), if it did.
    async fn stopped(&self, id: &str) -> anyhow::Result<Option<String>>;

    /// The last `lines` lines of the lab's log, to show when it fails.
    async fn log_tail(&self, id: &str, lines: u64) -> String;

    /// What is left to do once the lab answers: `changed` when it was made, started or
    /// replaced, else it is `observed` as it was.
    async fn settle(
        &self,
        changed: bool,
        observed: Option<&Observed>,
        desired: &Self::Desired,
        state: &ProjectState,
    ) -> anyhow::Result<()> {
        let _ = (changed, observed, desired, state);
        Ok(())
    }

    /// The address the lab answers at when it is not the one it is published on (a
    /// Swarm lab's node's).
    async fn host(&self) -> anyhow::Result<Option<IpAddr>> {
        Ok(None)
    }

    /// Whether the project has a lab here.
    async fn exists(&self) -> anyhow::Result<bool>;

    /// The project's lab as `status` shows it, with who it admits and whether that
    /// holds here.
    async fn view(&self, state: &ProjectState) -> anyhow::Result<LabView>;

    /// The lab's log: the last `tail` lines, or all, maybe followed.
    async fn logs(&self, tail: Option<u64>, follow: bool) -> anyhow::Result<Log<'_>>;

    /// Removes the lab and what the runtime keeps of it.
    async fn remove(&self) -> anyhow::Result<Removed>;

    /// Where `rjup check` reaches the running lab.
    async fn target(&self, state: &ProjectState) -> anyhow::Result<Target>;

    /// Brings the accounts file `lab_file` to the lab, as far as this runtime can while
    /// the lab runs.
    async fn copy_accounts(
        &self,
        lab_file: &[u8],
        state: &ProjectState,
    ) -> anyhow::Result<AccountsCopy>;
}

/// The runtime a project's lab runs on.
pub enum LabRuntime<'a> {
    Container(Containers<'a>),
    Service(Services<'a>),
}

/// Runs `$body` with `$runtime` bound to whichever runtime `$lab` holds: the one
/// place that tells them apart, so that code above is written once for both.
macro_rules! with_runtime {
    ($lab:expr, $runtime:ident => $body:expr) => {
        match $lab {
            $crate::runtime::LabRuntime::Container($runtime) => $body,
            $crate::runtime::LabRuntime::Service($runtime) => $body,
        }
    };
}
pub(crate) use with_runtime;

/// The runtime `spec` asks for: a Swarm service with `swarm:`, else a container.
pub fn for_spec<'a>(engine: &'a Engine, spec: &'a Spec, printer: Printer) -> LabRuntime<'a> {
    tracing::trace!(
        "lab {} runs as a {}",
        spec.name,
        if spec.swarm.is_some() {
            "Swarm service"
        } else {
            "container"
        }
    );
    match spec.swarm {
        Some(_) => LabRuntime::Service(Services::new(engine, spec, printer)),
        None => LabRuntime::Container(Containers::new(engine, spec, printer)),
    }
}

impl<'a> LabRuntime<'a> {
    /// The same runtime, for converging: what it makes is undone by `cleanup` on
    /// Ctrl-C, and a lab that does not answer within `timeout` has failed.
    pub fn converging(self, cleanup: &Cleanup, timeout: Duration) -> LabRuntime<'a> {
        match self {
            LabRuntime::Container(c) => LabRuntime::Container(c.converging(cleanup, timeout)),
            LabRuntime::Service(s) => LabRuntime::Service(s.converging(cleanup, timeout)),
        }
    }

    pub async fn prepare(&self) -> anyhow::Result<()> {
        with_runtime!(self, runtime => runtime.prepare().await)
    }

    pub async fn exists(&self) -> anyhow::Result<bool> {
        with_runtime!(self, runtime => runtime.exists().await)
    }

    pub async fn view(&self, state: &ProjectState) -> anyhow::Result<LabView> {
        with_runtime!(self, runtime => runtime.view(state).await)
    }

    pub async fn logs(&self, tail: Option<u64>, follow: bool) -> anyhow::Result<Log<'_>> {
        with_runtime!(self, runtime => runtime.logs(tail, follow).await)
    }

    pub async fn remove(&self) -> anyhow::Result<Removed> {
        with_runtime!(self, runtime => runtime.remove().await)
    }

    pub async fn target(&self, state: &ProjectState) -> anyhow::Result<Target> {
        with_runtime!(self, runtime => runtime.target(state).await)
    }

    pub async fn copy_accounts(
        &self,
        lab_file: &[u8],
        state: &ProjectState,
    ) -> anyhow::Result<AccountsCopy> {
        with_runtime!(self, runtime => runtime.copy_accounts(lab_file, state).await)
    }
}

/// The lab `found` names, for verbs that act on what exists: when rjup.yaml could not
/// say the lab's name, the name its container or service carries for the project's
/// directory (which also tells a Swarm lab), else the one rjup keeps state under.
pub async fn identify(engine: &Engine, found: Found) -> anyhow::Result<Spec> {
    let mut spec = found.spec;
    if found.name_known {
        return Ok(spec);
    }
    let project = format!("{}={}", label::PROJECT, spec.dir.display());
    let name_of = |labels: Option<&std::collections::HashMap<String, String>>| {
        labels.and_then(|l| l.get(label::NAME)).cloned()
    };
    let containers = engine.labs(&project).await?;
    if let Some(name) = containers
        .iter()
        .find_map(|c| name_of(c.config.as_ref().and_then(|c| c.labels.as_ref())))
    {
        spec.name = name;
        spec.swarm = None;
        return Ok(spec);
    }
    if engine.swarm_role().await? == Role::Manager {
        let services = engine.services(&project).await?;
        if let Some(name) = services
            .iter()
            .find_map(|s| name_of(s.spec.as_ref().and_then(|s| s.labels.as_ref())))
        {
            spec.name = name;
            spec.swarm = Some(spec.swarm.unwrap_or_default());
            return Ok(spec);
        }
    }
    if let Some(name) = ProjectState::kept_name(&spec.dir) {
        spec.name = name;
    }
    Ok(spec)
}

/// Every rjup lab on the engine, across projects: its containers, and on a Swarm
/// manager the cluster's services, wherever their tasks run.
pub async fn list(engine: &Engine) -> anyhow::Result<Vec<LabView>> {
    let mut labs = container::list(engine).await?;
    labs.extend(swarm::list(engine).await?);
    Ok(labs)
}
