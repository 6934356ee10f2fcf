//! The engine's containers: the lab's, one-off ones that run a script, and their logs.

use std::collections::HashMap;

use bollard::errors::Error as DockerError;
use bollard::models::{
    ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerSummary,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use super::build::proxy_variables;
use super::{docker_message, engine_error, is_not_found, no_init_binary, short, Engine};
use crate::error::Error;

/// What a one-off container printed, and how it ended.
pub struct Finished {
    pub exit_code: i64,
    pub stdout: String,
    pub stderr: String,
}

/// Seconds a lab gets to shut down cleanly before it is killed.
const STOP_TIMEOUT: i32 = 10;

impl Engine {
    /// Runs `script` with `sh` in a throwaway container of `image`, with `files` copied
    /// into its root first; the container is removed however it ends.
    pub async fn run_once(
        &self,
        image: &str,
        script: &str,
        files: Vec<u8>,
    ) -> anyhow::Result<Finished> {
        let _call = call!("run a throwaway container of {image}");
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
        let _call = call!("inspect container {}", short(name));
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
        let _call = call!("create container {name}");
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

    /// Removes a named volume; one already gone is fine.
    pub async fn remove_volume(&self, name: &str) -> anyhow::Result<()> {
        let _call = call!("remove volume {name}");
        let options = bollard::query_parameters::RemoveVolumeOptionsBuilder::new().build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_error(e, &format!("removing the volume {name}"))),
        }
    }

    /// Gives a container its final name once it has replaced the one that had it.
    pub async fn rename(&self, id: &str, name: &str) -> anyhow::Result<()> {
        let _call = call!("rename container {} to {name}", short(id));
        let options = RenameContainerOptionsBuilder::new().name(name).build();
        self.docker
            .rename_container(id, options)
            .await
            .map_err(|e| engine_error(e, &format!("renaming the lab's container to {name}")))
    }

    /// Copies a tar archive into the container's root, keeping owners and modes.
    pub async fn upload(&self, id: &str, archive: Vec<u8>) -> anyhow::Result<()> {
        self.upload_to(id, "/", archive).await
    }

    /// Copies a tar archive into the container at `path`, keeping owners and modes: a
    /// volume's path for a container whose root is read-only.
    pub async fn upload_to(&self, id: &str, path: &str, archive: Vec<u8>) -> anyhow::Result<()> {
        let _call = call!(
            "copy {} bytes into container {} at {path}",
            archive.len(),
            short(id)
        );
        let options = UploadToContainerOptionsBuilder::new().path(path).build();
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| engine_error(e, "copying the lab's config into its container"))
    }

    /// One file of a container, read through the engine (`docker cp`), which works on a
    /// stopped container and on an image without any tool; `None` when there is no
    /// such container or file.
    pub async fn download(&self, id: &str, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let _call = call!("copy {path} out of container {}", short(id));
        let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
            .path(path)
            .build();
        let mut stream = Box::pin(self.docker.download_from_container(id, Some(options)));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => tar.extend_from_slice(&bytes),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => {
                    return Err(engine_error(
                        e,
                        &format!("copying {path} out of a container"),
                    ))
                }
            }
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        let entries = archive
            .entries()
            .map_err(|e| anyhow::anyhow!("reading {path} from the engine: {e}"))?;
        for entry in entries {
            let mut entry =
                entry.map_err(|e| anyhow::anyhow!("reading {path} from the engine: {e}"))?;
            if entry.header().entry_type().is_file() {
                let mut contents = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut contents)
                    .map_err(|e| anyhow::anyhow!("reading {path} from the engine: {e}"))?;
                return Ok(Some(contents));
            }
        }
        Ok(None)
    }

    pub async fn start(&self, id: &str) -> anyhow::Result<()> {
        let _call = call!("start container {}", short(id));
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
        let _call = call!("stop container {}", short(id));
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
        let _call = call!("remove container {}", short(id));
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
        let _call = call!("read the last {n} lines of container {}'s log", short(id));
        let mut text = Vec::new();
        let mut stream = Box::pin(self.logs(id, Some(n), false));
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => text.extend_from_slice(&chunk),
                Err(e) if e.is::<LogGap>() => {}
                Err(_) => break,
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// Every container with `label`, running or not, as `inspect` sees it: rjup's labs.
    pub async fn labs(&self, label: &str) -> anyhow::Result<Vec<ContainerInspectResponse>> {
        let _call = call!("list and inspect containers with {label}");
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
        let _call = call!("list running containers, for who publishes port {port}");
        let options = ListContainersOptionsBuilder::new().build();
        let running = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error(e, "listing containers"))?;
        Ok(running.into_iter().filter(|c| publishes(c, port)).collect())
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
pub(super) fn log_options(
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

pub(super) fn log_bytes(
    item: Result<bollard::container::LogOutput, DockerError>,
) -> anyhow::Result<Vec<u8>> {
    let bytes = item
        .map(|out| out.into_bytes().to_vec())
        .map_err(|e| engine_error(e, "reading the lab's log"))?;
    match engine_says(&bytes) {
        Some(gap) => Err(gap.into()),
        None => Ok(bytes),
    }
}

/// Part of a log the engine could not read, in its own words: e.g. Swarm's "node ... is
/// not available" for a node back from a network partition (moby/moby#35011). What
/// came before and after it is still the log; readers say this once and go on.
#[derive(Debug)]
pub struct LogGap(pub String);

impl std::fmt::Display for LogGap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reason = self.0.trim();
        let reason = reason
            .strip_prefix("Error grabbing logs: ")
            .unwrap_or(reason);
        write!(
            f,
            "the engine could not read all of the lab's log: {reason}"
        )?;
        if reason.contains("is not available") {
            write!(
                f,
                " (a Swarm node back from a network cut can stay so; `docker swarm ca \
                 --rotate` on the manager, or restarting that node's engine, brings its log back)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for LogGap {}

/// The engine's own message in a log stream: a frame of stream type 3 ("systemerr"),
/// which bollard passes on whole, its 8-byte header included, as console output.
fn engine_says(bytes: &[u8]) -> Option<LogGap> {
    let (header, message) = bytes.split_at_checked(8)?;
    (header[..4] == [3, 0, 0, 0])
        .then(|| LogGap(String::from_utf8_lossy(message).trim_end().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{PortSummary, PortSummaryTypeEnum};

    #[test]
    fn swarms_incomplete_log_stream_is_a_gap_not_log_text() {
        let message = b"Error grabbing logs: rpc error: code = Unknown desc = warning: incomplete \
log stream. some logs could not be retrieved for the following reasons: node kac786 is not available\n";
        let mut frame = vec![3, 0, 0, 0];
        frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(message);
        let console = bollard::container::LogOutput::Console {
            message: frame.into(),
        };
        let gap = log_bytes(Ok(console)).unwrap_err().to_string();
        assert!(
            gap.starts_with("the engine could not read all of the lab's log: rpc error"),
            "{gap}"
        );
        assert!(gap.contains("node kac786 is not available"), "{gap}");
        assert!(gap.contains("docker swarm ca --rotate"), "{gap}");
        let line = bollard::container::LogOutput::StdOut {
            message: "[I 12:00:00 ServerApp] Jupyter Server is running\n".into(),
        };
        assert!(log_bytes(Ok(line)).is_ok());
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
