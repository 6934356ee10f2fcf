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
