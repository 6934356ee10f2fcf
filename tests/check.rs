//! `rjup check`, `rjup ls` and the `--json` outputs, against real labs.

use std::collections::BTreeMap;

use crate::util::*;
use serde::Deserialize;
use serde_json::Value;

fn json_stdout(out: &std::process::Output, what: &str) -> Value {
    serde_json::from_str(stdout(out).trim()).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON value ({e}):\n{}",
            stdout(out)
        )
    })
}

#[derive(Deserialize)]
struct Workflow {
    jobs: BTreeMap<String, Job>,
}

#[derive(Deserialize)]
struct Job {
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Step {
    name: Option<String>,
    run: Option<String>,
    env: Option<BTreeMap<String, String>>,
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_the_copyable_github_workflow_runs_as_written() {
    let _engine = engine();
    let text = std::fs::read_to_string(repo_root().join("examples/ci/github-actions.yml")).unwrap();
    let workflow: Workflow = serde_saphyr::from_str(&text).unwrap();
    let project = Project::from_example("ci", "workflow");
    let port = free_port().to_string();
    let mut ran = Vec::new();
    for step in workflow.jobs.values().flat_map(|j| &j.steps) {
        let (Some(name), Some(run)) = (&step.name, &step.run) else {
            continue;
        };
        if name == "Install rjup" {
            continue; // The test runs this build of rjup instead.
        }
        let env: Vec<(String, String)> = step
            .env
            .iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    if v.contains("secrets.") {
                        PASSWORD.to_string()
                    } else {
                        v.clone()
                    },
                )
            })
            .collect();
        let mut env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // The runner is a fresh machine; here other tests' labs may hold 8888.
        env.push(("RJUP_TEST_PORT", &port));
        let script = run.replace("rjup up", "rjup up --port \"$RJUP_TEST_PORT\"");
        let out = project.shell(&script, &env);
        assert_success(&out, &format!("workflow step {name:?}: {run}"));
        ran.push((name.clone(), out));
    }
    let names: Vec<&str> = ran.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Start the lab", "Smoke-test the lab", "Remove the lab"]
    );

    let up = json_stdout(&ran[0].1, "rjup up --json");
    assert_eq!(up["state"], "running");
    assert_eq!(up["action"], "created");
    let check = json_stdout(&ran[1].1, "rjup check --json");
    assert_eq!(check["ok"], true, "{check}");
    let steps: Vec<&str> = check["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "login",
            "start kernel",
            "execute code",
            "shut down kernel",
            "notebook analysis.ipynb"
        ]
    );
    for step in check["steps"].as_array().unwrap() {
        assert_eq!(step["ok"], true);
        assert!(step["seconds"].as_f64().unwrap() >= 0.0);
    }
    let junit = std::fs::read_to_string(project.dir.join("rjup-check.xml")).unwrap();
    assert!(
        junit.contains("<testsuite") && junit.contains("failures=\"0\""),
        "{junit}"
    );
    assert!(
        inspect(&project.container()).is_none(),
        "the last step removes the lab"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_check_fails_clearly_on_a_wrong_password_a_raising_notebook_and_a_dying_kernel() {
    let _engine = engine();
    let project = Project::from_example("pulled", "checkfails");
    project.notebook("fine.ipynb", &["x = 40", "print(x + 2)"]);
    project.notebook(
        "raises.ipynb",
        &["x = 1", "raise ValueError('the data is wrong')"],
    );
    project.notebook("dies.ipynb", &["import os\nos._exit(3)"]);
    project.notebook("one.ipynb", &["print('one')"]);
    project.notebook(
        "third.ipynb",
        &["a = 1", "b = 2", "raise ValueError('in the third cell')"],
    );
    project.up(free_port());

    let wrong = project.rjup(&["check", "--json"], &[("RJUP_PASSWORD", "not it")], None);
    assert_exit(&wrong, 12, "check with a wrong password");
    let report = json_stdout(&wrong, "check --json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["steps"][0]["name"], "login");
    assert_eq!(report["steps"][0]["ok"], false);
    assert!(report["steps"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("refused the password"));
    assert_eq!(
        report["steps"].as_array().unwrap().len(),
        1,
        "nothing runs after a failed login"
    );

    let out = project.rjup(
        &[
            "check",
            "--json",
            "fine.ipynb",
            "raises.ipynb",
            "dies.ipynb",
            "one.ipynb",
            "third.ipynb",
        ],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 12, "check with failing notebooks");
    let report = json_stdout(&out, "check --json");
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(step("execute code")["ok"], true);
    assert_eq!(step("notebook fine.ipynb")["ok"], true);
    assert_eq!(step("notebook fine.ipynb")["detail"], "2 code cells ran");
    assert_eq!(step("notebook one.ipynb")["detail"], "1 code cell ran");
    // Tracebacks number the cell as a person running the notebook would see it.
    let third = step("notebook third.ipynb");
    let detail = third["detail"].as_str().unwrap();
    assert!(
        detail.contains("cell 3")
            && detail.contains("Cell In[3]")
            && !detail.contains("Cell In[1]"),
        "{detail}"
    );
    let raised = step("notebook raises.ipynb");
    assert_eq!(raised["ok"], false);
    let detail = raised["detail"].as_str().unwrap();
    assert!(
        detail.contains("cell 2")
            && detail.contains("ValueError: the data is wrong")
            && detail.contains("Traceback"),
        "{detail}"
    );
    let died = step("notebook dies.ipynb");
    assert_eq!(died["ok"], false);
    assert!(
        died["detail"].as_str().unwrap().contains("kernel died"),
        "{died}"
    );

    // The text report names the failing cell too.
    let text = project.rjup(
        &["check", "raises.ipynb"],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&text, 12, "check in text mode");
    assert!(
        stdout(&text).contains("FAIL notebook raises.ipynb"),
        "{}",
        stdout(&text)
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_check_up_on_a_lab_that_never_becomes_ready_reports_it_and_cleans_up() {
    let _engine = engine();
    let project = Project::from_example("pulled", "neverready");
    project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\nenv:\n  PYTHONHOME: /nonexistent\n",
    );
    let port = free_port().to_string();
    let out = project.rjup(
        &["check", "--up", "--down", "--json", "--port", &port],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 9, "check --up on a lab that crashes");
    let report = json_stdout(&out, "check --up --json");
    assert_eq!(report["ok"], false);
    assert_eq!(report["steps"][0]["name"], "up");
    assert_eq!(report["steps"][0]["ok"], false);
    assert!(report["steps"][0]["detail"]
        .as_str()
        .unwrap()
        .contains("exited while starting"));
    assert!(inspect(&project.container()).is_none());
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_ls_lists_labs_across_projects_and_json_outputs_are_pure() {
    let _engine = engine();
    let a = Project::from_example("pulled", "ls-a");
    let b = Project::from_example("pulled", "ls-b");
    let (pa, pb) = (free_port(), free_port());
    a.up(pa);
    let up = b.rjup(
        &["up", "--json", "--port", &pb.to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_success(&up, "up --json");
    assert_eq!(json_stdout(&up, "up --json")["port"], pb);
    assert_success(&b.rjup(&["down"], &[], None), "down");

    let ls = a.rjup(&["ls", "--json"], &[], None);
    assert_success(&ls, "ls --json");
    let labs = json_stdout(&ls, "ls --json");
    let find = |name: &str| {
        labs["labs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == name)
            .cloned()
    };
    let la = find(&a.name).expect("ls lists the running lab");
    assert_eq!(la["state"], "running");
    assert_eq!(la["project"], a.dir.display().to_string());
    assert!(la["urls"][0]
        .as_str()
        .unwrap()
        .ends_with(&format!(":{pa}/lab")));
    assert!(la["image"].as_str().unwrap().contains("minimal-notebook"));
    assert!(find(&b.name).is_none(), "a removed lab is not listed");

    let table = stdout(&a.rjup(&["ls"], &[], None));
    assert!(
        table.contains(&a.name) && table.contains("running"),
        "{table}"
    );

    let down = a.rjup(&["down", "--json"], &[], None);
    assert_eq!(json_stdout(&down, "down --json")["removed"], true);
    let status = json_stdout(&a.rjup(&["status", "--json"], &[], None), "status --json");
    assert_eq!(status["state"], "absent");
}

/// Writes a notebook whose code cells each have their tags: `(source, tags)`.
fn tagged_notebook(project: &Project, file: &str, cells: &[(&str, &[&str])]) {
    let cells: Vec<Value> = cells
        .iter()
        .map(|(source, tags)| serde_json::json!({"cell_type": "code", "execution_count": null, "metadata": {"tags": tags}, "outputs": [], "source": source}))
        .collect();
    let nb = serde_json::json!({
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    });
    if let Some(dir) = std::path::Path::new(file).parent() {
        project.shell(&format!("mkdir -p '{}'", dir.display()), &[]);
    }
    project.write(file, &nb.to_string());
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_check_runs_tagged_cells_as_nbclient_does_and_quotes_the_line_that_failed() {
    let _engine = engine();
    let project = Project::from_example("pulled", "checktags");
    // A teaching notebook: one cell raises on purpose, one is not for running.
    tagged_notebook(
        &project,
        "teach.ipynb",
        &[
            ("x = 40", &[]),
            ("1 / 0", &["raises-exception"]),
            ("import no_such_module", &["skip-execution"]),
            ("assert x + 2 == 42\nprint('after')", &[]),
        ],
    );
    // The error is raised in a function from the first cell, on the third line of the
    // second.
    let long = "analysis/very/long/directory/name/deep.ipynb";
    tagged_notebook(
        &project,
        long,
        &[
            ("def load():\n    raise ValueError('no data')", &[]),
            ("a = 1\nb = 2\nload()\nc = 3", &[]),
        ],
    );
    project.up(free_port());

    let out = project.rjup(
        &["check", "--json", "teach.ipynb", long],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&out, 12, "check with a failing notebook");
    let report = json_stdout(&out, "check --json");
    let step = |name: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no step {name}: {report}"))
            .clone()
    };
    let teach = step("notebook teach.ipynb");
    assert_eq!(teach["ok"], true, "{teach}");
    assert_eq!(
        teach["detail"],
        "3 code cells ran; 1 raised, as its `raises-exception` tag expects; 1 skipped (`skip-execution`)"
    );
    let deep = step(&format!("notebook {long}"));
    assert_eq!(deep["ok"], false);
    let detail = deep["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("cell 2, line 3 (load()) raised ValueError: no data"),
        "{detail}"
    );

    // The text report keeps its columns however long a step's name.
    let text = project.rjup(
        &["check", "teach.ipynb", long],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_exit(&text, 12, "check in text mode");
    let rows: Vec<String> = stdout(&text)
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL"))
        .map(str::to_string)
        .collect();
    assert_eq!(rows.len(), 6, "{}", stdout(&text));
    let column = |row: &String| row.find(" s  ").unwrap();
    assert!(
        rows.iter().all(|r| column(r) == column(&rows[0])),
        "{}",
        rows.join("\n")
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_check_finds_notebooks_from_the_current_directory_and_refuses_ones_outside() {
    let _engine = engine();
    let project = Project::from_example("pulled", "checkpaths");
    project.notebook("top.ipynb", &["print('top')"]);
    tagged_notebook(&project, "nb/a.ipynb", &[("print('a')", &[])]);
    let outside = project.dir.parent().unwrap().join("outside.ipynb");
    project.notebook("../outside.ipynb", &["print('outside')"]);
    project.up(free_port());
    let password = [("RJUP_PASSWORD", PASSWORD)];

    // From a subdirectory, as a shell user names files there.
    for (script, step) in [
        ("cd nb && rjup check --json a.ipynb", "notebook nb/a.ipynb"),
        (
            "cd nb && rjup check --json ../top.ipynb",
            "notebook top.ipynb",
        ),
        (
            "cd nb && rjup check --json ./../nb/a.ipynb",
            "notebook nb/a.ipynb",
        ),
        (
            &format!(
                "rjup check --json {}",
                project.dir.join("nb/a.ipynb").display()
            ),
            "notebook nb/a.ipynb",
        ),
    ] {
        let out = project.shell(script, &password);
        assert_success(&out, script);
        let report = json_stdout(&out, script);
        assert_eq!(report["steps"][4]["name"], step, "{script}: {report}");
        assert_eq!(report["steps"][4]["ok"], true, "{script}: {report}");
    }

    // Outside the project, by a relative or an absolute path: one line, no step.
    for script in [
        "rjup check ../outside.ipynb".to_string(),
        "cd nb && rjup check ../../outside.ipynb".to_string(),
        format!("rjup check {}", outside.display()),
    ] {
        let out = project.shell(&script, &password);
        assert_exit(&out, 3, &script);
        assert_eq!(stdout(&out), "", "{script}: no step runs");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{script}: {err}");
        assert!(
            err.contains(&format!(
                "({}) is outside the project {}",
                outside.display(),
                project.dir.display()
            )),
            "{script}: {err}"
        );
    }
    // Nor does `--up` start anything first.
    assert_success(&project.rjup(&["down"], &[], None), "down");
    let out = project.shell("cd nb && rjup check --up ../../outside.ipynb", &password);
    assert_exit(&out, 3, "check --up with a notebook outside the project");
    assert!(inspect(&project.container()).is_none(), "{}", stderr(&out));
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_an_environment_file_rjup_cannot_build_stops_neither_check_ls_nor_password() {
    let _engine = engine();
    let project = Project::from_example("", "badenv-verbs");
    let port = free_port().to_string();
    project.up(port.parse().unwrap());
    project.write("apt.txt", "jq\nrm -rf /\n");
    let old = [("RJUP_PASSWORD", PASSWORD)];

    let ls = project.rjup(&["ls", "--json"], &[], None);
    assert_success(&ls, "ls --json");
    let labs = json_stdout(&ls, "ls --json");
    assert!(
        labs["labs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["name"] == project.name.as_str()),
        "{labs}"
    );
    let status = project.rjup(&["status", "--json"], &[], None);
    assert_success(&status, "status --json");
    assert_eq!(json_stdout(&status, "status --json")["state"], "running");
    // Checking the running lab needs no environment file; making it does.
    assert_success(&project.rjup(&["check"], &old, None), "check");
    let up = project.rjup(&["check", "--up"], &old, None);
    assert_exit(&up, 3, "check --up refuses what up refuses");
    assert!(stderr(&up).contains("apt.txt:2"), "{}", stderr(&up));

    // The lab cannot be made again with the new password, and must not run on with
    // the old one.
    let new = "a brand new password";
    let changed = project.rjup(&["password", "--password-stdin"], &[], Some(new));
    assert_success(&changed, "password with a broken apt.txt");
    assert!(
        stderr(&changed).contains("apt.txt:2") && stderr(&changed).contains("taken down"),
        "{}",
        stderr(&changed)
    );
    assert!(inspect(&project.container()).is_none());
    let again = project.rjup(&["password", "--password-stdin"], &[], Some(new));
    assert_success(&again, "password with no lab");

    std::fs::remove_file(project.dir.join("apt.txt")).unwrap();
    assert_success(&project.rjup(&["up", "--port", &port], &[], None), "up");
    assert_exit(
        &project.rjup(&["check"], &old, None),
        12,
        "the old password",
    );
    assert_success(
        &project.rjup(&["check"], &[("RJUP_PASSWORD", new)], None),
        "the new password",
    );
}
