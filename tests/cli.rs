//! The command line without a lab: help, completions, init, and bad input rejected
//! before anything is created.

use crate::util::*;

fn plain(project: &Project, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    project.rjup(args, env, None)
}

#[test]
fn version_and_help_show_an_example_for_every_verb() {
    let project = Project::from_example("", "help");
    let out = plain(&project, &["--version"], &[]);
    assert_success(&out, "--version");
    assert!(stdout(&out).starts_with("rjup "));
    let help = stdout(&plain(&project, &["--help"], &[]));
    for verb in [
        "up",
        "down",
        "status",
        "logs",
        "password",
        "init",
        "completions",
    ] {
        assert!(
            help.contains(&format!("rjup {verb}")),
            "top-level help lacks an example of {verb}:\n{help}"
        );
        let verb_help = stdout(&plain(&project, &[verb, "--help"], &[]));
        assert!(
            verb_help.contains("Examples:"),
            "`rjup {verb} --help` has no examples"
        );
    }
}

#[test]
fn completions_are_printed_for_bash() {
    let project = Project::from_example("", "completions");
    let out = plain(&project, &["completions", "bash"], &[]);
    assert_success(&out, "completions bash");
    assert!(stdout(&out).contains("_rjup"));
}

#[test]
fn init_writes_a_documented_config_and_never_overwrites_one() {
    let project = Project::from_example("", "init");
    assert_success(&plain(&project, &["init"], &[]), "init");
    let text = std::fs::read_to_string(project.dir.join("rjup.yaml")).unwrap();
    for key in [
        "name:",
        "port:",
        "bind:",
        "image:",
        "build:",
        "base:",
        "packages:",
        "env:",
    ] {
        assert!(
            text.contains(key),
            "rjup.yaml from init does not document {key}"
        );
    }
    std::fs::write(project.dir.join("rjup.yaml"), "port: 9999\n").unwrap();
    let again = plain(&project, &["init"], &[]);
    assert_exit(&again, 3, "init over an existing file");
    assert_eq!(
        std::fs::read_to_string(project.dir.join("rjup.yaml")).unwrap(),
        "port: 9999\n"
    );
}

#[test]
fn a_misspelt_key_is_rejected_with_its_location_and_the_right_name() {
    let project = Project::from_example("", "badkey");
    project.write("rjup.yaml", "name: lab\nprot: 8888\n");
    let out = plain(&project, &["up"], &[("RJUP_PASSWORD", PASSWORD)]);
    assert_exit(&out, 3, "up with a misspelt key");
    let err = stderr(&out);
    assert!(
        err.contains("rjup.yaml:2:1: unknown key `prot`; did you mean `port`?"),
        "{err}"
    );
    assert_eq!(
        err.trim().lines().count(),
        1,
        "bad input gets one line: {err}"
    );
}

#[test]
fn a_value_of_the_wrong_type_or_range_is_rejected_with_its_location() {
    let project = Project::from_example("", "badvalue");
    for (yaml, expect) in [
        ("port: eighty\n", "rjup.yaml:1:7: bad value for `port`"),
        ("port: 0\n", "rjup.yaml:1:7: `port` 0 is out of range"),
        (
            "bind: my-server\n",
            "rjup.yaml:1:7: `bind` \"my-server\" is not an IP address",
        ),
    ] {
        project.write("rjup.yaml", yaml);
        // `up` refuses the file before anything else; `status` goes on with a warning
        // (tests/attacks_host.rs), so that a broken file never hides a running lab.
        let out = plain(&project, &["up"], &[]);
        assert_exit(&out, 3, yaml);
        assert!(stderr(&out).contains(expect), "{yaml}: {}", stderr(&out));
    }
}

#[test]
fn up_without_any_password_source_and_no_terminal_stops_before_creating_anything() {
    let project = Project::from_example("", "nopassword");
    let out = plain(&project, &["up"], &[]);
    assert_exit(&out, 4, "up with no password");
    assert!(stderr(&out).contains("RJUP_PASSWORD"), "{}", stderr(&out));
    assert!(
        std::fs::read_dir(&project.state_home)
            .unwrap()
            .next()
            .is_none(),
        "no state may be written"
    );
}

#[test]
fn an_empty_password_is_refused() {
    let project = Project::from_example("", "emptypassword");
    let out = plain(&project, &["up"], &[("RJUP_PASSWORD", "")]);
    assert_exit(&out, 4, "up with an empty RJUP_PASSWORD");
    let out = project.rjup(&["up", "--password-stdin"], &[], Some("\n"));
    assert_exit(&out, 4, "up with an empty password on stdin");
}

#[test]
fn an_unreachable_engine_says_how_to_start_it_or_set_docker_host() {
    let project = Project::from_example("", "nodocker");
    let out = plain(
        &project,
        &["status"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    assert_exit(&out, 5, "status with no engine");
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach the Docker engine") && err.contains("DOCKER_HOST"),
        "{err}"
    );
}

/// Regression: `up --json` once lost its no-prompt switch, so on a terminal it would have
/// stopped to ask for a password and broken the JSON contract.
#[test]
fn up_json_never_prompts_even_on_a_terminal() {
    assert!(
        std::process::Command::new("script")
            .arg("--version")
            .output()
            .is_ok(),
        "cannot run up_json_never_prompts_even_on_a_terminal: it needs `script` (util-linux) to make a terminal"
    );
    let project = Project::from_example("", "jsontty");
    let command = format!("{} up --json", rjup_bin());
    let out = std::process::Command::new("timeout")
        .args(["30", "script", "-qec", &command, "/dev/null"])
        .current_dir(&project.dir)
        .env("XDG_STATE_HOME", &project.state_home)
        .env_remove("RJUP_PASSWORD")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_exit(&out, 4, "up --json on a terminal with no password");
    assert!(
        stdout(&out).contains("may not ask for it here"),
        "{}",
        stdout(&out)
    );
}
