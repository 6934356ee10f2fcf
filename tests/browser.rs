//! A real browser on the colleague's laptop, for what curl cannot show: JupyterLab's
//! front end, its WebSockets, two people on one notebook. Debian's `chromium`, driven by
//! `playwright-core` (pinned in `tests/browser/package.json`) from the Node scripts in
//! `tests/browser/`, run on the colleague's laptop (the client host's namespace).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::{fixture, on_client_host, repo_root, stderr, stdout};

/// How to get what these tests need; a missing piece fails the test with this, never
/// skips it.
const INSTALL: &str = "tests/fixtures/browser.sh installs them (as root)";

/// playwright-core 1.64 needs Node.js 20 or later.
const NODE_MAJOR: u32 = 20;

/// One person's login: a name for the login page that asks for one, and a password.
pub struct Login {
    username: Option<String>,
    password: String,
}

impl Login {
    /// A named account, for the login page with `username` and `password` fields.
    pub fn named(username: &str, password: &str) -> Login {
        Login {
            username: Some(username.to_string()),
            password: password.to_string(),
        }
    }

    /// The script's `[NAME:]PASSWORD` form.
    fn arg(&self) -> String {
        match &self.username {
            Some(name) => format!("{name}:{}", self.password),
            None => self.password.clone(),
        }
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// Node, Chromium and playwright-core, or a panic naming the missing one and the fix.
fn tools() -> (PathBuf, PathBuf) {
    let node =
        on_path("node").unwrap_or_else(|| panic!("Node.js (`node`) is not on PATH: {INSTALL}"));
    let version = Command::new(&node)
        .arg("--version")
        .output()
        .map(|o| stdout(&o))
        .unwrap_or_default();
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    assert!(
        major >= NODE_MAJOR,
        "{} is Node.js {}, and playwright-core needs {NODE_MAJOR} or later: install a newer `nodejs`",
        node.display(),
        version.trim()
    );
    let chromium = on_path("chromium")
        .unwrap_or_else(|| panic!("Chromium (`chromium`) is not on PATH: {INSTALL}"));
    let playwright = scripts().join("node_modules/playwright-core/package.json");
    assert!(
        playwright.is_file(),
        "playwright-core is not installed in {}: {INSTALL}",
        scripts().display()
    );
    (node, chromium)
}

fn scripts() -> PathBuf {
    repo_root().join("tests/browser")
}

/// Installs the browser once per run (`tests/fixtures/browser.sh`), and fails now, before
/// a test spends minutes on a lab, if it cannot run.
pub fn require() {
    static INSTALLED: OnceLock<String> = OnceLock::new();
    INSTALLED.get_or_init(|| fixture("browser", &["browser.sh"]));
    let _ = tools();
}

/// Two people log in to the lab at `base` (`http://HOST:PORT`) in separate browsers and
/// open `notebook`; each types a unique string into its first cell, which the other must
/// show. Returns the script's JSON report (`seen_in_b`, `seen_in_a`, `news_prompt`,
/// `collaborators`, `timings_ms`); panics with the script's reason when it fails.
pub fn two_people_edit(base: &str, notebook: &str, a: &Login, b: &Login) -> serde_json::Value {
    let (node, chromium) = tools();
    let out = on_client_host(&node)
        .arg(scripts().join("collab.mjs"))
        .args(["--url", base, "--notebook", notebook])
        .args(["--login-a", &a.arg(), "--login-b", &b.arg()])
        .arg("--chromium")
        .arg(&chromium)
        .args(["--timeout", "240"])
        .current_dir(scripts())
        .output()
        .expect("running node");
    let report = stdout(&out);
    assert!(
        out.status.success(),
        "the browsers failed: {}\nreport: {report}",
        stderr(&out).trim()
    );
    serde_json::from_str(report.trim())
        .unwrap_or_else(|e| panic!("the browser script printed no JSON ({e}): {report}"))
}
