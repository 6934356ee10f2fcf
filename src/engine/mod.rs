//! Every conversation with the Docker engine goes through here, over its API: the
//! engine itself ([`Engine`], what kind it is) here; its containers, images, builds and
//! Swarm in files of their own; how rjup reaches it ([`endpoint`], [`transport`]) and
//! logs in to registries ([`credentials`]) beside them. The engine knows nothing of
//! what is above it: what it reports while it works goes through [`progress`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bollard::errors::Error as DockerError;
use bollard::models::{SystemInfo, SystemInfoCgroupDriverEnum};
use bollard::Docker;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::error::Error;
use endpoint::Endpoint;
use host::LabHost;
use remembered::Remembered;

/// The start of one request to the engine (`$what`, as `format!` takes it), logged
/// with how long it took when the value is dropped, under `-v`; formatted only then.
macro_rules! call {
    ($($what:tt)+) => {
        $crate::engine::Call::start(
            tracing::enabled!(tracing::Level::DEBUG).then(|| format!($($what)+)),
        )
    };
}

mod build;
mod containers;
pub mod credentials;
pub mod docker_cli_config;
pub mod endpoint;
pub mod host;
mod images;
pub mod progress;
mod remembered;
mod swarm;
pub mod transport;

pub use build::{BuildOptions, Builder};
pub use containers::LogGap;
pub use swarm::Role;
pub use swarm::SwarmNode;

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// Asked of the engine once, by the first command step that needs it.
    flavour: Arc<OnceCell<Flavour>>,
    endpoint: Endpoint,
    /// Where labs are published, found once, by the first step that needs it.
    lab_host: Arc<OnceCell<LabHost>>,
    /// Where its flavour is kept between commands, for an engine on a local socket.
    remembered: Option<Arc<Remembered>>,
}

/// What sort of engine this is, as far as the lab's container depends on it. Detected
/// here and nowhere else, from the engine's `info`, which Docker and Podman both answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flavour {
    /// Rootless Docker or rootless Podman: container uid 0 is the user who runs the
    /// engine, and any other uid a subordinate id that owns nothing on the host.
    pub rootless: bool,
    /// The engine enforces no pids limit: no cgroup driver (rootless Docker without
    /// cgroup v2) or no pids controller, though it accepts and shows the limit.
    pub ignores_pids_limit: bool,
    /// Podman, known by its `k8s-file` log driver, which Docker lacks. It publishes on
    /// IPv4 only by itself, and never answers on an explicit `0.0.0.0` under netavark.
    pub podman: bool,
}

impl Flavour {
    fn of(info: &SystemInfo) -> Flavour {
        let rootless = info
            .security_options
            .iter()
            .flatten()
            .any(|o| o.split(',').any(|field| field == "name=rootless"));
        Flavour {
            rootless,
            ignores_pids_limit: info.cgroup_driver == Some(SystemInfoCgroupDriverEnum::NONE)
                || info.pids_limit == Some(false),
            podman: info
                .plugins
                .as_ref()
                .and_then(|p| p.log.as_ref())
                .is_some_and(|log| log.iter().any(|driver| driver == "k8s-file")),
        }
    }
}

impl Engine {
    /// Connects to the engine the endpoint names and agrees on an API version it speaks.
    /// What kind of engine it is may be kept in `remember_in` between commands
    /// ([`remembered`]).
    pub async fn connect(
        endpoint: &Endpoint,
        remember_in: Option<PathBuf>,
    ) -> anyhow::Result<Engine> {
        let _call = call!("connect to {}", endpoint.host);
        let ping = transport::ping(endpoint).await;
        let docker = match &ping {
            Some(ping) => transport::docker_speaking(endpoint, &ping.version)?,
            None => transport::docker(endpoint)?
                .negotiate_version()
                .await
                .map_err(|e| transport::unreachable(endpoint, &e))?,
        };
        let remembered = match (remember_in, &ping) {
            (Some(dir), Some(ping)) => Remembered::of(&dir, endpoint, ping).map(Arc::new),
            _ => None,
        };
        Ok(Engine {
            docker,
            flavour: Arc::default(),
            endpoint: endpoint.clone(),
            lab_host: Arc::default(),
            remembered,
        })
    }

    /// The machine this engine publishes labs on ([`LabHost`]).
    pub async fn lab_host(&self) -> LabHost {
        let found = self
            .lab_host
            .get_or_init(|| {
                let own_name = async {
                    let _call = call!("info, for the engine's own name");
                    let info = self.docker.info().await.ok()?;
                    info.name
                };
                host::locate(&self.endpoint, own_name)
            })
            .await;
        found.clone()
    }

    /// What kind of engine this is: remembered from an earlier command when the same
    /// engine answers on the same socket, else asked (and then remembered).
    pub async fn flavour(&self) -> anyhow::Result<Flavour> {
        self.flavour
            .get_or_try_init(|| async {
                let remembered = self.remembered.as_deref();
                if let Some((flavour, memory)) =
                    remembered.and_then(|r| Some((r.recall()?, r.file())))
                {
                    tracing::debug!(
                        "engine: what kind of engine this is, remembered in {}",
                        memory.display()
                    );
                    return Ok(flavour);
                }
                let info = {
                    let _call = call!("info, for what kind of engine this is");
                    self.docker.info().await
                };
                let flavour = Flavour::of(
                    &info.map_err(|e| engine_error(e, "asking the engine what it is"))?,
                );
                if let Some(remembered) = remembered {
                    remembered.keep(&self.endpoint.host, flavour);
                }
                Ok(flavour)
            })
            .await
            .copied()
    }

    /// Whether Docker's default bridge network, where labs run, gives containers IPv6
    /// (`EnableIPv6`): only then does an IPv6 client reach a lab from its own address
    /// rather than through docker-proxy. A network the engine does not know has none.
    pub async fn bridge_has_ipv6(&self) -> anyhow::Result<bool> {
        let _call = call!("inspect network bridge");
        let options = None::<bollard::query_parameters::InspectNetworkOptions>;
        match self.docker.inspect_network("bridge", options).await {
            Ok(network) => Ok(network.enable_ipv6 == Some(true)),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(engine_error(e, "inspecting the engine's bridge network")),
        }
    }

    /// The engine's operating system and architecture, as it names them (`linux`,
    /// `amd64`): what a container's executable must be built for.
    pub async fn platform(&self) -> anyhow::Result<(String, String)> {
        let _call = call!("version, for the engine's platform");
        let version = self
            .docker
            .version()
            .await
            .map_err(|e| engine_error(e, "asking the engine for its version"))?;
        Ok((
            version.os.unwrap_or_default(),
            version.arch.unwrap_or_default(),
        ))
    }

    /// Whether every connection to the engine is an ssh login of its own (`ssh://`, dialled
    /// through `docker system dial-stdio`): two requests at once then cost two logins.
    pub fn over_ssh(&self) -> bool {
        self.endpoint.host.starts_with("ssh://")
    }

    /// The context's name, or the host when no context named the engine.
    pub fn name(&self) -> &str {
        &self.endpoint.name
    }
}

/// An id as `docker ps` shows it: the first 12 of its 64 hex digits; a name as it is.
fn short(id: &str) -> &str {
    match id.get(..12) {
        Some(start) if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) => start,
        _ => id,
    }
}

/// One request to the engine under way; see [`call!`].
pub(crate) struct Call {
    what: Option<String>,
    started: Instant,
}

impl Call {
    pub(crate) fn start(what: Option<String>) -> Call {
        Call {
            what,
            started: Instant::now(),
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some(what) = &self.what {
            tracing::debug!(
                "engine: {what} ({:.1} ms)",
                self.started.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}

/// A transport failure (the engine went away) rather than an answer from the engine.
fn is_transport(e: &DockerError) -> bool {
    !matches!(
        e,
        DockerError::DockerResponseServerError { .. }
            | DockerError::DockerStreamError { .. }
            | DockerError::DockerContainerWaitError { .. }
            | DockerError::JsonDataError { .. }
            | DockerError::JsonSerdeError { .. }
    )
}

/// An engine error with what rjup was doing; a lost connection is the engine gone (exit
/// 5), and says that a retry is safe.
pub fn engine_error(e: DockerError, what: &str) -> anyhow::Error {
    if is_transport(&e) {
        return Error::EngineLost {
            doing: what.to_string(),
            reason: e.to_string(),
        }
        .into();
    }
    anyhow::Error::new(e).context(what.to_string())
}

/// Podman's answer to `Init: true` without its init binary, at create or at start.
fn no_init_binary(e: &DockerError) -> bool {
    docker_message(e).contains("container-init binary not found")
}

fn is_not_found(e: &DockerError) -> bool {
    matches!(
        e,
        DockerError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// The engine's own words for an error, without bollard's wrapping.
pub fn docker_message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.clone(),
        DockerError::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_shortened_as_docker_ps_shows_them_and_names_kept() {
        let id = "ae4f4198eb91cf1971a73c2fdf7e0f1cc1953ffcb855c22151717e2b213d920d";
        assert_eq!(short(id), "ae4f4198eb91");
        assert_eq!(short("rjup-demo"), "rjup-demo");
        assert_eq!(short("rjup-demo.next"), "rjup-demo.next");
    }

    #[test]
    fn rootless_engines_and_ignored_pids_limits_are_told_by_info() {
        let info = |options: &[&str], driver: &str, pids: bool| SystemInfo {
            security_options: Some(options.iter().map(|o| o.to_string()).collect()),
            cgroup_driver: Some(driver.parse().unwrap()),
            pids_limit: Some(pids),
            ..Default::default()
        };
        let rootless_docker = info(
            &["name=seccomp,profile=default", "name=rootless"],
            "none",
            false,
        );
        assert_eq!(
            Flavour::of(&rootless_docker),
            Flavour {
                rootless: true,
                ignores_pids_limit: true,
                podman: false,
            }
        );
        let podman = info(&["name=seccomp,profile=default"], "cgroupfs", true);
        assert_eq!(Flavour::of(&podman), Flavour::default());
        let rootless_podman = info(&["name=rootless"], "cgroupfs", true);
        assert!(Flavour::of(&rootless_podman).rootless);
        assert_eq!(Flavour::of(&SystemInfo::default()), Flavour::default());
    }
}
