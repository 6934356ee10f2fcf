//! rjup.yaml's values checked one key at a time, each refusal located at the value:
//! `file:line:column: what; how to fix`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_saphyr::Spanned;

use super::names::{is_valid_name, sanitize_name};
use super::schema::{
    AcmeSection, BuildSection, CheckSection, ConfigFile, ResourcesSection, SwarmSection, TlsValue,
};
use super::{Acme, Config, Gpus, Swarm, TlsConfig};
use crate::error::Error;
use crate::project_file::FileRef;

/// Variables rjup sets itself; letting `env` change them would undo the config injection.
const RESERVED_ENV: &[&str] = &["JUPYTER_CONFIG_DIR", "JUPYTER_TOKEN", "HOME"];

/// Turns a message about a value into one located at it: `file:line:column: message`.
type Locate<'a> = dyn Fn(&serde_saphyr::Location, String) -> Error + 'a;

/// `file:line:column` of a value.
fn place(origin: &str, loc: &serde_saphyr::Location) -> String {
    format!("{origin}:{}:{}", loc.line(), loc.column())
}

pub(super) fn validate(file: ConfigFile, origin: &str) -> Result<Config, Error> {
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
    validate_acme(file.acme, &mut config, &at, origin)?;
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
            // `acme:` below fills it in.
            TlsValue::Mode(mode) if mode == "acme" => TlsConfig::Acme(Acme::default()),
            TlsValue::Mode(mode) if mode == "off" || mode == "false" => TlsConfig::Off,
            TlsValue::Mode(mode) => {
                return Err(at(
                    &tls.referenced,
                    format!("`tls` {mode:?} is not a TLS mode; use `self-signed`, `acme`, or a mapping with `cert` and `key`"),
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

/// `acme:`: where `tls: acme` gets its certificate. Only with `tls: acme`, so that a
/// lab never quietly serves something else than the file seems to ask for.
fn validate_acme(
    acme: Option<Spanned<AcmeSection>>,
    config: &mut Config,
    at: &Locate,
    origin: &str,
) -> Result<(), Error> {
    let Some(acme) = acme else { return Ok(()) };
    let TlsConfig::Acme(out) = &mut config.tls else {
        return Err(at(
            &acme.referenced,
            "`acme` says where `tls: acme` gets its certificate, but `tls` is not `acme`; set `tls: acme`, or remove `acme`".into(),
        ));
    };
    let section = acme.value;
    if let Some(email) = section.email {
        let e = email.value.trim();
        let valid = e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.contains('@')
        }) && !e.contains(char::is_whitespace);
        if !valid {
            return Err(at(
                &email.referenced,
                format!("`acme.email` {:?} is not an email address; write one such as ada@example.org, or remove the key", email.value),
            ));
        }
        out.email = Some(e.to_string());
    }
    for name in section.names.unwrap_or_default() {
        let n = name.value.trim().trim_end_matches('.').to_ascii_lowercase();
        let ok = match n.parse::<IpAddr>() {
            Ok(ip) => !ip.is_unspecified() && !ip.is_multicast(),
            Err(_) => is_dns_name(&n),
        };
        if !ok {
            return Err(at(
                &name.referenced,
                format!("`acme.names` entry {:?} is not an IP address or DNS name a certificate can name; write one such as 203.0.113.7, 2001:db8::7 or lab.example.org (no wildcards)", name.value),
            ));
        }
        let canonical = crate::acme::certificate::canonical_name(&n);
        if !out.names.contains(&canonical) {
            out.names.push(canonical);
        }
    }
    if let Some(directory) = section.directory {
        let d = directory.value.trim();
        let host = d
            .strip_prefix("https://")
            .map(|r| r.split('/').next().unwrap_or(""));
        if !host.is_some_and(|h| !h.is_empty() && !h.contains(char::is_whitespace)) {
            return Err(at(
                &directory.referenced,
                format!("`acme.directory` {:?} is not an https:// URL of an ACME directory; write one such as {}, or remove the key for Let's Encrypt", directory.value, super::LETS_ENCRYPT),
            ));
        }
        out.directory = d.to_string();
    }
    if let Some(path) = section.ca_certificates {
        if path.value.trim().is_empty() {
            return Err(at(
                &path.referenced,
                "`acme.ca_certificates` is empty; give the path of a PEM file, or remove the key to trust the public roots".into(),
            ));
        }
        let located = place(origin, &path.referenced);
        out.ca_certificates = Some(FileRef::in_config(
            path.value.trim(),
            "acme.ca_certificates",
            located,
        ));
    }
    if let Some(challenge) = section.challenge {
        out.challenge = crate::acme::Challenge::parse(challenge.value.trim()).ok_or_else(|| {
            at(
                &challenge.referenced,
                format!("`acme.challenge` {:?} is not a challenge rjup answers; use `http-01` (port 80) or `tls-alpn-01` (port 443)", challenge.value),
            )
        })?;
    }
    Ok(())
}

/// A DNS name a certificate can name: letters, digits and `-` in dot-separated labels.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
