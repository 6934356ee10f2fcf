//! Reading a file for the lab, as the user who runs rjup (never through the engine):
//! certificates, CA certificates, environment files. Whoever writes in the lab writes
//! the project, `rjup.yaml` and links included, so a file the project names is read
//! only when its real path, links followed, is inside the project: a lab must not make
//! its owner's rjup read, and copy into it, a file it cannot reach itself. Files from
//! outside the project are given where the lab cannot write: the environment of the
//! user who runs rjup (`RJUP_TLS_CERT` and the like).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// A file rjup reads for the lab, and who named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// As written: relative to the project when the project names it.
    pub path: String,
    pub named_by: NamedBy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedBy {
    /// `key` in rjup.yaml, at `at` (`file:line:column`).
    Config { key: &'static str, at: String },
    /// A variable of the environment rjup runs in.
    Env(&'static str),
}

impl FileRef {
    pub fn in_config(path: &str, key: &'static str, at: String) -> FileRef {
        FileRef {
            path: path.to_string(),
            named_by: NamedBy::Config { key, at },
        }
    }

    pub fn from_env(path: &str, variable: &'static str) -> FileRef {
        FileRef {
            path: path.to_string(),
            named_by: NamedBy::Env(variable),
        }
    }

    /// Where it is named, to begin a message with: `rjup.yaml:3:9: `tls.cert``, or
    /// `RJUP_TLS_CERT`.
    pub fn named(&self) -> String {
        match &self.named_by {
            NamedBy::Config { key, at } => format!("{at}: `{key}`"),
            NamedBy::Env(variable) => variable.to_string(),
        }
    }

    /// Where it is: under `project` when the project names it.
    pub fn full_path(&self, project: &Path) -> PathBuf {
        match self.named_by {
            NamedBy::Config { .. } => project.join(&self.path),
            NamedBy::Env(_) => PathBuf::from(&self.path),
        }
    }

    /// Its bytes, read as the user who runs rjup: from inside `project` (canonical)
    /// when rjup.yaml names it, else exit 3 saying where it really is and how to give
    /// it instead. A file rjup cannot read is `Err(Unreadable)`, for the caller to say
    /// what it needs.
    pub fn read(&self, project: &Path) -> anyhow::Result<Result<Vec<u8>, std::io::Error>> {
        let full = self.full_path(project);
        let NamedBy::Config { key, .. } = &self.named_by else {
            return Ok(read_any(&full));
        };
        match read_within(project, &full) {
            Ok(bytes) => Ok(Ok(bytes)),
            Err(Refused::Io(e)) => Ok(Err(e)),
            Err(Refused::Outside(real)) => Err(Error::config(format!(
                "{}: {} is {}, outside the project {}; rjup reads a file for the lab only from inside the project, since whoever writes in the lab can change rjup.yaml and the links in it; {}",
                self.named(),
                self.path,
                real.display(),
                project.display(),
                outside_fix(key)
            ))
            .into()),
        }
    }
}

/// How the owner gives such a file from outside the project: where the lab cannot write.
fn outside_fix(key: &str) -> &'static str {
    match key {
        "tls.cert" => "give your certificate from outside the project with RJUP_TLS_CERT (and its key with RJUP_TLS_KEY) in rjup's environment instead, and remove `tls` from rjup.yaml",
        "tls.key" => "give your key from outside the project with RJUP_TLS_KEY (and its certificate with RJUP_TLS_CERT) in rjup's environment instead, and remove `tls` from rjup.yaml",
        "build.ca_certificates" => "give it from outside the project with RJUP_CA_CERTIFICATES (paths separated by `:`) in rjup's environment instead",
        _ => "copy the file into the project instead",
    }
}

/// Why a file was not read.
#[derive(Debug)]
pub enum Refused {
    /// It could not be opened or read (missing, unreadable, not a regular file).
    Io(std::io::Error),
    /// Its real path, links followed, is outside the project.
    Outside(PathBuf),
}

/// The bytes of `path`, if its real path is inside `project` (canonical). The real
/// path is the one of the file actually opened, so swapping a link between a check and
/// the read changes nothing. Opened without blocking, so that a FIFO put in its place
/// cannot hang rjup; anything but a regular file is refused.
pub fn read_within(project: &Path, path: &Path) -> Result<Vec<u8>, Refused> {
    let mut file = open(path).map_err(Refused::Io)?;
    let real = real_path(&file, path).map_err(Refused::Io)?;
    if !real.starts_with(project) {
        return Err(Refused::Outside(real));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(Refused::Io)?;
    Ok(bytes)
}

fn read_any(path: &Path) -> Result<Vec<u8>, std::io::Error> {
    let mut bytes = Vec::new();
    open(path)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn open(path: &Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// The real path of the file `file`, opened at `path`: what the kernel says it opened
/// where it says so (Linux's `/proc/self/fd`), else `path` with its links resolved.
fn real_path(file: &File, path: &Path) -> std::io::Result<PathBuf> {
    use std::os::fd::AsRawFd;
    match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(real) if real.is_absolute() => Ok(real),
        _ => path.canonicalize(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project beside a directory `x` that holds `secret.pem`.
    fn layout() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("project/sub")).unwrap();
        std::fs::create_dir_all(root.join("x")).unwrap();
        std::fs::write(root.join("x/secret.pem"), "secret").unwrap();
        std::fs::write(root.join("project/sub/ok.pem"), "ok").unwrap();
        (tmp, root.join("project"))
    }

    fn from_config(path: &str, key: &'static str) -> FileRef {
        FileRef::in_config(path, key, "rjup.yaml:3:9".into())
    }

    #[test]
    fn a_file_inside_the_project_is_read_by_any_path_that_stays_inside() {
        let (_tmp, project) = layout();
        std::os::unix::fs::symlink("sub/ok.pem", project.join("link.pem")).unwrap();
        for path in ["sub/ok.pem", "link.pem", "sub/../sub/ok.pem"] {
            let read = from_config(path, "tls.cert").read(&project).unwrap();
            assert_eq!(read.unwrap(), b"ok", "{path}");
        }
        let absolute = project.join("sub/ok.pem").display().to_string();
        let read = from_config(&absolute, "tls.cert").read(&project).unwrap();
        assert_eq!(read.unwrap(), b"ok");
    }

    #[test]
    fn a_file_whose_real_path_leaves_the_project_is_refused_with_the_fix() {
        let (_tmp, project) = layout();
        std::os::unix::fs::symlink("../x/secret.pem", project.join("key.pem")).unwrap();
        std::os::unix::fs::symlink("../x", project.join("certs")).unwrap();
        for (path, key, fix) in [
            ("../x/secret.pem", "tls.key", "RJUP_TLS_KEY"),
            ("key.pem", "tls.cert", "RJUP_TLS_CERT"),
            (
                "certs/secret.pem",
                "build.ca_certificates",
                "RJUP_CA_CERTIFICATES",
            ),
            (
                "key.pem",
                "build.requirements",
                "copy the file into the project",
            ),
        ] {
            let e = from_config(path, key).read(&project).unwrap_err();
            assert_eq!(
                crate::error::exit_code(&e),
                crate::error::Code::Config as u8
            );
            let e = e.to_string();
            assert!(
                e.starts_with(&format!("rjup.yaml:3:9: `{key}`: {path} is ")),
                "{e}"
            );
            assert!(e.contains("x/secret.pem, outside the project"), "{e}");
            assert!(e.contains(fix), "{e}");
        }
    }

    #[test]
    fn the_environment_may_name_a_file_anywhere() {
        let (_tmp, project) = layout();
        let secret = project.parent().unwrap().join("x/secret.pem");
        let given = FileRef::from_env(&secret.display().to_string(), "RJUP_TLS_KEY");
        assert_eq!(given.read(&project).unwrap().unwrap(), b"secret");
        assert_eq!(given.named(), "RJUP_TLS_KEY");
    }

    #[test]
    fn missing_files_and_fifos_are_unreadable_not_a_hang() {
        let (_tmp, project) = layout();
        let fifo = project.join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let read = from_config("fifo", "tls.cert").read(&project).unwrap();
        assert!(read.unwrap_err().to_string().contains("not a regular file"));
        let read = from_config("nope.pem", "tls.cert").read(&project).unwrap();
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::NotFound);
        assert!(matches!(
            read_within(&project, &project.join("sub")),
            Err(Refused::Io(_))
        ));
    }
}
