//! The project's own environment files, found the way repo2docker finds them (the Binder
//! conventions), so any repository that works on mybinder.org works with `rjup up`.

use std::path::Path;

use super::conda::{self, CondaEnv};
use super::repository::{self, Snapshot};
use crate::error::Error;
use crate::project_file::{self, FileRef, Refused};

/// One file that goes into the image: where it was found, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFile {
    /// As the user knows it, relative to the project: `binder/requirements.txt`.
    pub shown: String,
    pub contents: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub requirements: Option<EnvFile>,
    pub pyproject: Option<EnvFile>,
    pub uv_lock: Option<EnvFile>,
    pub conda: Option<EnvFile>,
    /// `conda`, read.
    pub conda_env: Option<CondaEnv>,
    /// `runtime.txt` as found; [`runtime_python`] reads it unless `build.base` is set.
    pub runtime: Option<EnvFile>,
    /// `X.Y` from `runtime.txt`, when it chose the base.
    pub python: Option<String>,
    pub runtime_txt: Option<String>,
    /// Debian packages from `apt.txt` and `build.apt`, in order, without duplicates.
    pub apt: Vec<String>,
    pub apt_txt: Option<String>,
    pub post_build: Option<EnvFile>,
    pub start: Option<EnvFile>,
    /// With a postBuild: the copy of the project it runs in ([`repository`]).
    pub repository: Snapshot,
    /// Found but not used, each with why, for telling the user.
    pub ignored: Vec<String>,
}

/// What `rjup.yaml` adds to or overrides in the detected files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// A requirements file used instead of the detected one.
    pub requirements: Option<FileRef>,
    /// Debian packages added to `apt.txt`'s.
    pub apt: Vec<String>,
    /// A script used instead of `postBuild`.
    pub post_build: Option<FileRef>,
}

impl Environment {
    /// The files used, for telling the user.
    pub fn used(&self) -> Vec<String> {
        let mut used: Vec<String> = [
            &self.requirements,
            &self.pyproject,
            &self.uv_lock,
            &self.conda,
        ]
        .into_iter()
        .flatten()
        .map(|f| f.shown.clone())
        .collect();
        used.extend(self.runtime_txt.clone());
        used.extend(self.apt_txt.clone());
        used.extend(
            [&self.post_build, &self.start]
                .into_iter()
                .flatten()
                .map(|f| f.shown.clone()),
        );
        used
    }
}

/// Finds the environment files: in `binder/` or `.binder/` if one exists, else the root.
/// `project` is canonical; each file is read only if its real path is inside it, since
/// whoever writes in the lab can put a link to any file there, which the build would
/// copy into the lab's image.
pub fn detect(project: &Path, overrides: &Overrides) -> anyhow::Result<Environment> {
    let binder = project.join("binder");
    let dot_binder = project.join(".binder");
    let (dir, prefix) = match (binder.is_dir(), dot_binder.is_dir()) {
        (true, true) => {
            return Err(Error::config(format!(
                "{} has both binder/ and .binder/, and Binder would not know which to use; keep one of them",
                project.display()
            ))
            .into())
        }
        (true, false) => (binder, "binder/"),
        (false, true) => (dot_binder, ".binder/"),
        (false, false) => (project.to_path_buf(), ""),
    };
    let find = |name: &str| -> anyhow::Result<Option<EnvFile>> {
        read(project, &dir.join(name), format!("{prefix}{name}"))
    };
    // Binder's R files: nothing here can install CRAN's packages (see docs).
    for name in ["install.R", "DESCRIPTION"] {
        if let Some(file) = find(name)? {
            return Err(r_not_supported(&file.shown, "R packages"));
        }
    }
    let mut env = Environment {
        requirements: find("requirements.txt")?,
        pyproject: find("pyproject.toml")?,
        uv_lock: None,
        conda: match find("environment.yml")? {
            Some(f) => Some(f),
            None => find("environment.yaml")?,
        },
        runtime: find("runtime.txt")?,
        post_build: find("postBuild")?,
        start: find("start")?,
        ..Environment::default()
    };
    if env.pyproject.is_some() {
        env.uv_lock = find("uv.lock")?;
    }
    if let Some(file) = &env.conda {
        env.conda_env = Some(conda::parse(project, &dir, &file.shown, &file.contents)?);
        // As on Binder, environment.yml's buildpack never reads requirements.txt.
        let named = overrides.requirements.is_some();
        if let Some(requirements) = env.requirements.take().filter(|_| !named) {
            env.ignored.push(format!(
                "{} is not used: {} is, as on Binder (list its packages under `- pip:` there, or name it in build.requirements)",
                requirements.shown, file.shown
            ));
        }
    }
    if let Some(file) = &overrides.requirements {
        env.requirements = Some(read_required(project, file)?);
    }
    if let Some(file) = &overrides.post_build {
        env.post_build = Some(read_required(project, file)?);
    }
    if let Some(apt) = find("apt.txt")? {
        env.apt = parse_apt(&apt)?;
        env.apt_txt = Some(apt.shown);
    }
    for package in &overrides.apt {
        if !env.apt.contains(package) {
            env.apt.push(package.clone());
        }
    }
    if let Some(start) = &env.start {
        let text = String::from_utf8_lossy(&start.contents);
        if !text.contains("exec \"$@\"") && !text.contains("exec \"${@}\"") {
            return Err(Error::config(format!(
                "{} must end by running the server with `exec \"$@\"`; add that line at its end",
                start.shown
            ))
            .into());
        }
    }
    if env.post_build.is_some() {
        let binder = prefix.strip_suffix('/');
        env.repository = repository::snapshot(project, binder);
        let left_out = &env.repository.left_out;
        if let Some(first) = left_out.first() {
            env.ignored.push(format!(
                "postBuild's copy of the project leaves out {} files past {} MiB in all ({first}{}); postBuild cannot use them",
                left_out.len(),
                repository::MAX_TOTAL >> 20,
                if left_out.len() > 1 { ", ..." } else { "" }
            ));
        }
    }
    Ok(env)
}

/// Binder's R files, refused: CRAN, its dated snapshots and Posit's package manager
/// are out of reach of these builds, and Debian's R packages are apt.txt's.
fn r_not_supported(shown: &str, what: &str) -> anyhow::Error {
    Error::config(format!(
        "{shown} asks for {what}, which rjup does not support yet (CRAN is not reachable from its builds); for Debian's R, list r-base-core, r-cran-irkernel and r-cran-<package> in apt.txt, and move {shown} out of the way"
    ))
    .into()
}

fn read(project: &Path, path: &Path, shown: String) -> anyhow::Result<Option<EnvFile>> {
    match project_file::read_within(project, path) {
        Ok(contents) => Ok(Some(EnvFile { shown, contents })),
        Err(Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(Refused::Io(e)) => Err(Error::config(format!("cannot read {shown}: {e}")).into()),
        Err(Refused::Outside(real)) => Err(Error::config(format!(
            "{shown} is a link to {}, outside the project {}; rjup builds only files inside the project into the lab's image, since whoever writes in the lab can put a link there; copy the file into the project instead",
            real.display(),
            project.display()
        ))
        .into()),
    }
}

fn read_required(project: &Path, file: &FileRef) -> anyhow::Result<EnvFile> {
    let path = &file.path;
    match file.read(project)? {
        Ok(contents) => Ok(EnvFile {
            shown: path.clone(),
            contents,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::config(format!(
            "{} names {path}, which is not in {}; fix the path, relative to the project",
            file.named(),
            project.display()
        ))
        .into()),
        Err(e) => Err(Error::config(format!("{}: cannot read {path}: {e}", file.named())).into()),
    }
}

/// `runtime.txt`'s Python, `python-3.12` → `3.12`; read only when `build.base` is not
/// set, which makes runtime.txt ignored whatever language it names.
pub fn runtime_python(file: &EnvFile) -> anyhow::Result<String> {
    let text = String::from_utf8_lossy(&file.contents);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    if line.starts_with("r-") || line == "r" {
        return Err(r_not_supported(
            &file.shown,
            &format!("R ({line}), with packages from a dated CRAN snapshot"),
        ));
    }
    let version = line.strip_prefix("python-").unwrap_or("");
    let mut parts = version.split('.');
    let valid = matches!((parts.next(), parts.next()), (Some(major), Some(minor))
        if !major.is_empty() && !minor.is_empty() && major.chars().chain(minor.chars()).all(|c| c.is_ascii_digit()));
    if !valid {
        return Err(Error::config(format!(
            "{}:1: {line:?} is not a Python version; write it as python-X.Y, such as python-3.12",
            file.shown
        ))
        .into());
    }
    Ok(version.split('.').take(2).collect::<Vec<_>>().join("."))
}

/// Package names, one per line, `#` comments allowed; each a valid Debian name.
fn parse_apt(file: &EnvFile) -> anyhow::Result<Vec<String>> {
    let text = String::from_utf8_lossy(&file.contents);
    let mut packages = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        for name in line.split_whitespace() {
            if !is_debian_package(name) {
                return Err(Error::config(format!(
                    "{}:{}: {name:?} is not a Debian package name (lowercase letters, digits, `+`, `-`, `.`); write one package per line",
                    file.shown,
                    n + 1
                ))
                .into());
            }
            if !packages.iter().any(|p| p == name) {
                packages.push(name.to_string());
            }
        }
    }
    Ok(packages)
}

/// Debian policy 5.6.1, plus an optional `=version` pin.
pub fn is_debian_package(spec: &str) -> bool {
    let (name, version) = match spec.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (spec, None),
    };
    let name_ok = name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    let version_ok = version.is_none_or(|v| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".+-~:".contains(c))
    });
    name_ok && version_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .tempdir_in(std::env::temp_dir().canonicalize().unwrap())
            .unwrap();
        for (path, text) in files {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        dir
    }

    fn err(files: &[(&str, &str)]) -> String {
        let dir = project(files);
        let e = detect(dir.path(), &Overrides::default()).unwrap_err();
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        e.to_string()
    }

    #[test]
    fn files_at_the_root_are_found() {
        let dir = project(&[
            ("requirements.txt", "pandas\n"),
            ("apt.txt", "jq\n# tools\ncurl git\n"),
            ("runtime.txt", "python-3.12\n"),
        ]);
        let env = detect(dir.path(), &Overrides::default()).unwrap();
        assert_eq!(env.requirements.unwrap().contents, b"pandas\n");
        assert_eq!(env.apt, ["jq", "curl", "git"]);
        assert_eq!(
            env.runtime.unwrap().contents,
            b"python-3.12\n",
            "read by settings, unless build.base is set"
        );
    }

    #[test]
    fn a_binder_directory_hides_the_root_files() {
        let dir = project(&[
            ("requirements.txt", "root\n"),
            ("binder/requirements.txt", "binder\n"),
            ("binder/postBuild", "echo hi\n"),
        ]);
        let env = detect(dir.path(), &Overrides::default()).unwrap();
        let req = env.requirements.clone().unwrap();
        assert_eq!(
            (req.shown.as_str(), req.contents.as_slice()),
            ("binder/requirements.txt", &b"binder\n"[..])
        );
        assert_eq!(env.used(), ["binder/requirements.txt", "binder/postBuild"]);
    }

    #[test]
    fn both_binder_directories_are_an_error() {
        assert!(
            err(&[("binder/apt.txt", "jq\n"), (".binder/apt.txt", "jq\n")])
                .contains("both binder/ and .binder/")
        );
    }

    #[test]
    fn uv_lock_counts_only_next_to_a_pyproject() {
        let env = detect(project(&[("uv.lock", "x")]).path(), &Overrides::default()).unwrap();
        assert!(env.uv_lock.is_none());
        let env = detect(
            project(&[("uv.lock", "x"), ("pyproject.toml", "[project]\n")]).path(),
            &Overrides::default(),
        )
        .unwrap();
        assert!(env.uv_lock.is_some());
    }

    #[test]
    fn bad_apt_names_runtime_and_start_are_rejected_with_a_fix() {
        assert!(err(&[("apt.txt", "jq\nrm -rf /\n")])
            .contains("apt.txt:2: \"-rf\" is not a Debian package name"));
        assert!(err(&[("apt.txt", "jq; curl\n")]).contains("apt.txt:1:"));
        for r_file in ["install.R", "binder/DESCRIPTION"] {
            let e = err(&[(r_file, "x\n"), ("requirements.txt", "six\n")]);
            assert!(
                e.starts_with(&format!("{r_file} asks for R packages")) && e.contains("apt.txt"),
                "{e}"
            );
        }
        assert!(err(&[("start", "#!/bin/sh\nexport A=1\n")]).contains("exec \"$@\""));
    }

    #[test]
    fn rjup_yaml_adds_apt_packages_and_overrides_files() {
        let dir = project(&[
            ("apt.txt", "jq\n"),
            ("postBuild", "a\n"),
            ("env/ci.txt", "pytest\n"),
            ("scripts/setup.sh", "b\n"),
        ]);
        let named = |path: &str, key| FileRef::in_config(path, key, "rjup.yaml:2:17".into());
        let overrides = Overrides {
            requirements: Some(named("env/ci.txt", "build.requirements")),
            apt: vec!["curl".into(), "jq".into()],
            post_build: Some(named("scripts/setup.sh", "build.post_build")),
        };
        let env = detect(dir.path(), &overrides).unwrap();
        assert_eq!(env.apt, ["jq", "curl"]);
        assert_eq!(env.requirements.unwrap().shown, "env/ci.txt");
        assert_eq!(env.post_build.unwrap().contents, b"b\n");
        let missing = Overrides {
            requirements: Some(named("nope.txt", "build.requirements")),
            ..Overrides::default()
        };
        assert!(detect(dir.path(), &missing)
            .unwrap_err()
            .to_string()
            .contains("rjup.yaml:2:17: `build.requirements` names nope.txt"));
    }

    #[test]
    fn a_found_file_that_links_out_of_the_project_is_refused() {
        let outside = project(&[("secret", "-----BEGIN OPENSSH PRIVATE KEY-----\n")]);
        let dir = project(&[]);
        let secret = outside.path().join("secret");
        std::os::unix::fs::symlink(&secret, dir.path().join("requirements.txt")).unwrap();
        let e = detect(dir.path(), &Overrides::default()).unwrap_err();
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        let e = e.to_string();
        assert!(
            e.starts_with("requirements.txt is a link to ") && e.contains("outside the project"),
            "{e}"
        );
        // A binder/ directory that is a link out is the same.
        std::fs::remove_file(dir.path().join("requirements.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("binder")).unwrap();
        std::fs::rename(&secret, outside.path().join("postBuild")).unwrap();
        let e = detect(dir.path(), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("binder/postBuild is a link to "), "{e}");
    }

    #[test]
    fn debian_package_names_follow_policy() {
        for ok in ["jq", "libgl1", "g++", "python3.11", "curl=7.88.1-10"] {
            assert!(is_debian_package(ok), "{ok}");
        }
        for bad in ["J", "x", "-y", "a;b", "Curl", "a=", "$(id)"] {
            assert!(!is_debian_package(bad), "{bad}");
        }
    }
}
