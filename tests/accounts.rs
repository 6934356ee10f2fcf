//! Named accounts and read-only guests, end to end: `rjup user` on a running lab, and
//! colleagues logging in by name from the second host.

use crate::util::*;

const ADA: &str = "ada's own passphrase";
const GRACE: &str = "grace's own passphrase";

/// A running lab (a pulled image: nothing to build) and its port.
fn lab(test: &str) -> (Project, u16) {
    let project = Project::from_example("pulled", test);
    let port = free_port();
    project.up(port);
    (project, port)
}

fn add(project: &Project, name: &str, password: &str, read_only: bool) {
    let mut args = vec!["user", "add", name, "--password-stdin"];
    if read_only {
        args.push("--read-only");
    }
    let out = project.rjup(&args, &[], Some(&format!("{password}\n")));
    assert_success(&out, "rjup user add");
}

fn logged_in(port: u16, name: &str, password: &str) -> Browser {
    let browser = Browser::new(port);
    assert_eq!(
        browser.login_as(name, password),
        302,
        "{name} must log in with their own password"
    );
    browser
}

fn me(browser: &Browser) -> String {
    let me = browser.get("/api/me");
    assert_eq!(me.status, 200, "{}", me.body);
    let me: serde_json::Value = serde_json::from_str(&me.body).unwrap();
    me["identity"]["username"].as_str().unwrap().to_string()
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_two_accounts_log_in_with_their_own_passwords_and_see_their_own_names() {
    let _engine = engine();
    let (project, port) = lab("acc_names");
    let login_page = Browser::new(port).get("/login").body;
    assert!(
        !login_page.contains("name=\"username\""),
        "a lab with only the owner keeps the password-only page"
    );
    add(&project, "ada", ADA, false);
    add(&project, "grace", GRACE, true);

    let login_page = Browser::new(port).get("/login").body;
    assert!(login_page.contains("name=\"username\""), "{login_page}");
    assert!(login_page.contains("name=\"_xsrf\""), "{login_page}");
    let ada = logged_in(port, "ada", ADA);
    let grace = logged_in(port, "grace", GRACE);
    assert_eq!(Browser::new(port).login_as("ada", GRACE), 401);
    assert_eq!(Browser::new(port).login_as("grace", ADA), 401);
    assert_eq!(me(&ada), "ada");
    assert_eq!(me(&grace), "grace");
    let owner = Browser::new(port);
    assert_eq!(
        owner.login(PASSWORD),
        302,
        "the owner still logs in with the password alone"
    );
    assert_eq!(me(&owner), "owner");

    let status = project.rjup(&["status", "--json"], &[], None);
    assert_success(&status, "rjup status --json");
    let text = stdout(&status);
    assert!(!text.contains("argon2"), "status shows a hash: {text}");
    let status: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        status["accounts"],
        serde_json::json!([
            {"name": "owner", "role": "owner"},
            {"name": "ada", "role": "collaborator"},
            {"name": "grace", "role": "read-only"},
        ])
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_read_only_account_reads_but_cannot_write_run_code_or_open_a_terminal() {
    let _engine = engine();
    let (project, port) = lab("acc_readonly");
    project.write("notes.txt", "for your eyes\n");
    add(&project, "grace", GRACE, true);
    let grace = logged_in(port, "grace", GRACE);
    let owner = Browser::new(port);
    assert_eq!(owner.login(PASSWORD), 302);

    let listing = grace.get("/api/contents");
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert!(listing.body.contains("notes.txt"), "{}", listing.body);
    let file = grace.get("/api/contents/notes.txt");
    assert_eq!(file.status, 200, "{}", file.body);
    assert!(file.body.contains("for your eyes"), "{}", file.body);

    let kernel = owner.send("POST", "/api/kernels", r#"{"name": "python3"}"#);
    assert_eq!(
        kernel.status, 201,
        "the owner starts a kernel: {}",
        kernel.body
    );
    let kernel: serde_json::Value = serde_json::from_str(&kernel.body).unwrap();
    let channels = format!("/api/kernels/{}/channels", kernel["id"].as_str().unwrap());

    assert_eq!(grace.put_file("by-grace.txt", "x").status, 403);
    assert!(!project.dir.join("by-grace.txt").exists());
    assert_eq!(
        grace
            .send("POST", "/api/kernels", r#"{"name": "python3"}"#)
            .status,
        403
    );
    assert_eq!(grace.send("POST", "/api/terminals", "{}").status, 403);
    assert_eq!(grace.websocket(&channels), 403, "the kernel's WebSocket");
    // Handlers that ask no Authorizer: the extension manager, which runs pip, and the
    // settings every user gets.
    let install = grace.send(
        "POST",
        "/lab/api/extensions",
        r#"{"cmd": "install", "extension_name": "rjup-no-such-extension"}"#,
    );
    assert_eq!(install.status, 403, "{}", install.body);
    let settings = "/lab/api/settings/@jupyterlab/apputils-extension:themes";
    let dark = r#"{"raw": "{\"theme\": \"JupyterLab Dark\"}"}"#;
    assert_eq!(grace.send("PUT", settings, dark).status, 403);

    assert_eq!(owner.send("PUT", settings, dark).status, 204);
    assert_eq!(owner.put_file("by-owner.txt", "x").status, 201);
    let terminal = owner.send("POST", "/api/terminals", "{}");
    assert_eq!(terminal.status, 200, "{}", terminal.body);
    assert_eq!(owner.websocket(&channels), 101, "the kernel's WebSocket");
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_removing_an_account_ends_its_session() {
    let _engine = engine();
    let (project, port) = lab("acc_rm");
    add(&project, "ada", ADA, false);
    let ada = logged_in(port, "ada", ADA);
    assert_eq!(ada.get("/api/contents").status, 200);

    let out = project.rjup(&["user", "rm", "ada"], &[], None);
    assert_success(&out, "rjup user rm");
    assert_eq!(
        ada.get("/api/contents").status,
        403,
        "the removed account's session must end"
    );
    assert_eq!(Browser::new(port).login_as("ada", ADA), 401);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_adding_an_account_to_a_running_lab_keeps_the_lab_and_its_kernels() {
    let _engine = engine();
    let (project, port) = lab("acc_live");
    let id = |p: &Project| inspect(&p.container()).unwrap()["Id"].clone();
    let before = id(&project);
    let owner = Browser::new(port);
    assert_eq!(owner.login(PASSWORD), 302);
    let kernel = owner.send("POST", "/api/kernels", r#"{"name": "python3"}"#);
    assert_eq!(kernel.status, 201, "{}", kernel.body);
    let kernel: serde_json::Value = serde_json::from_str(&kernel.body).unwrap();
    let kernel = format!("/api/kernels/{}", kernel["id"].as_str().unwrap());

    add(&project, "ada", ADA, false);
    let ada = logged_in(port, "ada", ADA);
    assert_eq!(me(&ada), "ada");
    assert_eq!(id(&project), before, "the lab must not be recreated");
    assert_eq!(owner.get(&kernel).status, 200, "the kernel must survive");

    // `up` on the running lab leaves it as it is, accounts and all.
    let up = project.rjup(
        &["up", "--port", &port.to_string(), "--json"],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_success(&up, "rjup up");
    assert!(
        stdout(&up).contains("\"action\":\"unchanged\""),
        "{}",
        stdout(&up)
    );
    assert_eq!(id(&project), before);
    assert_eq!(ada.get(&kernel).status, 200);
}

/// Sends an edit to `path`'s collaboration room as `name`, from inside the lab.
fn edit_document(project: &Project, name: &str, password: &str, path: &str, text: &str) -> String {
    let script = include_str!("accounts/edit_document.py");
    exec(
        &project.container(),
        &["python3", "-c", script, name, password, path, text],
    )
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_read_only_account_cannot_edit_a_document_through_collaboration() {
    let _engine = engine();
    let project = Project::from_example("", "acc_collab");
    project.write(
        "rjup.yaml",
        "build:\n  packages:\n    - jupyter-collaboration\n",
    );
    project.write("notes.txt", "original text\n");
    project.up(free_port());
    add(&project, "grace", GRACE, true);
    add(&project, "ada", ADA, false);
    let notes = || std::fs::read_to_string(project.dir.join("notes.txt")).unwrap();

    // Jupyter-collaboration's document WebSocket asks no Authorizer: rjup drops what a
    // read-only account sends there that would change the document.
    let out = edit_document(&project, "grace", GRACE, "notes.txt", "GRACE WAS HERE ");
    assert!(
        out.contains("session 20"),
        "grace may open the document: {out}"
    );
    assert_eq!(notes(), "original text\n", "{out}");
    let out = edit_document(&project, "ada", ADA, "notes.txt", "ADA WAS HERE ");
    assert!(
        notes().contains("ADA WAS HERE"),
        "a collaborator's edit is saved: {out}"
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_failed_logins_for_one_account_from_several_addresses_lock_that_account() {
    let _engine = engine();
    require_client_host("the per-account throttle test");
    let (project, port) = lab("acc_throttle");
    add(&project, "ada", ADA, false);
    let (remote, local) = (Browser::new(port), Browser::local(port));
    // One address alone is locked out before the account is.
    for _ in 0..5 {
        assert_eq!(remote.login_as("ada", "guess"), 401);
    }
    assert_eq!(
        remote.login_as("ada", ADA),
        429,
        "the address is locked out"
    );
    for _ in 0..4 {
        assert_eq!(local.login_as("ada", "guess"), 401);
    }
    // The owner's success clears this address's record, not ada's.
    assert_eq!(local.login(PASSWORD), 302);
    assert_eq!(
        Browser::local(port).login_as("ada", "guess"),
        401,
        "the tenth failure for ada"
    );
    assert_eq!(
        Browser::local(port).login_as("ada", ADA),
        429,
        "ada's account is locked out, from an address that is not"
    );
    assert_eq!(Browser::local(port).login(PASSWORD), 302, "others are not");
    let log = stdout(&project.rjup(&["logs"], &[], None));
    assert!(log.contains("(account ada); locked out"), "{log}");
}
