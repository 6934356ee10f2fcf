//! The docker CLI's configuration, read where and how the CLI reads it: the directory
//! (`$DOCKER_CONFIG`, else `~/.docker`) and its `config.json`, which says both which
//! engine to use (`currentContext`) and how to log in to registries (`auths`,
//! `credsStore`, `credHelpers`). One reader, so both uses agree on what a broken file is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The configuration directory for these values of `DOCKER_CONFIG` and `HOME`.
pub fn dir(docker_config: Option<&Path>, home: Option<&Path>) -> PathBuf {
    match (docker_config, home) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(home)) => home.join(".docker"),
        (None, None) => PathBuf::from(".docker"),
    }
}

/// The configuration directory of this process's environment.
pub fn dir_from_env() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    dir(var("DOCKER_CONFIG").as_deref(), var("HOME").as_deref())
}

/// What rjup uses of `config.json`.
#[derive(Deserialize, Default)]
pub struct ConfigFile {
    #[serde(rename = "currentContext")]
    pub current_context: Option<String>,
    pub auths: Option<HashMap<String, AuthEntry>>,
    #[serde(rename = "credsStore")]
    pub creds_store: Option<String>,
    #[serde(rename = "credHelpers")]
    pub cred_helpers: Option<HashMap<String, String>>,
}

#[derive(Deserialize, Default)]
pub struct AuthEntry {
    pub auth: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub identitytoken: Option<String>,
}

/// `config.json` at `path`; a file that is not there says nothing.
pub fn read(path: &Path) -> Result<ConfigFile, Error> {
    let broken = |reason: String| Error::DockerConfig {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| broken(json_problem(&e))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(broken(e.to_string())),
    }
}

/// Where a config file stops being JSON, without quoting it: it holds secrets.
fn json_problem(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Data => "not the shape of a docker config",
        _ => "not valid JSON",
    };
    format!("{what} at line {}, column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_wins_over_home() {
        assert_eq!(
            dir(Some(Path::new("/c")), Some(Path::new("/h"))),
            Path::new("/c")
        );
        assert_eq!(dir(None, Some(Path::new("/h"))), Path::new("/h/.docker"));
    }

    #[test]
    fn a_missing_file_says_nothing_and_a_broken_one_names_itself_without_quoting() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("config.json");
        assert!(read(&file).unwrap().current_context.is_none());
        std::fs::write(&file, r#"{"auths": {"r": {"auth": "c2VjcmV0"#).unwrap();
        let message = read(&file).err().unwrap().to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(message.contains("not valid JSON at line 1"), "{message}");
        assert!(!message.contains("c2VjcmV0"), "{message}");
        std::fs::write(&file, r#"{"currentContext": "lab", "credsStore": "pass"}"#).unwrap();
        let config = read(&file).unwrap();
        assert_eq!(config.current_context.as_deref(), Some("lab"));
        assert_eq!(config.creds_store.as_deref(), Some("pass"));
    }
}
