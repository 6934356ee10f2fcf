//! Podman through its Docker-compatible API (`../shared/docker/podman.sh`): every verb,
//! in pull mode and in build mode, with buildah building and netavark publishing.

use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use crate::util::*;

/// Runs one of `../shared/docker`'s engine scripts and returns the `DOCKER_HOST` it
/// prints. The scripts are idempotent and quick once their engine answers.
pub fn start_engine(script: &str, args: &[&str]) -> String {
    let path = repo_root().join("../shared/docker").join(script);
    let started = Instant::now();
    let out = Command::new("bash").arg(&path).args(args).output().unwrap();
    assert_success(&out, script);
    eprintln!(
        "{script} answered in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("export DOCKER_HOST="))
        .unwrap_or_else(|| panic!("{script} printed no DOCKER_HOST:\n{}", stdout(&out)))
        .to_string()
}

/// Podman's default network (`podman network inspect podman`).
const PODMAN_NETWORK: &str = "10.88.0.0/16";

/// Podman's `DOCKER_HOST`, started once per run.
pub fn podman() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let host = start_engine("podman.sh", &[]);
        let socket = host.trim_start_matches("unix://");
        // As a `podman.socket` with `SocketGroup=docker` would: the tester, in the
        // docker group, may use the socket, which the script makes root's only.
        // Docker's FORWARD policy is DROP and netavark 1.4 lets only established
        // traffic into its network, so no other host reaches a lab Podman publishes on
        // a machine that also runs Docker: the README gives users this same rule.
        let script = format!(
            "chgrp docker {socket} && chmod 660 {socket} && {{ \
               iptables -C DOCKER-USER -d {PODMAN_NETWORK} -j ACCEPT 2>/dev/null || \
               iptables -I DOCKER-USER -d {PODMAN_NETWORK} -j ACCEPT; }}"
        );
        let ok = Command::new("sh")
            .args(["-c", &script])
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "could not open {socket} to the tester, or {PODMAN_NETWORK} to the client"
        );
        host
    })
}

/// A project whose every rjup command goes to the engine at `host`, and which is taken
/// down there however the test ends.
pub struct OnEngine {
    pub project: Project,
    pub host: &'static str,
}

impl OnEngine {
    pub fn new(project: Project, host: &'static str) -> OnEngine {
        OnEngine { project, host }
    }

    pub fn rjup(&self, args: &[&str]) -> Output {
        let env = [("DOCKER_HOST", self.host), ("RJUP_PASSWORD", PASSWORD)];
        self.project.rjup(args, &env, None)
    }

    /// `up` on `port`, then `status`, `check` and `ls` as a user would run them after it.
    pub fn up_and_check(&self, port: u16) -> Output {
        let up = self.rjup(&["up", "--port", &port.to_string()]);
        assert_success(&up, "rjup up");
        assert!(
            stdout(&up).contains(&format!(":{port}/lab")),
            "up prints the lab's URL: {}",
            stdout(&up)
        );
        let status = self.rjup(&["status", "--json"]);
        assert_success(&status, "rjup status");
        let status: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
        assert_eq!(status["state"], "running", "{status}");
        assert_eq!(status["bind"], "0.0.0.0", "{status}");
        assert_eq!(status["port"], port, "{status}");
        assert_success(&self.rjup(&["check"]), "rjup check (login, kernel)");
        let ls = stdout(&self.rjup(&["ls", "--json"]));
        assert!(ls.contains(&self.project.name), "ls lists the lab: {ls}");
        up
    }

    /// `down`, and `status` saying the lab is gone.
    pub fn down(&self) {
        assert_success(&self.rjup(&["down"]), "rjup down");
        let status = stdout(&self.rjup(&["status", "--json"]));
        assert!(status.contains("\"absent\""), "{status}");
    }
}

impl Drop for OnEngine {
    fn drop(&mut self) {
        let _ = self.rjup(&["down"]);
    }
}

/// The default lab image's layers, built once per run on Podman before any build-mode
/// test builds, so that two tests never install JupyterLab with buildah at once.
fn podman_lab_layers() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let lab = OnEngine::new(Project::from_example("", "podman-layers"), podman());
        let started = Instant::now();
        assert_success(&lab.rjup(&["build"]), "rjup build on Podman");
        eprintln!(
            "the default lab image built on Podman in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    });
}

#[test]
#[ignore = "needs a Docker engine: run ../shared/docker/stand-ins.sh, then cargo test -- --include-ignored"]
fn pulled_lab_on_podman_serves_a_colleague_and_every_verb_works() {
    let _engine = engine();
    let lab = OnEngine::new(Project::from_example("pulled", "podman-pulled"), podman());
    let port = free_port();
    lab.up_and_check(port);

    // Published on every address, which netavark answers only for an empty HostIp.
    let browser = Browser::new(port);
    assert_eq!(browser.login(PASSWORD), 302, "a colleague logs in");
    let saved = browser.put_file("from-podman.txt", "saved\n");
    assert_eq!(saved.status, 201, "{}", saved.body);
    assert!(lab.project.dir.join("from-podman.txt").exists());

    let again = lab.rjup(&["up", "--json", "--port", &port.to_string()]);
    assert_success(&again, "a second rjup up");
    assert!(
        stdout(&again).contains("\"unchanged\""),
        "{}",
        stdout(&again)
    );
    let logs = lab.rjup(&["logs", "--tail", "20"]);
    assert_success(&logs, "rjup logs");
    assert!(stdout(&logs).contains("ServerApp"), "{}", stdout(&logs));

    // The port's holder is found without the `publish` filter Podman refuses.
    let other = OnEngine::new(Project::from_example("pulled", "podman-other"), podman());
    let taken = other.rjup(&["up", "--port", &port.to_string()]);
    assert_exit(&taken, 6, "up on a port the first lab holds");
    assert!(
        stderr(&taken).contains(&format!("the rjup lab \"{}\"", lab.project.name)),
        "{}",
        stderr(&taken)
    );
    lab.down();
}

#[test]
#[ignore = "needs a Docker engine: run ../shared/docker/stand-ins.sh, then cargo test -- --include-ignored"]
fn built_lab_on_podman_serves_and_every_verb_works() {
    let _engine = engine();
    podman_lab_layers();
    let lab = OnEngine::new(Project::from_example("", "podman-built"), podman());
    lab.project
        .write("rjup.yaml", "build:\n  packages:\n    - tabulate\n");
    let started = Instant::now();
    let up = lab.up_and_check(free_port());
    eprintln!(
        "up, status, check, ls of a built lab on Podman: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(stderr(&up).contains("Step "), "{}", stderr(&up));
    lab.down();
}

#[test]
#[ignore = "needs a Docker engine: run ../shared/docker/stand-ins.sh, then cargo test -- --include-ignored"]
fn a_failed_build_on_podman_names_buildahs_step() {
    let _engine = engine();
    podman_lab_layers();
    let lab = OnEngine::new(Project::from_example("", "podman-badbuild"), podman());
    lab.project
        .write("postBuild", "#!/bin/sh\necho broken on purpose\nexit 3\n");
    let out = lab.rjup(&["build"]);
    assert_exit(&out, 8, "a build whose postBuild fails");
    let err = stderr(&out);
    assert!(err.contains("STEP ") && err.contains("postBuild"), "{err}");
    assert!(err.contains("broken on purpose"), "{err}");
    assert!(!err.contains("failed at \n"), "{err}");
}
