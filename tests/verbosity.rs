//! `-v` shows what rjup asks the engine and the lab, and how long each took; `-q` keeps
//! only results, warnings and errors. Both are global: before or after the verb.

use crate::util::*;

#[test]
fn quiet_says_nothing_but_results_and_excludes_verbose() {
    let project = Project::from_example("", "quiet-init");
    let out = project.rjup(&["-q", "init"], &[], None);
    assert_success(&out, "rjup -q init");
    assert!(project.dir.join("rjup.yaml").is_file());
    assert_eq!(stderr(&out), "", "-q keeps notes off stderr");
    let out = project.rjup(&["init", "--quiet"], &[], None);
    assert_exit(&out, 3, "init over an existing rjup.yaml");
    assert!(
        stderr(&out).contains("already exists"),
        "-q never hides an error: {}",
        stderr(&out)
    );
    let out = project.rjup(&["-q", "-v", "status"], &[], None);
    assert_exit(&out, 2, "-q with -v");
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_verbose_names_each_engine_call_and_quiet_keeps_only_the_result() {
    let _engine = engine();
    let project = Project::from_example("minimal", "verbosity");
    let port = free_port();
    project.up(port);

    let out = project.rjup(&["up", "-v"], &[], None);
    assert_success(&out, "rjup up -v");
    let err = stderr(&out);
    for said in [
        "DEBUG engine: connect to ",
        &format!("DEBUG engine: inspect container {}", project.container()),
        &format!("DEBUG lab: GET http://127.0.0.1:{port}/login: 200 ("),
    ] {
        assert!(err.contains(said), "-v must say `{said}`:\n{err}");
    }
    assert!(!err.contains("TRACE"), "-v is not -vv:\n{err}");
    assert!(stdout(&out).contains("is up:"), "{}", stdout(&out));

    let out = project.rjup(&["-vv", "up"], &[], None);
    assert_success(&out, "rjup -vv up");
    assert!(
        stderr(&out).contains("TRACE converge") && stderr(&out).contains("Nothing"),
        "-vv says what converging decided:\n{}",
        stderr(&out)
    );

    let out = project.rjup(&["-q", "up"], &[], None);
    assert_success(&out, "rjup -q up");
    assert_eq!(stderr(&out), "", "a no-op -q up says nothing on stderr");
    assert!(
        stdout(&out).contains(&format!(":{port}/lab")),
        "{}",
        stdout(&out)
    );

    let out = project.rjup(&["status", "--json", "-q"], &[], None);
    assert_success(&out, "rjup status --json -q");
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["state"], "running", "-q never hides the JSON result");
}
