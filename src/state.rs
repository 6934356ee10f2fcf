//! rjup's own files, kept out of the project: `$XDG_STATE_HOME/rjup/` (or
//! `~/.local/state/rjup/`), one directory per project, 0700, with 0600 files.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// The root of rjup's state.
pub fn root() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from) {
        // The XDG spec says to ignore relative paths.
        if dir.is_absolute() {
            return Ok(dir.join("rjup"));
        }
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither XDG_STATE_HOME nor HOME is set, so rjup has nowhere to keep its state; set one of them")?;
    Ok(PathBuf::from(home).join(".local/state/rjup"))
}

/// One project's state directory.
#[derive(Debug, Clone)]
pub struct ProjectState {
    dir: PathBuf,
}

const PASSWORD: &str = "password-hash";
const COOKIE_SECRET: &str = "cookie-secret";
const PORT: &str = "port";

impl ProjectState {
    /// Keyed by the project's path, so renaming the lab keeps its password and port.
    pub fn for_project(project_dir: &Path, name: &str) -> anyhow::Result<Self> {
        let digest = Sha256::digest(project_dir.as_os_str().as_encoded_bytes());
        let key = format!("{name}-{}", &hex(&digest)[..12]);
        Ok(ProjectState {
            dir: root()?.join("projects").join(key),
        })
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn ensure_dir(&self) -> anyhow::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .with_context(|| format!("creating rjup's state directory {}", self.dir.display()))
    }

    fn read(&self, file: &str) -> anyhow::Result<Option<String>> {
        let path = self.dir.join(file);
        match fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes through a temporary file and a rename, so a crash never leaves half a file.
    fn write(&self, file: &str, contents: &[u8]) -> anyhow::Result<()> {
        self.ensure_dir()?;
        let path = self.dir.join(file);
        let tmp = self.dir.join(format!(".{file}.{}", std::process::id()));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(contents)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.with_context(|| format!("writing {}", path.display()))
    }

    pub fn password_hash(&self) -> anyhow::Result<Option<String>> {
        Ok(self.read(PASSWORD)?.filter(|h| !h.is_empty()))
    }

    pub fn set_password_hash(&self, hash: &str) -> anyhow::Result<()> {
        self.write(PASSWORD, format!("{hash}\n").as_bytes())
    }

    /// The secret that signs login cookies; kept so a restart does not log everyone out.
    pub fn cookie_secret(&self) -> anyhow::Result<String> {
        if let Some(secret) = self.read(COOKIE_SECRET)?.filter(|s| s.len() >= 32) {
            return Ok(secret);
        }
        let secret = hex(&random_bytes::<32>()?);
        self.write(COOKIE_SECRET, secret.as_bytes())?;
        Ok(secret)
    }

    pub fn port(&self) -> anyhow::Result<Option<u16>> {
        Ok(self.read(PORT)?.and_then(|p| p.parse().ok()))
    }

    pub fn set_port(&self, port: u16) -> anyhow::Result<()> {
        if self.port()? != Some(port) {
            self.write(PORT, format!("{port}\n").as_bytes())?;
        }
        Ok(())
    }
}

pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading random bytes from /dev/urandom")?;
    Ok(buf)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn state_in(tmp: &Path) -> ProjectState {
        ProjectState {
            dir: tmp.join("rjup/projects/demo-0123"),
        }
    }

    #[test]
    fn files_are_0600_in_a_0700_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        state.set_password_hash("argon2:$x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(state.dir()), 0o700);
        assert_eq!(mode(&state.dir().join(PASSWORD)), 0o600);
        assert_eq!(state.password_hash().unwrap().as_deref(), Some("argon2:$x"));
    }

    #[test]
    fn cookie_secret_is_made_once_and_then_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        let first = state.cookie_secret().unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(state.cookie_secret().unwrap(), first);
    }

    #[test]
    fn port_is_remembered() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        assert_eq!(state.port().unwrap(), None);
        state.set_port(8890).unwrap();
        assert_eq!(state.port().unwrap(), Some(8890));
    }

    #[test]
    fn projects_at_different_paths_get_different_directories() {
        let a = ProjectState::for_project(Path::new("/a/lab"), "lab").unwrap();
        let b = ProjectState::for_project(Path::new("/b/lab"), "lab").unwrap();
        assert_ne!(a.dir(), b.dir());
    }
}
