//! Which Docker engine rjup talks to, found as the docker CLI finds it: `--context`, then
//! `DOCKER_HOST` (with `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`), then `DOCKER_CONTEXT`,
//! then `currentContext` in `$DOCKER_CONFIG/config.json`, then the local socket. Resolved
//! once per command, before anything is made, so a wrong name costs nothing.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::engine::docker_cli_config;
use crate::error::Error;

/// The engine the docker CLI uses when nothing names another.
pub const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// What `status` and `ls` call the engine: the context's name, or the host.
    pub name: String,
    /// Where the choice came from, for messages.
    pub source: Source,
    /// `unix://`, `tcp://` or `ssh://`, as the docker CLI writes it.
    pub host: String,
    pub tls: Option<Tls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    HostVar,
    ContextVar,
    ConfigFile,
    Default,
}

/// TLS material for a `tcp://` engine. Paths, not contents: a missing file is reported
/// when connecting, as the refusal to fall back to plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Check the engine's certificate against `ca`; off only when asked (`SkipTLSVerify`).
    pub verify: bool,
    /// What asked for TLS, so that an error can say what to change.
    pub asked_by: String,
}

/// The docker CLI's environment, as one value so that resolution is testable.
#[derive(Debug, Default, Clone)]
pub struct Env {
    pub docker_host: Option<String>,
    pub docker_context: Option<String>,
    pub docker_config: Option<PathBuf>,
    pub tls_verify: bool,
    pub tls: bool,
    pub cert_path: Option<PathBuf>,
    pub home: Option<PathBuf>,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Env {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            tls: var("DOCKER_TLS").is_some(),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
        }
    }

    fn config_dir(&self) -> PathBuf {
        docker_cli_config::dir(self.docker_config.as_deref(), self.home.as_deref())
    }
}

impl Endpoint {
    /// The engine named by `--context`, the environment or the docker config.
    pub fn resolve(flag: Option<&str>, env: &Env) -> Result<Endpoint, Error> {
        let store = Store {
            dir: env.config_dir(),
        };
        if let Some(name) = flag {
            return store.context(name, Source::Flag);
        }
        if let Some(host) = &env.docker_host {
            return Ok(Endpoint {
                name: host.clone(),
                source: Source::HostVar,
                host: host.clone(),
                tls: tls_from_env(env),
            });
        }
        if let Some(name) = &env.docker_context {
            return store.context(name, Source::ContextVar);
        }
        match store.current_context()? {
            Some(name) => store.context(&name, Source::ConfigFile),
            None => Ok(Endpoint::local(Source::Default)),
        }
    }

    fn local(source: Source) -> Endpoint {
        Endpoint {
            name: "default".into(),
            source,
            host: LOCAL_SOCKET.into(),
            tls: None,
        }
    }

    /// How messages name the engine: its host, and the context it came from if any.
    pub fn describe(&self) -> String {
        match self.source {
            Source::HostVar => format!("{} (DOCKER_HOST)", self.host),
            Source::Default => self.host.clone(),
            _ => format!(
                "{} (context \"{}\" from {})",
                self.host,
                self.name,
                self.source.word()
            ),
        }
    }
}

impl Source {
    fn word(self) -> &'static str {
        match self {
            Source::Flag => "--context",
            Source::HostVar => "DOCKER_HOST",
            Source::ContextVar => "DOCKER_CONTEXT",
            Source::ConfigFile => "`docker context use`",
            Source::Default => "the default",
        }
    }
}

/// `DOCKER_TLS_VERIFY` (verify) or `DOCKER_TLS` (encrypt only), with the files in
/// `DOCKER_CERT_PATH` (default `~/.docker`), as the docker CLI reads them.
fn tls_from_env(env: &Env) -> Option<Tls> {
    if !env.tls_verify && !env.tls {
        return None;
    }
    let dir = env.cert_path.clone().unwrap_or_else(|| env.config_dir());
    let client_pair = dir.join("cert.pem").exists() || dir.join("key.pem").exists();
    Some(Tls {
        ca: Some(dir.join("ca.pem")).filter(|_| env.tls_verify),
        cert: client_pair.then(|| dir.join("cert.pem")),
        key: client_pair.then(|| dir.join("key.pem")),
        verify: env.tls_verify,
        asked_by: if env.tls_verify {
            format!("DOCKER_TLS_VERIFY (certificates from {})", dir.display())
        } else {
            "DOCKER_TLS".into()
        },
    })
}

/// The docker CLI's context store under `$DOCKER_CONFIG`.
struct Store {
    dir: PathBuf,
}

impl Store {
    fn current_context(&self) -> Result<Option<String>, Error> {
        let config = docker_cli_config::read(&self.dir.join("config.json"))?;
        Ok(config.current_context.filter(|c| !c.is_empty()))
    }

    fn context(&self, name: &str, source: Source) -> Result<Endpoint, Error> {
        if name == "default" {
            return Ok(Endpoint::local(source));
        }
        let id = hex::encode(Sha256::digest(name.as_bytes()));
        let meta = self.dir.join("contexts/meta").join(&id).join("meta.json");
        let text = match std::fs::read_to_string(&meta) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::UnknownContext {
                    name: name.to_string(),
                    source: source.word(),
                    known: self.names(),
                })
            }
            Err(e) => return Err(unreadable(&meta, &e.to_string())),
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| unreadable(&meta, &e.to_string()))?;
        let docker = &json["Endpoints"]["docker"];
        let host = docker["Host"]
            .as_str()
            .filter(|h| !h.is_empty())
            .unwrap_or(LOCAL_SOCKET)
            .to_string();
        let skip_verify = docker["SkipTLSVerify"].as_bool().unwrap_or(false);
        let tls = self.tls(&id, name, skip_verify);
        Ok(Endpoint {
            name: name.to_string(),
            source,
            host,
            tls,
        })
    }

    /// A context has TLS when its store holds TLS files or it skips verification.
    fn tls(&self, id: &str, name: &str, skip_verify: bool) -> Option<Tls> {
        let dir = self.dir.join("contexts/tls").join(id).join("docker");
        let file = |f: &str| Some(dir.join(f)).filter(|p| p.exists());
        let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
        if ca.is_none() && cert.is_none() && key.is_none() && !skip_verify {
            return None;
        }
        Some(Tls {
            ca,
            cert,
            key,
            verify: !skip_verify,
            asked_by: format!("context \"{name}\" (TLS files in {})", dir.display()),
        })
    }

    /// Every context's name, `default` first, for "did you mean".
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.join("contexts/meta"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let text = std::fs::read_to_string(entry.path().join("meta.json")).ok()?;
                let json: serde_json::Value = serde_json::from_str(&text).ok()?;
                json["Name"].as_str().map(str::to_string)
            })
            .collect();
        names.sort();
        names.insert(0, "default".into());
        names
    }
}

fn unreadable(file: &Path, why: &str) -> Error {
    Error::config(format!(
        "cannot read the Docker CLI's {} ({why}); fix or remove it",
        file.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(contexts: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, host) in contexts {
            let id = hex::encode(Sha256::digest(name.as_bytes()));
            let meta = dir.path().join("contexts/meta").join(id);
            std::fs::create_dir_all(&meta).unwrap();
            let json = serde_json::json!({"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}}});
            std::fs::write(meta.join("meta.json"), json.to_string()).unwrap();
        }
        dir
    }

    fn env_in(dir: &Path) -> Env {
        Env {
            docker_config: Some(dir.to_path_buf()),
            ..Env::default()
        }
    }

    #[test]
    fn the_flag_beats_docker_host_which_beats_docker_context_which_beats_the_config() {
        let dir = store_with(&[("a", "tcp://a:2375"), ("b", "ssh://b")]);
        std::fs::write(dir.path().join("config.json"), r#"{"currentContext":"b"}"#).unwrap();
        let mut env = env_in(dir.path());
        assert_eq!(Endpoint::resolve(None, &env).unwrap().host, "ssh://b");
        env.docker_context = Some("a".into());
        assert_eq!(Endpoint::resolve(None, &env).unwrap().host, "tcp://a:2375");
        env.docker_host = Some("tcp://h:1".into());
        let by_host = Endpoint::resolve(None, &env).unwrap();
        assert_eq!(
            (by_host.name.as_str(), by_host.source),
            ("tcp://h:1", Source::HostVar)
        );
        let by_flag = Endpoint::resolve(Some("b"), &env).unwrap();
        assert_eq!((by_flag.name.as_str(), by_flag.source), ("b", Source::Flag));
        assert_eq!(by_flag.tls, None);
    }

    #[test]
    fn nothing_set_and_the_default_context_are_the_local_socket() {
        let dir = store_with(&[]);
        let env = env_in(dir.path());
        assert_eq!(Endpoint::resolve(None, &env).unwrap().host, LOCAL_SOCKET);
        let named = Endpoint::resolve(Some("default"), &env).unwrap();
        assert_eq!(
            (named.host.as_str(), named.name.as_str()),
            (LOCAL_SOCKET, "default")
        );
    }

    #[test]
    fn an_unknown_context_lists_the_known_ones() {
        let dir = store_with(&[("remote-lab", "ssh://x")]);
        let err = Endpoint::resolve(Some("remote-lb"), &env_in(dir.path())).unwrap_err();
        assert_eq!(err.code(), crate::error::Code::Config);
        let text = err.to_string();
        assert!(text.contains("\"remote-lb\""), "{text}");
        assert!(text.contains("default, remote-lab"), "{text}");
        assert!(text.contains("did you mean \"remote-lab\""), "{text}");
    }

    #[test]
    fn tls_comes_from_the_context_store_or_docker_tls_verify() {
        let dir = store_with(&[("secure", "tcp://e:2376")]);
        let id = hex::encode(Sha256::digest(b"secure"));
        let tls_dir = dir.path().join("contexts/tls").join(id).join("docker");
        std::fs::create_dir_all(&tls_dir).unwrap();
        std::fs::write(tls_dir.join("ca.pem"), "x").unwrap();
        let tls = Endpoint::resolve(Some("secure"), &env_in(dir.path()))
            .unwrap()
            .tls
            .unwrap();
        assert_eq!(tls.ca, Some(tls_dir.join("ca.pem")));
        assert!(tls.verify && tls.cert.is_none());

        let env = Env {
            docker_host: Some("tcp://e:2376".into()),
            tls_verify: true,
            cert_path: Some("/nowhere".into()),
            ..Env::default()
        };
        let tls = Endpoint::resolve(None, &env).unwrap().tls.unwrap();
        assert_eq!(tls.ca, Some(PathBuf::from("/nowhere/ca.pem")));
        assert!(tls.asked_by.starts_with("DOCKER_TLS_VERIFY"));
    }
}
