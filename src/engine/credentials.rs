//! Registry logins, found where and in the order the docker CLI finds them, so that an
//! image `docker pull` fetches after `docker login` pulls through rjup too.
//!
//! No engine calls here: a [`Login`] becomes the `DockerCredentials` that a pull (or a
//! push) sends along. Secrets never reach a message, a log or a `Debug` print.

use std::ffi::OsString;
use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use serde::Deserialize;

use crate::engine::docker_cli_config::{self, AuthEntry, ConfigFile};
use crate::error::Error;
use crate::image_ref::ImageRef;

/// The key Docker Hub's logins are stored under, as `docker login` writes it.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The key the docker CLI keeps `image`'s registry login under.
pub fn registry_key(image: &ImageRef) -> String {
    image
        .registry()
        .map_or_else(|| DOCKER_HUB.to_string(), str::to_string)
}

/// The login for `image`'s registry from the user's docker config, if it holds one.
pub fn login_for(image: &ImageRef) -> Result<Option<Login>, Error> {
    Store::load()?.login(image)
}

/// Whether an engine's refusal of a pull is a registry asking for a (better) login.
pub fn is_refused_login(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "access denied",
        "access to the resource is denied",
        "may require 'docker login'",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}

/// A registry login, and where it came from (for messages: never the secret).
#[derive(Clone)]
pub struct Login {
    server: String,
    secret: Secret,
    pub source: String,
}

#[derive(Clone)]
enum Secret {
    Password { username: String, password: String },
    IdentityToken(String),
}

impl Login {
    /// What the engine's API takes with a pull or a push.
    pub fn to_docker(&self) -> DockerCredentials {
        let mut credentials = DockerCredentials {
            serveraddress: Some(self.server.clone()),
            ..Default::default()
        };
        match &self.secret {
            Secret::Password { username, password } => {
                credentials.username = Some(username.clone());
                credentials.password = Some(password.clone());
            }
            Secret::IdentityToken(token) => credentials.identitytoken = Some(token.clone()),
        }
        credentials
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.secret {
            Secret::Password { .. } => "password",
            Secret::IdentityToken(_) => "identity token",
        };
        write!(f, "Login({} by {kind}, from {})", self.server, self.source)
    }
}

/// What a credential helper prints for `get`.
#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// The logins of one docker config file.
pub struct Store {
    path: PathBuf,
    config: ConfigFile,
    /// The PATH to find credential helpers on; rjup's own when `None`.
    helper_path: Option<OsString>,
}

impl Store {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the docker CLI reads.
    pub fn load() -> Result<Store, Error> {
        Store::open(docker_cli_config::dir_from_env().join("config.json"))
    }

    /// The logins in `path`; a file that is not there holds none.
    pub fn open(path: PathBuf) -> Result<Store, Error> {
        let config = docker_cli_config::read(&path)?;
        Ok(Store {
            path,
            config,
            helper_path: None,
        })
    }

    /// Looks for credential helpers on `path` instead of rjup's PATH.
    #[cfg(test)]
    pub fn with_helper_path(mut self, path: impl Into<OsString>) -> Store {
        self.helper_path = Some(path.into());
        self
    }

    /// The login for `image`'s registry: its `credHelpers` entry, else `credsStore`, else
    /// `auths`, as `docker pull` looks.
    pub fn login(&self, image: &ImageRef) -> Result<Option<Login>, Error> {
        let key = registry_key(image);
        let helpers = self.config.cred_helpers.as_ref();
        let helper = helpers
            .and_then(|h| h.get(&key).or_else(|| h.get(hostname(&key))))
            .or(self.config.creds_store.as_ref())
            .filter(|name| !name.is_empty());
        if let Some(helper) = helper {
            if let Some(login) = self.ask_helper(helper, image, &key)? {
                return Ok(Some(login));
            }
        }
        self.in_auths(&key)
    }

    /// The `auths` entry for `key`: exactly, else any whose host is the same (`docker
    /// login` has written both `host` and `https://host`).
    fn in_auths(&self, key: &str) -> Result<Option<Login>, Error> {
        let Some(auths) = &self.config.auths else {
            return Ok(None);
        };
        let entry = auths.get_key_value(key).or_else(|| {
            let mut keys: Vec<&String> = auths.keys().collect();
            keys.sort();
            keys.into_iter()
                .find(|k| hostname(k) == hostname(key))
                .and_then(|k| auths.get_key_value(k))
        });
        let Some((found, entry)) = entry else {
            return Ok(None);
        };
        let secret = self.secret_of(found, entry)?;
        Ok(secret.map(|secret| Login {
            server: key.to_string(),
            secret,
            source: self.path.display().to_string(),
        }))
    }

    fn secret_of(&self, key: &str, entry: &AuthEntry) -> Result<Option<Secret>, Error> {
        if let Some(token) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            return Ok(Some(Secret::IdentityToken(token.clone())));
        }
        let (username, password) = match entry.auth.as_deref().filter(|a| !a.is_empty()) {
            Some(auth) => decode_auth(auth).ok_or_else(|| Error::DockerConfig {
                path: self.path.clone(),
                reason: format!("the `auth` of {key:?} is not base64 of user:password"),
            })?,
            None => (
                entry.username.clone().unwrap_or_default(),
                entry.password.clone().unwrap_or_default(),
            ),
        };
        if username.is_empty() && password.is_empty() {
            // `docker login` with a credsStore leaves an empty entry behind.
            return Ok(None);
        }
        Ok(Some(Secret::Password { username, password }))
    }

    /// Runs `docker-credential-NAME get` with the registry on stdin.
    fn ask_helper(&self, name: &str, image: &ImageRef, key: &str) -> Result<Option<Login>, Error> {
        let failed = |reason: String| Error::CredentialHelper {
            helper: name.to_string(),
            registry: image.registry().map(str::to_string),
            path: self.path.clone(),
            reason,
        };
        if name.contains('/') {
            return Err(failed("a helper's name cannot hold `/`".into()));
        }
        let program = format!("docker-credential-{name}");
        let search = self
            .helper_path
            .clone()
            .or_else(|| std::env::var_os("PATH"));
        let found = find_on_path(&program, search.as_ref())
            .ok_or_else(|| failed(format!("{program} is not on PATH")))?;
        let output = run_helper(&found, key, self.helper_path.as_ref())
            .map_err(|e| failed(format!("running {}: {e}", found.display())))?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stdout).to_string()
                + &String::from_utf8_lossy(&output.stderr);
            if said.contains("credentials not found") {
                return Ok(None);
            }
            return Err(failed(format!("{}: {}", output.status, first_line(&said))));
        }
        // What it printed holds the secret, so no part of it goes into a message.
        let answer: HelperAnswer = serde_json::from_slice(&output.stdout)
            .map_err(|_| failed("it printed something other than a JSON credential".into()))?;
        if answer.secret.is_empty() {
            return Ok(None);
        }
        let secret = if answer.username == "<token>" {
            Secret::IdentityToken(answer.secret)
        } else {
            Secret::Password {
                username: answer.username,
                password: answer.secret,
            }
        };
        Ok(Some(Login {
            server: key.to_string(),
            secret,
            source: program,
        }))
    }
}

/// The first executable `program` on `path`. Searched here rather than by `exec`, whose
/// answer for a PATH with a directory the user may not enter is "permission denied".
fn find_on_path(program: &str, path: Option<&OsString>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|file| {
            std::fs::metadata(file)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn run_helper(
    program: &std::path::Path,
    key: &str,
    path: Option<&OsString>,
) -> std::io::Result<std::process::Output> {
    let mut command = Command::new(program);
    command
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let mut child = command.spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status instead.
        let _ = stdin.write_all(key.as_bytes());
    }
    child.wait_with_output()
}

/// `https://host:port/path` and `host:port` alike as `host:port`, as docker compares keys.
fn hostname(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

fn decode_auth(auth: &str) -> Option<(String, String)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn first_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("(it printed nothing)");
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const PRIVATE: &str = "127.0.0.1:5001/private/python:3.13-slim";

    fn image(reference: &str) -> ImageRef {
        reference.parse().unwrap()
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    /// A config directory holding `config`, and a helper directory for fake helpers.
    struct Fixture {
        dir: tempfile::TempDir,
    }

    impl Fixture {
        fn new(config: &str) -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("config.json"), config).unwrap();
            std::fs::create_dir(dir.path().join("bin")).unwrap();
            Fixture { dir }
        }

        fn config(&self) -> PathBuf {
            self.dir.path().join("config.json")
        }

        /// A `docker-credential-NAME` that logs its argument and stdin, then runs `body`.
        fn helper(&self, name: &str, body: &str) {
            let path = self.bin().join(format!("docker-credential-{name}"));
            let log = self.dir.path().join(format!("{name}.log"));
            let script = format!(
                "#!/bin/sh\nread -r server\necho \"$1 $server\" >> {}\n{body}\n",
                log.display()
            );
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        fn asked(&self, name: &str) -> String {
            std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
        }

        fn bin(&self) -> PathBuf {
            self.dir.path().join("bin")
        }

        fn store(&self) -> Store {
            // The helpers need `sh` and `cat` besides themselves.
            let path = format!("{}:/usr/bin:/bin", self.bin().display());
            Store::open(self.config()).unwrap().with_helper_path(path)
        }

        fn login(&self, reference: &str) -> Option<Login> {
            self.store().login(&image(reference)).unwrap()
        }

        fn error(&self, reference: &str) -> Error {
            match Store::open(self.config()) {
                Ok(store) => {
                    let path = format!("{}:/usr/bin:/bin", self.bin().display());
                    store
                        .with_helper_path(path)
                        .login(&image(reference))
                        .unwrap_err()
                }
                Err(e) => e,
            }
        }
    }

    fn user_and_password(login: &Login) -> (String, String) {
        let c = login.to_docker();
        (c.username.unwrap(), c.password.unwrap())
    }

    const ANSWER: &str =
        r#"echo '{"ServerURL":"127.0.0.1:5001","Username":"helped","Secret":"s3cret"}'"#;
    const NOT_FOUND: &str = "echo 'credentials not found in native keychain'; exit 1";

    #[test]
    fn docker_hub_images_use_the_index_url_and_others_their_host() {
        assert_eq!(registry_key(&image("python:3.13-slim")), DOCKER_HUB);
        assert_eq!(registry_key(&image("jupyter/minimal-notebook")), DOCKER_HUB);
        assert_eq!(registry_key(&image(PRIVATE)), "127.0.0.1:5001");
        assert_eq!(
            registry_key(&image("quay.io/jupyter/base-notebook@sha256:ab")),
            "quay.io"
        );
    }

    #[test]
    fn auths_give_the_decoded_user_and_password_for_the_registry_only() {
        let f = Fixture::new(&format!(
            r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{}"}}, "other.example": {{"auth": "{}"}}}}}}"#,
            b64("rjup:pa:ss"),
            b64("x:y")
        ));
        let login = f.login(PRIVATE).unwrap();
        assert_eq!(user_and_password(&login), ("rjup".into(), "pa:ss".into()));
        assert_eq!(
            login.to_docker().serveraddress.as_deref(),
            Some("127.0.0.1:5001")
        );
        assert_eq!(login.source, f.config().display().to_string());
        assert!(f.login("python:3.13-slim").is_none());
        assert!(f.login("elsewhere.example/x").is_none());
    }

    #[test]
    fn auths_keys_match_with_or_without_a_scheme_and_docker_hub_by_its_url() {
        let f = Fixture::new(&format!(
            r#"{{"auths": {{"https://127.0.0.1:5001": {{"auth": "{0}"}}, "https://index.docker.io/v1/": {{"auth": "{1}"}}}}}}"#,
            b64("a:1"),
            b64("hub:2")
        ));
        assert_eq!(user_and_password(&f.login(PRIVATE).unwrap()).0, "a");
        let hub = f.login("python:3.13-slim").unwrap();
        assert_eq!(user_and_password(&hub).0, "hub");
        assert_eq!(hub.to_docker().serveraddress.as_deref(), Some(DOCKER_HUB));
    }

    #[test]
    fn identity_tokens_and_plain_fields_are_logins_and_empty_entries_are_not() {
        let f = Fixture::new(
            r#"{"auths": {"a.example": {"identitytoken": "tok"}, "b.example": {"username": "u", "password": "p"}, "c.example": {}}}"#,
        );
        let token = f.login("a.example/x").unwrap().to_docker();
        assert_eq!(token.identitytoken.as_deref(), Some("tok"));
        assert_eq!(token.password, None);
        assert_eq!(
            user_and_password(&f.login("b.example/x").unwrap()),
            ("u".into(), "p".into())
        );
        assert!(f.login("c.example/x").is_none());
    }

    #[test]
    fn no_config_file_means_no_logins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("config.json")).unwrap();
        assert!(store.login(&image(PRIVATE)).unwrap().is_none());
    }

    #[test]
    fn cred_helpers_come_first_then_creds_store_then_auths() {
        let f = Fixture::new(&format!(
            r#"{{"credHelpers": {{"127.0.0.1:5001": "first"}}, "credsStore": "store", "auths": {{"127.0.0.1:5001": {{"auth": "{}"}}, "quay.io": {{"auth": "{}"}}}}}}"#,
            b64("fromfile:1"),
            b64("quayfile:1")
        ));
        f.helper("first", ANSWER);
        f.helper("store", r#"echo '{"Username":"stored","Secret":"x"}'"#);
        let first = f.login(PRIVATE).unwrap();
        assert_eq!(
            user_and_password(&first),
            ("helped".into(), "s3cret".into())
        );
        assert_eq!(first.source, "docker-credential-first");
        assert_eq!(f.asked("first"), "get 127.0.0.1:5001\n");
        assert_eq!(
            user_and_password(&f.login("quay.io/x").unwrap()).0,
            "stored"
        );
        assert_eq!(f.asked("store"), "get quay.io\n");
        let hub = f.login("python:3.13-slim").unwrap();
        assert_eq!(user_and_password(&hub).0, "stored");
        assert!(f.asked("store").ends_with(&format!("get {DOCKER_HUB}\n")));
    }

    #[test]
    fn a_helper_that_has_no_login_falls_back_to_auths() {
        let f = Fixture::new(&format!(
            r#"{{"credsStore": "empty", "auths": {{"127.0.0.1:5001": {{"auth": "{}"}}}}}}"#,
            b64("fromfile:1")
        ));
        f.helper("empty", NOT_FOUND);
        assert_eq!(user_and_password(&f.login(PRIVATE).unwrap()).0, "fromfile");
        assert!(f.login("python:3").is_none());
    }

    #[test]
    fn a_token_from_a_helper_is_an_identity_token() {
        let f = Fixture::new(r#"{"credsStore": "tok"}"#);
        f.helper("tok", r#"echo '{"Username":"<token>","Secret":"refresh"}'"#);
        let c = f.login(PRIVATE).unwrap().to_docker();
        assert_eq!(c.identitytoken.as_deref(), Some("refresh"));
        assert_eq!(c.username, None);
    }

    #[test]
    fn broken_files_name_the_file_and_never_quote_it() {
        for (config, why) in [
            (r#"{"auths": {"#.to_string(), "not valid JSON at line 1"),
            (
                r#"{"auths": "hunter2"}"#.to_string(),
                "not the shape of a docker config",
            ),
            (
                r#"{"auths": {"127.0.0.1:5001": {"auth": "hunter2!!"}}}"#.to_string(),
                "the `auth` of \"127.0.0.1:5001\" is not base64 of user:password",
            ),
            (
                format!(
                    r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{}"}}}}}}"#,
                    b64("hunter2")
                ),
                "is not base64 of user:password",
            ),
        ] {
            let f = Fixture::new(&config);
            let err = f.error(PRIVATE);
            let text = err.to_string();
            assert_eq!(err.code(), crate::error::Code::Config, "{text}");
            assert!(text.contains(why), "{text}");
            assert!(text.contains(&f.config().display().to_string()), "{text}");
            assert!(!text.contains("hunter2") && !text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn failing_or_missing_helpers_are_one_line_naming_the_helper_and_file() {
        let f = Fixture::new(
            r#"{"credHelpers": {"127.0.0.1:5001": "locked"}, "credsStore": "absent"}"#,
        );
        f.helper("locked", "echo 'the keychain is locked' >&2; exit 3");
        let err = f.error(PRIVATE);
        let text = err.to_string();
        assert_eq!(err.code(), crate::error::Code::Image);
        assert!(text.contains("docker-credential-locked"), "{text}");
        assert!(text.contains("the keychain is locked"), "{text}");
        assert!(text.contains(&f.config().display().to_string()), "{text}");
        assert!(!text.contains('\n'), "{text}");
        let text = f.error("python:3").to_string();
        assert!(
            text.contains("docker-credential-absent is not on PATH"),
            "{text}"
        );
        assert!(text.contains("Docker Hub"), "{text}");
    }

    #[test]
    fn a_helper_printing_garbage_is_refused_without_echoing_it() {
        let f = Fixture::new(r#"{"credsStore": "noisy"}"#);
        f.helper("noisy", "echo 'Secret: hunter2'");
        let text = f.error(PRIVATE).to_string();
        assert!(
            text.contains("something other than a JSON credential"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn debug_prints_of_a_login_hold_no_secret() {
        let f = Fixture::new(&format!(
            r#"{{"auths": {{"127.0.0.1:5001": {{"auth": "{}"}}}}}}"#,
            b64("rjup:hunter2")
        ));
        let shown = format!("{:?}", f.login(PRIVATE).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("127.0.0.1:5001"), "{shown}");
    }

    #[test]
    fn refusals_for_want_of_a_login_are_told_from_other_pull_failures() {
        for refused in [
            "Head \"http://127.0.0.1:5001/v2/private/python/manifests/3.13-slim\": no basic auth credentials",
            "unauthorized: authentication required",
            "pull access denied for x, repository does not exist or may require 'docker login': denied: requested access to the resource is denied",
        ] {
            assert!(is_refused_login(refused), "{refused}");
        }
        for other in [
            "manifest for python:nope not found: manifest unknown",
            "Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host",
        ] {
            assert!(!is_refused_login(other), "{other}");
        }
    }
}
