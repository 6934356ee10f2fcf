//! Rootless Docker (`tests/fixtures/rootless.sh`): the tester's own dockerd, in whose
//! user namespace container uid 0 is the tester.

use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use crate::podman::OnEngine;
use crate::util::*;

/// The tester's rootless Docker, started once per run.
fn rootless_docker() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        // The tester must exist first: as root, this makes it.
        tester_ids().expect("rootless tests need root, to start the tester's engine");
        fixture_engine("rootless", &["rootless.sh", TESTER])
    })
}

#[test]
#[ignore = "rootless: needs root and rootless Docker: tests/fixtures/rootless.sh rjup-tester"]
fn rootless_on_rootless_docker_the_lab_writes_as_the_user_and_may_change_the_users_files() {
    let _engine = engine();
    let lab = OnEngine::new(
        Project::from_example("pulled", "rootless-pulled"),
        rootless_docker(),
    );
    lab.project.write("from-the-user.txt", "made on the host\n");
    let port = free_port();
    let up = lab.up_and_check(port);
    assert!(
        stderr(&up).contains("rjup: warning: this engine applies no pids limit"),
        "the ignored pids limit is told: {}",
        stderr(&up)
    );

    let browser = Browser::new(port);
    assert_eq!(browser.login(PASSWORD), 302, "a colleague logs in");
    let made = browser.put_notebook("made-in-the-lab.ipynb", "print(1)");
    assert_eq!(made.status, 201, "{}", made.body);
    let changed = browser.put_file("from-the-user.txt", "changed in the lab\n");
    assert_eq!(
        changed.status, 200,
        "the user's file is writable: {}",
        changed.body
    );

    let (uid, gid) = tester_ids().unwrap();
    let dir = &lab.project.dir;
    for file in ["made-in-the-lab.ipynb", "from-the-user.txt"] {
        let meta = std::fs::metadata(dir.join(file)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{file} is the user's");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("from-the-user.txt")).unwrap(),
        "changed in the lab\n"
    );
    lab.down();
}

#[test]
#[ignore = "rootless: needs root and rootless Docker: tests/fixtures/rootless.sh rjup-tester"]
fn rootless_an_allowlist_on_rootless_docker_is_said_not_to_hold() {
    let _engine = engine();
    let lab = OnEngine::new(
        Project::from_example("pulled", "rootless-allow"),
        rootless_docker(),
    );
    // A list that names no client of the test: the colleague should be refused.
    lab.project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\nallow: [192.0.2.1/32]\n",
    );
    let port = free_port();
    let up = lab.rjup(&["up", "--port", &port.to_string()]);
    assert_success(&up, "rjup up");
    let warnings: Vec<String> = stderr(&up)
        .lines()
        .filter(|l| l.starts_with("rjup: warning: `allow:` cannot be enforced"))
        .map(str::to_string)
        .collect();
    assert_eq!(warnings.len(), 1, "{}", stderr(&up));
    // Why: the port driver hands the lab every connection from the container's gateway,
    // which the lab does not admit on its own: the colleague is refused, as everyone is.
    let refused = Browser::new(port).with_headers().get("/login");
    assert!(
        refused.status == 403
            && refused
                .body
                .to_ascii_lowercase()
                .contains("x-rjup-refused: address"),
        "the colleague is refused: {}",
        refused.body
    );
    // `status` must not say the list holds.
    let status = lab.rjup(&["status"]);
    assert_success(&status, "rjup status");
    assert!(
        stdout(&status).contains(
            "admits:    rjup's own requests only, not the clients `allow:` lists (192.0.2.1/32)"
        ),
        "{}",
        stdout(&status)
    );
    let json = lab.rjup(&["status", "--json"]);
    let view: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(view["allow_enforced"], false, "{view}");
    lab.down();
}
