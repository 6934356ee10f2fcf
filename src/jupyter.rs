//! The Jupyter Server config rjup injects into every lab, pulled or built.
//!
//! It goes into `JUPYTER_CONFIG_DIR`, the highest-precedence config location after the
//! command line, so config an image ships in `/etc/jupyter` or `sys.prefix` cannot
//! weaken it. It reaches the container as a 0600 file copied in before the first start:
//! never an argument or variable, so the hash shows in no `docker inspect`, no `ps` and
//! no image layer. It is Python rather than JSON because it also carries the identity
//! provider (named accounts, the login throttle) and the authorizer of read-only
//! accounts ([`IDENTITY`]), which must work in any image, pulled ones included.

use ipnet::IpNet;

use crate::archive::{Archive, Owner};
use crate::error::Error;
use crate::tls::Tls;

/// Where the config lives inside the container; `JUPYTER_CONFIG_DIR` points here.
pub const CONFIG_DIR: &str = "/etc/rjup/jupyter";
/// The port the server listens on inside the container.
pub const PORT: u16 = 8888;
/// Where the project is mounted and what the file browser shows.
pub const ROOT_DIR: &str = "/project";

const CONFIG_FILE: &str = "jupyter_server_config.py";
const COOKIE_SECRET_FILE: &str = "cookie_secret";
const CERT_FILE: &str = "lab.crt";
const KEY_FILE: &str = "lab.key";
/// JupyterLab's settings defaults, read from `labconfig/` of every config directory,
/// ours last (`jupyterlab_server.settings_utils._get_overrides`). Only the keys it names
/// change: an image's own `overrides.json` keeps the rest.
const LAB_DEFAULTS_FILE: &str = "labconfig/default_setting_overrides.json";

/// The header a refused address's 403 carries, so rjup tells it from other 403s.
pub const REFUSED_HEADER: &str = crate::client::REFUSED_HEADER;

/// The allowlist hook; `RJUP_ALLOW` becomes the list of networks.
const ALLOW: &str = include_str!("jupyter/allow.py");

/// No news feed, no update check: the lab makes no request of its own. The server side
/// is off when the image's JupyterLab knows these settings (3.6 and later); the page's
/// settings say "never" too, so the page neither asks nor fetches.
const NO_PHONING_HOME: &str = r#"
# rjup: no phoning home.
try:
    from jupyterlab.handlers.announcements import NeverCheckForUpdate as RjupNeverCheckForUpdate
except ImportError:
    RjupNeverCheckForUpdate = None
if RjupNeverCheckForUpdate is not None:
    c.LabApp.news_url = None
    c.LabApp.check_for_updates_class = RjupNeverCheckForUpdate
"#;

const LAB_DEFAULTS: &str = r#"{
  "@jupyterlab/apputils-extension:notification": {
    "fetchNews": "false",
    "checkForUpdates": false
  }
}
"#;

/// What rjup.yaml says about sharing the lab, as far as the lab's config carries it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sharing<'a> {
    /// Client networks admitted besides the engine's host; empty admits every address.
    pub allow: &'a [IpNet],
    /// JupyterLab loads jupyter-collaboration by itself; the config only records that it
    /// was asked for, so that the lab's config hash changes with it.
    pub collaboration: bool,
}

/// The config's sharing part: the allowlist hook, and the collaboration note.
fn sharing_config(sharing: &Sharing<'_>) -> String {
    let mut text = allow_config(sharing.allow);
    if sharing.collaboration {
        text.push_str("\n# rjup: collaboration: true (jupyter-collaboration, which JupyterLab loads by itself)\n");
    }
    text
}

/// The allowlist hook for `allow`, or nothing when every address is admitted.
fn allow_config(allow: &[IpNet]) -> String {
    if allow.is_empty() {
        return String::new();
    }
    let networks: Vec<String> = allow.iter().map(|n| py(&n.to_string())).collect();
    ALLOW
        .replace("RJUP_ALLOW", &format!("[{}]", networks.join(", ")))
        .replace("RJUP_REFUSED_HEADER", REFUSED_HEADER)
}

/// The named accounts ([`crate::accounts::Accounts::lab_file`]): not part of the
/// config the lab is compared by, since it changes without a restart.
const ACCOUNTS_FILE: &str = "accounts.json";

/// Failed logins from one address before it is locked out, and the first lockout in
/// seconds, which doubles with every further failure up to an hour.
pub const FREE_FAILURES: u32 = 5;
/// Failed logins for one account, from any addresses, before it is locked out: more
/// than one address must fail, so that one address alone cannot lock its owner out.
pub const ACCOUNT_FREE_FAILURES: u32 = 2 * FREE_FAILURES;
pub const FIRST_LOCKOUT_SECONDS: u32 = 30;

/// The identity provider (accounts, login page, throttle) and the read-only authorizer.
const IDENTITY: &str = include_str!("jupyter/identity.py");

/// Python's view of a string: a JSON string literal is a valid Python one.
fn py(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

/// The config file's text. Refuses to produce a config without a password, so no lab
/// can ever run with neither a token nor a password.
/// `as_root` lets Jupyter run as uid 0, which rjup asks for only in a rootless engine,
/// where uid 0 is the user and has no capabilities.
pub fn render_config(hashed_password: &str, tls: bool, as_root: bool) -> anyhow::Result<String> {
    if !hashed_password.starts_with("argon2:$argon2") {
        return Err(Error::NoPasswordHash.into());
    }
    let mut text = String::from("# Written by rjup and copied into the container before it starts; `rjup up` rewrites it.\n");
    text.push_str(
        &IDENTITY
            .replace("{free_failures}", &FREE_FAILURES.to_string())
            .replace(
                "{account_free_failures}",
                &ACCOUNT_FREE_FAILURES.to_string(),
            )
            .replace("{first_lockout}", &FIRST_LOCKOUT_SECONDS.to_string())
            .replace("{owner}", &py(crate::accounts::OWNER))
            .replace(
                "{accounts_file}",
                &py(&format!("{CONFIG_DIR}/{ACCOUNTS_FILE}")),
            ),
    );
    let lines = [
        "c.ServerApp.ip = \"0.0.0.0\"".to_string(),
        format!("c.ServerApp.port = {PORT}"),
        "c.ServerApp.port_retries = 0".to_string(),
        "c.ServerApp.open_browser = False".to_string(),
        format!("c.ServerApp.root_dir = {}", py(ROOT_DIR)),
        "c.ServerApp.allow_remote_access = True".to_string(),
        format!(
            "c.ServerApp.allow_root = {}",
            if as_root { "True" } else { "False" }
        ),
        format!(
            "c.ServerApp.cookie_secret_file = {}",
            py(&format!("{CONFIG_DIR}/{COOKIE_SECRET_FILE}"))
        ),
        "c.IdentityProvider.token = \"\"".to_string(),
        format!(
            "c.PasswordIdentityProvider.hashed_password = {}",
            py(hashed_password)
        ),
        "c.PasswordIdentityProvider.password_required = True".to_string(),
        "c.PasswordIdentityProvider.allow_password_change = False".to_string(),
    ];
    text.push('\n');
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(NO_PHONING_HOME);
    if tls {
        text.push_str(&format!(
            "c.ServerApp.certfile = {}\n",
            py(&format!("{CONFIG_DIR}/{CERT_FILE}"))
        ));
        text.push_str(&format!(
            "c.ServerApp.keyfile = {}\n",
            py(&format!("{CONFIG_DIR}/{KEY_FILE}"))
        ));
        text.push_str("c.IdentityProvider.secure_cookie = True\n");
        text.push_str(
            "c.ServerApp.tornado_settings = {\"xsrf_cookie_kwargs\": {\"secure\": True}}\n",
        );
    }
    Ok(text)
}

/// One file of the lab's config: where the lab reads it, and what it says.
pub struct ConfigFile {
    /// Absolute, under [`CONFIG_DIR`].
    pub path: String,
    /// A short name for it, for what rjup names after it (Swarm secrets).
    pub kind: &'static str,
    pub contents: Vec<u8>,
}

/// The files of the lab's config, whichever way they reach it: copied into a container,
/// or mounted as Swarm secrets. `accounts` is given only for a Swarm lab, whose secrets
/// cannot change in place; a container gets it apart, by [`accounts_file`].
pub fn config_files(
    hashed_password: &str,
    cookie_secret: &str,
    as_root: bool,
    tls: Option<&Tls>,
    sharing: &Sharing<'_>,
    accounts: Option<&[u8]>,
) -> anyhow::Result<Vec<ConfigFile>> {
    let file = |name: &str, kind, contents: &[u8]| ConfigFile {
        path: format!("{CONFIG_DIR}/{name}"),
        kind,
        contents: contents.to_vec(),
    };
    let mut config = render_config(hashed_password, tls.is_some(), as_root)?;
    config.push_str(&sharing_config(sharing));
    let mut files = vec![
        file(CONFIG_FILE, "config", config.as_bytes()),
        file(COOKIE_SECRET_FILE, "cookie", cookie_secret.as_bytes()),
        file(LAB_DEFAULTS_FILE, "labdefaults", LAB_DEFAULTS.as_bytes()),
    ];
    if let Some(tls) = tls {
        files.push(file(CERT_FILE, "cert", tls.cert_pem.as_bytes()));
        files.push(file(KEY_FILE, "key", tls.key_pem.as_bytes()));
    }
    if let Some(accounts) = accounts {
        files.push(file(ACCOUNTS_FILE, "accounts", accounts));
    }
    Ok(files)
}

/// The files to copy into the container's root, owned by the lab user and private to it.
pub fn injected_files(
    hashed_password: &str,
    cookie_secret: &str,
    owner: Owner,
    home: Option<&str>,
    tls: Option<&Tls>,
    sharing: &Sharing<'_>,
) -> anyhow::Result<Vec<u8>> {
    let dir = CONFIG_DIR.trim_start_matches('/');
    let mut archive = Archive::new();
    archive
        .dir("etc/rjup/", 0o700, owner)
        .dir(&format!("{dir}/"), 0o700, owner)
        .dir(&format!("{dir}/labconfig/"), 0o700, owner);
    for file in config_files(
        hashed_password,
        cookie_secret,
        owner.uid == 0,
        tls,
        sharing,
        None,
    )? {
        let path = file.path.trim_start_matches('/');
        archive.file(path, &file.contents, 0o600, owner);
    }
    if let Some(home) = home {
        // Pulled images have no home for an arbitrary uid; Jupyter needs a writable one.
        archive.dir(&format!("{}/", home.trim_start_matches('/')), 0o700, owner);
    }
    Ok(archive.finish())
}

/// The accounts file alone, to copy into a lab container before it starts and again
/// whenever the accounts change: the lab reads it anew, without a restart.
pub fn accounts_file(lab_file: &[u8], owner: Owner) -> Vec<u8> {
    let path = format!("{CONFIG_DIR}/{ACCOUNTS_FILE}");
    let mut archive = Archive::new();
    archive.file(path.trim_start_matches('/'), lab_file, 0o600, owner);
    archive.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA";

    #[test]
    fn config_listens_everywhere_with_a_password_and_no_token() {
        let c = render_config(HASH, false, false).unwrap();
        for line in [
            "c.ServerApp.ip = \"0.0.0.0\"",
            "c.ServerApp.port = 8888",
            "c.ServerApp.open_browser = False",
            "c.ServerApp.root_dir = \"/project\"",
            "c.IdentityProvider.token = \"\"",
            "c.PasswordIdentityProvider.hashed_password = \"argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA\"",
            "c.PasswordIdentityProvider.allow_password_change = False",
            "c.PasswordIdentityProvider.password_required = True",
            "c.ServerApp.identity_provider_class = RjupIdentityProvider",
            "c.ServerApp.authorizer_class = RjupAuthorizer",
        ] {
            assert!(c.lines().any(|l| l == line), "config lacks {line}:\n{c}");
        }
        assert!(
            !c.contains("c.ServerApp.password"),
            "ServerApp.password is deprecated"
        );
        assert!(!c.contains("certfile"));
        assert!(c.lines().any(|l| l == "c.ServerApp.allow_root = False"));
        let rootless = render_config(HASH, false, true).unwrap();
        assert!(rootless
            .lines()
            .any(|l| l == "c.ServerApp.allow_root = True"));
    }

    #[test]
    fn the_throttle_is_valid_python_with_its_thresholds_filled_in() {
        let c = render_config(HASH, false, false).unwrap();
        assert!(c.contains("    FREE_FAILURES = 5\n") && c.contains("    FIRST_LOCKOUT = 30.0\n"));
        assert!(c.contains("    _failures = {}\n"));
        assert!(c.contains("OWNER = \"owner\"\n"));
        assert!(c.contains("ACCOUNTS_FILE = \"/etc/rjup/jupyter/accounts.json\"\n"));
        assert!(c.contains("    ACCOUNT_FREE_FAILURES = 10\n"));
        for placeholder in [
            "{account_free_failures}",
            "{free_failures}",
            "{first_lockout}",
            "{owner}",
            "{accounts_file}",
        ] {
            assert!(!c.contains(placeholder), "{placeholder} left in");
        }
    }

    #[test]
    fn the_config_compiles_as_python() {
        // Where there is a Python to ask; the end-to-end tests run it in a lab anyway.
        let Ok(python) = which_python() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.py");
        std::fs::write(&file, render_config(HASH, true, false).unwrap()).unwrap();
        let out = std::process::Command::new(python)
            .args(["-m", "py_compile"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn which_python() -> Result<&'static str, ()> {
        ["python3", "python"]
            .into_iter()
            .find(|p| {
                std::process::Command::new(p)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .ok_or(())
    }

    #[test]
    fn the_accounts_file_is_private_and_apart_from_the_config() {
        let owner = Owner {
            uid: 1500,
            gid: 100,
        };
        let tar_bytes = accounts_file(b"{}", owner);
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(
            entry.path().unwrap().display().to_string(),
            "etc/rjup/jupyter/accounts.json"
        );
        assert_eq!(entry.header().mode().unwrap(), 0o600);
        let files = config_files(HASH, "s", false, None, &Sharing::default(), None).unwrap();
        assert!(files.iter().all(|f| f.kind != "accounts"));
        let files = config_files(HASH, "s", false, None, &Sharing::default(), Some(b"{}")).unwrap();
        assert!(files
            .iter()
            .any(|f| f.path == "/etc/rjup/jupyter/accounts.json"));
    }

    #[test]
    fn no_config_without_a_password_can_be_made() {
        for bad in ["", "sha1:abc", "argon2:"] {
            let e = render_config(bad, false, false).unwrap_err();
            assert_eq!(
                crate::error::exit_code(&e),
                crate::error::Code::Password as u8,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tls_adds_the_certificate_and_secure_cookies() {
        let c = render_config(HASH, true, false).unwrap();
        assert!(c.contains("c.ServerApp.certfile = \"/etc/rjup/jupyter/lab.crt\""));
        assert!(c.contains("c.ServerApp.keyfile = \"/etc/rjup/jupyter/lab.key\""));
        assert!(c.contains("c.IdentityProvider.secure_cookie = True"));
    }

    #[test]
    fn news_and_update_checks_are_off_in_server_and_page() {
        let c = render_config(HASH, false, false).unwrap();
        assert!(c.contains("    c.LabApp.news_url = None\n"));
        assert!(c.contains("    c.LabApp.check_for_updates_class = RjupNeverCheckForUpdate\n"));
        let defaults: serde_json::Value = serde_json::from_str(LAB_DEFAULTS).unwrap();
        let notification = &defaults["@jupyterlab/apputils-extension:notification"];
        assert_eq!(notification["fetchNews"], "false");
        assert_eq!(notification["checkForUpdates"], false);
    }

    #[test]
    fn the_allowlist_hook_is_there_only_with_an_allow_list() {
        let files = |allow: &[IpNet]| {
            let sharing = Sharing {
                allow,
                collaboration: false,
            };
            let files = config_files(HASH, "s", false, None, &sharing, None).unwrap();
            String::from_utf8(files[0].contents.clone()).unwrap()
        };
        assert!(!files(&[]).contains("RjupAllowlist"));
        let c = files(&[
            "10.0.0.0/8".parse().unwrap(),
            "fd00::1/128".parse().unwrap(),
        ]);
        assert!(c.contains(
            "ALLOWED = [ipaddress.ip_network(n) for n in [\"10.0.0.0/8\", \"fd00::1/128\"]]"
        ));
        assert!(c.contains("self.set_header(\"X-Rjup-Refused\", \"address\")"));
        assert!(!c.contains("RJUP_"));
    }

    #[test]
    fn injected_files_are_private_to_the_lab_user() {
        let owner = Owner {
            uid: 1500,
            gid: 100,
        };
        let tls = Tls {
            cert_pem: "C".into(),
            key_pem: "K".into(),
        };
        let tar_bytes = injected_files(
            HASH,
            "s3cret",
            owner,
            Some("/home/lab"),
            Some(&tls),
            &Sharing::default(),
        )
        .unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (1500, 100));
            seen.push((
                entry.path().unwrap().display().to_string(),
                h.mode().unwrap(),
            ));
        }
        assert_eq!(
            seen,
            [
                ("etc/rjup/".to_string(), 0o700),
                ("etc/rjup/jupyter/".to_string(), 0o700),
                ("etc/rjup/jupyter/labconfig/".to_string(), 0o700),
                (
                    "etc/rjup/jupyter/jupyter_server_config.py".to_string(),
                    0o600
                ),
                ("etc/rjup/jupyter/cookie_secret".to_string(), 0o600),
                (
                    "etc/rjup/jupyter/labconfig/default_setting_overrides.json".to_string(),
                    0o600
                ),
                ("etc/rjup/jupyter/lab.crt".to_string(), 0o600),
                ("etc/rjup/jupyter/lab.key".to_string(), 0o600),
                ("home/lab/".to_string(), 0o700),
            ]
        );
    }
}
