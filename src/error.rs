//! Errors a user can act on, each with its own exit code.
//!
//! Anything else that goes wrong travels as a plain `anyhow::Error` with context and
//! exits with 1. The codes are part of rjup's interface: the README lists them.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Bad `rjup.yaml`, flag or project directory.
    Config = 3,
    /// No password source, an empty one, or a prompt that did not match.
    Password = 4,
    /// The Docker engine did not answer.
    Docker = 5,
    /// The host port is held by something else.
    PortTaken = 6,
    /// The image could not be found or pulled.
    Image = 7,
    /// The image build failed.
    Build = 8,
    /// The lab did not answer HTTP in time, or exited while starting.
    NotReady = 9,
    /// The container name belongs to another project.
    Conflict = 10,
    /// There is no lab to act on.
    NoLab = 11,
    /// `rjup check` ran, and a step failed.
    CheckFailed = 12,
    /// `rjup.lock` no longer matches the environment files.
    LockStale = 13,
    /// `gpus` asks for GPUs the engine cannot give.
    NoGpu = 14,
    /// `tls: acme`, and the ACME CA issued no certificate.
    Acme = 15,
    /// Interrupted by Ctrl-C.
    Interrupted = 130,
}

/// A failure the user can fix. Each variant carries what went wrong, where, and what to
/// do about it; `Display` turns that into the one line rjup prints, and [`Error::code`]
/// into the exit code.
#[derive(Debug)]
pub enum Error {
    /// A bad config file, flag or project directory, already worded as `where: what; fix`.
    Config { message: String },
    /// `bind` names an address this host does not have.
    BindNotLocal { bind: IpAddr },
    /// The engine's host has no directory at the project's path, so the engine (told to
    /// refuse rather than make one) cannot mount it: a remote engine on another machine.
    ProjectNotOnEngine { path: PathBuf, engine: String },
    /// `rjup lock` in a project that runs a ready image.
    LockNeedsBuild,

    /// A password given or typed as the empty string.
    EmptyPassword,
    /// The variable that gives the password is set but empty.
    EmptyPasswordVar { var: &'static str },
    /// A password is needed, and there is no terminal (or `--json`) to ask on.
    /// `var` is the variable that may give it instead, if one may.
    CannotPrompt {
        why: String,
        var: Option<&'static str>,
    },
    /// The two entries of a new password differ.
    PasswordsDiffer,
    /// Starting a lab with something that is not an argon2 hash.
    NoPasswordHash,

    /// An account name outside the allowed form.
    BadAccountName { name: String, limit: usize },
    /// An account of that name exists already.
    AccountExists { name: String },
    /// `--read-only` asked of the owner's account.
    OwnerReadOnly { owner: &'static str },
    /// `rjup user rm` or `passwd` of the owner, whose password is the lab's.
    OwnerAccount {
        owner: &'static str,
        verb: &'static str,
    },
    /// No account of that name; `known` are the ones there are.
    NoAccount { name: String, known: Vec<String> },

    /// The engine did not answer at all.
    EngineUnreachable {
        host: String,
        reason: String,
        hint: String,
    },
    /// `--context`, `DOCKER_CONTEXT` or `currentContext` names a context the docker CLI's
    /// store does not hold; `known` are the ones it does.
    UnknownContext {
        name: String,
        source: &'static str,
        known: Vec<String>,
    },
    /// The connection to the engine broke while rjup was `doing` something.
    EngineLost { doing: String, reason: String },

    /// The port asked for is held by `holder`; `free` is the next free one, if any.
    PortTaken {
        port: u16,
        bind: IpAddr,
        holder: String,
        free: Option<u16>,
    },
    /// The engine could not publish the lab's port when it started the container.
    PortTakenStarting { reason: String },
    /// The same, told with the port: it was free when rjup chose it.
    PortTakenLate {
        port: u16,
        bind: IpAddr,
        free: Option<u16>,
    },

    /// An image reference the engine cannot pull by.
    BadImageRef { reference: String, reason: String },
    /// The registry or the engine refused the pull.
    PullFailed { reference: String, reason: String },
    /// The registry refused a pull for want of a login; `stored` is where the login that
    /// was sent came from, if one was.
    /// `registry` is host[:port], `None` for Docker Hub.
    RegistryLogin {
        reference: String,
        registry: Option<String>,
        stored: Option<String>,
        reason: String,
    },
    /// The docker config that holds registry logins cannot be read.
    DockerConfig { path: PathBuf, reason: String },
    /// A credential helper that the docker config names did not give a login.
    CredentialHelper {
        helper: String,
        registry: Option<String>,
        path: PathBuf,
        reason: String,
    },
    /// The image cannot run `jupyter`.
    NoJupyter,
    /// `collaboration: true` with a pulled image that lacks jupyter-collaboration.
    NoCollaboration { image: String },
    /// A base image with no registry digest, which a lock cannot pin.
    NoRegistryDigest { base: String },

    /// A build step failed; `step_report` is the step and its last output lines.
    BuildFailed {
        tag: String,
        step_report: String,
        reason: String,
    },
    /// `uv pip compile` failed while `rjup lock` resolved the environment.
    ResolveFailed { exit_code: i64, output: String },
    /// The resolution left out JupyterLab, which rjup always asks for.
    ResolvedWithoutJupyter,

    /// The lab stopped or did not answer in time; `log` is its last lines.
    NotReady {
        failure: String,
        fix: &'static str,
        log: String,
    },

    /// The container name belongs to another project (`owner` is its path) or to no
    /// rjup project at all.
    NameTaken { name: String, owner: Option<String> },
    /// A container of the name appeared between rjup's look and its create.
    NameAppeared { name: String },

    /// `rjup logs` of a lab that does not exist.
    NoLabLog { name: String },
    /// `rjup check` of a lab that has no container.
    LabNotRunning { name: String },
    /// `rjup check` ran, and these steps failed.
    CheckFailed { steps: Vec<String> },

    /// The lock no longer matches the environment files it was made from (at build).
    LockStale { path: PathBuf },
    /// The same, found by `rjup lock --check`.
    LockOutdated { path: PathBuf },
    /// `rjup lock --check` without a lock.
    LockMissing { path: PathBuf },

    /// `gpus` asks for GPUs and the engine has no GPU runtime.
    NoGpu { reason: String },
    /// `swarm:` is set, and the engine is no Swarm manager; `what` it is instead.
    NotSwarmManager { engine: String, what: String },
    /// A built image for a Swarm lab, with no `swarm.registry` to push it to.
    NoSwarmRegistry,
    /// The registry refused a push of the lab's image.
    PushFailed { reference: String, reason: String },
    /// A Swarm lab's task never ran: pending where no node fits, or rejected by its
    /// node. With no log to show, the reason is the whole message.
    TaskNotRunning { failure: String, fix: &'static str },
    /// The engine has no init binary for the lab's `Init: true`: Podman without
    /// `catatonit`, which Debian's podman only recommends.
    NoInitBinary { reason: String },

    /// `tls: acme`: the port the CA checks (80, or 443 for tls-alpn-01) is held by
    /// `holder` on the engine's host.
    AcmePortTaken {
        port: u16,
        holder: String,
        challenge: crate::acme::Challenge,
    },
    /// `tls: acme`: the CA at `directory` issued no certificate for `names`.
    AcmeFailed {
        directory: String,
        names: Vec<String>,
        failure: crate::acme::Failure,
        challenge: crate::acme::Challenge,
    },

    /// Ctrl-C, after the cleanup ran.
    Interrupted,
}

impl Error {
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config {
            message: message.into(),
        }
    }

    pub fn code(&self) -> Code {
        use Error::*;
        match self {
            Config { .. }
            | BindNotLocal { .. }
            | ProjectNotOnEngine { .. }
            | LockNeedsBuild
            | UnknownContext { .. }
            | NotSwarmManager { .. }
            | NoSwarmRegistry
            | BadAccountName { .. }
            | AccountExists { .. }
            | OwnerReadOnly { .. }
            | OwnerAccount { .. }
            | NoAccount { .. } => Code::Config,
            EmptyPassword
            | EmptyPasswordVar { .. }
            | CannotPrompt { .. }
            | PasswordsDiffer
            | NoPasswordHash => Code::Password,
            EngineUnreachable { .. } | EngineLost { .. } | NoInitBinary { .. } => Code::Docker,
            PortTaken { .. }
            | PortTakenStarting { .. }
            | PortTakenLate { .. }
            | AcmePortTaken { .. } => Code::PortTaken,
            AcmeFailed { .. } => Code::Acme,
            BadImageRef { .. }
            | PullFailed { .. }
            | NoJupyter
            | NoCollaboration { .. }
            | NoRegistryDigest { .. } => Code::Image,
            RegistryLogin { .. } | CredentialHelper { .. } | PushFailed { .. } => Code::Image,
            DockerConfig { .. } => Code::Config,
            BuildFailed { .. } | ResolveFailed { .. } | ResolvedWithoutJupyter => Code::Build,
            NotReady { .. } | TaskNotRunning { .. } => Code::NotReady,
            NameTaken { .. } | NameAppeared { .. } => Code::Conflict,
            NoLabLog { .. } | LabNotRunning { .. } => Code::NoLab,
            CheckFailed { .. } => Code::CheckFailed,
            LockStale { .. } | LockOutdated { .. } | LockMissing { .. } => Code::LockStale,
            NoGpu { .. } => Code::NoGpu,
            Interrupted => Code::Interrupted,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            Config { message } => f.write_str(message),
            BindNotLocal { bind } => write!(
                f,
                "bind address {bind} is not an address of this host; use one of its addresses, or 0.0.0.0 for all of them"
            ),
            ProjectNotOnEngine { path, engine } => write!(
                f,
                "the project {} does not exist on the host of the Docker engine {engine}: the engine mounts the project from its own machine, so the project must exist at the same path there (e.g. a shared home directory); put it there, or use an engine on this machine",
                path.display()
            ),
            LockNeedsBuild => f.write_str(
                "`image:` runs a ready image as is, so there is nothing for rjup lock to pin; remove `image:` to build from the project's files",
            ),
            EmptyPassword => f.write_str("the password is empty; choose a non-empty one"),
            EmptyPasswordVar { var } => write!(
                f,
                "{var} is set but empty; set it to the password, or unset it"
            ),
            CannotPrompt { why, var } => {
                write!(
                    f,
                    "{why}, and rjup may not ask for it here (no terminal, or --json); "
                )?;
                if let Some(var) = var {
                    write!(f, "set {var} or ")?;
                }
                f.write_str("pipe it to --password-stdin")
            }
            PasswordsDiffer => f.write_str("the two passwords differ; run the command again"),
            BadAccountName { name, limit } => write!(
                f,
                "invalid account name {name:?}: use 1 to {limit} lowercase letters, digits, `.`, `_` or `-`, starting with a letter and ending with a letter or digit, e.g. `ada.lovelace`"
            ),
            AccountExists { name } => write!(
                f,
                "{name:?} is already an account of this lab; pick another name, or change its password with `rjup user passwd {name}`"
            ),
            OwnerReadOnly { owner } => write!(
                f,
                "the owner's account \"{owner}\" cannot be read-only; give the guest a name of their own: `rjup user add NAME --read-only`"
            ),
            OwnerAccount { owner, verb } => write!(
                f,
                "the owner's account \"{owner}\" cannot be {verb} with `rjup user`: its password is the lab's, which `rjup password` changes"
            ),
            NoAccount { name, known } => {
                write!(
                    f,
                    "there is no account {name:?} in this lab; the accounts are {}",
                    known.join(", ")
                )?;
                if let Some(close) = did_you_mean(name, known) {
                    write!(f, "; did you mean \"{close}\"?")?;
                }
                f.write_str(" (`rjup user ls` lists them)")
            }
            NoPasswordHash => f.write_str(
                "refusing to start a lab without a password hash; set one with `rjup password`",
            ),
            EngineUnreachable { host, reason, hint } => write!(
                f,
                "cannot reach the Docker engine at {host} ({reason}); {hint}"
            ),
            UnknownContext {
                name,
                source,
                known,
            } => {
                write!(
                    f,
                    "there is no Docker context \"{name}\" (from {source}); the known ones are {}",
                    known.join(", ")
                )?;
                if let Some(close) = did_you_mean(name, known) {
                    write!(f, "; did you mean \"{close}\"?")?;
                }
                f.write_str(" (`docker context ls` lists them, `docker context create` makes one)")
            }
            EngineLost { doing, reason } => write!(
                f,
                "lost the connection to the Docker engine while {doing} ({reason}); check that it is running (or DOCKER_HOST), then run the command again: nothing half-made is kept"
            ),
            PortTaken {
                port,
                bind,
                holder,
                free,
            } => {
                write!(f, "port {port} on {bind} is taken by {holder}; ")?;
                match free {
                    Some(free) => write!(f, "use --port {free} (free), or stop what holds it"),
                    None => f.write_str("no free port was found above it either"),
                }
            }
            PortTakenStarting { reason } => write!(
                f,
                "the lab's port was taken while it was starting ({reason}); run `rjup up` again to pick a free one, or pass --port"
            ),
            PortTakenLate { port, bind, free } => {
                write!(
                    f,
                    "port {port} on {bind} was taken by another program after rjup chose it, while the lab was starting; "
                )?;
                match free {
                    Some(free) => write!(f, "use --port {free} (free now)")?,
                    None => f.write_str("stop what holds it")?,
                }
                f.write_str(", or run `rjup up` again")
            }
            BadImageRef { reference, reason } => {
                write!(f, "pulling {reference} failed: {reason}")
            }
            PullFailed { reference, reason } => write!(
                f,
                "pulling {reference} failed: {reason}; check the image name, and that its registry is reachable from the Docker engine"
            ),
            RegistryLogin {
                reference,
                registry,
                stored,
                reason,
            } => {
                let login = login_command(registry);
                match stored {
                    None => write!(
                        f,
                        "pulling {reference} failed: {} wants a login ({reason}); run `{login}` as the user who runs rjup, then run rjup again",
                        registry_name(registry)
                    ),
                    Some(from) => write!(
                        f,
                        "pulling {reference} failed: {} refused the login from {from} ({reason}); run `{login}` again",
                        registry_name(registry)
                    ),
                }
            }
            DockerConfig { path, reason } => write!(
                f,
                "cannot read the docker CLI's configuration {}: {reason}; fix the file, or move it away and run `docker login` (and `docker context use`) again",
                path.display()
            ),
            CredentialHelper {
                helper,
                registry,
                path,
                reason,
            } => write!(
                f,
                "getting the login for {} from docker-credential-{helper} (named in {}) failed: {reason}; fix or install the helper, or take it out of that file",
                registry_name(registry),
                path.display()
            ),
            NoJupyter => f.write_str(
                "the image has no `jupyter-lab` command on its PATH; use an image with JupyterLab in `image:`, or remove `image:` to let rjup build one",
            ),
            NoCollaboration { image } => write!(
                f,
                "the image {image} lacks jupyter-collaboration, which `collaboration: true` in rjup.yaml needs; use an image that has it (add `pip install jupyter-collaboration` to its Dockerfile), remove `image:` to let rjup build a lab with it, or remove `collaboration: true`"
            ),
            NoRegistryDigest { base } => write!(
                f,
                "{base} has no registry digest (it was built or tagged locally), so it cannot be pinned; use a base image from a registry"
            ),
            BuildFailed {
                tag,
                step_report,
                reason,
            } => write!(
                f,
                "building {tag} failed at {step_report}\n  {reason}\n  Fix: {}; then run `rjup up` again",
                build_hint(step_report)
            ),
            ResolveFailed { exit_code, output } => write!(
                f,
                "resolving the environment failed (exit code {exit_code}); fix the requirements it names and run `rjup lock` again:\n    {output}"
            ),
            ResolvedWithoutJupyter => f.write_str(
                "the resolution did not include JupyterLab; this is a bug in rjup, please report it",
            ),
            NotReady { failure, fix, log } => {
                writeln!(f, "{failure}; {fix}. Its last log lines:")?;
                if log.is_empty() {
                    return f.write_str("  (the log is empty)");
                }
                let shown: Vec<String> = log.lines().map(|l| format!("  | {l}")).collect();
                f.write_str(&shown.join("\n"))
            }
            NameTaken { name, owner } => {
                write!(f, "the container name {name} is taken by ")?;
                match owner {
                    Some(path) => write!(f, "the rjup project at {path}")?,
                    None => f.write_str("something other than rjup")?,
                }
                f.write_str("; give this project another name with `name:` in rjup.yaml")
            }
            NameAppeared { name } => write!(
                f,
                "a container named {name} appeared while rjup was creating it; another `rjup up` may be running here, so wait for it and run `rjup up` again"
            ),
            NoLabLog { name } => write!(
                f,
                "lab \"{name}\" does not exist, so it has no log; start it with `rjup up`"
            ),
            LabNotRunning { name } => write!(
                f,
                "lab \"{name}\" is not running; start it with `rjup up`, or pass --up"
            ),
            CheckFailed { steps } => write!(
                f,
                "the check failed at: {}; see the report above",
                steps.join(", ")
            ),
            LockStale { path } => write!(
                f,
                "{} no longer matches the project's environment files; run `rjup lock` to update it, or delete it to build unpinned",
                path.display()
            ),
            LockOutdated { path } => write!(
                f,
                "{} no longer matches the environment files; run `rjup lock` and commit the result",
                path.display()
            ),
            LockMissing { path } => write!(
                f,
                "{} does not exist; run `rjup lock` and commit the result",
                path.display()
            ),
            NotSwarmManager { engine, what } => write!(
                f,
                "`swarm:` in rjup.yaml runs the lab as a Swarm service, but the engine {engine} is {what}, not a Swarm manager; point rjup at a manager with `--context NAME` or DOCKER_HOST, or remove `swarm:`"
            ),
            NoSwarmRegistry => f.write_str(
                "a lab built from the project's files runs on a Swarm only from a registry every node can pull from; set `swarm.registry` in rjup.yaml (such as registry.example.org:5000), or use `image:`",
            ),
            TaskNotRunning { failure, fix } => write!(f, "{failure}; {fix}"),
            PushFailed { reference, reason } => write!(
                f,
                "pushing {reference} failed: {reason}; check `swarm.registry` and that this engine may push there (`docker login`)"
            ),
            NoGpu { reason } => write!(
                f,
                "`gpus` asks for GPUs, but this Docker engine has no GPU runtime ({reason}); install the NVIDIA Container Toolkit and restart Docker, or remove `gpus` from rjup.yaml"
            ),
            NoInitBinary { reason } => write!(
                f,
                "the engine cannot start the lab's init process ({reason}); on Podman, install the `catatonit` package on the engine's host (`sudo apt-get install catatonit`, `sudo dnf install catatonit`)"
            ),
            AcmePortTaken {
                port,
                holder,
                challenge,
            } => {
                let other = match challenge {
                    crate::acme::Challenge::Http01 => {
                        "set `acme.challenge: tls-alpn-01` (port 443)"
                    }
                    crate::acme::Challenge::TlsAlpn01 => "set `acme.challenge: http-01` (port 80)",
                };
                write!(
                    f,
                    "port {port} on the engine's host is taken by {holder}: the ACME CA checks the lab's addresses on port {port} ({challenge}), which rjup's renewer (the container rjup-acme) must hold; stop what holds it, or {other}, or use `tls: self-signed`"
                )
            }
            AcmeFailed {
                directory,
                names,
                failure,
                challenge,
            } => {
                use crate::acme::FailureKind::*;
                let names = names.join(", ");
                let message = &failure.message;
                match failure.kind {
                    Refused => write!(
                        f,
                        "the ACME CA at {directory} refused a certificate for {names}: {message}; use a CA that issues for them (`acme.directory`), or `tls: self-signed`"
                    ),
                    RateLimited => write!(
                        f,
                        "the ACME CA at {directory} limits how often it issues for {names}: {message}; wait until the limit resets and run `rjup up` again, or use `tls: self-signed` meanwhile"
                    ),
                    Validation => write!(
                        f,
                        "the ACME CA at {directory} could not check that {names} reach this host: {message}; let port {} of these addresses reach the engine's host from the internet (a firewall or cloud security group may block it), or set `acme.challenge` to the other challenge, or use `tls: self-signed`",
                        challenge.host_port()
                    ),
                    Unreachable => write!(
                        f,
                        "the ACME directory {directory} could not be reached from the engine's host: {message}; check `acme.directory` and that the engine's host reaches it, or use `tls: self-signed`"
                    ),
                    Untrusted => write!(
                        f,
                        "the ACME directory {directory} is not trusted: {message}; for a private CA, give its certificates in `acme.ca_certificates`"
                    ),
                    Other => write!(
                        f,
                        "the ACME CA at {directory} issued no certificate for {names}: {message}; run `rjup up` again, or use `tls: self-signed`"
                    ),
                }
            }
            Interrupted => f.write_str(
                "interrupted; nothing half-made was left behind, and `rjup up` picks up from here",
            ),
        }
    }
}

impl std::error::Error for Error {}

/// A registry by its host[:port]; `None` is Docker Hub.
fn registry_name(registry: &Option<String>) -> String {
    match registry {
        Some(host) => format!("the registry {host}"),
        None => "Docker Hub".to_string(),
    }
}

/// The command that stores a login for `registry` where rjup (and docker) look.
fn login_command(registry: &Option<String>) -> String {
    match registry {
        Some(host) => format!("docker login {host}"),
        None => "docker login".to_string(),
    }
}

/// The candidate a mistyped word most likely meant, if one is close enough to be a
/// typo: a key of rjup.yaml, an account's name, a Docker context's.
pub fn did_you_mean<'a, S: AsRef<str>>(word: &str, candidates: &'a [S]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c.as_ref()), c.as_ref()))
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// The exit code for an error chain: the first [`Error`] in it decides, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    find(err).map_or(1, |e| e.code() as u8)
}

/// What to look at when the build step `report` (its first line is the step) failed,
/// told by what that step of the Dockerfile template installs.
pub fn build_hint(report: &str) -> &'static str {
    // In template order where two could match: each step names its own file.
    const HINTS: &[(&str, &str)] = &[
        ("postBuild", "fix postBuild, which runs in the image as the lab user, in a copy of the project's Binder folder and small files (docs/environments.md says which)"),
        ("/opt/rjup/start", "fix start, which must end with `exec \"$@\"`"),
        ("update-ca-certificates", "check the files `build.ca_certificates` in rjup.yaml names: each must be a PEM certificate"),
        ("bzip2 gcc", "the base image must be Debian-based (apt-get) and the engine must reach its Debian mirrors, for the tools every lab image gets"),
        ("nodejs npm", "the engine must reach the base image's Debian mirrors for Node.js, which postBuild's JupyterLab extensions need"),
        ("uv-requirements.txt", "the base image needs python3 with its venv module, and the engine must reach the Python package index, for uv"),
        ("apt-get", "check the packages in apt.txt and `build.apt`: each must be a Debian package of the base image's release"),
        ("conda.py", "check environment.yml: its channels must be reachable from the engine, and its conda packages must exist there and fit together (the `rjup:` line above says which)"),
        ("pip-section.txt", "check the `pip:` section of environment.yml: a package or version uv could not find or build, or one that conflicts with the lab's own packages"),
        ("/opt/rjup/requirements.txt", "check requirements.txt (or the file `build.requirements` names): a package or version uv could not find or build"),
        ("uv sync", "check pyproject.toml and uv.lock: uv.lock must match pyproject.toml (run `uv lock`)"),
        ("pyproject.toml", "check the dependencies in pyproject.toml: a package or version uv could not find or build"),
        ("packages.txt", "check `build.packages` in rjup.yaml: a package or version uv could not find"),
        ("lab-requirements.txt", "check `build.base` in rjup.yaml: JupyterLab needs a Debian-based image with python3; with rjup.lock, run `rjup lock` again"),
        ("FROM ", "check `build.base` in rjup.yaml"),
    ];
    let step = report.lines().next().unwrap_or("");
    HINTS
        .iter()
        .find(|(needle, _)| step.contains(needle))
        .map_or(
            "check `build.packages` and `build.base` in rjup.yaml",
            |(_, hint)| hint,
        )
}

/// The first [`Error`] in an error chain, for matching on what went wrong.
pub fn find(err: &anyhow::Error) -> Option<&Error> {
    err.chain().find_map(|e| e.downcast_ref::<Error>())
}

/// Whether the error is a reader that went away, which is a normal way for output to end.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_code_comes_from_the_user_error_inside_a_context_chain() {
        let err = Err::<(), _>(anyhow::Error::from(Error::LabNotRunning {
            name: "demo".into(),
        }))
        .context("checking the lab")
        .unwrap_err();
        assert_eq!(exit_code(&err), Code::NoLab as u8);
        assert!(format!("{err:#}").starts_with("checking the lab: lab \"demo\" is not running"));
    }

    #[test]
    fn build_hints_name_the_file_behind_the_failing_step() {
        let hint = |step: &str| build_hint(&format!("{step}\n    some output"));
        assert!(
            hint("Step 9/12 : RUN cd /home/lab && /opt/rjup/postBuild").contains("fix postBuild")
        );
        assert!(hint(
            "Step 3/9 : RUN apt-get update -qq && xargs -a /opt/rjup/apt.txt apt-get install"
        )
        .contains("apt.txt"));
        assert!(hint("Step 4/9 : RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io nodejs npm").contains("Node.js"));
        assert!(hint("Step 4/4 : RUN python3 -m venv /opt/rjup/uv && /opt/rjup/uv/bin/pip install --quiet --no-cache-dir -r /opt/rjup/uv-requirements.txt").contains("venv module"));
        assert!(hint("Step 1/1 : RUN apt-get update -qq && apt-get install -y git wget curl unzip bzip2 gcc libc6-dev").contains("Debian mirrors"));
        assert!(hint("STEP 8/9: RUN uv pip install --quiet --python /opt/lab/bin/python -r /opt/rjup/requirements.txt").contains("requirements.txt"));
        assert!(hint("Step 8/9 : RUN cd /opt/rjup/project && UV_PROJECT_ENVIRONMENT=/opt/lab uv sync --frozen").contains("uv.lock"));
        assert!(
            hint("Step 8/9 : RUN uv pip install -r /opt/rjup/project/pyproject.toml")
                .contains("pyproject.toml")
        );
        assert!(hint(
            "Step 4/12 : RUN uv run --with-requirements /opt/rjup/conda-requirements.txt python /opt/rjup/conda.py create /opt/rjup/conda-env.json"
        )
        .contains("channels must be reachable"));
        assert!(
            hint("Step 8/12 : RUN python /opt/rjup/lab-constraints.py run 'the pip: section of environment.yml' uv pip install -r /opt/rjup/pip-section.txt")
                .contains("`pip:` section")
        );
        assert!(
            hint("Step 2/9 : RUN update-ca-certificates >/dev/null").contains("ca_certificates")
        );
        assert!(hint("Step 4/9 : RUN python3 -m venv /opt/rjup/uv && uv pip install -r /opt/rjup/lab-requirements.txt").contains("build.base"));
        assert!(hint("Step 9/9 : RUN chmod 755 /opt/rjup/start").contains("fix start"));
        assert!(
            hint("Step 7/9 : RUN uv pip install -r /opt/rjup/packages.txt")
                .contains("build.packages")
        );
        let e = Error::BuildFailed {
            tag: "rjup/x:1".into(),
            step_report: "Step 9/9 : RUN cd /home/lab && /opt/rjup/postBuild\n    wget: not found"
                .into(),
            reason: "exit code 127".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("Fix: fix postBuild") && !text.contains("build.packages"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_init_binary_names_catatonit_and_is_an_engine_problem() {
        let e = Error::NoInitBinary {
            reason: "container-init binary not found on the host".into(),
        };
        assert_eq!(e.code(), Code::Docker);
        let line = e.to_string();
        assert!(
            line.contains("`catatonit`") && !line.contains('\n'),
            "{line}"
        );
    }

    #[test]
    fn a_typo_gets_the_closest_candidate_and_a_stranger_none() {
        assert_eq!(
            did_you_mean("prot", &["name", "port", "bind"]),
            Some("port")
        );
        assert_eq!(
            did_you_mean("adaa", &["owner".to_string(), "ada".to_string()]),
            Some("ada")
        );
        assert_eq!(did_you_mean("zzzzzz", &["port", "bind"]), None);
        let none: [&str; 0] = [];
        assert_eq!(did_you_mean("port", &none), None);
    }

    #[test]
    fn plain_errors_exit_with_one() {
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
    }

    #[test]
    fn a_taken_port_names_its_holder_and_a_free_one_when_there_is_one() {
        let taken = |free| Error::PortTaken {
            port: 8888,
            bind: "127.0.0.1".parse().unwrap(),
            holder: "another program on this host".into(),
            free,
        };
        assert_eq!(taken(None).code(), Code::PortTaken);
        assert_eq!(
            taken(Some(8889)).to_string(),
            "port 8888 on 127.0.0.1 is taken by another program on this host; use --port 8889 (free), or stop what holds it"
        );
        assert_eq!(
            taken(None).to_string(),
            "port 8888 on 127.0.0.1 is taken by another program on this host; no free port was found above it either"
        );
        let late = Error::PortTakenLate {
            port: 8888,
            bind: "0.0.0.0".parse().unwrap(),
            free: None,
        };
        assert_eq!(late.code(), Code::PortTaken);
        assert!(late
            .to_string()
            .ends_with("; stop what holds it, or run `rjup up` again"));
    }

    #[test]
    fn a_lab_that_is_not_ready_shows_its_log_indented_or_says_it_is_empty() {
        let not_ready = |log: &str| Error::NotReady {
            failure: "the lab exited".into(),
            fix: "fix it",
            log: log.into(),
        };
        assert_eq!(not_ready("").code(), Code::NotReady);
        assert_eq!(
            not_ready("").to_string(),
            "the lab exited; fix it. Its last log lines:\n  (the log is empty)"
        );
        assert_eq!(
            not_ready("a\nb").to_string(),
            "the lab exited; fix it. Its last log lines:\n  | a\n  | b"
        );
    }

    #[test]
    fn a_swarm_task_that_never_ran_is_one_line_and_not_ready() {
        let pending = Error::TaskNotRunning {
            failure: "the lab's task is still pending after 20 s: no suitable node".into(),
            fix: "check `swarm.constraints`",
        };
        assert_eq!(pending.code(), Code::NotReady);
        assert_eq!(
            pending.to_string(),
            "the lab's task is still pending after 20 s: no suitable node; check `swarm.constraints`"
        );
    }

    #[test]
    fn a_taken_name_says_whose_it_is() {
        let taken = |owner: Option<&str>| Error::NameTaken {
            name: "rjup-lab".into(),
            owner: owner.map(str::to_string),
        };
        assert_eq!(taken(None).code(), Code::Conflict);
        assert!(taken(None)
            .to_string()
            .contains("is taken by something other than rjup; "));
        assert!(taken(Some("/p"))
            .to_string()
            .contains("is taken by the rjup project at /p; "));
    }

    #[test]
    fn engine_errors_exit_with_the_docker_code() {
        let lost = Error::EngineLost {
            doing: "pulling".into(),
            reason: "broken pipe".into(),
        };
        assert_eq!(lost.code(), Code::Docker);
        assert!(lost
            .to_string()
            .starts_with("lost the connection to the Docker engine while pulling (broken pipe); "));
        let unreachable = Error::EngineUnreachable {
            host: "unix:///nowhere".into(),
            reason: "no such file".into(),
            hint: "start it".into(),
        };
        assert_eq!(unreachable.code(), Code::Docker);
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the Docker engine at unix:///nowhere (no such file); start it"
        );
    }

    #[test]
    fn password_errors_exit_with_the_password_code_and_name_the_variable() {
        for err in [
            Error::EmptyPassword,
            Error::EmptyPasswordVar {
                var: "RJUP_PASSWORD",
            },
            Error::PasswordsDiffer,
            Error::NoPasswordHash,
        ] {
            assert_eq!(err.code(), Code::Password, "{err}");
        }
        let prompt = Error::CannotPrompt {
            why: "the lab needs a password".into(),
            var: Some("RJUP_PASSWORD"),
        };
        assert!(prompt.to_string().contains("set RJUP_PASSWORD or pipe it"));
    }

    #[test]
    fn a_pull_refused_for_want_of_a_login_is_one_line_with_the_login_to_run() {
        let refused = |registry: Option<&str>, stored: Option<&str>| Error::RegistryLogin {
            reference: "127.0.0.1:5001/private/python:3.13-slim".into(),
            registry: registry.map(str::to_string),
            stored: stored.map(str::to_string),
            reason: "no basic auth credentials".into(),
        };
        let none = refused(Some("127.0.0.1:5001"), None);
        assert_eq!(none.code(), Code::Image);
        assert_eq!(
            none.to_string(),
            "pulling 127.0.0.1:5001/private/python:3.13-slim failed: the registry 127.0.0.1:5001 wants a login (no basic auth credentials); run `docker login 127.0.0.1:5001` as the user who runs rjup, then run rjup again"
        );
        let stale = refused(Some("127.0.0.1:5001"), Some("/h/.docker/config.json")).to_string();
        assert!(
            stale.contains("refused the login from /h/.docker/config.json")
                && stale.ends_with("run `docker login 127.0.0.1:5001` again"),
            "{stale}"
        );
        let hub = refused(None, None).to_string();
        assert!(hub.contains("Docker Hub wants a login") && hub.contains("run `docker login` as"));
        let file = Error::DockerConfig {
            path: "/h/.docker/config.json".into(),
            reason: "not valid JSON at line 1, column 2".into(),
        };
        assert_eq!(file.code(), Code::Config);
    }

    #[test]
    fn a_project_the_engine_s_host_lacks_is_one_line_saying_where_it_must_be() {
        let err = Error::ProjectNotOnEngine {
            path: "/home/ada/demo".into(),
            engine: "ssh://ada@gpu-box (DOCKER_HOST)".into(),
        };
        assert_eq!(err.code(), Code::Config);
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        for words in [
            "/home/ada/demo",
            "ssh://ada@gpu-box (DOCKER_HOST)",
            "same path",
            "shared home directory",
        ] {
            assert!(text.contains(words), "{text} lacks {words}");
        }
    }
}
