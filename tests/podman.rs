//! Podman through its Docker-compatible API (`tests/fixtures/podman.sh`): every verb,
//! in pull mode and in build mode, with buildah building and netavark publishing.

use std::process::Output;
use std::sync::OnceLock;
use std::time::Instant;

use crate::util::*;

/// Podman's `DOCKER_HOST`, started once per run and open to the docker group.
pub fn podman() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| fixture_engine("podman", &["podman.sh"]))
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
#[ignore = "podman: needs root and Podman: tests/fixtures/podman.sh"]
fn podman_pulled_lab_on_podman_serves_a_colleague_and_every_verb_works() {
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
#[ignore = "podman: needs root and Podman: tests/fixtures/podman.sh"]
fn podman_built_lab_on_podman_serves_and_every_verb_works() {
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
#[ignore = "podman: needs root and Podman: tests/fixtures/podman.sh"]
fn podman_a_failed_build_on_podman_names_buildahs_step() {
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
