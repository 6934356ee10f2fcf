//! The Jupyter Server config rjup injects into every lab, pulled or built.
//!
//! It goes into `JUPYTER_CONFIG_DIR`, the highest-precedence config location after the
//! command line, so config an image ships in `/etc/jupyter` or `sys.prefix` cannot
//! weaken it. It reaches the container as files copied in before the first start (or
//! Swarm secrets): never an argument or variable, so the hash shows in no `docker
//! inspect`, no `ps` and no image layer. The directory and its files belong to root,
//! readable by the lab's group only: the lab reads its config but cannot rewrite it.
//!
//! The config is real Python, the same in every lab: `jupyter_server_config.py` reads
//! every value rjup gives the lab from `rjup_lab.json` beside it, imports the `rjup_lab`
//! package beside it (the identity provider with named accounts and the login throttle,
//! the read-only authorizer, the allowlist, containment in the project, body bounds
//! before login) and sets the traits that name them. Only the JSON differs between
//! labs. The package's pure rules have unit tests of their own (`src/jupyter/tests`),
//! which `cargo test` runs.

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
const SETTINGS_FILE: &str = "rjup_lab.json";
const PACKAGE_DIR: &str = "rjup_lab";
const COOKIE_SECRET_FILE: &str = "cookie_secret";
const CERT_FILE: &str = "lab.crt";
const KEY_FILE: &str = "lab.key";
/// JupyterLab's settings defaults, read from `labconfig/` of every config directory,
/// ours last (`jupyterlab_server.settings_utils._get_overrides`). Only the keys it names
/// change: an image's own `overrides.json` keeps the rest.
const LAB_DEFAULTS_FILE: &str = "labconfig/default_setting_overrides.json";
/// jupyter_core migrates IPython 3 config into the config directory at start whenever
/// `~/.ipython` exists (a kernel makes it), and fails the start if it cannot write its
/// marker there. A marker the lab cannot open for writing tells it to skip that.
const MIGRATED_FILE: &str = "migrated";

/// The header a refused address's 403 carries, so rjup tells it from other 403s.
pub const REFUSED_HEADER: &str = crate::lab_client::REFUSED_HEADER;
/// The header rjup's own probes carry: the lowercase hex SHA-256 of `rjup-probe\n`
/// followed by the exact bytes of the lab's cookie secret file. With it, a request from
/// the container's gateway passes `allow:`, and logins have a throttle of their own.
pub const PROBE_HEADER: &str = "X-Rjup-Probe";
/// What TLS labs tell browsers: use HTTPS only, for a year.
const HSTS: &str = "max-age=31536000";

/// The config file: the same in every lab.
const CONFIG: &str = include_str!("jupyter_server_config.py");
/// The `rjup_lab` package, copied beside the config: (file, Swarm secret kind, text).
const PACKAGE: &[(&str, &str, &str)] = &[
    (
        "__init__.py",
        "lab-init",
        include_str!("rjup_lab/__init__.py"),
    ),
    (
        "accounts.py",
        "lab-accounts",
        include_str!("rjup_lab/accounts.py"),
    ),
    ("allow.py", "lab-allow", include_str!("rjup_lab/allow.py")),
    (
        "bodies.py",
        "lab-bodies",
        include_str!("rjup_lab/bodies.py"),
    ),
    ("paths.py", "lab-paths", include_str!("rjup_lab/paths.py")),
    (
        "renewal.py",
        "lab-renewal",
        include_str!("rjup_lab/renewal.py"),
    ),
    ("roles.py", "lab-roles", include_str!("rjup_lab/roles.py")),
    (
        "server.py",
        "lab-server",
        include_str!("rjup_lab/server.py"),
    ),
    (
        "throttle.py",
        "lab-throttle",
        include_str!("rjup_lab/throttle.py"),
    ),
];

const LAB_DEFAULTS: &str = r#"{
  "@jupyterlab/apputils-extension:notification": {
    "fetchNews": "false",
    "checkForUpdates": false
  }
}
"#;

/// How the lab serves HTTPS, as its config says.
#[derive(Debug, Clone, Copy, Default)]
pub enum Https<'a> {
    /// Plain HTTP.
    #[default]
    Off,
    /// This certificate and key, copied in with the config.
    Given(&'a Tls),
    /// The certificate and key at these paths, which a volume mounted in the lab holds
    /// and the engine's ACME renewer keeps fresh; and the renewer's status there, whose
    /// failures the lab logs.
    Mounted {
        certfile: &'a str,
        keyfile: &'a str,
        status_file: &'a str,
    },
}

/// What rjup.yaml says about sharing the lab, as far as the lab's config carries it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sharing<'a> {
    /// Client networks admitted besides loopback and rjup's own probe; empty admits
    /// every address.
    pub allow: &'a [IpNet],
    /// JupyterLab loads jupyter-collaboration by itself; the config only records that it
    /// was asked for, so that the lab's config hash changes with it.
    pub collaboration: bool,
}

/// The named accounts ([`crate::jupyter::accounts::Accounts::lab_file`]): not part of the
/// config the lab is compared by, since it changes without a restart.
const ACCOUNTS_FILE: &str = "accounts.json";

/// Failed logins from one address before it is locked out, and the first lockout in
/// seconds, which doubles with every further failure up to an hour.
pub const FREE_FAILURES: u32 = 5;
/// Failed logins for one account, from any addresses, before it is locked out: more
/// than one address must fail, so that one address alone cannot lock its owner out.
pub const ACCOUNT_FREE_FAILURES: u32 = 2 * FREE_FAILURES;
pub const FIRST_LOCKOUT_SECONDS: u32 = 30;
const MAX_LOCKOUT_SECONDS: u32 = 3600;
/// Throttle records kept per table; past it the least recently failed is dropped.
const MAX_THROTTLE_RECORDS: u32 = 10_000;
/// The body a request without a valid login cookie may send (the login form needs a
/// few hundred bytes), and how long it may take to.
pub const UNAUTHENTICATED_BODY_LIMIT: u32 = 64 * 1024;
const UNAUTHENTICATED_BODY_SECONDS: u32 = 60;
/// How long the lab waits for a request's head, or on an idle connection (tornado's
/// default is an hour, which lets slowloris sockets pile up).
pub const HEADER_TIMEOUT_SECONDS: u32 = 60;
/// How long a logged-in request's body may take: a big notebook over a slow uplink.
const BODY_TIMEOUT_SECONDS: u32 = 3600;

/// The environment Jupyter needs in the container: its config directory, and, since
/// that is read-only to the lab, JupyterLab's user settings and workspaces (which it
/// keeps there by default) in the lab user's `home`, where `~/.jupyter` would have them.
pub fn environment(home: &str) -> Vec<String> {
    vec![
        format!("JUPYTER_CONFIG_DIR={CONFIG_DIR}"),
        format!("JUPYTERLAB_SETTINGS_DIR={home}/.jupyter/lab/user-settings"),
        format!("JUPYTERLAB_WORKSPACES_DIR={home}/.jupyter/lab/workspaces"),
    ]
}

fn config_path(name: &str) -> String {
    format!("{CONFIG_DIR}/{name}")
}

/// Every value the config gives the lab, as `rjup_lab.json`. Refuses to make one
/// without a password, so no lab can ever run with neither a token nor a password.
/// `as_root` lets Jupyter run as uid 0, which rjup asks for only in a rootless engine,
/// where uid 0 is the user and has no capabilities.
fn lab_settings(
    hashed_password: &str,
    https: Https<'_>,
    as_root: bool,
    sharing: &Sharing<'_>,
) -> anyhow::Result<String> {
    if !hashed_password.starts_with("argon2:$argon2") {
        return Err(Error::NoPasswordHash.into());
    }
    let tls = match https {
        Https::Off => None,
        Https::Given(_) => Some(serde_json::json!({
            "certfile": config_path(CERT_FILE),
            "keyfile": config_path(KEY_FILE),
            "hsts": HSTS,
        })),
        Https::Mounted {
            certfile,
            keyfile,
            status_file,
        } => Some(serde_json::json!({
            "certfile": certfile,
            "keyfile": keyfile,
            "hsts": HSTS,
            "renewal_status": status_file,
        })),
    };
    let allow: Vec<String> = sharing.allow.iter().map(ToString::to_string).collect();
    let settings = serde_json::json!({
        "owner": crate::jupyter::accounts::OWNER,
        "hashed_password": hashed_password,
        "port": PORT,
        "root_dir": ROOT_DIR,
        "allow_root": as_root,
        "cookie_secret_file": config_path(COOKIE_SECRET_FILE),
        "accounts_file": config_path(ACCOUNTS_FILE),
        "tls": tls,
        "allow": allow,
        // JupyterLab loads jupyter-collaboration by itself: recorded so that the
        // config, and with it the lab, changes when it is turned on or off.
        "collaboration": sharing.collaboration,
        "refused_header": REFUSED_HEADER,
        "probe_header": PROBE_HEADER,
        "throttle": {
            "free_failures": FREE_FAILURES,
            "account_free_failures": ACCOUNT_FREE_FAILURES,
            "first_lockout": FIRST_LOCKOUT_SECONDS,
            "max_lockout": MAX_LOCKOUT_SECONDS,
            "forget_after": MAX_LOCKOUT_SECONDS,
            "max_records": MAX_THROTTLE_RECORDS,
        },
        "bodies": {
            "unauthenticated_limit": UNAUTHENTICATED_BODY_LIMIT,
            "unauthenticated_timeout": UNAUTHENTICATED_BODY_SECONDS,
            "header_timeout": HEADER_TIMEOUT_SECONDS,
            "body_timeout": BODY_TIMEOUT_SECONDS,
        },
    });
    let mut text = serde_json::to_string_pretty(&settings).expect("settings always serialise");
    text.push('\n');
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
    https: Https<'_>,
    sharing: &Sharing<'_>,
    accounts: Option<&[u8]>,
) -> anyhow::Result<Vec<ConfigFile>> {
    let file = |name: &str, kind, contents: &[u8]| ConfigFile {
        path: config_path(name),
        kind,
        contents: contents.to_vec(),
    };
    let settings = lab_settings(hashed_password, https, as_root, sharing)?;
    let mut files = vec![
        file(CONFIG_FILE, "config", CONFIG.as_bytes()),
        file(SETTINGS_FILE, "settings", settings.as_bytes()),
        file(COOKIE_SECRET_FILE, "cookie", cookie_secret.as_bytes()),
        file(LAB_DEFAULTS_FILE, "labdefaults", LAB_DEFAULTS.as_bytes()),
        file(MIGRATED_FILE, "migrated", b"rjup: nothing to migrate\n"),
    ];
    for (name, kind, text) in PACKAGE {
        files.push(file(
            &format!("{PACKAGE_DIR}/{name}"),
            kind,
            text.as_bytes(),
        ));
    }
    if let Https::Given(tls) = https {
        files.push(file(CERT_FILE, "cert", tls.cert_pem.as_bytes()));
        files.push(file(KEY_FILE, "key", tls.key_pem.as_bytes()));
    }
    if let Some(accounts) = accounts {
        files.push(file(ACCOUNTS_FILE, "accounts", accounts));
    }
    Ok(files)
}

/// Who owns the config's files and directories: root, with the lab's group, so that the
/// lab reads them (0440, directories 0550) and cannot change them. In a rootless engine
/// the lab is uid 0 itself, and owns them: there it could rewrite its config (as it can
/// do anything else in its container).
pub fn config_owner(lab: Owner) -> Owner {
    Owner {
        uid: 0,
        gid: lab.gid,
    }
}
/// The mode of each config file: readable by its owner and the lab's group.
pub const CONFIG_FILE_MODE: u32 = 0o440;
const CONFIG_DIR_MODE: u32 = 0o550;

/// The files to copy into the container's root: the config, root's and read-only to the
/// lab user (`owner`), and the home a pulled image lacks, the lab user's.
pub fn injected_files(
    hashed_password: &str,
    cookie_secret: &str,
    owner: Owner,
    home: Option<&str>,
    https: Https<'_>,
    sharing: &Sharing<'_>,
) -> anyhow::Result<Vec<u8>> {
    let dir = CONFIG_DIR.trim_start_matches('/');
    let root = config_owner(owner);
    let mut archive = Archive::new();
    archive
        .dir("etc/rjup/", CONFIG_DIR_MODE, root)
        .dir(&format!("{dir}/"), CONFIG_DIR_MODE, root)
        .dir(&format!("{dir}/labconfig/"), CONFIG_DIR_MODE, root)
        .dir(&format!("{dir}/{PACKAGE_DIR}/"), CONFIG_DIR_MODE, root);
    for file in config_files(
        hashed_password,
        cookie_secret,
        owner.uid == 0,
        https,
        sharing,
        None,
    )? {
        let path = file.path.trim_start_matches('/');
        archive.file(path, &file.contents, CONFIG_FILE_MODE, root);
    }
    if let Some(home) = home {
        // Pulled images have no home for an arbitrary uid; Jupyter needs a writable one.
        archive.dir(&format!("{}/", home.trim_start_matches('/')), 0o700, owner);
    }
    Ok(archive.finish())
}

/// The accounts file alone, to copy into a lab container before it starts and again
/// whenever the accounts change: the lab reads it anew, without a restart. Root's and
/// read-only to the lab user (`owner`), as the rest of its config.
pub fn accounts_file(lab_file: &[u8], owner: Owner) -> Vec<u8> {
    let path = config_path(ACCOUNTS_FILE);
    let mut archive = Archive::new();
    archive.file(
        path.trim_start_matches('/'),
        lab_file,
        CONFIG_FILE_MODE,
        config_owner(owner),
    );
    archive.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    const HASH: &str = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA";

    fn settings(tls: bool, as_root: bool, allow: &[IpNet]) -> serde_json::Value {
        let sharing = Sharing {
            allow,
            collaboration: false,
        };
        let given = Tls {
            cert_pem: "C".into(),
            key_pem: "K".into(),
        };
        let https = if tls {
            Https::Given(&given)
        } else {
            Https::Off
        };
        serde_json::from_str(&lab_settings(HASH, https, as_root, &sharing).unwrap()).unwrap()
    }

    #[test]
    fn config_listens_everywhere_with_a_password_and_no_token() {
        for line in [
            "c.ServerApp.ip = \"0.0.0.0\"",
            "c.ServerApp.port = rjup[\"port\"]",
            "c.ServerApp.open_browser = False",
            "c.ServerApp.root_dir = rjup[\"root_dir\"]",
            "c.IdentityProvider.token = \"\"",
            "c.PasswordIdentityProvider.hashed_password = rjup[\"hashed_password\"]",
            "c.PasswordIdentityProvider.allow_password_change = False",
            "c.PasswordIdentityProvider.password_required = True",
            "c.ServerApp.identity_provider_class = rjup_lab.server.RjupIdentityProvider",
            "c.ServerApp.authorizer_class = rjup_lab.server.RjupAuthorizer",
            "c.ServerApp.allow_root = rjup[\"allow_root\"]",
        ] {
            assert!(CONFIG.lines().any(|l| l == line), "config lacks {line}");
        }
        assert!(
            !CONFIG.contains("c.ServerApp.password"),
            "ServerApp.password is deprecated"
        );
        let s = settings(false, false, &[]);
        assert_eq!(s["hashed_password"], HASH);
        assert_eq!(
            (s["port"].as_u64(), s["root_dir"].as_str()),
            (Some(8888), Some("/project"))
        );
        assert_eq!(s["allow_root"], false);
        assert_eq!(s["tls"], serde_json::Value::Null);
        assert_eq!(settings(false, true, &[])["allow_root"], true);
        assert_eq!(s["cookie_secret_file"], "/etc/rjup/jupyter/cookie_secret");
        assert_eq!(s["accounts_file"], "/etc/rjup/jupyter/accounts.json");
        assert_eq!(s["owner"], "owner");
    }

    #[test]
    fn the_throttle_and_bounds_are_the_documented_ones() {
        let s = settings(false, false, &[]);
        assert_eq!(
            s["throttle"],
            serde_json::json!({"free_failures": 5, "account_free_failures": 10, "first_lockout": 30,
                "max_lockout": 3600, "forget_after": 3600, "max_records": 10000})
        );
        assert_eq!(s["bodies"]["unauthenticated_limit"], 65536);
        assert_eq!(s["bodies"]["header_timeout"], 60);
    }

    /// The lab's Python, run with the system's python3 (no Jupyter needed): its pure
    /// rules' unit tests, and a compile of every file rjup copies into a lab.
    #[test]
    fn the_lab_package_passes_its_python_unit_tests() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/jupyter");
        let out = std::process::Command::new("python3")
            .args(["-m", "unittest", "discover", "-s", "tests", "-t", "."])
            .current_dir(&dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap_or_else(|e| {
                panic!("these tests need python3 (3.8 or later) on PATH to run the lab's own unit tests: {e}")
            });
        assert!(
            out.status.success(),
            "the lab's Python unit tests failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn every_module_of_the_package_is_copied_into_the_lab() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/jupyter/rjup_lab");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".py"))
            .collect();
        on_disk.sort();
        let copied: Vec<String> = PACKAGE.iter().map(|(n, _, _)| n.to_string()).collect();
        assert_eq!(copied, on_disk);
        let files = config_files(HASH, "s", false, Https::Off, &Sharing::default(), None).unwrap();
        for (name, _, _) in PACKAGE {
            let path = format!("/etc/rjup/jupyter/rjup_lab/{name}");
            assert!(files.iter().any(|f| f.path == path), "{path}");
        }
        let kinds: std::collections::BTreeSet<_> = files.iter().map(|f| f.kind).collect();
        assert_eq!(kinds.len(), files.len(), "each file a kind of its own");
    }

    /// The probe key, as rjup's probes compute it.
    fn probe_key(cookie_secret: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"rjup-probe\n");
        hasher.update(cookie_secret.as_bytes());
        hex::encode(hasher.finalize())
    }

    #[test]
    fn the_probe_key_is_the_one_the_lab_computes() {
        // src/jupyter/tests/test_allow.py checks the lab's side against the same value.
        assert_eq!(
            probe_key("c00k1e"),
            "c804a22ece10c4a2cd4817e30ce17991e0e2633e0055b9d521d7d718a211cfc0"
        );
        assert_eq!(settings(false, false, &[])["probe_header"], "X-Rjup-Probe");
    }

    #[test]
    fn the_accounts_file_is_read_only_to_the_lab_and_apart_from_the_config() {
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
        let h = entry.header();
        assert_eq!(
            (h.mode().unwrap(), h.uid().unwrap(), h.gid().unwrap()),
            (0o440, 0, 100)
        );
        let files = config_files(HASH, "s", false, Https::Off, &Sharing::default(), None).unwrap();
        assert!(files.iter().all(|f| f.kind != "accounts"));
        let files = config_files(
            HASH,
            "s",
            false,
            Https::Off,
            &Sharing::default(),
            Some(b"{}"),
        )
        .unwrap();
        assert!(files
            .iter()
            .any(|f| f.path == "/etc/rjup/jupyter/accounts.json"));
    }

    #[test]
    fn no_config_without_a_password_can_be_made() {
        for bad in ["", "sha1:abc", "argon2:"] {
            let e = lab_settings(bad, Https::Off, false, &Sharing::default()).unwrap_err();
            assert_eq!(
                crate::error::exit_code(&e),
                crate::error::Code::Password as u8,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tls_adds_the_certificate_secure_cookies_and_hsts() {
        let s = settings(true, false, &[]);
        assert_eq!(
            s["tls"],
            serde_json::json!({"certfile": "/etc/rjup/jupyter/lab.crt",
                "keyfile": "/etc/rjup/jupyter/lab.key", "hsts": "max-age=31536000"})
        );
        for line in [
            "    c.IdentityProvider.secure_cookie = True",
            "    _rjup_xsrf_cookie[\"secure\"] = True",
            "    _rjup_headers[\"Strict-Transport-Security\"] = rjup[\"tls\"][\"hsts\"]",
            "c.IdentityProvider.cookie_options = {\"samesite\": \"Lax\"}",
        ] {
            assert!(CONFIG.lines().any(|l| l == line), "config lacks {line}");
        }
    }

    #[test]
    fn news_and_update_checks_are_off_in_server_and_page() {
        assert!(CONFIG.contains("    c.LabApp.news_url = None\n"));
        assert!(
            CONFIG.contains("    c.LabApp.check_for_updates_class = _RjupNeverCheckForUpdate\n")
        );
        let defaults: serde_json::Value = serde_json::from_str(LAB_DEFAULTS).unwrap();
        let notification = &defaults["@jupyterlab/apputils-extension:notification"];
        assert_eq!(notification["fetchNews"], "false");
        assert_eq!(notification["checkForUpdates"], false);
    }

    #[test]
    fn the_allowlist_is_data_in_the_settings() {
        assert_eq!(settings(false, false, &[])["allow"], serde_json::json!([]));
        let s = settings(
            false,
            false,
            &[
                "10.0.0.0/8".parse().unwrap(),
                "fd00::1/128".parse().unwrap(),
            ],
        );
        assert_eq!(s["allow"], serde_json::json!(["10.0.0.0/8", "fd00::1/128"]));
        assert_eq!(s["refused_header"], "X-Rjup-Refused");
        let collaboration = Sharing {
            allow: &[],
            collaboration: true,
        };
        let files = |sharing: &Sharing<'_>| {
            config_files(HASH, "s", false, Https::Off, sharing, None).unwrap()[1]
                .contents
                .clone()
        };
        assert_ne!(files(&collaboration), files(&Sharing::default()));
    }

    #[test]
    fn the_environment_keeps_what_jupyterlab_writes_in_the_home() {
        assert_eq!(
            environment("/home/lab"),
            [
                "JUPYTER_CONFIG_DIR=/etc/rjup/jupyter",
                "JUPYTERLAB_SETTINGS_DIR=/home/lab/.jupyter/lab/user-settings",
                "JUPYTERLAB_WORKSPACES_DIR=/home/lab/.jupyter/lab/workspaces",
            ]
        );
    }

    #[test]
    fn injected_files_are_root_s_and_read_only_to_the_lab_user() {
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
            Https::Given(&tls),
            &Sharing::default(),
        )
        .unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let h = entry.header();
            let path = entry.path().unwrap().display().to_string();
            let ids = (h.uid().unwrap(), h.gid().unwrap(), h.mode().unwrap());
            if path == "home/lab/" {
                assert_eq!(ids, (1500, 100, 0o700), "the home is the lab user's");
                continue;
            }
            let mode = if path.ends_with('/') { 0o550 } else { 0o440 };
            assert_eq!(ids, (0, 100, mode), "{path}");
            seen.push(path);
        }
        for path in [
            "etc/rjup/",
            "etc/rjup/jupyter/",
            "etc/rjup/jupyter/labconfig/",
            "etc/rjup/jupyter/rjup_lab/",
            "etc/rjup/jupyter/jupyter_server_config.py",
            "etc/rjup/jupyter/rjup_lab.json",
            "etc/rjup/jupyter/cookie_secret",
            "etc/rjup/jupyter/migrated",
            "etc/rjup/jupyter/rjup_lab/server.py",
            "etc/rjup/jupyter/labconfig/default_setting_overrides.json",
            "etc/rjup/jupyter/lab.crt",
            "etc/rjup/jupyter/lab.key",
        ] {
            assert!(seen.iter().any(|p| p == path), "{path} missing: {seen:?}");
        }
    }

    #[test]
    fn a_mounted_certificate_is_named_in_the_settings_and_never_copied() {
        let https = Https::Mounted {
            certfile: "/etc/rjup/tls/g.crt",
            keyfile: "/etc/rjup/tls/g.key",
            status_file: "/etc/rjup/tls/status.json",
        };
        let files = config_files(HASH, "s", false, https, &Sharing::default(), None).unwrap();
        assert!(files.iter().all(|f| f.kind != "cert" && f.kind != "key"));
        let settings: serde_json::Value = serde_json::from_slice(&files[1].contents).unwrap();
        assert_eq!(
            settings["tls"],
            serde_json::json!({"certfile": "/etc/rjup/tls/g.crt", "keyfile": "/etc/rjup/tls/g.key",
                "hsts": "max-age=31536000", "renewal_status": "/etc/rjup/tls/status.json"})
        );
    }
}
