//! Real-time collaboration (issue 12): two people on one notebook, each in a real
//! browser on the colleague's laptop, see each other's typing and names; the
//! collaboration API answers a logged-in browser and nobody else.

use crate::browser::{self, Login};
use crate::util::*;

/// A built lab with real-time collaboration: build mode adds jupyter-collaboration.
const COLLABORATIVE: &str = "collaboration: true\n";

const NOTEBOOK: &str = "shared.ipynb";

/// A running lab, made from `rjup_yaml`, with one notebook to share and the logins of
/// the two people who share it.
fn collaborative_lab(test: &str, rjup_yaml: &str) -> (Project, u16, [Login; 2]) {
    let project = Project::from_example("", test);
    project.write("rjup.yaml", rjup_yaml);
    project.notebook(NOTEBOOK, &["x = 1"]);
    let people = two_people(&project);
    let port = free_port();
    project.up(port);
    (project, port, people)
}

/// The two people sharing the lab, each with a named account made before `up`.
fn two_people(project: &Project) -> [Login; 2] {
    for (name, password) in PEOPLE {
        assert_success(
            &project.rjup(
                &["user", "add", name, "--password-stdin"],
                &[],
                Some(&format!("{password}\n")),
            ),
            "rjup user add",
        );
    }
    PEOPLE.map(|(name, password)| Login::named(name, password))
}

const PEOPLE: [(&str, &str); 2] = [
    ("ada", "ada's own passphrase"),
    ("grace", "grace's own passphrase"),
];

/// What each page shows as its own user and as the others on the lab.
fn names(report: &serde_json::Value, page: &str) -> (String, Vec<String>) {
    let seen = &report["collaborators"][page];
    let me = seen["me"].as_str().unwrap_or_default().to_string();
    let others = seen["others"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (me, others)
}

#[test]
#[ignore = "browser: needs root, Chromium, Node.js and playwright-core: tests/fixtures/browser.sh"]
fn browser_two_browsers_on_one_notebook_see_each_others_typing_and_names() {
    let _engine = engine();
    browser::require();
    let (_project, port, [a, b]) = collaborative_lab("collab-browsers", COLLABORATIVE);

    let report = browser::two_people_edit(Browser::new(port).base(), NOTEBOOK, &a, &b);
    eprintln!("browsers: {report}");
    assert!(
        report["seen_in_b"] == true && report["seen_in_a"] == true,
        "what each browser types must appear in the other: {report}"
    );
    let (me_a, others_a) = names(&report, "a");
    let (me_b, others_b) = names(&report, "b");
    assert!(
        me_a.contains("ada") && me_b.contains("grace"),
        "each page must show its own account's name: {report}"
    );
    assert!(
        others_a.contains(&me_b) && others_b.contains(&me_a),
        "each page must list the other person by name as a collaborator: {report}"
    );
    assert!(
        report["news_prompt"]["a"] == false && report["news_prompt"]["b"] == false,
        "a fresh lab must never ask about Jupyter news (it would fetch from the internet): {report}"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_collaboration_api_answers_a_logged_in_browser_only() {
    let _engine = engine();
    let (_project, port, _) = collaborative_lab("collab-api", COLLABORATIVE);
    // What JupyterLab asks before it opens a notebook's shared document.
    let session = format!("/api/collaboration/session/{NOTEBOOK}");
    let body = serde_json::json!({"format": "json", "type": "notebook"});

    // The login page's _xsrf token, and no login: refused for the missing login alone.
    let stranger = Browser::new(port);
    assert_eq!(stranger.get("/login").status, 200);
    let refused = stranger.put_json(&session, &body);
    assert_eq!(
        refused.status, 403,
        "the collaboration API must refuse a browser that has not logged in: {}",
        refused.body
    );
    assert!(!refused.body.contains("fileId"), "{}", refused.body);

    let owner = Browser::new(port);
    assert_eq!(
        owner.login_as("owner", PASSWORD),
        302,
        "the owner must log in"
    );
    let answer = owner.put_json(&session, &body);
    assert!(
        answer.status == 200 || answer.status == 201,
        "the collaboration API must answer a logged-in browser: {} {}",
        answer.status,
        answer.body
    );
    let answer: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert!(
        answer["fileId"].is_string() && answer["sessionId"].is_string(),
        "a session names the shared document and the server session: {answer}"
    );
}
