//! Everything that decides what lab a project gets, resolved in one place: the project
//! directory, its `rjup.yaml`, the command-line flags and the environment.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::archive::Owner;
use crate::config::{self, Config, Gpus, TlsConfig};
use crate::environment::binder;
use crate::environment::image_plan::{BuildSpec, ImageSource};
use crate::environment::lockfile;
use crate::error::Error;
use files::{files_from_env, read_certificates, ProjectFiles};

mod files;

pub const DEFAULT_BASE: &str = "python:3.13-slim";
pub const DEFAULT_PORT: u16 = 8888;
pub const DEFAULT_CHECK_TIMEOUT: u64 = 600;
/// Enough processes for Jupyter, many kernels and their threads; a fork bomb stops here.
pub const DEFAULT_PIDS: u32 = 4096;

/// Limits for the lab's container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids: u32,
}

/// The uid a lab falls back to when the project belongs to root: the Docker Stacks user.
const FALLBACK_OWNER: Owner = Owner {
    uid: 1000,
    gid: 1000,
};

#[derive(Debug, Clone, PartialEq)]
pub enum PortRequest {
    /// Given by `--port` or `port:`; taken or nothing.
    Fixed(u16),
    /// The remembered port if free, else 8888 or the next free one.
    Auto,
}

/// The desired lab, before anything is asked of Docker.
#[derive(Debug, Clone)]
pub struct Spec {
    pub dir: PathBuf,
    pub config_file: Option<PathBuf>,
    pub name: String,
    pub port: PortRequest,
    pub bind: IpAddr,
    pub image: ImageSource,
    pub env: BTreeMap<String, String>,
    pub owner: Owner,
    /// Notebooks `rjup check` runs, relative to the project.
    pub check_notebooks: Vec<String>,
    /// Seconds each of them may take.
    pub check_timeout: u64,
    pub tls: TlsConfig,
    pub resources: Resources,
    pub gpus: Option<Gpus>,
    /// Run as a Swarm service; `None` runs a container.
    pub swarm: Option<crate::config::Swarm>,
    /// Client addresses the lab admits besides the engine's own host; empty admits all.
    pub allow: Vec<ipnet::IpNet>,
    /// Real-time collaboration: in build mode its package is among the lab's packages.
    pub collaboration: bool,
    /// Things the user should know that do not stop the command.
    pub warnings: Vec<String>,
}

impl Spec {
    pub fn container_name(&self) -> String {
        format!("rjup-{}", self.name)
    }

    /// What the lab's injected config says about sharing it.
    pub fn sharing(&self) -> crate::jupyter::server_config::Sharing<'_> {
        crate::jupyter::server_config::Sharing {
            allow: &self.allow,
            collaboration: self.collaboration,
        }
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls == TlsConfig::Off {
            "http"
        } else {
            "https"
        }
    }

    /// Refuses to build from an `rjup.lock` that no longer matches the environment files.
    pub fn ensure_lockfile_fresh(&self) -> anyhow::Result<()> {
        let ImageSource::Build(build) = &self.image else {
            return Ok(());
        };
        match &build.lock {
            Some(lock) if lock.inputs != crate::environment::image_plan::lock_inputs(build) => {
                Err(crate::error::Error::LockStale {
                    path: self.dir.join(lockfile::FILE_NAME),
                }
                .into())
            }
            _ => Ok(()),
        }
    }
}

/// Flags that override the file.
#[derive(Debug, Default, Clone, Copy)]
pub struct Overrides {
    pub port: Option<u16>,
    pub bind: Option<IpAddr>,
}

/// The nearest directory, from `start` upward, that holds `rjup.yaml`; else `start`.
pub fn find_project(start: Option<&Path>) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    let start = match start {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().context("finding the current directory")?,
    };
    let start = start.canonicalize().map_err(|e| {
        Error::config(format!(
            "project directory {} is not usable: {e}",
            start.display()
        ))
    })?;
    if !start.is_dir() {
        return Err(Error::config(format!(
            "{} is not a directory; pass the project's directory",
            start.display()
        ))
        .into());
    }
    for dir in start.ancestors() {
        let file = dir.join(config::FILE_NAME);
        if file.is_file() {
            return Ok((dir.to_path_buf(), Some(file)));
        }
    }
    Ok((start, None))
}

pub fn resolve(project: Option<&Path>, overrides: Overrides) -> anyhow::Result<Spec> {
    let (dir, config_file) = find_project(project)?;
    let mut config = match &config_file {
        Some(file) => config::load(file)?,
        None => Config::default(),
    };
    let cwd = std::env::current_dir().context("finding the current directory")?;
    files_from_env(&mut config, |var| std::env::var(var).ok(), &cwd)?;
    let meta = std::fs::metadata(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let files = if config.image.is_some() {
        ProjectFiles::default()
    } else {
        ProjectFiles {
            environment: binder::detect(
                &dir,
                &binder::Overrides {
                    requirements: config.requirements.clone(),
                    apt: config.apt.clone(),
                    post_build: config.post_build.clone(),
                },
            )?,
            ca_certificates: read_certificates(&dir, &config.ca_certificates)?,
            lock: lockfile::load(&dir)?,
        }
    };
    // Read the user's certificate now, not after a long build.
    if let TlsConfig::Files { cert, key } = &config.tls {
        crate::tls::from_files(&dir, cert, key)?;
    }
    let owner = Owner {
        uid: meta.uid(),
        gid: meta.gid(),
    };
    let spec = build_spec(dir, config_file, config, overrides, owner, files)?;
    tracing::trace!(
        "settings: lab {} of {}, from {}",
        spec.name,
        spec.dir.display(),
        spec.config_file
            .as_deref()
            .map_or("no rjup.yaml".into(), |f| f.display().to_string())
    );
    Ok(spec)
}

/// A project's lab as far as finding it goes ([`find`]).
#[derive(Debug)]
pub struct Found {
    /// The lab as rjup.yaml describes it, or as much of it as could be read; built
    /// from no environment file.
    pub spec: Spec,
    /// Why rjup.yaml could not be used, when it could not.
    pub invalid: Option<String>,
    /// Whether `spec.name` is the lab's: from a usable rjup.yaml, or its `name:` read
    /// on its own. Otherwise it is the directory's name, which the lab's labels, or
    /// rjup's state, may correct.
    pub name_known: bool,
}

/// The project's lab as far as finding it goes, for the verbs that never build or
/// start one (`down`, `status`, `logs`, and `rjup user`, which must cut an account
/// off whatever the project's files say): no environment file or certificate is read,
/// and an rjup.yaml that cannot be used is a warning rather than the end of the verb.
/// The project's directory still identifies its lab. `up` and `build` use [`resolve`],
/// which refuses such a file.
pub fn find(project: Option<&Path>) -> anyhow::Result<Found> {
    let (dir, config_file) = find_project(project)?;
    let (config, invalid) = match &config_file {
        None => (Config::default(), None),
        Some(file) => match config::load(file) {
            Ok(config) => (config, None),
            Err(e) if crate::error::exit_code(&e) == crate::error::Code::Config as u8 => (
                config::salvage(file).unwrap_or_default(),
                Some(format!("{e:#}")),
            ),
            Err(e) => return Err(e),
        },
    };
    let mut config = config;
    let cwd = std::env::current_dir().context("finding the current directory")?;
    files_from_env(&mut config, |var| std::env::var(var).ok(), &cwd)?;
    let name_known = invalid.is_none() || config.name.is_some();
    let meta = std::fs::metadata(&dir).with_context(|| format!("reading {}", dir.display()))?;
    let owner = Owner {
        uid: meta.uid(),
        gid: meta.gid(),
    };
    let spec = build_spec(
        dir,
        config_file,
        config,
        Overrides::default(),
        owner,
        ProjectFiles::default(),
    )?;
    Ok(Found {
        spec,
        invalid,
        name_known,
    })
}
fn build_spec(
    dir: PathBuf,
    config_file: Option<PathBuf>,
    config: Config,
    overrides: Overrides,
    dir_owner: Owner,
    files: ProjectFiles,
) -> anyhow::Result<Spec> {
    let mut warnings = Vec::new();
    refuse_docker_socket(&dir)?;
    let name = config.name.unwrap_or_else(|| default_name(&dir));
    let owner = lab_owner(&dir, dir_owner, &mut warnings);
    let mut packages = config.packages;
    if config.collaboration {
        crate::environment::collaboration::add_package(&mut packages);
    }
    let image = image_source(config.image, config.base, packages, files, &mut warnings)?;
    Ok(Spec {
        dir,
        config_file,
        name,
        port: match overrides.port.or(config.port) {
            Some(port) => PortRequest::Fixed(port),
            None => PortRequest::Auto,
        },
        bind: overrides
            .bind
            .or(config.bind)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        image,
        env: config.env,
        owner,
        check_notebooks: config.check_notebooks,
        check_timeout: config.check_timeout.unwrap_or(DEFAULT_CHECK_TIMEOUT),
        tls: config.tls,
        resources: Resources {
            memory: config.memory,
            cpus: config.cpus,
            pids: config.pids.unwrap_or(DEFAULT_PIDS),
        },
        gpus: config.gpus,
        swarm: config.swarm,
        allow: config.allow,
        collaboration: config.collaboration,
        warnings,
    })
}

/// Mounting a directory that holds the engine's socket would hand the lab the host.
fn refuse_docker_socket(dir: &Path) -> anyhow::Result<()> {
    let docker_sockets = ["/var/run/docker.sock", "/run/docker.sock"];
    if let Some(socket) = docker_sockets
        .iter()
        .find(|sock| Path::new(sock).starts_with(dir))
    {
        return Err(Error::config(format!(
            "{} holds the Docker socket {socket}, and mounting it would hand the lab control of this host; run rjup from a project directory",
            dir.display()
        ))
        .into());
    }
    Ok(())
}

/// The project directory's name, sanitised as compose sanitises project names.
fn default_name(dir: &Path) -> String {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    config::sanitize_name(&base).unwrap_or_else(|| "lab".to_string())
}

/// A ready image to pull, else a build on the base `build.base` or `runtime.txt` names.
fn image_source(
    image: Option<String>,
    base: Option<String>,
    packages: Vec<String>,
    mut files: ProjectFiles,
    warnings: &mut Vec<String>,
) -> anyhow::Result<ImageSource> {
    let Some(reference) = image else {
        let environment = &mut files.environment;
        warnings.append(&mut environment.ignored);
        // runtime.txt is read only without build.base, whatever language it names.
        let mut from_runtime = None;
        if let Some(runtime) = environment.runtime.take() {
            match &base {
                Some(base) => warnings.push(format!(
                    "build.base {base} in rjup.yaml wins over {}",
                    runtime.shown
                )),
                None => {
                    let python = binder::runtime_python(&runtime)?;
                    from_runtime = Some(format!("python:{python}-slim"));
                    environment.python = Some(python);
                    environment.runtime_txt = Some(runtime.shown);
                }
            }
        }
        return Ok(ImageSource::Build(Box::new(BuildSpec {
            base: base
                .or(from_runtime)
                .unwrap_or_else(|| DEFAULT_BASE.to_string()),
            packages,
            environment: files.environment,
            ca_certificates: files.ca_certificates,
            lock: files.lock,
        })));
    };
    Ok(ImageSource::Pull(reference))
}

/// The lab runs as the project directory's owner, never as root, so its files belong to
/// the person whose project it is, even when rjup runs under sudo.
fn lab_owner(dir: &Path, owner: Owner, warnings: &mut Vec<String>) -> Owner {
    if owner.uid != 0 {
        return owner;
    }
    let from_env = |var: &str| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|id| *id != 0)
    };
    let fallback = match (from_env("SUDO_UID"), from_env("SUDO_GID")) {
        (Some(uid), Some(gid)) => Owner { uid, gid },
        _ => FALLBACK_OWNER,
    };
    warnings.push(format!(
        "{} belongs to root, and the lab never runs as root: it runs as uid {} and can write there only if the directory's permissions allow; `chown -R <you> {}` makes the lab yours",
        dir.display(),
        fallback.uid,
        dir.display()
    ));
    fallback
}

#[cfg(test)]
pub mod tests {
    use super::files::{CA_CERTIFICATES_VAR, TLS_CERT_VAR, TLS_KEY_VAR};
    use super::*;
    use crate::environment::binder::{EnvFile, Environment};
    use crate::project_file::FileRef;

    /// A plain build-mode spec for unit tests.
    pub fn spec() -> Spec {
        build_spec(
            PathBuf::from("/home/ada/demo"),
            None,
            Config::default(),
            Overrides::default(),
            Owner {
                uid: 1500,
                gid: 1500,
            },
            ProjectFiles::default(),
        )
        .unwrap()
    }

    #[test]
    fn defaults_come_from_the_directory() {
        let s = spec();
        assert_eq!(s.name, "demo");
        assert_eq!(s.container_name(), "rjup-demo");
        assert_eq!(s.port, PortRequest::Auto);
        assert_eq!(s.bind, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let ImageSource::Build(build) = &s.image else {
            panic!("expected build mode")
        };
        assert_eq!(build.base, DEFAULT_BASE);
        assert!(build.packages.is_empty() && build.lock.is_none());
        assert_eq!((s.owner.uid, s.owner.gid), (1500, 1500));
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn flags_override_the_file() {
        let config = Config {
            port: Some(9000),
            bind: Some("127.0.0.1".parse().unwrap()),
            ..Config::default()
        };
        let overrides = Overrides {
            port: Some(9100),
            bind: Some("10.0.0.1".parse().unwrap()),
        };
        let s = build_spec(
            PathBuf::from("/p/x"),
            None,
            config.clone(),
            overrides,
            Owner { uid: 1, gid: 1 },
            ProjectFiles::default(),
        )
        .unwrap();
        assert_eq!(s.port, PortRequest::Fixed(9100));
        assert_eq!(s.bind.to_string(), "10.0.0.1");
        let s = build_spec(
            PathBuf::from("/p/x"),
            None,
            config,
            Overrides::default(),
            Owner { uid: 1, gid: 1 },
            ProjectFiles::default(),
        )
        .unwrap();
        assert_eq!(s.port, PortRequest::Fixed(9000));
        assert_eq!(s.bind.to_string(), "127.0.0.1");
    }

    #[test]
    fn image_key_selects_pull_mode() {
        let config = Config {
            image: Some("jupyter/minimal-notebook:latest".into()),
            ..Config::default()
        };
        let s = build_spec(
            PathBuf::from("/p/x"),
            None,
            config,
            Overrides::default(),
            Owner { uid: 1, gid: 1 },
            ProjectFiles::default(),
        )
        .unwrap();
        assert_eq!(
            s.image,
            ImageSource::Pull("jupyter/minimal-notebook:latest".into())
        );
    }

    #[test]
    fn runtime_txt_selects_the_base_unless_build_base_is_set() {
        let files = |text: &str| ProjectFiles {
            environment: Environment {
                runtime: Some(EnvFile {
                    shown: "runtime.txt".into(),
                    contents: text.as_bytes().to_vec(),
                }),
                ..Environment::default()
            },
            ..ProjectFiles::default()
        };
        let owner = Owner { uid: 1, gid: 1 };
        let spec = |config: Config, text: &str| {
            build_spec(
                PathBuf::from("/p/x"),
                None,
                config,
                Overrides::default(),
                owner,
                files(text),
            )
        };
        let s = spec(Config::default(), "python-3.12\n").unwrap();
        let ImageSource::Build(b) = &s.image else {
            panic!()
        };
        assert_eq!(b.base, "python:3.12-slim");
        assert!(b.environment.used().contains(&"runtime.txt".to_string()));
        let with_base = || Config {
            base: Some("python:3.11-slim".into()),
            ..Config::default()
        };
        // With build.base, runtime.txt is not read at all: an R one is no error then.
        for text in ["python-3.12\n", "r-2018-06-18\n"] {
            let s = spec(with_base(), text).unwrap();
            let ImageSource::Build(b) = &s.image else {
                panic!()
            };
            assert_eq!(b.base, "python:3.11-slim");
            assert!(s.warnings[0].contains("wins over runtime.txt"));
            assert!(
                !b.environment.used().contains(&"runtime.txt".to_string()),
                "an ignored runtime.txt is not listed as used"
            );
        }
        let e = spec(Config::default(), "r-2018-06-18\n").unwrap_err();
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        let e = e.to_string();
        assert!(
            e.starts_with("runtime.txt asks for R (r-2018-06-18)") && e.contains("apt.txt"),
            "{e}"
        );
        assert!(spec(Config::default(), "ruby-3\n")
            .unwrap_err()
            .to_string()
            .contains("write it as python-X.Y"));
    }

    #[test]
    fn the_default_python_of_conda_environments_is_the_default_bases() {
        assert_eq!(
            DEFAULT_BASE,
            format!("python:{}-slim", crate::environment::conda::DEFAULT_PYTHON)
        );
    }

    #[test]
    fn a_directory_holding_the_docker_socket_is_never_a_project() {
        for dir in ["/", "/var", "/var/run", "/run"] {
            let e = build_spec(
                PathBuf::from(dir),
                None,
                Config::default(),
                Overrides::default(),
                Owner { uid: 1, gid: 1 },
                ProjectFiles::default(),
            )
            .unwrap_err();
            assert!(e.to_string().contains("Docker socket"), "{dir}: {e}");
        }
    }

    #[test]
    fn directory_names_are_sanitised() {
        let s = build_spec(
            PathBuf::from("/p/My Analysis.v2"),
            None,
            Config::default(),
            Overrides::default(),
            Owner { uid: 1, gid: 1 },
            ProjectFiles::default(),
        )
        .unwrap();
        assert_eq!(s.name, "myanalysisv2");
    }

    #[test]
    fn a_root_owned_project_never_gets_a_root_lab() {
        let s = build_spec(
            PathBuf::from("/root/p"),
            None,
            Config::default(),
            Overrides::default(),
            Owner { uid: 0, gid: 0 },
            ProjectFiles::default(),
        )
        .unwrap();
        assert_ne!(s.owner.uid, 0);
        assert!(s.warnings[0].contains("belongs to root"));
    }

    #[test]
    fn the_environment_gives_files_from_outside_the_project() {
        let cwd = Path::new("/home/ada");
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |var: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == var)
                    .map(|(_, v)| v.to_string())
            }
        };
        let mut config = Config {
            tls: TlsConfig::SelfSigned,
            ..Config::default()
        };
        files_from_env(&mut config, env(&[]), cwd).unwrap();
        assert_eq!(
            config.tls,
            TlsConfig::SelfSigned,
            "nothing given, nothing changed"
        );
        files_from_env(
            &mut config,
            env(&[
                (TLS_CERT_VAR, "/etc/letsencrypt/live/x/fullchain.pem"),
                (TLS_KEY_VAR, "certs/privkey.pem"),
                (CA_CERTIFICATES_VAR, "/etc/ssl/corp.pem::corp2.pem"),
            ]),
            cwd,
        )
        .unwrap();
        assert_eq!(
            config.tls,
            TlsConfig::Files {
                cert: FileRef::from_env("/etc/letsencrypt/live/x/fullchain.pem", TLS_CERT_VAR),
                key: FileRef::from_env("/home/ada/certs/privkey.pem", TLS_KEY_VAR),
            }
        );
        let cas: Vec<&str> = config
            .ca_certificates
            .iter()
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(cas, ["/etc/ssl/corp.pem", "/home/ada/corp2.pem"]);
        let e = files_from_env(&mut Config::default(), env(&[(TLS_KEY_VAR, "k.pem")]), cwd)
            .unwrap_err();
        assert!(e.to_string().contains("go together"), "{e}");
    }

    #[test]
    fn the_nearest_rjup_yaml_upward_marks_the_project() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::write(root.join("a/rjup.yaml"), "port: 9001\n").unwrap();
        let (dir, file) = find_project(Some(&root.join("a/b/c"))).unwrap();
        assert_eq!(dir, root.join("a"));
        assert_eq!(file, Some(root.join("a/rjup.yaml")));
        let (dir, file) = find_project(Some(&root)).unwrap();
        assert_eq!((dir, file), (root.clone(), None));
    }
}
