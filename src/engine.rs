//! Every conversation with the Docker engine goes through here, over its API.

use std::collections::HashMap;

use anyhow::Context;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, ContainerInspectResponse, ContainerSummary};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StartContainerOptions, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::{Stream, StreamExt};

use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::image_ref::ImageRef;
use crate::printer::Printer;
use crate::progress;
use crate::transport;

#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// The context's name or the host, for `status` and `ls`.
    name: String,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct BuildFlags {
    /// Build every step anew, ignoring the layer cache.
    pub no_cache: bool,
    /// Pull a newer base image if there is one.
    pub pull: bool,
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
        let docker = transport::docker(endpoint)?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| transport::unreachable(endpoint, &e))?;
        Ok(Engine {
            docker,
            name: endpoint.name.clone(),
        })
    }

    /// The context's name, or the host when no context named the engine.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The id of a local image, or `None` if it is not here.
    pub async fn image_id(&self, reference: &str) -> anyhow::Result<Option<String>> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
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
        let mut report = progress::Pull::new(reference, printer);
        let mut stream = self.docker.create_image(Some(options.build()), None, None);
        let failed = |reason: String| Error::PullFailed {
            reference: reference.to_string(),
            reason,
        };
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

    /// Builds `context` into `tag` with step progress; returns the image id.
    pub async fn build(
        &self,
        tag: &str,
        context: Vec<u8>,
        flags: BuildFlags,
        printer: Printer,
    ) -> anyhow::Result<String> {
        let proxies = proxy_variables();
        let mut options = BuildImageOptionsBuilder::new()
            .t(tag)
            .rm(true)
            .forcerm(true)
            .nocache(flags.no_cache)
            .buildargs(&proxies);
        if flags.pull {
            options = options.pull("true");
        }
        let options = options.build();
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
            let failing = report.failure_report(15);
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

    pub async fn create(&self, name: &str, body: ContainerCreateBody) -> anyhow::Result<String> {
        let options = CreateContainerOptionsBuilder::new().name(name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(created.id),
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => Err(Error::NameAppeared {
                name: name.to_string(),
            }
            .into()),
            Err(e) => Err(engine_error(e, &format!("creating container {name}"))),
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
                if message.contains("could not select device driver") {
                    Error::NoGpu { reason: message }.into()
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
        let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(&tail)
            .build();
        self.docker.logs(id, Some(options)).map(|item| {
            item.map(|out| out.into_bytes().to_vec())
                .map_err(|e| engine_error(e, "reading the lab's log"))
        })
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

    /// Running containers that publish host port `port`.
    pub async fn containers_publishing(&self, port: u16) -> anyhow::Result<Vec<ContainerSummary>> {
        let filters = HashMap::from([("publish", vec![port.to_string()])]);
        let options = ListContainersOptionsBuilder::new()
            .filters(&filters)
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error(e, "listing containers"))
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
