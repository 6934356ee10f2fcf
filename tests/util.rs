//! The harness end-to-end tests share: a temporary copy of an example project, rjup run
//! as an ordinary user in the `docker` group, and a browser on the colleague's laptop.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub const TESTER: &str = "rjup-tester";
pub const PASSWORD: &str = "correct horse battery staple";

pub fn rjup_bin() -> &'static str {
    env!("CARGO_BIN_EXE_rjup")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The stand-in registry, the one thing the tests take from outside the repository: on
/// machines that reach no public registry, `RJUP_TEST_STAND_INS` names a script that
/// starts a Docker engine and a registry on 127.0.0.1:5000 serving Docker Hub's images
/// to it; unset, `../shared/docker/stand-ins.sh` beside the repository, where there is
/// one. The fixture scripts read the same variable (`tests/fixtures/lib.sh`).
pub fn stand_ins() -> Option<PathBuf> {
    let script = match std::env::var_os("RJUP_TEST_STAND_INS") {
        Some(path) if path.is_empty() => return None,
        Some(path) => PathBuf::from(path),
        None => repo_root().join("../shared/docker/stand-ins.sh"),
    };
    script.exists().then_some(script)
}

/// What to do when a test needs an engine: an engine test run without one panics with it.
fn needs_engine() -> String {
    let start = match stand_ins() {
        Some(script) => format!("start one (here: bash {})", script.display()),
        None => "start Docker".to_string(),
    };
    format!("engine tests need a Docker engine: {start}, then cargo test -- --include-ignored")
}

/// Runs `tests/fixtures/SCRIPT ARGS`, which starts what the `group` of tests needs (or
/// finds it running), and returns what it printed. Every fixture needs root; a fixture
/// that cannot start fails the test with the command to run by hand and its reason.
/// Callers keep the answer in a `OnceLock`, so that each fixture starts once per run.
pub fn fixture(group: &str, script_and_args: &[&str]) -> String {
    let (script, args) = script_and_args.split_first().expect("a fixture script");
    let command = format!("tests/fixtures/{}", script_and_args.join(" "));
    assert!(
        is_root(),
        "{group} tests need root, as their fixture does: run them as root (CI does); \
         `{command}` starts what they need"
    );
    let started = std::time::Instant::now();
    let out = Command::new("bash")
        .arg(repo_root().join("tests/fixtures").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{group}: running {command}: {e}"));
    assert!(
        out.status.success(),
        "{group} tests need `{command}`, which failed ({}):\n{}",
        out.status,
        stderr(&out).trim()
    );
    eprintln!(
        "{command} answered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    stdout(&out)
}

/// As `fixture`, for a script that starts an engine: the `DOCKER_HOST` it prints.
pub fn fixture_engine(group: &str, script_and_args: &[&str]) -> String {
    let out = fixture(group, script_and_args);
    out.lines()
        .find_map(|l| l.strip_prefix("export DOCKER_HOST="))
        .unwrap_or_else(|| panic!("{script_and_args:?} printed no DOCKER_HOST:\n{out}"))
        .trim()
        .to_string()
}

fn engine_socket() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".to_string())
}

/// Whether a Docker engine answers.
pub fn engine_answers() -> bool {
    std::os::unix::net::UnixStream::connect(engine_socket()).is_ok()
}

/// Engine tests share the engine's images; one that removes an image the others use
/// (the interrupted pull) must have the engine to itself, or it breaks them, or they
/// keep its image in use so that it cannot remove it.
static IMAGES: RwLock<()> = RwLock::new(());

fn require_engine() {
    let socket = engine_socket();
    if !engine_answers() {
        panic!("no Docker engine answers at {socket}; {}", needs_engine());
    }
}

/// For a test that needs the engine: panics without one, so that no engine test passes
/// untested. Hold the guard for the whole test.
#[must_use = "hold the guard until the test ends"]
pub fn engine() -> RwLockReadGuard<'static, ()> {
    require_engine();
    IMAGES.read().unwrap_or_else(PoisonError::into_inner)
}

/// As `engine`, with no other engine test running: for a test that removes shared images.
#[must_use = "hold the guard until the test ends"]
pub fn engine_alone() -> RwLockWriteGuard<'static, ()> {
    require_engine();
    IMAGES.write().unwrap_or_else(PoisonError::into_inner)
}

/// Builds JupyterLab's layers once per run, before any build-mode test builds them: the
/// engine caches layers, so every later build reuses them instead of two tests each
/// installing JupyterLab at the same time on a fresh machine. On both tools images: a
/// project of JupyterLab alone starts from the one with uv only, and one with Python
/// packages of its own ("minimal", as most build tests) from the one with git and gcc.
fn lab_layers_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        // As examples/minimal, written here: from_example of an example waits for this.
        for (yaml, test) in [
            (None, "lab-layers"),
            (
                Some("build:\n  packages:\n    - tabulate\n"),
                "lab-layers-tools",
            ),
        ] {
            let project = Project::from_example("", test);
            if let Some(yaml) = yaml {
                project.write("rjup.yaml", yaml);
            }
            assert_success(
                &project.rjup(&["build"], &[], None),
                &format!("rjup build of the {test} lab image"),
            );
        }
    });
}

/// The uid and gid rjup runs as in tests: the tester when we are root, else ourselves.
pub fn tester_ids() -> Option<(u32, u32)> {
    static IDS: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *IDS.get_or_init(|| {
        if !is_root() {
            return None;
        }
        let exists = Command::new("id")
            .arg("-u")
            .arg(TESTER)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !exists {
            let _ = Command::new("groupadd").args(["-f", "docker"]).status();
            let ok = Command::new("useradd")
                .args([
                    "--create-home",
                    "--groups",
                    "docker",
                    "--shell",
                    "/bin/bash",
                    TESTER,
                ])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(ok, "could not create the test user {TESTER}");
        }
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").arg(flag).arg(TESTER).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        Some((id("-u"), id("-g")))
    })
}

/// A free TCP port on this host, for a lab to publish on.
pub fn free_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary copy of an example project, with its own rjup state; `rjup down` on drop.
pub struct Project {
    pub dir: PathBuf,
    pub name: String,
    pub state_home: PathBuf,
    root: PathBuf,
}

impl Project {
    /// A copy of `examples/<example>` (empty for ""), named after `test`, which must be
    /// unique in the run: all areas run in one process, and the name is the lab's.
    pub fn from_example(example: &str, test: &str) -> Project {
        let name = format!("e2e-{}-{}", test.replace('_', "-"), std::process::id());
        let name: String = name.chars().take(60).collect();
        static NAMES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
        let fresh = NAMES
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone());
        assert!(
            fresh,
            "two tests use the project name {name}: give each its own"
        );
        if !example.is_empty() && example != "pulled" {
            lab_layers_built();
        }
        let root = std::env::temp_dir().join(format!("rjup-{name}"));
        let _ = std::fs::remove_dir_all(&root);
        let dir = root.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        if !example.is_empty() {
            copy_dir(&repo_root().join("examples").join(example), &dir);
        }
        let state_home = root.join("state");
        std::fs::create_dir_all(&state_home).unwrap();
        if let Some((uid, gid)) = tester_ids() {
            chown_r(&root, uid, gid);
            // The tester must be able to reach the project through the temp directory.
            set_mode(&root, 0o755);
        }
        Project {
            dir,
            name,
            state_home,
            root,
        }
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.join(file), text).unwrap();
        if let Some((uid, gid)) = tester_ids() {
            chown_r(&self.dir.join(file), uid, gid);
        }
    }

    pub fn container(&self) -> String {
        format!("rjup-{}", self.name)
    }

    /// Runs rjup in the project, as the tester, with no terminal.
    pub fn rjup(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        run_as_tester(&self.dir, &self.state_home, args, env, stdin)
    }

    /// Runs a shell script in the project, as the tester, with `rjup` on PATH.
    pub fn shell(&self, script: &str, env: &[(&str, &str)]) -> Output {
        run_shell_as_tester(&self.dir, &self.state_home, script, env)
    }

    /// Writes a notebook whose code cells are `cells`.
    pub fn notebook(&self, file: &str, cells: &[&str]) {
        let cells: Vec<serde_json::Value> = cells
            .iter()
            .map(|c| serde_json::json!({"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": c}))
            .collect();
        let nb = serde_json::json!({
            "cells": cells,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        });
        self.write(file, &nb.to_string());
    }

    /// `rjup up` with the test password on a given port; panics with its output on failure.
    pub fn up(&self, port: u16) -> Output {
        let out = self.rjup(
            &["up", "--port", &port.to_string()],
            &[("RJUP_PASSWORD", PASSWORD)],
            None,
        );
        assert_success(&out, "rjup up");
        out
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.rjup(&["down"], &[], None);
        remove_built_images(&self.name);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Removes each image, by tag or id, that nothing else uses; a tag on an image that
/// others still build on is only untagged. Best effort: what is gone already is fine.
/// Never its untagged parents: those are the classic builder's cache (over ssh and TLS),
/// and another test's build may be starting from them this moment (CI saw one fail with
/// `failed to get digest sha256:...` when they went).
pub async fn remove_images(docker: &bollard::Docker, images: impl IntoIterator<Item = String>) {
    let keep_parents = bollard::query_parameters::RemoveImageOptionsBuilder::new()
        .noprune(true)
        .build();
    for image in images {
        let _ = docker
            .remove_image(&image, Some(keep_parents.clone()), None)
            .await;
    }
}

/// Untags the images rjup built for a project that is gone. `rjup down` rightly keeps
/// them for users, but a test run builds over a hundred, and runs left on one machine
/// filled its disk (37 GB). BuildKit keeps its layer cache apart from the tags, so
/// later builds in the run still reuse the layers. Without an engine, nothing to do.
fn remove_built_images(name: &str) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(docker) = bollard::Docker::connect_with_defaults() else {
            return;
        };
        let Ok(docker) = docker.negotiate_version().await else {
            return;
        };
        let filters =
            std::collections::HashMap::from([("reference", vec![format!("rjup/{name}")])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&filters)
            .build();
        let Ok(images) = docker.list_images(Some(options)).await else {
            return;
        };
        remove_images(
            &docker,
            images.into_iter().flat_map(|image| image.repo_tags),
        )
        .await;
    });
}

pub fn run_as_tester(
    dir: &Path,
    state_home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    run_program_as_tester(rjup_bin(), dir, state_home, args, env, stdin)
}

/// Runs a shell script as the tester, with this build's `rjup` first on PATH.
pub fn run_shell_as_tester(
    dir: &Path,
    state_home: &Path,
    script: &str,
    env: &[(&str, &str)],
) -> Output {
    let bin_dir = Path::new(rjup_bin())
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let mut env: Vec<(&str, &str)> = env.to_vec();
    env.push(("PATH", &path));
    run_program_as_tester(
        "bash",
        dir,
        state_home,
        &["-euo", "pipefail", "-c", script],
        &env,
        None,
    )
}

/// Starts rjup in the project as the tester, with stdout and stderr piped, and returns
/// at once.
pub fn spawn_as_tester(
    dir: &Path,
    state_home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Child {
    let mut cmd = tester_command(rjup_bin());
    cmd.args(args)
        .current_dir(dir)
        .env("XDG_STATE_HOME", state_home)
        .env_remove("RJUP_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("starting rjup")
}

fn tester_command(program: &str) -> Command {
    match tester_ids() {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--init-groups")
                .arg("--")
                .arg(program);
            c.env("HOME", format!("/home/{TESTER}"));
            c
        }
        None => Command::new(program),
    }
}

fn run_program_as_tester(
    program: &str,
    dir: &Path,
    state_home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut cmd = tester_command(program);
    cmd.args(args)
        .current_dir(dir)
        .env("XDG_STATE_HOME", state_home)
        .env_remove("RJUP_PASSWORD")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("running rjup");
    if let Some(text) = stdin {
        // A command that refuses its arguments before it reads stdin closes the pipe
        // first: that refusal is what the test looks at, not the write.
        match child.stdin.take().unwrap().write_all(text.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            written => written.unwrap(),
        }
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
}

pub fn assert_exit(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: wrong exit code\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        stderr(out)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn chown_r(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_r(&entry.unwrap().path(), uid, gid);
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Stops a test that needs a second client address when there is none: it fails and
/// says why, rather than passing untested.
pub fn require_client_host(what: &str) {
    assert_eq!(
        lab_host(),
        "10.231.0.1",
        "root: cannot run {what}: it needs the second host of tests/fixtures/client-host.sh \
         for a second client address, which needs root; run the tests as root (CI does)"
    );
}

/// The host as the colleague's laptop sees it: the client host's view of this machine
/// when the tests run as root (`tests/fixtures/client-host.sh`, made once per run), else
/// loopback.
pub fn lab_host() -> &'static str {
    static HOST: OnceLock<&'static str> = OnceLock::new();
    HOST.get_or_init(|| {
        if is_root() {
            let host = fixture("root", &["client-host.sh"]);
            assert_eq!(host.trim(), "10.231.0.1", "client-host.sh printed {host}");
            return "10.231.0.1";
        }
        eprintln!(
            "note: no client host (tests/fixtures/client-host.sh needs root); browsing over loopback"
        );
        "127.0.0.1"
    })
}

/// `program`, run on the colleague's laptop: in the client host's namespace when there is
/// one, else here.
pub fn on_client_host(program: impl AsRef<std::ffi::OsStr>) -> Command {
    if lab_host() == "127.0.0.1" {
        Command::new(program)
    } else {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", "rjup-client"]).arg(program);
        c
    }
}

/// A browser on the colleague's laptop, keeping its cookies.
pub struct Browser {
    base: String,
    jar: PathBuf,
    /// Extra curl arguments: a CA file for HTTPS, `--include` for headers.
    extra: Vec<String>,
    /// Browse from this host's loopback instead of the colleague's laptop.
    local: bool,
    _dir: tempfile::TempDir,
}

pub struct Response {
    pub status: u16,
    pub body: String,
}

impl Browser {
    pub fn new(port: u16) -> Browser {
        let dir = tempfile::tempdir().unwrap();
        Browser {
            base: format!("http://{}:{port}", lab_host()),
            jar: dir.path().join("cookies"),
            extra: Vec::new(),
            local: false,
            _dir: dir,
        }
    }

    /// A browser on this host itself, over loopback: a different client address.
    pub fn local(port: u16) -> Browser {
        let mut b = Browser::new(port);
        b.base = format!("http://127.0.0.1:{port}");
        b.local = true;
        b
    }

    /// A browser on this host reaching a lab at `base` (`http://HOST:PORT`), such as a
    /// Swarm node's address.
    pub fn at(base: &str) -> Browser {
        let mut b = Browser::new(0);
        b.base = base.trim_end_matches('/').to_string();
        b.local = true;
        b
    }

    /// A browser on the colleague's laptop that reaches this machine over IPv6
    /// (`fd31:231::1`), as an IPv6 colleague does.
    pub fn ipv6(port: u16) -> Browser {
        let mut b = Browser::new(port);
        b.base = format!("http://[fd31:231::1]:{port}");
        // Brackets are curl's globbing syntax unless told otherwise.
        b.extra.push("--globoff".into());
        b
    }

    /// Over HTTPS, trusting exactly `ca_file`.
    pub fn https(port: u16, ca_file: &Path) -> Browser {
        let mut b = Browser::new(port);
        b.base = format!("https://{}:{port}", lab_host());
        b.extra = vec!["--cacert".into(), ca_file.display().to_string()];
        b
    }

    /// Also return response headers in the body.
    pub fn with_headers(mut self) -> Browser {
        self.extra.push("--include".into());
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn curl(&self, args: &[&str]) -> Response {
        let mut cmd = if self.local {
            Command::new("curl")
        } else {
            on_client_host("curl")
        };
        let jar = self.jar.to_str().unwrap();
        let out = cmd
            .args([
                "-sS",
                "--max-time",
                "20",
                "-b",
                jar,
                "-c",
                jar,
                "-w",
                "\n%{http_code}",
            ])
            .args(&self.extra)
            .args(args)
            .output()
            .expect("running curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        Response {
            status: status.trim().parse().unwrap_or(0),
            body: body.to_string(),
        }
    }

    /// Fetches a full URL rather than a path of this browser's lab.
    // Offered to every area, though none uses it today.
    #[allow(dead_code)]
    pub fn get_url(&self, url: &str) -> Response {
        self.curl(&[url])
    }

    pub fn get(&self, path: &str) -> Response {
        self.curl(&[&format!("{}{path}", self.base)])
    }

    fn xsrf(&self) -> String {
        let jar = std::fs::read_to_string(&self.jar).unwrap_or_default();
        jar.lines()
            .rev()
            .find_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() >= 7 && f[5] == "_xsrf").then(|| f[6].to_string())
            })
            .expect("the login page set no _xsrf cookie")
    }

    /// Logs in as a browser does: the login page's `_xsrf` cookie, then the form.
    pub fn login(&self, password: &str) -> u16 {
        self.login_response(password).status
    }

    pub fn login_response(&self, password: &str) -> Response {
        self.submit_login(&[("password", password)])
    }

    /// Logs in with a name and a password, as the named login page sends them.
    pub fn login_as(&self, name: &str, password: &str) -> u16 {
        self.submit_login(&[("username", name), ("password", password)])
            .status
    }

    fn submit_login(&self, fields: &[(&str, &str)]) -> Response {
        let page = self.get("/login");
        assert_eq!(page.status, 200, "GET /login: {}", page.body);
        let mut args = vec![
            "--data-urlencode".to_string(),
            format!("_xsrf={}", self.xsrf()),
        ];
        for (key, value) in fields {
            args.push("--data-urlencode".to_string());
            args.push(format!("{key}={value}"));
        }
        args.push(format!("{}/login", self.base));
        self.curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// An API request with the page's `_xsrf` token, as JupyterLab sends them.
    pub fn send(&self, method: &str, path: &str, body: &str) -> Response {
        self.curl(&[
            "-X",
            method,
            "-H",
            &format!("X-XSRFToken: {}", self.xsrf()),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
            &format!("{}{path}", self.base),
        ])
    }

    /// The status a WebSocket handshake at `path` gets: 101 when the server takes it.
    pub fn websocket(&self, path: &str) -> u16 {
        self.websocket_status(path).status
    }

    /// Saves a one-cell notebook through the Jupyter contents API, as JupyterLab does.
    pub fn put_notebook(&self, path: &str, source: &str) -> Response {
        let notebook = serde_json::json!({
            "cells": [{"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": source}],
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        });
        self.put_contents(
            path,
            serde_json::json!({"type": "notebook", "format": "json", "content": notebook}),
        )
    }

    /// Creates a text file through the Jupyter contents API.
    pub fn put_file(&self, path: &str, text: &str) -> Response {
        self.put_contents(
            path,
            serde_json::json!({"type": "file", "format": "text", "content": text}),
        )
    }

    /// A JSON PUT to one of the lab's APIs, with the `_xsrf` token JupyterLab sends.
    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.send_json("PUT", path, body)
    }

    /// Sends `body` as JSON with `method` to `path`, as JupyterLab's own requests do.
    pub fn send_json(&self, method: &str, path: &str, body: &serde_json::Value) -> Response {
        self.send(method, path, &body.to_string())
    }

    /// The answer to a WebSocket upgrade of `path`, as a browser opens a kernel's
    /// channels. curl cannot speak WebSocket, so an upgrade that succeeds (101) is cut
    /// off after a few seconds.
    pub fn websocket_status(&self, path: &str) -> Response {
        self.curl(&[
            "--http1.1",
            "--max-time",
            "3",
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: websocket",
            "-H",
            "Sec-WebSocket-Version: 13",
            "-H",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "-H",
            &format!("Origin: {}", self.base),
            &format!("{}{path}", self.base),
        ])
    }

    fn put_contents(&self, path: &str, model: serde_json::Value) -> Response {
        self.send_json("PUT", &format!("/api/contents/{path}"), &model)
    }
}

/// Runs `work` with a connection to the engine, on a runtime of its own.
pub fn with_docker<T, F: std::future::Future<Output = T>>(
    work: impl FnOnce(bollard::Docker) -> F,
) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults()
            .unwrap()
            .negotiate_version()
            .await
            .unwrap();
        work(docker).await
    })
}

/// The engine's view of a container, as JSON, or `None` if it does not exist.
pub fn inspect(container: &str) -> Option<serde_json::Value> {
    with_docker(|docker| async move {
        match docker.inspect_container(container, None).await {
            Ok(c) => Some(serde_json::to_value(c).unwrap()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => None,
            Err(e) => panic!("inspecting {container}: {e}"),
        }
    })
}

/// Containers whose name contains `fragment`, running or not.
pub fn containers_named(fragment: &str) -> Vec<String> {
    with_docker(|docker| async move {
        let filters = std::collections::HashMap::from([("name", vec![fragment.to_string()])]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        docker
            .list_containers(Some(options))
            .await
            .unwrap()
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .collect()
    })
}

/// Runs a command in a running container and returns its standard output.
pub fn exec(container: &str, cmd: &[&str]) -> String {
    use futures_util::StreamExt;
    with_docker(|docker| async move {
        let exec = docker
            .create_exec(
                container,
                bollard::models::ExecConfig {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut text = Vec::new();
        if let bollard::exec::StartExecResults::Attached { mut output, .. } =
            docker.start_exec(&exec.id, None).await.unwrap()
        {
            while let Some(Ok(chunk)) = output.next().await {
                text.extend_from_slice(&chunk.into_bytes());
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    })
}

/// Whether an image with this reference exists locally.
// Offered to every area, though none uses it today.
#[allow(dead_code)]
pub fn image_exists(reference: &str) -> bool {
    with_docker(|docker| async move { docker.inspect_image(reference).await.is_ok() })
}

/// Local images whose repository is `repository`, as `repo:tag`.
pub fn images_named(repository: &str) -> Vec<String> {
    with_docker(|docker| async move {
        let filters =
            std::collections::HashMap::from([("reference", vec![repository.to_string()])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&filters)
            .build();
        docker
            .list_images(Some(options))
            .await
            .unwrap()
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .collect()
    })
}

/// Every file under `dir` with its bytes, for before-and-after comparisons.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap_or_default(),
                );
            }
        }
    }
    files
}

impl Project {
    /// The project's state directory under this test's XDG_STATE_HOME, if made.
    pub fn state_dir(&self) -> Option<PathBuf> {
        let projects = self.state_home.join("rjup/projects");
        std::fs::read_dir(projects)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .next()
    }

    /// The stored password hash.
    pub fn stored_hash(&self) -> String {
        std::fs::read_to_string(
            self.state_dir()
                .expect("no state directory")
                .join("password-hash"),
        )
        .unwrap()
        .trim()
        .to_string()
    }
}
