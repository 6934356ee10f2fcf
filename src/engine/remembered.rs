//! What rjup remembers of an engine between commands: its [`Flavour`]. Podman takes a
//! quarter of a second to answer `/info`, the one request that tells it, and every `up`
//! needs it before it can create the lab.
//!
//! Only an engine on a local socket is remembered, by what identifies the engine that
//! answers there: the socket file (a daemon that starts anew binds a new one), and its
//! `/_ping`'s `Server` and API version (another engine, or another release). Nothing a
//! [`Flavour`] holds changes while those stay the same: rootless or not is a different
//! daemon on a different socket, and the cgroup controllers change only with a reboot,
//! which empties `/run`. A remote engine (`tcp://`, `ssh://`) is asked every time,
//! since rjup cannot see its socket.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::endpoint::Endpoint;
use super::transport::Ping;
use super::Flavour;

/// Where one engine's facts are kept, and what must match for them to hold.
#[derive(Debug, Clone)]
pub struct Remembered {
    file: PathBuf,
    identity: String,
}

#[derive(Serialize, Deserialize)]
struct Kept {
    host: String,
    identity: String,
    flavour: Flavour,
}

impl Remembered {
    /// The memory of the engine at `endpoint` in `dir`, when it is on a local socket
    /// that answered `/_ping`.
    pub fn of(dir: &Path, endpoint: &Endpoint, ping: &Ping) -> Option<Remembered> {
        let path = endpoint.host.strip_prefix("unix://")?;
        let socket = fs::metadata(path).ok()?;
        let identity = format!(
            "{} (API {}.{}), socket {}:{} made {}.{:09}",
            ping.server.as_deref().unwrap_or("unnamed"),
            ping.version.major_version,
            ping.version.minor_version,
            socket.dev(),
            socket.ino(),
            socket.mtime(),
            socket.mtime_nsec(),
        );
        let key = hex::encode(&Sha256::digest(endpoint.host.as_bytes())[..8]);
        Some(Remembered {
            file: dir.join(format!("{key}.json")),
            identity,
        })
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The flavour kept for this very engine, if any.
    pub fn recall(&self) -> Option<Flavour> {
        let kept: Kept = serde_json::from_slice(&fs::read(&self.file).ok()?).ok()?;
        (kept.identity == self.identity).then_some(kept.flavour)
    }

    /// Keeps `flavour` for the next command; a memory that cannot be written only
    /// costs that command the question.
    pub fn keep(&self, host: &str, flavour: Flavour) {
        let kept = Kept {
            host: host.to_string(),
            identity: self.identity.clone(),
            flavour,
        };
        let write = || -> std::io::Result<()> {
            let dir = self.file.parent().unwrap_or(Path::new("."));
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            // Written aside and renamed: a command reading it meanwhile sees either.
            let aside = self
                .file
                .with_extension(format!("{}.tmp", std::process::id()));
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&aside)?;
            file.write_all(&serde_json::to_vec_pretty(&kept)?)?;
            fs::rename(&aside, &self.file)
        };
        if let Err(e) = write() {
            tracing::debug!(
                "engine: could not remember it in {}: {e}",
                self.file.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::endpoint::Source;
    use bollard::ClientVersion;

    fn endpoint(host: &str) -> Endpoint {
        Endpoint {
            name: host.into(),
            source: Source::HostVar,
            host: host.into(),
            tls: None,
        }
    }

    fn ping(server: &str) -> Ping {
        Ping {
            version: ClientVersion {
                major_version: 1,
                minor_version: 41,
            },
            server: Some(server.into()),
        }
    }

    #[test]
    fn a_flavour_is_recalled_only_from_the_engine_that_told_it() {
        let tmp = tempfile::tempdir().unwrap();
        let socket = tmp.path().join("engine.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let at = endpoint(&format!("unix://{}", socket.display()));
        let dir = tmp.path().join("engines");
        let docker = Remembered::of(&dir, &at, &ping("Docker/20.10.24 (linux)")).unwrap();
        assert_eq!(docker.recall(), None, "nothing is kept yet");
        let flavour = Flavour {
            rootless: true,
            ignores_pids_limit: false,
            podman: false,
        };
        docker.keep(&at.host, flavour);
        assert_eq!(docker.recall(), Some(flavour));
        let mode = fs::metadata(docker.file()).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);

        // Another engine, or another release of it, at the same address.
        let podman = Remembered::of(&dir, &at, &ping("Libpod/4.3.1 (linux)")).unwrap();
        assert_eq!(podman.recall(), None);
        // A daemon that started anew binds a new socket.
        drop(_listener);
        fs::remove_file(&socket).unwrap();
        // Past the file system's clock tick: a real daemon takes longer to start anew.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let _again = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let restarted = Remembered::of(&dir, &at, &ping("Docker/20.10.24 (linux)")).unwrap();
        assert_eq!(restarted.recall(), None);
    }

    #[test]
    fn remote_engines_are_not_remembered() {
        let dir = Path::new("/nonexistent");
        let docker = ping("Docker/20.10.24 (linux)");
        assert!(Remembered::of(dir, &endpoint("tcp://10.0.0.5:2375"), &docker).is_none());
        assert!(Remembered::of(dir, &endpoint("ssh://ada@gpu-box"), &docker).is_none());
        let gone = endpoint("unix:///nonexistent/docker.sock");
        assert!(Remembered::of(dir, &gone, &docker).is_none());
    }
}
