//! `rjup.yaml`: its schema, and turning a bad file into one line that says where and how
//! to fix it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::error::Error;
use crate::project_file::FileRef;

pub const FILE_NAME: &str = "rjup.yaml";

/// The file as written. Every field is optional: an absent file means all defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub name: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub bind: Option<Spanned<String>>,
    pub image: Option<Spanned<String>>,
    pub build: Option<Spanned<BuildSection>>,
    pub env: Option<BTreeMap<String, Spanned<String>>>,
    pub check: Option<CheckSection>,
    pub tls: Option<Spanned<TlsValue>>,
    pub resources: Option<ResourcesSection>,
    pub gpus: Option<Spanned<String>>,
    pub swarm: Option<Spanned<SwarmSection>>,
    pub allow: Option<Spanned<Vec<Spanned<String>>>>,
    pub collaboration: Option<Spanned<bool>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmSection {
    pub registry: Option<Spanned<String>>,
    pub constraints: Option<Vec<Spanned<String>>>,
}

/// Run the lab as a one-replica Docker Swarm service rather than a container.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swarm {
    /// Where build-mode images are pushed so that every node can pull them.
    pub registry: Option<String>,
    /// Swarm placement constraints, such as `node.labels.gpu==true`.
    pub constraints: Vec<String>,
}

#[derive(Debug)]
pub enum TlsValue {
    Mode(String),
    Files(TlsFiles),
}

/// By hand rather than `untagged`, which buffers the value and so loses where
/// `tls.cert` and `tls.key` are written: messages about those files name their lines.
impl<'de> Deserialize<'de> for TlsValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TlsValue;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`self-signed`, or a mapping with `cert` and `key`")
            }

            fn visit_str<E: serde::de::Error>(self, mode: &str) -> Result<TlsValue, E> {
                Ok(TlsValue::Mode(mode.to_string()))
            }

            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<TlsValue, E> {
                Ok(TlsValue::Mode(on.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TlsValue, A::Error> {
                TlsFiles::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TlsValue::Files)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub cert: Spanned<String>,
    pub key: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSection {
    pub memory: Option<Spanned<String>>,
    pub cpus: Option<Spanned<f64>>,
    pub pids: Option<Spanned<u32>>,
}

/// How the lab serves HTTP.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    #[default]
    Off,
    /// A certificate rjup makes and keeps per project.
    SelfSigned,
    /// The user's own certificate and key: as rjup.yaml names them, relative to the
    /// project and inside it, or from rjup's environment (`RJUP_TLS_CERT`).
    Files { cert: FileRef, key: FileRef },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpus {
    All,
    Count(u32),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSection {
    pub notebooks: Option<Vec<Spanned<String>>>,
    pub timeout: Option<Spanned<u64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    pub base: Option<Spanned<String>>,
    pub packages: Option<Vec<Spanned<String>>>,
    pub requirements: Option<Spanned<String>>,
    pub apt: Option<Vec<Spanned<String>>>,
    pub post_build: Option<Spanned<String>>,
    pub ca_certificates: Option<Vec<Spanned<String>>>,
}

/// The validated file, with rjup's defaults not yet applied.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    pub name: Option<String>,
    pub port: Option<u16>,
    pub bind: Option<IpAddr>,
    pub image: Option<String>,
    pub base: Option<String>,
    pub packages: Vec<String>,
    pub requirements: Option<FileRef>,
    pub apt: Vec<String>,
    pub post_build: Option<FileRef>,
    pub ca_certificates: Vec<FileRef>,
    pub env: BTreeMap<String, String>,
    pub check_notebooks: Vec<String>,
    pub check_timeout: Option<u64>,
    pub tls: TlsConfig,
    /// Bytes.
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids: Option<u32>,
    pub gpus: Option<Gpus>,
    pub swarm: Option<Swarm>,
    /// Client addresses the lab admits; empty admits every address.
    pub allow: Vec<IpNet>,
    /// Real-time collaboration (jupyter-collaboration) in the lab.
    pub collaboration: bool,
}

/// What each value must look like, for messages about a value of the wrong type.
const EXPECTED: &[(&str, &str)] = &[
    ("name", "a name of lowercase letters, digits, `-` and `_`"),
    ("port", "a port number from 1 to 65535"),
    ("bind", "an IP address such as 0.0.0.0 or 127.0.0.1"),
    (
        "image",
        "an image reference such as jupyter/minimal-notebook:latest",
    ),
    ("build", "a mapping with `base`, `packages`, `requirements`, `apt`, `post_build` and `ca_certificates`"),
    ("requirements", "the path of a requirements file, relative to the project"),
    ("apt", "a list of Debian package names, such as [jq, libgl1]"),
    ("post_build", "the path of a script, relative to the project"),
    ("ca_certificates", "a list of paths of PEM certificates"),
    ("base", "an image reference such as python:3.13-slim"),
    (
        "packages",
        "a list of pip requirements, such as [pandas, numpy>=2]",
    ),
    ("env", "a mapping of NAME: value"),
    ("check", "a mapping with `notebooks` and `timeout`"),
    (
        "notebooks",
        "a list of notebook paths relative to the project, such as [analysis.ipynb]",
    ),
    ("timeout", "a number of seconds, such as 600"),
    ("tls", "`self-signed`, or a mapping with `cert` and `key` (paths of PEM files)"),
    ("resources", "a mapping with `memory`, `cpus` and `pids`"),
    ("memory", "an amount such as 4g or 512m"),
    ("cpus", "a number of CPUs such as 2 or 0.5"),
    ("pids", "a whole number of processes such as 1024"),
    ("gpus", "`all`, or a number of GPUs such as 1"),
    ("swarm", "a mapping with `registry` and `constraints` (or `{}` for the defaults)"),
    ("registry", "a registry address such as registry.example.org:5000"),
    ("constraints", "a list of placement constraints such as [node.labels.gpu==true]"),
    ("allow", "a list of addresses and networks, such as [10.0.0.0/8, 192.168.1.23]"),
    ("collaboration", "true or false"),
];

/// Variables rjup sets itself; letting `env` change them would undo the config injection.
const RESERVED_ENV: &[&str] = &["JUPYTER_CONFIG_DIR", "JUPYTER_TOKEN", "HOME"];

/// Reads `path`, the rjup.yaml of the project that is its (canonical) directory. A
/// link to a file outside the project is refused: whoever writes in the lab could
/// point it at a file of the owner's whose values (`env:`) the lab would get.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = read(path)?;
    parse(&text, &path.display().to_string())
}

fn read(path: &Path) -> anyhow::Result<String> {
    let project = path.parent().unwrap_or(Path::new("/"));
    match crate::project_file::read_within(project, path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| Error::config(format!("{} is not UTF-8 text", path.display())).into()),
        Err(crate::project_file::Refused::Io(e)) => {
            Err(Error::config(format!("cannot read {}: {e}", path.display())).into())
        }
        Err(crate::project_file::Refused::Outside(real)) => Err(Error::config(format!(
            "{} is a link to {}, outside the project; rjup reads rjup.yaml only from inside the project, since whoever writes in the lab can put a link there; copy the file into the project instead",
            path.display(),
            real.display()
        ))
        .into()),
    }
}

/// What can still be read from a file that [`load`] refuses: its `name`, if it is a
/// valid one, and whether it asks for `swarm`; defaults for the rest. Enough to find
/// the lab the file made, never enough to make one. `None` when the text is not YAML
/// at all (or cannot be read).
pub fn salvage(path: &Path) -> Option<Config> {
    let text = read(path).ok()?;
    let value: serde_json::Value = serde_saphyr::from_str(&text).ok()?;
    let name = value
        .get("name")
        .and_then(serde_json::Value::as_str)
        .filter(|n| is_valid_name(n))
        .map(str::to_string);
    let swarm = value.get("swarm").map(|_| Swarm::default());
    Some(Config {
        name,
        swarm,
        ..Config::default()
    })
}

/// Parses and validates the text of a config file; `origin` names it in messages.
pub fn parse(text: &str, origin: &str) -> anyhow::Result<Config> {
    let file: ConfigFile = match serde_saphyr::from_str::<Option<ConfigFile>>(text) {
        Ok(file) => file.unwrap_or_default(),
        Err(err) => return Err(describe_parse_error(&err, text, origin).into()),
    };
    validate(file, origin).map_err(Into::into)
}

/// Turns a message about a value into one located at it: `file:line:column: message`.
type Locate<'a> = dyn Fn(&serde_saphyr::Location, String) -> Error + 'a;

/// `file:line:column` of a value.
fn place(origin: &str, loc: &serde_saphyr::Location) -> String {
    format!("{origin}:{}:{}", loc.line(), loc.column())
}

fn validate(file: ConfigFile, origin: &str) -> Result<Config, Error> {
    let at = |loc: &serde_saphyr::Location, msg: String| {
        Error::config(format!("{}: {msg}", place(origin, loc)))
    };
    let mut config = Config::default();

    if let Some(name) = file.name {
        if !is_valid_name(&name.value) {
            let hint = match sanitize_name(&name.value) {
                Some(s) => format!("; use `{s}`"),
                None => String::new(),
            };
            return Err(at(
                &name.referenced,
                format!(
                    "`name` {:?} must be lowercase letters, digits, `-` and `_`, starting with a letter or digit{hint}",
                    name.value
                ),
            ));
        }
        config.name = Some(name.value);
    }
    if let Some(port) = file.port {
        if port.value == 0 {
            return Err(at(
                &port.referenced,
                "`port` 0 is out of range; use a port from 1 to 65535, or remove the key to let rjup pick a free one".into(),
            ));
        }
        config.port = Some(port.value);
    }
    if let Some(bind) = file.bind {
        config.bind = Some(bind.value.trim().parse().map_err(|_| {
            at(
                &bind.referenced,
                format!(
                    "`bind` {:?} is not an IP address; use one such as 0.0.0.0 (all interfaces) or 127.0.0.1",
                    bind.value
                ),
            )
        })?);
    }
    if let Some(image) = file.image {
        check_image_reference(&image.value)
            .map_err(|why| at(&image.referenced, format!("`image` {why}")))?;
        if file.build.is_some() {
            return Err(at(
                &image.referenced,
                "`image` and `build` exclude each other: `image` runs a ready image as is; remove one of them".into(),
            ));
        }
        config.image = Some(image.value);
    }
    validate_build(file.build, &mut config, &at, origin)?;
    validate_env(file.env, &mut config, &at)?;
    validate_tls(file.tls, &mut config, &at, origin)?;
    validate_resources(file.resources, &mut config, &at)?;
    validate_gpus(file.gpus, &mut config, &at)?;
    validate_check(file.check, &mut config, &at)?;
    validate_swarm(file.swarm, &mut config, &at)?;
    config.allow = validate_allow(file.allow, &at)?;
    config.collaboration = file.collaboration.is_some_and(|c| c.value);
    Ok(config)
}

/// `build:`: the base, packages and files the image is built from.
fn validate_build(
    build: Option<Spanned<BuildSection>>,
    config: &mut Config,
    at: &Locate,
    origin: &str,
) -> Result<(), Error> {
    if let Some(build) = build {
        let build = build.value;
        if let Some(base) = build.base {
            check_image_reference(&base.value)
                .map_err(|why| at(&base.referenced, format!("`build.base` {why}")))?;
            config.base = Some(base.value);
        }
        for package in build.packages.unwrap_or_default() {
            let p = package.value.trim();
            if p.is_empty() || p.starts_with('-') || p.contains(['\n', '\r']) {
                return Err(at(
                    &package.referenced,
                    format!(
                        "`build.packages` entry {:?} is not a requirement; write one package per entry, such as `pandas` or `numpy>=2`",
                        package.value
                    ),
                ));
            }
            config.packages.push(p.to_string());
        }
        if let Some(path) = build.requirements {
            let shown = project_path(&path, "build.requirements", &at)?;
            let located = place(origin, &path.referenced);
            config.requirements = Some(FileRef::in_config(&shown, "build.requirements", located));
        }
        if let Some(path) = build.post_build {
            let shown = project_path(&path, "build.post_build", &at)?;
            let located = place(origin, &path.referenced);
            config.post_build = Some(FileRef::in_config(&shown, "build.post_build", located));
        }
        for package in build.apt.unwrap_or_default() {
            if !crate::environment::binder::is_debian_package(&package.value) {
                return Err(at(
                    &package.referenced,
                    format!("`build.apt` entry {:?} is not a Debian package name; write one name per entry, such as `jq`", package.value),
                ));
            }
            config.apt.push(package.value);
        }
        for cert in build.ca_certificates.unwrap_or_default() {
            if cert.value.trim().is_empty() {
                return Err(at(
                    &cert.referenced,
                    "`build.ca_certificates` entry is empty; give the path of a PEM certificate"
                        .into(),
                ));
            }
            let located = place(origin, &cert.referenced);
            config.ca_certificates.push(FileRef::in_config(
                &cert.value,
                "build.ca_certificates",
                located,
            ));
        }
    }
    Ok(())
}

/// `env:`: variable names, none of them one rjup sets itself.
fn validate_env(
    env: Option<BTreeMap<String, Spanned<String>>>,
    config: &mut Config,
    at: &Locate,
) -> Result<(), Error> {
    for (key, value) in env.unwrap_or_default() {
        if !is_env_name(&key) {
            return Err(at(
                &value.referenced,
                format!("`env` name {key:?} is not a variable name; use letters, digits and `_`, not starting with a digit"),
            ));
        }
        if RESERVED_ENV.contains(&key.as_str()) {
            return Err(at(
                &value.referenced,
                format!(
                    "`env` cannot set {key}: rjup sets it to inject the lab's config; remove it"
                ),
            ));
        }
        config.env.insert(key, value.value);
    }
    Ok(())
}

/// `tls:`: a mode, or the user's certificate and key.
fn validate_tls(
    tls: Option<Spanned<TlsValue>>,
    config: &mut Config,
    at: &Locate,
    origin: &str,
) -> Result<(), Error> {
    if let Some(tls) = tls {
        config.tls = match tls.value {
            TlsValue::Mode(mode) if mode == "self-signed" => TlsConfig::SelfSigned,
            TlsValue::Mode(mode) if mode == "off" || mode == "false" => TlsConfig::Off,
            TlsValue::Mode(mode) => {
                return Err(at(
                    &tls.referenced,
                    format!("`tls` {mode:?} is not a TLS mode; use `self-signed`, or a mapping with `cert` and `key`"),
                ))
            }
            TlsValue::Files(files) => {
                if files.cert.value.trim().is_empty() || files.key.value.trim().is_empty() {
                    return Err(at(&tls.referenced, "`tls.cert` and `tls.key` must both be paths of PEM files".into()));
                }
                let file = |path: &Spanned<String>, key| {
                    FileRef::in_config(&path.value, key, place(origin, &path.referenced))
                };
                TlsConfig::Files {
                    cert: file(&files.cert, "tls.cert"),
                    key: file(&files.key, "tls.key"),
                }
            }
        };
    }
    Ok(())
}

/// `swarm:`: a registry address and placement constraints Swarm understands.
fn validate_swarm(
    swarm: Option<Spanned<SwarmSection>>,
    config: &mut Config,
    at: &Locate,
) -> Result<(), Error> {
    let Some(swarm) = swarm else { return Ok(()) };
    let mut out = Swarm::default();
    if let Some(registry) = swarm.value.registry {
        let r = registry.value.trim();
        if r.is_empty() || r.contains(['/', ' ', '@']) || r.contains("://") {
            return Err(at(
                &registry.referenced,
                format!("`swarm.registry` {:?} is not a registry address; write host[:port] such as registry.example.org:5000", registry.value),
            ));
        }
        out.registry = Some(r.to_string());
    }
    for constraint in swarm.value.constraints.unwrap_or_default() {
        let c = constraint.value.trim();
        if !(c.contains("==") || c.contains("!=")) {
            return Err(at(
                &constraint.referenced,
                format!("`swarm.constraints` entry {:?} is not a placement constraint; write one such as node.labels.gpu==true or node.role==worker", constraint.value),
            ));
        }
        out.constraints.push(c.to_string());
    }
    config.swarm = Some(out);
    Ok(())
}

/// `allow:`: client addresses and networks, IPv4 or IPv6, each written as the network
/// it means: `10.1.2.3/8` is refused rather than read as `10.0.0.0/8`, since either
/// reading could be the one the user meant.
fn validate_allow(
    allow: Option<Spanned<Vec<Spanned<String>>>>,
    at: &Locate,
) -> Result<Vec<IpNet>, Error> {
    let Some(allow) = allow else {
        return Ok(Vec::new());
    };
    let mut networks = Vec::new();
    for entry in &allow.value {
        let text = entry.value.trim();
        let network = match text.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => match text.parse::<IpAddr>() {
                Ok(addr) => IpNet::from(addr),
                Err(_) => return Err(at(
                    &entry.referenced,
                    format!("`allow` entry {:?} is not an IP address or network; write one such as 192.168.1.23, 10.0.0.0/8 or fd00::/8", entry.value),
                )),
            },
        };
        if network.trunc() != network {
            return Err(at(
                &entry.referenced,
                format!("`allow` entry {text:?} has bits set past its /{} prefix; write the network, {}, or the single address, {}", network.prefix_len(), network.trunc(), network.addr()),
            ));
        }
        networks.push(network);
    }
    if networks.is_empty() {
        return Err(at(
            &allow.referenced,
            "`allow` is an empty list, which would admit no colleague at all; list the addresses or networks to admit, or remove the key to admit every address".to_string(),
        ));
    }
    Ok(networks)
}

/// `resources:`: limits the engine can enforce, and that leave Jupyter room to run.
fn validate_resources(
    resources: Option<ResourcesSection>,
    config: &mut Config,
    at: &Locate,
) -> Result<(), Error> {
    if let Some(resources) = resources {
        if let Some(memory) = resources.memory {
            config.memory = Some(parse_memory(&memory.value).ok_or_else(|| {
                at(
                    &memory.referenced,
                    format!("`resources.memory` {:?} is not an amount of memory; write one such as 4g, 512m or 1073741824 (at least 64m)", memory.value),
                )
            })?);
        }
        if let Some(cpus) = resources.cpus {
            if !(cpus.value > 0.0 && cpus.value <= 1024.0) {
                return Err(at(&cpus.referenced, format!("`resources.cpus` {} is out of range; use a number above 0, such as 2 or 0.5", cpus.value)));
            }
            config.cpus = Some(cpus.value);
        }
        if let Some(pids) = resources.pids {
            if pids.value < 64 {
                return Err(at(&pids.referenced, format!("`resources.pids` {} is too low for Jupyter and its kernels; use at least 64", pids.value)));
            }
            config.pids = Some(pids.value);
        }
    }
    Ok(())
}

/// `gpus:`: `all`, or a count.
fn validate_gpus(
    gpus: Option<Spanned<String>>,
    config: &mut Config,
    at: &Locate,
) -> Result<(), Error> {
    if let Some(gpus) = gpus {
        let value = gpus.value.trim();
        config.gpus = Some(match value {
            "all" => Gpus::All,
            n => match n.parse::<u32>() {
                Ok(count) if count > 0 => Gpus::Count(count),
                _ => {
                    return Err(at(
                        &gpus.referenced,
                        format!("`gpus` {:?} is not `all` or a number of GPUs; use `all`, or a count such as 1", gpus.value),
                    ))
                }
            },
        });
    }
    Ok(())
}

/// `check:`: notebooks inside the project, and a timeout.
fn validate_check(
    check: Option<CheckSection>,
    config: &mut Config,
    at: &Locate,
) -> Result<(), Error> {
    if let Some(check) = check {
        for notebook in check.notebooks.unwrap_or_default() {
            let path = notebook.value.trim().trim_start_matches("./");
            if path.is_empty()
                || path.starts_with('/')
                || path.split('/').any(|p| p == "..")
                || !path.ends_with(".ipynb")
            {
                return Err(at(
                    &notebook.referenced,
                    format!("`check.notebooks` entry {:?} must be a .ipynb path inside the project, relative to it, such as `analysis.ipynb`", notebook.value),
                ));
            }
            config.check_notebooks.push(path.to_string());
        }
        if let Some(timeout) = check.timeout {
            if timeout.value == 0 {
                return Err(at(
                    &timeout.referenced,
                    "`check.timeout` must be at least 1 second".into(),
                ));
            }
            config.check_timeout = Some(timeout.value);
        }
    }
    Ok(())
}

/// `4g`, `512m`, `1024k` or plain bytes; at least 64 MiB.
fn parse_memory(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let value: f64 = number.trim().parse().ok()?;
    let bytes = (value * scale) as i64;
    (value.is_finite() && bytes >= 64 * 1024 * 1024).then_some(bytes)
}

/// A path inside the project, relative to it.
fn project_path(
    path: &Spanned<String>,
    key: &str,
    at: &dyn Fn(&serde_saphyr::Location, String) -> Error,
) -> Result<String, Error> {
    let p = path.value.trim().trim_start_matches("./");
    if p.is_empty() || p.starts_with('/') || p.split('/').any(|part| part == "..") {
        return Err(at(
            &path.referenced,
            format!("`{key}` {:?} must be a path inside the project, relative to it, such as `env/requirements.txt`", path.value),
        ));
    }
    Ok(p.to_string())
}

/// Turns a serde-saphyr error into `file:line:column: what; how to fix`.
fn describe_parse_error(err: &serde_saphyr::Error, text: &str, origin: &str) -> Error {
    let plain = err.without_snippet().to_string();
    let message = match plain.rfind(" at line ") {
        Some(i) => &plain[..i],
        None => plain.as_str(),
    };
    let Some(loc) = err.location() else {
        return Error::config(format!("{origin}: {message}"));
    };
    let (line, column) = (loc.line(), loc.column());
    let described = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| {
                list.trim_start_matches("one of ")
                    .split(", ")
                    .map(|s| s.trim_matches('`'))
                    .collect()
            })
            .unwrap_or_default();
        let hint = match did_you_mean(key, &candidates) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known keys here: {}", candidates.join(", ")),
        };
        format!("unknown key `{key}`; {hint}")
    } else if let Some(key) = key_on_line(text, line, column) {
        let expected = EXPECTED
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(String::new(), |(_, e)| format!("; expected {e}"));
        format!("bad value for `{key}`: {message}{expected}")
    } else {
        format!("{message}; see `rjup init` for an example of every key")
    };
    Error::config(format!("{origin}:{line}:{column}: {described}"))
}

/// The key whose value starts at or before `column` on `line`, if the line is `key: value`.
fn key_on_line(text: &str, line: u64, column: u64) -> Option<String> {
    let l = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let (key, _) = l.split_once(':')?;
    let key = key
        .trim()
        .trim_start_matches("- ")
        .trim_matches(['"', '\'']);
    let key_end = l.find(':')? as u64 + 1;
    (column > key_end && !key.is_empty()).then(|| key.to_string())
}

/// The closest candidate to a misspelt key, when it is close enough to be a typo.
pub fn did_you_mean<'a>(key: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(key, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Names follow compose's project-name rule, so they are safe in container and image names.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 63
}

/// Compose's normalisation: lowercase, drop what is not `[a-z0-9_-]`, trim leading `-`/`_`.
pub fn sanitize_name(raw: &str) -> Option<String> {
    let lowered: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    let trimmed: String = lowered
        .trim_start_matches(['-', '_'])
        .chars()
        .take(63)
        .collect();
    (!trimmed.is_empty()).then_some(trimmed)
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A light check of Docker's reference grammar: enough to catch typos and pasted URLs.
pub fn check_image_reference(reference: &str) -> Result<(), String> {
    reference
        .parse::<crate::image_ref::ImageRef>()
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The commented file `rjup init` writes; it documents every key.
pub fn template(name: &str) -> String {
    format!(
        r#"# rjup.yaml: how `rjup up` runs JupyterLab for this project.
# Every key is optional; the values shown commented out are the defaults.
# Reference: the "Configuration" section of rjup's README.

# The lab's name: the container is `rjup-<name>`, the image `rjup/<name>:<hash>`.
# Lowercase letters, digits, `-` and `_`. Default: the directory name, sanitised.
name: {name}

# Host port to publish the lab on. Default: 8888 if free, else the next free port;
# the port chosen is remembered, so the lab keeps its URL across `up`s.
# port: 8888

# Host IP address to publish on. 0.0.0.0 means every interface; use 127.0.0.1
# to reach the lab only through an SSH tunnel.
# bind: 0.0.0.0

# A ready JupyterLab image to pull and run as is, instead of building one.
# It must have `jupyter` on its PATH. Excludes `build`.
# image: jupyter/minimal-notebook:latest

# How rjup builds the lab's image (the default when `image` is not set).
# build:
#   # The base image: Debian-based, with python3.
#   base: python:3.13-slim
#   # Extra pip requirements, installed with uv next to JupyterLab.
#   packages:
#     - pandas
#     - matplotlib>=3.8
#   # A requirements file to use instead of the detected requirements.txt.
#   requirements: env/requirements.txt
#   # Debian packages, added to those in apt.txt.
#   apt:
#     - jq
#   # A script to run as the lab user after the installs, instead of postBuild.
#   post_build: scripts/post-build.sh
#   # Extra CA certificates (PEM) the build and the running lab trust, for
#   # TLS-intercepting proxies. Files inside the project only; give one from
#   # elsewhere with RJUP_CA_CERTIFICATES in rjup's environment.
#   ca_certificates:
#     - certs/corporate.crt
#
# Besides these keys, rjup uses the project's Binder files, from binder/ or
# .binder/ if one exists, else from the project's root: requirements.txt,
# pyproject.toml (with uv.lock), environment.yml, runtime.txt, apt.txt, postBuild
# and start. `rjup lock` pins them in rjup.lock.

# Environment variables for the lab and its kernels.
# env:
#   TZ: Europe/Berlin

# Serve the lab over HTTPS: `self-signed` makes a certificate for every address the
# lab is published on and keeps it, so its fingerprint stays the same (renewed a month
# before it ends); or give your own, inside the project. Files from elsewhere (such as
# /etc/letsencrypt) are given with RJUP_TLS_CERT and RJUP_TLS_KEY in rjup's environment.
# tls: self-signed
# tls:
#   cert: certs/lab.pem
#   key: certs/lab-key.pem

# Limits for the lab's container. Without them it may use the whole machine, except
# for processes: 4096 by default.
# resources:
#   memory: 8g
#   cpus: 4
#   pids: 4096

# GPUs for the lab: `all`, or a count. Needs the NVIDIA container runtime.
# gpus: all

# Run the lab as a Docker Swarm service on a cluster rather than a container on one
# engine: point rjup at a manager (`--context`, DOCKER_HOST). The project directory must
# exist at the same path on every node (shared home directories, NFS). Built images are
# pushed to `registry` so that every node can pull them; `constraints` choose the nodes.
# swarm:
#   registry: registry.example.org:5000
#   constraints:
#     - node.labels.gpu==true

# Admit only these client addresses (IPv4 or IPv6, single addresses or networks):
# any other gets HTTP 403 before the login page, and the lab's log names it. rjup's
# own requests (`up`'s probe, `rjup check`) carry a key and are admitted. With an
# IPv6 `bind`, the engine must give its network IPv6, or `up` refuses the list.
# Default: every address.
# allow:
#   - 10.0.0.0/8
#   - 192.168.1.23

# Real-time collaboration: several people edit one notebook and see each other.
# In build mode rjup installs jupyter-collaboration; a pulled `image` must have it.
# collaboration: true

# What `rjup check` tests besides logging in and running code in a kernel.
# check:
#   # Notebooks to run inside the lab, one at a time; a cell that raises fails the check.
#   notebooks:
#     - analysis.ipynb
#   # Seconds each notebook may take.
#   timeout: 600
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        let e = parse(text, "rjup.yaml").unwrap_err();
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        e.to_string()
    }

    #[test]
    fn empty_and_comment_only_files_mean_defaults() {
        assert_eq!(parse("", "rjup.yaml").unwrap(), Config::default());
        assert_eq!(
            parse("# nothing\n", "rjup.yaml").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn every_key_parses() {
        let c = parse(
            "name: my-lab\nport: 9000\nbind: 127.0.0.1\nbuild:\n  base: python:3.12-slim\n  packages: [pandas, 'numpy>=2']\nenv:\n  TZ: UTC\n  N: 3\n",
            "rjup.yaml",
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("my-lab"));
        assert_eq!(c.port, Some(9000));
        assert_eq!(c.bind, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(c.base.as_deref(), Some("python:3.12-slim"));
        assert_eq!(c.packages, ["pandas", "numpy>=2"]);
        assert_eq!(c.env["N"], "3");
    }

    #[test]
    fn unknown_key_names_location_and_suggests_the_right_one() {
        assert_eq!(
            err("name: x\nprot: 8888\n"),
            "rjup.yaml:2:1: unknown key `prot`; did you mean `port`?"
        );
        assert_eq!(
            err("build:\n  pakages: [a]\n"),
            "rjup.yaml:2:3: unknown key `pakages`; did you mean `packages`?"
        );
    }

    #[test]
    fn unknown_key_far_from_any_lists_the_known_ones() {
        let m = err("colour: blue\n");
        assert!(
            m.starts_with("rjup.yaml:1:1: unknown key `colour`; known keys here: name, port"),
            "{m}"
        );
    }

    #[test]
    fn wrong_type_names_the_key_and_what_it_expects() {
        let m = err("port: abc\n");
        assert!(m.starts_with("rjup.yaml:1:7: bad value for `port`"), "{m}");
        assert!(m.contains("a port number from 1 to 65535"), "{m}");
        let m = err("build: 3\n");
        assert!(m.starts_with("rjup.yaml:1:8: bad value for `build`"), "{m}");
    }

    #[test]
    fn out_of_range_values_are_rejected_with_their_location() {
        assert!(err("port: 70000\n").starts_with("rjup.yaml:1:7: bad value for `port`"));
        assert!(err("port: 0\n").starts_with("rjup.yaml:1:7: `port` 0 is out of range"));
        assert!(err("port: -1\n").starts_with("rjup.yaml:1:7: bad value for `port`"));
    }

    #[test]
    fn bad_bind_name_and_image_are_rejected_with_a_fix() {
        assert!(err("bind: localhost\n")
            .contains("`bind` \"localhost\" is not an IP address; use one such as 0.0.0.0"));
        assert!(err("name: My Lab\n").ends_with("; use `mylab`"));
        assert!(err("image: https://example.com/x\n").contains("has a URL scheme"));
        assert!(err("image: Jupyter/Lab\n").contains("must be lowercase"));
        let m = err("image: x\nbuild:\n  base: y\n");
        assert!(
            m.starts_with("rjup.yaml:1:8:") && m.contains("exclude each other"),
            "{m}"
        );
        assert!(
            err("build:\n  packages: ['--index-url=http://evil']\n").starts_with("rjup.yaml:2:")
        );
        assert!(err("env:\n  HOME: /x\n").contains("cannot set HOME"));
        assert!(err("env:\n  1A: x\n").contains("not a variable name"));
    }

    #[test]
    fn build_files_and_apt_packages_are_validated() {
        let c = parse("build:\n  requirements: ./env/r.txt\n  apt: [jq]\n  post_build: s.sh\n  ca_certificates: [/etc/c.pem]\n", "rjup.yaml").unwrap();
        assert_eq!(
            c.requirements,
            Some(FileRef::in_config(
                "env/r.txt",
                "build.requirements",
                "rjup.yaml:2:17".into()
            ))
        );
        assert_eq!(c.apt, ["jq"]);
        assert_eq!(c.post_build.map(|f| f.path).as_deref(), Some("s.sh"));
        assert_eq!(
            c.ca_certificates,
            [FileRef::in_config(
                "/etc/c.pem",
                "build.ca_certificates",
                "rjup.yaml:5:21".into()
            )]
        );
        assert!(err("build:\n  apt: [\"jq; rm -rf /\"]\n").starts_with("rjup.yaml:2:"));
        assert!(err("build:\n  requirements: ../other/r.txt\n").contains("inside the project"));
    }

    #[test]
    fn tls_resources_and_gpus_parse_and_reject_bad_values() {
        let c = parse(
            "tls: self-signed\nresources:\n  memory: 4g\n  cpus: 1.5\n  pids: 512\ngpus: all\n",
            "rjup.yaml",
        )
        .unwrap();
        assert_eq!(c.tls, TlsConfig::SelfSigned);
        assert_eq!(c.memory, Some(4 << 30));
        assert_eq!(c.cpus, Some(1.5));
        assert_eq!(c.pids, Some(512));
        assert_eq!(c.gpus, Some(Gpus::All));
        let c = parse("tls:\n  cert: c.pem\n  key: k.pem\ngpus: 2\n", "rjup.yaml").unwrap();
        assert_eq!(
            c.tls,
            TlsConfig::Files {
                cert: FileRef::in_config("c.pem", "tls.cert", "rjup.yaml:2:9".into()),
                key: FileRef::in_config("k.pem", "tls.key", "rjup.yaml:3:8".into()),
            }
        );
        assert_eq!(c.gpus, Some(Gpus::Count(2)));
        assert!(err("tls: yes-please\n").contains("is not a TLS mode"));
        assert!(
            err("resources:\n  memory: lots\n").starts_with("rjup.yaml:2:11: `resources.memory`")
        );
        assert!(err("resources:\n  memory: 1m\n").contains("at least 64m"));
        assert!(err("resources:\n  cpus: 0\n").contains("out of range"));
        assert!(err("resources:\n  pids: 10\n").contains("at least 64"));
        assert!(err("gpus: some\n").contains("`all` or a number"));
        assert!(err("resources:\n  memroy: 1g\n").contains("did you mean `memory`?"));
    }

    #[test]
    fn check_notebooks_must_be_relative_notebook_paths() {
        let c = parse(
            "check:\n  notebooks: [a.ipynb, ./sub/b.ipynb]\n  timeout: 30\n",
            "rjup.yaml",
        )
        .unwrap();
        assert_eq!(c.check_notebooks, ["a.ipynb", "sub/b.ipynb"]);
        assert_eq!(c.check_timeout, Some(30));
        assert!(err("check:\n  notebooks: [/etc/passwd]\n").starts_with("rjup.yaml:2:"));
        assert!(err("check:\n  notebooks: [../x.ipynb]\n").contains("inside the project"));
        assert!(err("check:\n  timeout: 0\n").contains("at least 1 second"));
    }

    #[test]
    fn allow_takes_addresses_and_networks_of_both_families() {
        let c = parse(
            "allow: [10.0.0.0/8, 192.168.1.23, 'fd00::/8', '::1']\ncollaboration: true\n",
            "rjup.yaml",
        )
        .unwrap();
        let shown: Vec<String> = c.allow.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "192.168.1.23/32", "fd00::/8", "::1/128"]
        );
        assert!(c.collaboration);
        assert!(!parse("name: x\n", "rjup.yaml").unwrap().collaboration);
    }

    #[test]
    fn bad_allow_entries_and_collaboration_values_say_where() {
        assert_eq!(
            err("allow:\n  - 10.0.0.0/8\n  - 10.0.0.300/24\n"),
            "rjup.yaml:3:5: `allow` entry \"10.0.0.300/24\" is not an IP address or network; write one such as 192.168.1.23, 10.0.0.0/8 or fd00::/8"
        );
        assert!(err("allow: [10.1.2.3/8]\n")
            .starts_with("rjup.yaml:1:9: `allow` entry \"10.1.2.3/8\" has bits set past its /8 prefix; write the network, 10.0.0.0/8"));
        assert!(err("allow: [10.0.0.0/33]\n").contains("is not an IP address or network"));
        assert!(err("allow: []\n").starts_with("rjup.yaml:1:8: `allow` is an empty list"));
        let m = err("allow: 10.0.0.0/8\n");
        assert!(m.starts_with("rjup.yaml:1:8: bad value for `allow`"), "{m}");
        assert!(
            m.contains("expected a list of addresses and networks"),
            "{m}"
        );
        let m = err("collaboration: sure\n");
        assert!(
            m.starts_with("rjup.yaml:1:16: bad value for `collaboration`"),
            "{m}"
        );
        assert!(m.contains("expected true or false"), "{m}");
    }

    #[test]
    fn image_references_with_registries_ports_and_digests_are_accepted() {
        for r in [
            "python:3.13-slim",
            "jupyter/minimal-notebook:latest",
            "localhost:5000/lab",
            "Registry.Example.com:5000/team/lab:v1",
            "quay.io/jupyter/base-notebook@sha256:0123abcd",
        ] {
            assert_eq!(check_image_reference(r), Ok(()), "{r}");
        }
    }

    #[test]
    fn names_are_sanitised_like_compose_project_names() {
        assert_eq!(sanitize_name("My Analysis").as_deref(), Some("myanalysis"));
        assert_eq!(sanitize_name("_x.y-Z").as_deref(), Some("xy-z"));
        assert_eq!(sanitize_name("..."), None);
    }

    #[test]
    fn a_refused_file_still_gives_its_name_and_whether_it_is_a_swarm_lab() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let salvaged = |text: &str| {
            std::fs::write(&file, text).unwrap();
            assert!(load(&file).is_err(), "{text} is refused");
            salvage(&file)
        };
        let c = salvaged("name: my-lab\nprot: 8888\nswarm: {}\n").unwrap();
        assert_eq!(c.name.as_deref(), Some("my-lab"));
        assert_eq!(c.swarm, Some(Swarm::default()));
        let c = salvaged("name: My Lab\nport: abc\n").unwrap();
        assert_eq!(
            (c.name, c.swarm),
            (None, None),
            "an invalid name is no name"
        );
        assert!(salvaged("name: x\nimage: [unclosed\n").is_none());
    }

    #[test]
    fn the_init_template_parses_and_documents_every_key() {
        let text = template("demo");
        assert_eq!(
            parse(&text, "rjup.yaml").unwrap().name.as_deref(),
            Some("demo")
        );
        for key in [
            "name", "port", "bind", "image", "build", "base", "packages", "env",
        ] {
            assert!(text.contains(&format!("{key}:")), "template lacks `{key}`");
        }
    }
}
