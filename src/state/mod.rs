//! rjup's own files, kept out of the project: `$XDG_STATE_HOME/rjup/` (or
//! `~/.local/state/rjup/`), one directory per project, 0700, with 0600 files.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

mod project_lock;

use crate::jupyter::accounts::Accounts;

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

/// Where rjup remembers what kind each engine on a local socket is.
pub fn engines_dir() -> anyhow::Result<PathBuf> {
    Ok(root()?.join("engines"))
}

/// One project's state directory.
#[derive(Debug, Clone)]
pub struct ProjectState {
    dir: PathBuf,
}

const PASSWORD: &str = "password-hash";
const COOKIE_SECRET: &str = "cookie-secret";
const PORT: &str = "port";
const TLS_CERT: &str = "tls-cert.pem";
const TLS_KEY: &str = "tls-key.pem";
const TLS_NAMES: &str = "tls-names";
/// When the self-signed certificate ends, in seconds since the epoch; a certificate
/// without it was made by an rjup that made them valid until 4096.
const TLS_VALID_UNTIL: &str = "tls-valid-until";
const BUILD_LOG: &str = "build.log";
const ACCOUNTS: &str = "accounts.json";
const ACCOUNTS_COPIED: &str = "accounts-copied";
const BUILD_FRESH: &str = "build-fresh";

impl ProjectState {
    /// Keyed by the project's path, so renaming the lab keeps its password and port.
    pub fn for_project(project_dir: &Path, name: &str) -> anyhow::Result<Self> {
        let key = format!("{name}-{}", path_key(project_dir));
        Ok(ProjectState {
            dir: root()?.join("projects").join(key),
        })
    }

    /// The name of the one lab rjup keeps state for at `project_dir`, when the project's
    /// files no longer say it; `None` when there is none, or more than one.
    pub fn kept_name(project_dir: &Path) -> Option<String> {
        let suffix = format!("-{}", path_key(project_dir));
        let entries = fs::read_dir(root().ok()?.join("projects")).ok()?;
        let mut names = entries.filter_map(|entry| {
            let file_name = entry.ok()?.file_name();
            file_name
                .to_str()?
                .strip_suffix(&suffix)
                .map(str::to_string)
        });
        match (names.next(), names.next()) {
            (Some(name), None) => Some(name),
            _ => None,
        }
    }

    pub fn exists(&self) -> bool {
        self.dir.exists()
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    #[cfg(test)]
    pub fn in_dir(dir: PathBuf) -> Self {
        ProjectState { dir }
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

    fn write(&self, file: &str, contents: &[u8]) -> anyhow::Result<()> {
        self.ensure_dir()?;
        write_atomically(&self.dir.join(file), contents, 0o600)
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
        let secret = hex::encode(random_bytes::<32>()?);
        self.write(COOKIE_SECRET, secret.as_bytes())?;
        Ok(secret)
    }

    /// The cookie secret if one was made: reaching a lab is no reason to make one.
    pub fn existing_cookie_secret(&self) -> anyhow::Result<Option<String>> {
        Ok(self.read(COOKIE_SECRET)?.filter(|s| s.len() >= 32))
    }

    /// Forgets what any account that could run code in the lab could read there: the
    /// cookie secret, which signs every login cookie (with the hashes, forged cookies
    /// for any account) and keys rjup's probes, and a self-signed certificate's key.
    /// The next lab made gets new ones. Returns whether a certificate was forgotten.
    pub fn rotate_lab_secrets(&self) -> anyhow::Result<bool> {
        let secret = hex::encode(random_bytes::<32>()?);
        self.write(COOKIE_SECRET, secret.as_bytes())?;
        let mut certificate = false;
        for file in [TLS_CERT, TLS_KEY, TLS_NAMES, TLS_VALID_UNTIL] {
            match fs::remove_file(self.dir.join(file)) {
                Ok(()) => certificate |= file == TLS_KEY,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("removing {}", self.dir.join(file).display()))
                }
            }
        }
        Ok(certificate)
    }

    /// The named accounts beside the owner's, hashes included: 0600 like the password.
    pub fn accounts(&self) -> anyhow::Result<Accounts> {
        match self.read(ACCOUNTS)? {
            Some(text) => Accounts::parse(&text).with_context(|| {
                format!(
                    "reading {}: it is not the accounts file rjup writes; restore it from a backup, or remove it to start again with only the owner",
                    self.dir.join(ACCOUNTS).display()
                )
            }),
            None => Ok(Accounts::default()),
        }
    }

    pub fn set_accounts(&self, accounts: &Accounts) -> anyhow::Result<()> {
        self.write(ACCOUNTS, accounts.to_json().as_bytes())
    }

    /// What was last copied into which running lab ([`Self::set_accounts_copied`]).
    pub fn accounts_copied(&self) -> anyhow::Result<Option<String>> {
        self.read(ACCOUNTS_COPIED)
    }

    /// Remembers `marker`, a digest of the lab's id and the accounts file copied into it,
    /// so that a no-op `up` copies it only when it changed: a copy into a running
    /// container costs the engine some 50 ms.
    pub fn set_accounts_copied(&self, marker: &str) -> anyhow::Result<()> {
        self.write(ACCOUNTS_COPIED, marker.as_bytes())
    }

    /// The value of `RJUP_FRESH` the last `--no-cache` build on BuildKit used. Every
    /// later BuildKit build passes it too: without it, a build would have the cache key
    /// of the builds before `--no-cache`, and BuildKit would reuse their older layers.
    pub fn build_fresh(&self) -> anyhow::Result<Option<String>> {
        Ok(self.read(BUILD_FRESH)?.filter(|v| !v.is_empty()))
    }

    pub fn set_build_fresh(&self, value: &str) -> anyhow::Result<()> {
        self.write(BUILD_FRESH, value.as_bytes())
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

impl ProjectState {
    /// The kept self-signed certificate, unless it lacks a name in `names` or ends
    /// soon (see [`crate::tls::renewal`]); else a new one, with a new key, kept for
    /// next time, with why it was made and when it ends.
    pub fn self_signed_tls(
        &self,
        names: &[String],
    ) -> anyhow::Result<(crate::tls::Tls, Option<(crate::tls::Renewal, i64)>)> {
        let kept_names: Vec<String> = self
            .read(TLS_NAMES)?
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect();
        let valid_until = self
            .read(TLS_VALID_UNTIL)?
            .and_then(|t| t.parse::<i64>().ok());
        let now = crate::tls::now();
        let kept = match (self.read(TLS_CERT)?, self.read(TLS_KEY)?) {
            (Some(cert_pem), Some(key_pem)) => Some(crate::tls::Tls {
                cert_pem: cert_pem + "\n",
                key_pem: key_pem + "\n",
            }),
            _ => None,
        };
        let why = crate::tls::renewal(kept.is_some(), &kept_names, valid_until, names, now);
        if let (Some(kept), None) = (kept, &why) {
            return Ok((kept, None));
        }
        let (tls, valid_until) = crate::tls::self_signed(names, now)?;
        self.write(TLS_KEY, tls.key_pem.as_bytes())?;
        self.write(TLS_CERT, tls.cert_pem.as_bytes())?;
        self.write(TLS_NAMES, names.join("\n").as_bytes())?;
        self.write(TLS_VALID_UNTIL, valid_until.to_string().as_bytes())?;
        Ok((tls, why.map(|why| (why, valid_until))))
    }

    /// Where a failed build's whole output is written; made only when a build fails.
    pub fn build_log(&self) -> PathBuf {
        self.dir.join(BUILD_LOG)
    }

    /// Forgets what a failed first `up` made, but the build log its error points at.
    pub fn forget_but_build_log(&self) -> anyhow::Result<()> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.dir.display())),
        };
        let mut kept = false;
        for entry in entries {
            let entry = entry?;
            if entry.file_name() == BUILD_LOG {
                kept = true;
            } else {
                fs::remove_file(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
        if !kept {
            self.forget()?;
        }
        Ok(())
    }

    /// Forgets the project: password hash, cookie secret, port and certificate.
    pub fn forget(&self) -> anyhow::Result<bool> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("removing {}", self.dir.display())),
        }
    }
}

/// What tells one project's state from another's: the start of its path's digest.
fn path_key(project_dir: &Path) -> String {
    let digest = Sha256::digest(project_dir.as_os_str().as_encoded_bytes());
    hex::encode(digest)[..12].to_string()
}

/// Writes through a temporary file beside `path` and a rename, so a crash never leaves
/// half a file. The file is created with `mode` (less the umask), so it is never readable
/// by others even for a moment when `mode` says it must not be.
pub fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    (|| {
        let mut tmp = tempfile::Builder::new()
            .permissions(fs::Permissions::from_mode(mode))
            .tempfile_in(dir)?;
        tmp.write_all(contents)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map(drop).map_err(|e| e.error)
    })()
    .with_context(|| format!("writing {}", path.display()))
}

pub fn random_bytes<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut buf = [0u8; N];
    // getrandom's error type is only a std::error::Error with its `std` feature.
    getrandom::fill(&mut buf)
        .map_err(|e| anyhow::anyhow!("getting random bytes from the operating system: {e}"))?;
    Ok(buf)
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
    fn accounts_are_kept_0600_and_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        assert!(state.accounts().unwrap().is_empty());
        assert!(!state.exists(), "reading makes nothing");
        let mut accounts = Accounts::default();
        accounts
            .add(
                "ada",
                crate::jupyter::accounts::Role::ReadOnly,
                "argon2:$x".into(),
            )
            .unwrap();
        state.set_accounts(&accounts).unwrap();
        let mode = fs::metadata(state.dir().join(ACCOUNTS))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(state.accounts().unwrap().listing().len(), 2);
    }

    #[test]
    fn atomic_writes_replace_the_file_and_leave_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("rjup.lock");
        write_atomically(&path, b"old", 0o644).unwrap();
        write_atomically(&path, b"new", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o644, 0, "never more than asked for");
        assert_eq!(mode & 0o600, 0o600);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
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
    fn the_self_signed_certificate_is_kept_until_it_lacks_a_name() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        let names = vec!["10.0.0.1".to_string(), "localhost".to_string()];
        let (first, made) = state.self_signed_tls(&names).unwrap();
        assert_eq!(made.map(|m| m.0), Some(crate::tls::Renewal::First));
        let (again, made) = state.self_signed_tls(&names[..1]).unwrap();
        assert!(made.is_none());
        assert_eq!(again.fingerprint().unwrap(), first.fingerprint().unwrap());
        let mode = fs::metadata(state.dir().join(TLS_KEY))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let (other, made) = state.self_signed_tls(&["10.0.0.2".to_string()]).unwrap();
        assert!(matches!(made, Some((crate::tls::Renewal::NewName(_), _))));
        assert_ne!(other.fingerprint().unwrap(), first.fingerprint().unwrap());
    }

    #[test]
    fn a_certificate_that_ends_soon_or_whose_end_is_unknown_is_made_anew() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        let names = vec!["localhost".to_string()];
        let (first, _) = state.self_signed_tls(&names).unwrap();
        // As an rjup that made certificates valid until 4096 left it.
        fs::remove_file(state.dir().join(TLS_VALID_UNTIL)).unwrap();
        let (second, made) = state.self_signed_tls(&names).unwrap();
        assert_eq!(made.map(|m| m.0), Some(crate::tls::Renewal::NoKnownEnd));
        assert_ne!(second.key_pem, first.key_pem, "a new key");
        let soon = crate::tls::now() + 5 * 86_400;
        state
            .write(TLS_VALID_UNTIL, soon.to_string().as_bytes())
            .unwrap();
        let (third, made) = state.self_signed_tls(&names).unwrap();
        assert!(matches!(
            made,
            Some((crate::tls::Renewal::Ending { days_left: 4 | 5 }, _))
        ));
        assert_ne!(third.fingerprint().unwrap(), second.fingerprint().unwrap());
        let (kept, made) = state.self_signed_tls(&names).unwrap();
        assert!(made.is_none());
        assert_eq!(kept.fingerprint().unwrap(), third.fingerprint().unwrap());
    }

    #[test]
    fn rotating_makes_a_new_cookie_secret_and_forgets_the_certificate() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        assert_eq!(state.existing_cookie_secret().unwrap(), None);
        assert!(!state.exists(), "asking makes nothing");
        let secret = state.cookie_secret().unwrap();
        assert_eq!(
            state.existing_cookie_secret().unwrap(),
            Some(secret.clone())
        );
        assert!(
            !state.rotate_lab_secrets().unwrap(),
            "no certificate to forget"
        );
        let rotated = state.cookie_secret().unwrap();
        assert_ne!(rotated, secret);
        assert_eq!(rotated.len(), 64);
        let (tls, _) = state.self_signed_tls(&["localhost".to_string()]).unwrap();
        assert!(state.rotate_lab_secrets().unwrap());
        let (made, why) = state.self_signed_tls(&["localhost".to_string()]).unwrap();
        assert_eq!(why.map(|w| w.0), Some(crate::tls::Renewal::First));
        assert_ne!(made.key_pem, tls.key_pem);
    }

    #[test]
    fn forget_removes_everything_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let state = state_in(tmp.path());
        state.set_password_hash("argon2:$x").unwrap();
        assert!(state.forget().unwrap());
        assert!(!state.dir().exists());
        assert!(!state.forget().unwrap());
    }

    #[test]
    fn projects_at_different_paths_get_different_directories() {
        let a = ProjectState::for_project(Path::new("/a/lab"), "lab").unwrap();
        let b = ProjectState::for_project(Path::new("/b/lab"), "lab").unwrap();
        assert_ne!(a.dir(), b.dir());
    }
}
