//! Every conversation with the Docker engine goes through here, over its API.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerSummary,
    SystemInfo, SystemInfoCgroupDriverEnum, SystemVersion,
};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, BuilderVersion, CreateContainerOptionsBuilder,
    CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use tokio::sync::OnceCell;

use crate::error::Error;
use crate::image_ref::ImageRef;
use crate::ui::printer::Printer;
use crate::ui::progress;
use endpoint::Endpoint;
use host::LabHost;

pub mod credentials;
pub mod docker_cli_config;
pub mod endpoint;
pub mod host;
mod swarm;
pub mod transport;
pub use swarm::Role;

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// Asked of the engine once, by the first command step that needs it.
    flavour: Arc<OnceCell<Flavour>>,
    endpoint: Endpoint,
    /// Where labs are published, found once, by the first step that needs it.
    lab_host: Arc<OnceCell<LabHost>>,
}

/// What sort of engine this is, as far as the lab's container depends on it. Detected
/// here and nowhere else, from the engine's `info`, which Docker and Podman both answer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
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

/// The build argument whose new value reruns every step under BuildKit (`--no-cache`).
pub const FRESH_ARG: &str = "RJUP_FRESH";

/// The value of `RJUP_FRESH` for a BuildKit build: a new one (`new`) under `--no-cache`,
/// kept in the project's state; else the kept one, so that the build after `--no-cache`
/// reuses its layers rather than those from before it.
fn fresh_arg(flags: &BuildFlags, new: &str) -> anyhow::Result<Option<String>> {
    match (&flags.state, flags.no_cache) {
        (Some(state), true) => state.set_build_fresh(new).map(|()| Some(new.to_string())),
        (None, true) => Ok(Some(new.to_string())),
        (Some(state), false) => state.build_fresh(),
        (None, false) => Ok(None),
    }
}

/// How the engine builds images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// BuildKit: parallel stages and `RUN --mount=type=cache`, so package downloads
    /// outlive the layers that used them.
    BuildKit,
    /// buildah behind Podman's API: one step after another, with cache mounts.
    Buildah,
    /// Docker's classic builder: one step after another, no cache mounts.
    Classic,
}

impl Builder {
    /// Podman is told by [`Flavour`], the one place that tells it.
    fn of(flavour: Flavour, version: &SystemVersion, upgradable: bool) -> Builder {
        let podman = flavour.podman;
        let api = version.api_version.as_deref().unwrap_or("0.0");
        let (major, minor) = api.split_once('.').unwrap_or((api, "0"));
        let recent = (
            major.parse::<u32>().unwrap_or(0),
            minor.parse::<u32>().unwrap_or(0),
        ) >= (1, 39);
        match (podman, recent && upgradable) {
            (true, _) => Builder::Buildah,
            (false, true) => Builder::BuildKit,
            (false, false) => Builder::Classic,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct BuildFlags {
    /// Build every step anew, ignoring the layer cache (the package caches stay).
    pub no_cache: bool,
    /// Pull a newer base image if there is one.
    pub pull: bool,
    /// Where the failing step's whole output goes when the error shows only its end.
    pub log: Option<std::path::PathBuf>,
    /// Where the project's last `RJUP_FRESH` value is kept (see [`fresh_arg`]).
    pub state: Option<crate::state::ProjectState>,
}

/// What a one-off container printed, and how it ended.
pub struct Finished {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// The host's proxy settings, which builds and one-off containers need to reach package
/// indexes from behind a proxy. Docker keeps these build arguments out of the image.
pub fn proxy_variables() -> HashMap<String, String> {
    [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ]
    .into_iter()
    .filter_map(|k| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (k.to_string(), v))
    })
    .collect()
}

/// Seconds a lab gets to shut down cleanly before it is killed.
const STOP_TIMEOUT: i32 = 10;

impl Engine {
    /// Connects to the engine the endpoint names and agrees on an API version it speaks.
    pub async fn connect(endpoint: &Endpoint) -> anyhow::Result<Engine> {
        let docker = match transport::ping_version(endpoint).await {
            Some(version) => transport::docker_speaking(endpoint, &version)?,
            None => transport::docker(endpoint)?
                .negotiate_version()
                .await
                .map_err(|e| transport::unreachable(endpoint, &e))?,
        };
        Ok(Engine {
            docker,
            flavour: Arc::default(),
            endpoint: endpoint.clone(),
            lab_host: Arc::default(),
        })
    }

    /// The machine this engine publishes labs on ([`LabHost`]).
    pub async fn lab_host(&self) -> LabHost {
        let found = self
            .lab_host
            .get_or_init(|| {
                let own_name = async {
                    let info = self.docker.info().await.ok()?;
                    info.name
                };
                host::locate(&self.endpoint, own_name)
            })
            .await;
        found.clone()
    }

    pub async fn flavour(&self) -> anyhow::Result<Flavour> {
        self.flavour
            .get_or_try_init(|| async {
                let info = self.docker.info().await;
                Ok(Flavour::of(&info.map_err(|e| {
                    engine_error(e, "asking the engine what it is")
                })?))
            })
            .await
            .copied()
    }

    /// Whether Docker's default bridge network, where labs run, gives containers IPv6
    /// (`EnableIPv6`): only then does an IPv6 client reach a lab from its own address
    /// rather than through docker-proxy. A network the engine does not know has none.
    pub async fn bridge_has_ipv6(&self) -> anyhow::Result<bool> {
        let options = None::<bollard::query_parameters::InspectNetworkOptions>;
        match self.docker.inspect_network("bridge", options).await {
            Ok(network) => Ok(network.enable_ipv6 == Some(true)),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(engine_error(e, "inspecting the engine's bridge network")),
        }
    }

    /// How this engine delivers clients to a lab published on `bind`
    /// ([`crate::lab::admission::Delivery`]); a Swarm service's when `swarm`. The bridge is
    /// asked about only for an IPv6 `bind`, the one case where it matters.
    pub async fn delivery(
        &self,
        bind: std::net::IpAddr,
        swarm: bool,
    ) -> anyhow::Result<crate::lab::admission::Delivery> {
        if swarm {
            return Ok(crate::lab::admission::Delivery {
                swarm: true,
                ..Default::default()
            });
        }
        let flavour = self.flavour().await?;
        let bridge_ipv6 = if bind.is_ipv6() && !flavour.podman && !flavour.rootless {
            self.bridge_has_ipv6().await?
        } else {
            false
        };
        Ok(crate::lab::admission::Delivery {
            rootless: flavour.rootless,
            podman: flavour.podman,
            swarm: false,
            bridge_ipv6,
        })
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

    /// The id of a local image, or `None` if it is not here.
    pub async fn image_id(&self, reference: &str) -> anyhow::Result<Option<String>> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(e, &format!("inspecting image {reference}"))),
        }
    }

    /// The image's layers, bottom first, or `None` when there is no such image.
    pub async fn image_layers(&self, reference: &str) -> anyhow::Result<Option<Vec<String>>> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(
                image.root_fs.and_then(|r| r.layers).unwrap_or_default(),
            )),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(e, &format!("inspecting image {reference}"))),
        }
    }

    /// Pulls an image with per-layer progress; returns its id.
    pub async fn pull(&self, reference: &str, printer: Printer) -> anyhow::Result<String> {
        // A reference Docker would refuse fails as a refused pull does.
        let image = reference
            .parse::<ImageRef>()
            .map_err(|e| Error::BadImageRef {
                reference: reference.to_string(),
                reason: e.to_string(),
            })?;
        // A digest names the image by itself, so the engine takes the reference whole.
        let (repository, tag) = match image.digest() {
            Some(_) => (reference, None),
            None => (image.repository(), image.tag()),
        };
        let mut options = CreateImageOptionsBuilder::new().from_image(repository);
        if let Some(tag) = tag {
            options = options.tag(tag);
        }
        let login = registry_login(&image).await?;
        let credentials = login
            .as_ref()
            .map(crate::engine::credentials::Login::to_docker);
        let mut report = progress::Pull::new(reference, printer);
        let mut stream = self
            .docker
            .create_image(Some(options.build()), None, credentials);
        let failed = |reason: String| pull_failure(reference, &image, login.as_ref(), reason);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| {
                if is_transport(&e) {
                    engine_error(e, "pulling")
                } else {
                    failed(docker_message(&e)).into()
                }
            })?;
            if let Some(detail) = &info.error_detail {
                return Err(failed(detail.message.clone().unwrap_or_default()).into());
            }
            report.update(&info);
        }
        drop(report);
        self.image_id(reference).await?.ok_or_else(|| {
            failed("the engine reported success but has no such image".into()).into()
        })
    }

    /// Which builder this engine offers rjup, asked once per build: BuildKit needs an
    /// engine that runs it (Docker since API 1.39) and a connection that can carry its
    /// session, which rjup's ssh and TLS transports cannot (they do not upgrade
    /// connections). Podman's API builds with buildah, which takes cache mounts too.
    pub async fn builder(&self) -> anyhow::Result<Builder> {
        let (scheme, _) = self.endpoint.host.split_once("://").unwrap_or(("", ""));
        let upgradable = scheme == "unix" || (scheme == "tcp" && self.endpoint.tls.is_none());
        let (flavour, version) = tokio::join!(self.flavour(), self.docker.version());
        let version = version.map_err(|e| engine_error(e, "asking the engine for its version"))?;
        Ok(Builder::of(flavour?, &version, upgradable))
    }

    /// Builds `context` into `tag` with step progress; returns the image id.
    pub async fn build(
        &self,
        tag: &str,
        context: Vec<u8>,
        builder: Builder,
        flags: BuildFlags,
        printer: Printer,
    ) -> anyhow::Result<String> {
        let mut args = proxy_variables();
        let mut options = BuildImageOptionsBuilder::new()
            .t(tag)
            .rm(true)
            .forcerm(true);
        let session = format!("rjup-{}", hex::encode(crate::state::random_bytes::<16>()?));
        match builder {
            // BuildKit's `nocache` would drop the package caches with the layers; a new
            // value of an argument every RUN sees reruns them and keeps the caches.
            Builder::BuildKit => {
                if let Some(fresh) = fresh_arg(&flags, &session)? {
                    args.insert(FRESH_ARG.to_string(), fresh);
                }
                options = options
                    .version(BuilderVersion::BuilderBuildKit)
                    .session(&session);
            }
            // buildah keeps its cache mounts under `nocache` (checked on Podman 4.3).
            Builder::Buildah | Builder::Classic => options = options.nocache(flags.no_cache),
        }
        if flags.pull {
            options = options.pull("true");
        }
        let options = options.buildargs(&args).build();
        let mut report = progress::Build::new(tag, context.len(), printer);
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            let why = match item {
                Ok(info) => match &info.error_detail {
                    Some(detail) => detail.message.clone().unwrap_or_default(),
                    None => {
                        report.update(&info);
                        continue;
                    }
                },
                Err(e) if is_transport(&e) => {
                    return Err(engine_error(e, &format!("building {tag}")))
                }
                Err(e) => docker_message(&e),
            };
            let failing = report.failure_report(15, flags.log.as_deref());
            drop(report);
            return Err(Error::BuildFailed {
                tag: tag.to_string(),
                step_report: failing,
                reason: why,
            }
            .into());
        }
        drop(report);
        self.image_id(tag).await?.with_context(|| {
            format!("the build of {tag} finished but the engine has no such image")
        })
    }

    /// The base image's registry digest (`python@sha256:...`), for pinning it.
    pub async fn repo_digest(&self, reference: &str) -> anyhow::Result<Option<String>> {
        let image = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|e| engine_error(e, &format!("inspecting image {reference}")))?;
        let parsed: ImageRef = reference.parse()?;
        let repository = parsed.repository();
        let digests = image.repo_digests.unwrap_or_default();
        Ok(digests
            .iter()
            .find(|d| {
                d.split('@').next() == Some(repository)
                    || d.split('@').next() == Some(&format!("docker.io/library/{repository}"))
            })
            .or_else(|| digests.first())
            .cloned())
    }

    /// Runs `script` with `sh` in a throwaway container of `image`, with `files` copied
    /// into its root first; the container is removed however it ends.
    pub async fn run_once(
        &self,
        image: &str,
        script: &str,
        files: Vec<u8>,
    ) -> anyhow::Result<Finished> {
        let env: Vec<String> = proxy_variables()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(vec!["sh".into(), "-c".into(), script.into()]),
            user: Some("0".into()),
            env: Some(env),
            labels: Some(HashMap::from([(
                "io.rjup.temporary".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        let id = self
            .docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                body,
            )
            .await
            .map_err(|e| engine_error(e, "creating a throwaway container"))?
            .id;
        let result = async {
            self.upload(&id, files).await?;
            self.docker
                .start_container(&id, None::<StartContainerOptions>)
                .await
                .map_err(|e| engine_error(e, "starting a throwaway container"))?;
            let mut wait = self
                .docker
                .wait_container(&id, None::<bollard::query_parameters::WaitContainerOptions>);
            let mut exit_code = 0;
            while let Some(item) = wait.next().await {
                match item {
                    Ok(response) => exit_code = response.status_code,
                    Err(DockerError::DockerContainerWaitError { code, .. }) => exit_code = code,
                    Err(e) => return Err(engine_error(e, "waiting for a throwaway container")),
                }
            }
            let options = LogsOptionsBuilder::new().stdout(true).stderr(true).build();
            let mut logs = self.docker.logs(&id, Some(options));
            let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
            while let Some(chunk) = logs.next().await {
                match chunk
                    .map_err(|e| engine_error(e, "reading a throwaway container's output"))?
                {
                    bollard::container::LogOutput::StdOut { message } => {
                        stdout.extend_from_slice(&message)
                    }
                    other => stderr.extend_from_slice(&other.into_bytes()),
                }
            }
            Ok(Finished {
                exit_code,
                stdout: String::from_utf8_lossy(&stdout).into_owned(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        }
        .await;
        let _ = self.remove(&id).await;
        result
    }

    pub async fn inspect(&self, name: &str) -> anyhow::Result<Option<ContainerInspectResponse>> {
        match self.docker.inspect_container(name, None).await {
            Ok(c) => Ok(Some(c)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(e, &format!("inspecting container {name}"))),
        }
    }

    /// Creates a container; the response carries the engine's warnings, such as limits
    /// it accepted but will not apply.
    pub async fn create(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> anyhow::Result<ContainerCreateResponse> {
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(created),
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => Err(Error::NameAppeared {
                name: name.to_string(),
            }
            .into()),
            Err(e) if no_init_binary(&e) => Err(Error::NoInitBinary {
                reason: docker_message(&e),
            }
            .into()),
            Err(e) => match self.missing_mount_source(&docker_message(&e)) {
                Some(missing) => Err(missing.into()),
                None => Err(engine_error(e, &format!("creating container {name}"))),
            },
        }
    }

    /// Gives a container its final name once it has replaced the one that had it.
    pub async fn rename(&self, id: &str, name: &str) -> anyhow::Result<()> {
        let options = RenameContainerOptionsBuilder::new().name(name).build();
        self.docker
            .rename_container(id, options)
            .await
            .map_err(|e| engine_error(e, &format!("renaming the lab's container to {name}")))
    }

    /// Copies a tar archive into the container's root, keeping owners and modes.
    pub async fn upload(&self, id: &str, archive: Vec<u8>) -> anyhow::Result<()> {
        let options = UploadToContainerOptionsBuilder::new().path("/").build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| engine_error(e, "copying the lab's config into its container"))
    }

    pub async fn start(&self, id: &str) -> anyhow::Result<()> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| {
                let message = docker_message(&e);
                if no_init_binary(&e) {
                    Error::NoInitBinary { reason: message }.into()
                } else if message.contains("could not select device driver") {
                    Error::NoGpu { reason: message }.into()
                } else if let Some(missing) = self.missing_mount_source(&message) {
                    missing.into()
                } else if message.contains("executable file not found") {
                    Error::NoJupyter.into()
                } else if message.contains("address already in use")
                    || message.contains("port is already allocated")
                {
                    Error::PortTakenStarting { reason: message }.into()
                } else {
                    engine_error(e, "starting the lab's container")
                }
            })
    }

    /// The engine's refusal to mount a path its host does not have, which for the lab is
    /// the project: Docker refuses a `Mounts` bind at create, some engines at start.
    fn missing_mount_source(&self, message: &str) -> Option<Error> {
        let (_, path) = message.split_once("bind source path does not exist: ")?;
        Some(Error::ProjectNotOnEngine {
            path: path.trim().into(),
            engine: self.endpoint.describe(),
        })
    }

    pub async fn stop(&self, id: &str) -> anyhow::Result<()> {
        let options = StopContainerOptionsBuilder::new().t(STOP_TIMEOUT).build();
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: already stopped.
            Err(DockerError::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_error(e, "stopping the lab's container")),
        }
    }

    /// Removes a container, stopping it first; a container already gone is fine.
    pub async fn remove(&self, id: &str) -> anyhow::Result<()> {
        self.stop(id).await?;
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 409: removal already in progress.
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(engine_error(e, "removing the lab's container")),
        }
    }

    pub fn logs(
        &self,
        id: &str,
        tail: Option<u64>,
        follow: bool,
    ) -> impl Stream<Item = anyhow::Result<Vec<u8>>> + '_ {
        self.docker
            .logs(id, Some(log_options(tail, follow)))
            .map(log_bytes)
    }

    /// The last `n` lines of a container's log, as text.
    pub async fn log_tail(&self, id: &str, n: u64) -> String {
        let mut text = Vec::new();
        let mut stream = Box::pin(self.logs(id, Some(n), false));
        while let Some(Ok(chunk)) = stream.next().await {
            text.extend_from_slice(&chunk);
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Every container with `label`, running or not, as `inspect` sees it: rjup's labs.
    pub async fn labs(&self, label: &str) -> anyhow::Result<Vec<ContainerInspectResponse>> {
        let filters = HashMap::from([("label", vec![label.to_string()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let summaries = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error(e, "listing containers"))?;
        let inspections = summaries
            .iter()
            .filter_map(|s| s.id.as_deref())
            .map(|id| self.docker.inspect_container(id, None));
        let mut labs = Vec::new();
        for result in futures_util::future::join_all(inspections).await {
            match result {
                Ok(c) => labs.push(c),
                // Removed between the listing and the inspection.
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(engine_error(e, "inspecting a lab")),
            }
        }
        Ok(labs)
    }

    /// Running containers that publish host port `port`. Filtered here rather than by
    /// the engine: Podman refuses the `publish` filter (`publish is an invalid filter`).
    pub async fn containers_publishing(&self, port: u16) -> anyhow::Result<Vec<ContainerSummary>> {
        let options = ListContainersOptionsBuilder::new().build();
        let running = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error(e, "listing containers"))?;
        Ok(running.into_iter().filter(|c| publishes(c, port)).collect())
    }
}

/// The user's login for `image`'s registry. Credential helpers may wait on a keychain,
/// so the lookup runs off the runtime's thread, where Ctrl-C is still heard.
async fn registry_login(
    image: &ImageRef,
) -> anyhow::Result<Option<crate::engine::credentials::Login>> {
    let image = image.clone();
    let login = tokio::task::spawn_blocking(move || crate::engine::credentials::login_for(&image))
        .await
        .context("looking up the registry login")??;
    Ok(login)
}

/// A refused pull: for want of a login, when the registry said so, else as the engine
/// put it.
fn pull_failure(
    reference: &str,
    image: &ImageRef,
    login: Option<&crate::engine::credentials::Login>,
    reason: String,
) -> Error {
    if crate::engine::credentials::is_refused_login(&reason) {
        return Error::RegistryLogin {
            reference: reference.to_string(),
            registry: image.registry().map(str::to_string),
            stored: login.map(|l| l.source.clone()),
            reason,
        };
    }
    Error::PullFailed {
        reference: reference.to_string(),
        reason,
    }
}

fn publishes(container: &ContainerSummary, port: u16) -> bool {
    container
        .ports
        .iter()
        .flatten()
        .any(|p| p.public_port == Some(port))
}

/// Both kinds of lab log alike: stdout and stderr, the last `tail` lines, maybe followed.
pub(crate) fn log_options(
    tail: Option<u64>,
    follow: bool,
) -> bollard::query_parameters::LogsOptions {
    let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
    LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .follow(follow)
        .tail(&tail)
        .build()
}

pub(crate) fn log_bytes(
    item: Result<bollard::container::LogOutput, DockerError>,
) -> anyhow::Result<Vec<u8>> {
    item.map(|out| out.into_bytes().to_vec())
        .map_err(|e| engine_error(e, "reading the lab's log"))
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
    fn builds_after_no_cache_keep_its_fresh_value_so_its_layers_are_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let state = crate::state::ProjectState::in_dir(tmp.path().join("p"));
        let flags = |no_cache| BuildFlags {
            no_cache,
            state: Some(state.clone()),
            ..BuildFlags::default()
        };
        assert_eq!(fresh_arg(&flags(false), "s1").unwrap(), None);
        assert_eq!(
            fresh_arg(&flags(true), "s2").unwrap().as_deref(),
            Some("s2")
        );
        assert_eq!(
            fresh_arg(&flags(false), "s3").unwrap().as_deref(),
            Some("s2")
        );
        assert_eq!(
            fresh_arg(&flags(true), "s4").unwrap().as_deref(),
            Some("s4")
        );
        assert_eq!(
            fresh_arg(&flags(false), "s5").unwrap().as_deref(),
            Some("s4")
        );
        let mode = std::fs::metadata(tmp.path().join("p/build-fresh"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    use bollard::models::{PortSummary, PortSummaryTypeEnum};

    #[test]
    fn builder_follows_the_engine_and_the_connection() {
        let version = |api: &str| SystemVersion {
            api_version: Some(api.into()),
            ..Default::default()
        };
        let docker = Flavour::default();
        let podman = Flavour {
            podman: true,
            ..Flavour::default()
        };
        assert_eq!(
            Builder::of(docker, &version("1.41"), true),
            Builder::BuildKit
        );
        assert_eq!(
            Builder::of(docker, &version("1.41"), false),
            Builder::Classic
        );
        assert_eq!(
            Builder::of(docker, &version("1.38"), true),
            Builder::Classic
        );
        assert_eq!(
            Builder::of(podman, &version("1.41"), true),
            Builder::Buildah
        );
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

    #[test]
    fn a_container_publishes_a_port_when_one_of_its_public_ports_is_it() {
        let port = |public| PortSummary {
            private_port: 8888,
            public_port: public,
            typ: Some(PortSummaryTypeEnum::TCP),
            ..Default::default()
        };
        let container = ContainerSummary {
            ports: Some(vec![port(None), port(Some(9000))]),
            ..Default::default()
        };
        assert!(publishes(&container, 9000));
        assert!(!publishes(&container, 8888), "8888 is only exposed");
        assert!(!publishes(&ContainerSummary::default(), 9000));
    }
}
