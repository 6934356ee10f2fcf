//! The Jupyter Server config rjup injects into every lab, pulled or built.
//!
//! It goes into `JUPYTER_CONFIG_DIR`, the highest-precedence config location after the
//! command line, so config an image ships in `/etc/jupyter` or `sys.prefix` cannot
//! weaken it. It reaches the container as a 0600 file copied in before the first start:
//! never an argument or variable, so the hash shows in no `docker inspect`, no `ps` and
//! no image layer.

use serde_json::json;

use crate::archive::{Archive, Owner};

/// Where the config lives inside the container; `JUPYTER_CONFIG_DIR` points here.
pub const CONFIG_DIR: &str = "/etc/rjup/jupyter";
/// The port the server listens on inside the container.
pub const PORT: u16 = 8888;
/// Where the project is mounted and what the file browser shows.
pub const ROOT_DIR: &str = "/project";

const CONFIG_FILE: &str = "jupyter_server_config.json";
const COOKIE_SECRET_FILE: &str = "cookie_secret";

/// The config file's text.
pub fn render_config(hashed_password: &str) -> String {
    let config = json!({
        "ServerApp": {
            "ip": "0.0.0.0",
            "port": PORT,
            "port_retries": 0,
            "open_browser": false,
            "root_dir": ROOT_DIR,
            "allow_remote_access": true,
            "allow_root": false,
            "cookie_secret_file": format!("{CONFIG_DIR}/{COOKIE_SECRET_FILE}"),
        },
        "IdentityProvider": {
            "token": "",
        },
        "PasswordIdentityProvider": {
            "hashed_password": hashed_password,
            "password_required": true,
            "allow_password_change": false,
        },
    });
    serde_json::to_string_pretty(&config).expect("a JSON value always serialises") + "\n"
}

/// The files to copy into the container's root, owned by the lab user and private to it.
pub fn injected_files(
    hashed_password: &str,
    cookie_secret: &str,
    owner: Owner,
    home: Option<&str>,
) -> Vec<u8> {
    let dir = CONFIG_DIR.trim_start_matches('/');
    let mut archive = Archive::new();
    archive
        .dir("etc/rjup/", 0o700, owner)
        .dir(&format!("{dir}/"), 0o700, owner)
        .file(
            &format!("{dir}/{CONFIG_FILE}"),
            render_config(hashed_password).as_bytes(),
            0o600,
            owner,
        )
        .file(
            &format!("{dir}/{COOKIE_SECRET_FILE}"),
            cookie_secret.as_bytes(),
            0o600,
            owner,
        );
    if let Some(home) = home {
        // Pulled images have no home for an arbitrary uid; Jupyter needs a writable one.
        archive.dir(&format!("{}/", home.trim_start_matches('/')), 0o700, owner);
    }
    archive.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA";

    #[test]
    fn config_listens_everywhere_with_a_password_and_no_token() {
        let v: serde_json::Value = serde_json::from_str(&render_config(HASH)).unwrap();
        assert_eq!(v["ServerApp"]["ip"], "0.0.0.0");
        assert_eq!(v["ServerApp"]["port"], 8888);
        assert_eq!(v["ServerApp"]["open_browser"], false);
        assert_eq!(v["ServerApp"]["root_dir"], "/project");
        assert_eq!(v["IdentityProvider"]["token"], "");
        assert_eq!(v["PasswordIdentityProvider"]["hashed_password"], HASH);
        assert_eq!(
            v["PasswordIdentityProvider"]["allow_password_change"],
            false
        );
        assert_eq!(v["PasswordIdentityProvider"]["password_required"], true);
        assert!(
            v["ServerApp"].get("password").is_none(),
            "ServerApp.password is deprecated"
        );
    }

    #[test]
    fn injected_files_are_private_to_the_lab_user() {
        let owner = Owner {
            uid: 1500,
            gid: 100,
        };
        let tar_bytes = injected_files(HASH, "s3cret", owner, Some("/home/lab"));
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
                (
                    "etc/rjup/jupyter/jupyter_server_config.json".to_string(),
                    0o600
                ),
                ("etc/rjup/jupyter/cookie_secret".to_string(), 0o600),
                ("home/lab/".to_string(), 0o700),
            ]
        );
    }
}
