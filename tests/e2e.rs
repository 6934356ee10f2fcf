//! End to end: a real engine, a real JupyterLab, real HTTP from a second host.

use std::os::unix::fs::MetadataExt;

use crate::util::*;

/// What a colleague does with a lab: log in from another computer, save a file. Checks
/// that the file lands in the project directory, owned by the project's owner.
fn colleague_uses_the_lab(project: &Project, port: u16) {
    let anonymous = Browser::new(port);
    assert_eq!(
        anonymous.get("/api/contents").status,
        403,
        "the API must be closed without a login"
    );

    let wrong = Browser::new(port);
    assert_eq!(
        wrong.login("not the password"),
        401,
        "a wrong password must be refused"
    );

    let browser = Browser::new(port);
    assert_eq!(
        browser.login(PASSWORD),
        302,
        "the right password must log in"
    );
    let listing = browser.get("/api/contents");
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert!(
        listing.body.contains("rjup.yaml"),
        "the file browser's root must be the project: {}",
        listing.body
    );

    let created = browser.put_file("from-the-lab.txt", "written in the lab\n");
    assert_eq!(created.status, 201, "{}", created.body);
    let file = project.dir.join("from-the-lab.txt");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "written in the lab\n"
    );
    let owner = std::fs::metadata(&project.dir).unwrap().uid();
    assert_eq!(
        std::fs::metadata(&file).unwrap().uid(),
        owner,
        "the file must belong to the project's owner"
    );
    assert_ne!(std::fs::metadata(&file).unwrap().uid(), 0);
}

/// `docker inspect` must show no password hash anywhere: env, cmd, labels.
fn assert_no_secret_in_inspect(project: &Project) {
    let inspect = inspect(&project.container())
        .expect("the lab's container exists")
        .to_string();
    assert!(
        !inspect.contains("argon2"),
        "docker inspect shows the hash: {inspect}"
    );
    assert!(
        !inspect.contains(PASSWORD),
        "docker inspect shows the password"
    );
}

fn started_at(project: &Project) -> (String, String) {
    let c = inspect(&project.container()).unwrap();
    (
        c["Id"].as_str().unwrap().to_string(),
        c["State"]["StartedAt"].as_str().unwrap().to_string(),
    )
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_build_mode_lab_serves_the_project_to_a_colleague_and_converges() {
    let _engine = engine();
    let project = Project::from_example("minimal", "build");
    let port = free_port();
    let out = project.up(port);
    let urls = stdout(&out);
    assert!(
        urls.contains(&format!("Lab \"{}\" is up:", project.name)),
        "{urls}"
    );
    assert!(urls.contains(&format!(":{port}/lab")), "{urls}");
    assert!(
        !urls.contains("127.0.0.1"),
        "an all-interfaces lab lists host addresses: {urls}"
    );

    colleague_uses_the_lab(&project, port);
    assert_no_secret_in_inspect(&project);
    let c = inspect(&project.container()).unwrap();
    assert_eq!(c["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
    assert_ne!(
        c["Config"]["User"], "",
        "the lab must not run as the image's default user"
    );
    assert!(c["Config"]["Image"]
        .as_str()
        .unwrap()
        .starts_with(&format!("rjup/{}:", project.name)));

    // A second `up` changes nothing: same container, not restarted.
    let before = started_at(&project);
    let again = project.rjup(&["up"], &[], None);
    assert_success(&again, "second rjup up");
    assert!(
        stdout(&again).contains(&format!(":{port}/lab")),
        "the remembered port must be kept"
    );
    assert!(!stderr(&again).contains("Building"), "{}", stderr(&again));
    assert_eq!(
        started_at(&project),
        before,
        "a second `up` must not touch the container"
    );

    // status --json describes it.
    let status = project.rjup(&["status", "--json"], &[], None);
    assert_success(&status, "rjup status --json");
    let s: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(s["name"], project.name.as_str());
    assert_eq!(s["state"], "running");
    assert_eq!(s["port"], port);
    assert_eq!(s["container"], project.container().as_str());
    assert!(s["urls"]
        .as_array()
        .unwrap()
        .iter()
        .all(|u| u.as_str().unwrap().ends_with(&format!(":{port}/lab"))));
    assert!(s["image"].as_str().unwrap().starts_with("rjup/"));

    // down, then up: the lab comes back, the files are intact, the password still works.
    assert_success(&project.rjup(&["down"], &[], None), "rjup down");
    assert!(
        inspect(&project.container()).is_none(),
        "down must remove the container"
    );
    let s: serde_json::Value =
        serde_json::from_str(&stdout(&project.rjup(&["status", "--json"], &[], None))).unwrap();
    assert_eq!(s["state"], "absent");
    assert!(
        project.dir.join("from-the-lab.txt").exists(),
        "down must keep the project's files"
    );
    let back = project.rjup(&["up"], &[], None);
    assert_success(&back, "rjup up after down");
    assert!(
        !stderr(&back).contains("Building"),
        "the image must be reused: {}",
        stderr(&back)
    );
    let browser = Browser::new(port);
    assert_eq!(browser.login(PASSWORD), 302);
    let file = browser.get("/api/contents/from-the-lab.txt?content=1");
    assert_eq!(file.status, 200);
    assert!(file.body.contains("written in the lab"), "{}", file.body);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_pulled_image_lab_gets_the_config_injected_and_writes_as_the_host_user() {
    let _engine = engine();
    let project = Project::from_example("pulled", "pulled");
    let port = free_port();
    project.up(port);
    colleague_uses_the_lab(&project, port);
    assert_no_secret_in_inspect(&project);
    let c = inspect(&project.container()).unwrap();
    assert_eq!(c["Config"]["Image"], "jupyter/minimal-notebook:latest");

    let before = started_at(&project);
    assert_success(&project.rjup(&["up"], &[], None), "second rjup up");
    assert_eq!(
        started_at(&project),
        before,
        "a second `up` must not touch the container"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_password_change_restarts_the_lab_without_a_rebuild() {
    let _engine = engine();
    let project = Project::from_example("minimal", "passwd");
    let port = free_port();
    project.up(port);
    let image_before = inspect(&project.container()).unwrap()["Image"].clone();

    let out = project.rjup(
        &["password", "--password-stdin"],
        &[],
        Some("a brand new one\n"),
    );
    assert_success(&out, "rjup password");
    assert!(!stderr(&out).contains("Building"), "{}", stderr(&out));
    assert_eq!(
        inspect(&project.container()).unwrap()["Image"],
        image_before
    );
    assert_eq!(
        Browser::new(port).login(PASSWORD),
        401,
        "the old password must stop working"
    );
    assert_eq!(
        Browser::new(port).login("a brand new one"),
        302,
        "the new password must work"
    );
    assert_no_secret_in_inspect(&project);
}

/// `up` makes the lab with the stored hash while argon2 checks RJUP_PASSWORD against it:
/// a new password must still be the only one that opens the lab, running or not.
#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_new_rjup_password_is_the_only_one_that_opens_the_lab_running_or_made_anew() {
    let _engine = engine();
    let project = Project::from_example("minimal", "envpass");
    let port = free_port();
    project.up(port);
    let up_with = |password: &str| {
        project.rjup(
            &["up", "--port", &port.to_string()],
            &[("RJUP_PASSWORD", password)],
            None,
        )
    };

    let second = "an entirely new one";
    let out = up_with(second);
    assert_success(&out, "up with a new RJUP_PASSWORD on the running lab");
    assert!(stderr(&out).contains("Recreating"), "{}", stderr(&out));
    assert_eq!(
        Browser::local(port).login(PASSWORD),
        401,
        "the old password"
    );
    assert_eq!(Browser::local(port).login(second), 302, "the new password");

    assert_success(&project.rjup(&["down"], &[], None), "down");
    let third = "and a third";
    let out = up_with(third);
    assert_success(&out, "up with a new RJUP_PASSWORD and no lab");
    assert_eq!(
        stderr(&out).matches("Creating").count(),
        1,
        "one lab is announced: {}",
        stderr(&out)
    );
    assert_eq!(containers_named(&project.name).len(), 1, "exactly one lab");
    assert_eq!(Browser::local(port).login(second), 401, "the old password");
    assert_eq!(Browser::local(port).login(third), 302, "the new password");
    assert_no_secret_in_inspect(&project);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_taken_port_is_named_with_a_free_one_to_use_instead() {
    let _engine = engine();
    let project = Project::from_example("minimal", "porttaken");
    let holder = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let out = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 6, "up on a taken port");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("port {port}")) && err.contains("use --port"),
        "{err}"
    );
    assert!(
        inspect(&project.container()).is_none(),
        "no container may be left behind"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_taken_port_names_the_rjup_lab_that_holds_it() {
    let _engine = engine();
    let first = Project::from_example("pulled", "holder");
    let port = free_port();
    first.up(port);
    let second = Project::from_example("pulled", "wants");
    let out = second.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 6, "up on a port another lab holds");
    assert!(
        stderr(&out).contains(&format!("the rjup lab \"{}\"", first.name)),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_an_image_that_cannot_be_pulled_fails_clearly_and_leaves_nothing() {
    let _engine = engine();
    let project = Project::from_example("", "nopull");
    project.write("rjup.yaml", "image: rjup-test/does-not-exist:latest\n");
    let out = project.rjup(
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 7, "up with an image that cannot be pulled");
    assert!(
        stderr(&out).contains("pulling rjup-test/does-not-exist:latest failed"),
        "{}",
        stderr(&out)
    );
    assert!(inspect(&project.container()).is_none());
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_failing_build_names_the_step_and_its_output() {
    let _engine = engine();
    let project = Project::from_example("", "badbuild");
    project.write(
        "rjup.yaml",
        "build:\n  packages: [rjup-no-such-package-exists-here]\n",
    );
    let out = project.rjup(
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 8, "up with a package that does not exist");
    let err = stderr(&out);
    assert!(err.contains("failed at Step"), "{err}");
    assert!(
        err.contains("rjup-no-such-package-exists-here"),
        "the step's output must be shown: {err}"
    );
    assert!(inspect(&project.container()).is_none());
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_lab_that_exits_while_starting_shows_its_log_and_leaves_no_container() {
    let _engine = engine();
    let project = Project::from_example("pulled", "crashes");
    // Python cannot start without its standard library: the server dies at once.
    project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\nenv:\n  PYTHONHOME: /nonexistent\n",
    );
    let out = project.rjup(
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 9, "up with a lab that crashes");
    let err = stderr(&out);
    assert!(
        err.contains("exited while starting") && err.contains("last log lines"),
        "{err}"
    );
    assert!(err.contains("| "), "the lab's log must be shown: {err}");
    assert!(
        inspect(&project.container()).is_none(),
        "a half-made container was left behind"
    );
    assert!(containers_named(&project.name).is_empty());
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_an_image_without_jupyter_is_refused_and_leaves_no_container() {
    let _engine = engine();
    let project = Project::from_example("", "nojupyter");
    project.write("rjup.yaml", "image: python:3.13-slim\n");
    let out = project.rjup(
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 7, "up with an image that has no Jupyter");
    assert!(
        stderr(&out).contains("no `jupyter-lab` command"),
        "{}",
        stderr(&out)
    );
    assert!(
        inspect(&project.container()).is_none(),
        "a half-made container was left behind"
    );
}

/// Regression: `rjup logs | head -1` ended with "rjup: error: Broken pipe".
#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_reader_that_stops_reading_is_a_normal_stop() {
    let _engine = engine();
    let project = Project::from_example("minimal", "pipe");
    let port = free_port();
    project.up(port);
    // `true` exits before rjup writes a byte, so every write meets a closed pipe.
    for command in [
        "rjup logs",
        "rjup logs -f",
        "rjup status",
        "rjup ls",
        "rjup status --json",
    ] {
        let out = project.shell(
            &format!("set +o pipefail; {command} 2>err.txt | true; echo \"exit=${{PIPESTATUS[0]}}\"; cat err.txt; rm err.txt"),
            &[],
        );
        let text = stdout(&out);
        assert!(
            text.starts_with("exit=0\n") && !text.contains("error") && !text.contains("panicked"),
            "`{command} | true` must stop quietly with exit 0, got: {text}"
        );
    }
    let out = project.shell("rjup logs | head -1", &[]);
    assert_success(&out, "rjup logs | head -1");
    assert_eq!(stdout(&out).lines().count(), 1);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
