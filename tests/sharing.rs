//! Sharing a lab with colleagues: an address allowlist checked before login on every
//! route, a lab that never phones home, and real-time collaboration. Colleagues browse
//! from the client host (10.231.0.2), which reaches this machine as 10.231.0.1.

use crate::podman::{podman, OnEngine};
use crate::util::*;

const PULLED: &str = "image: jupyter/minimal-notebook:latest\n";
/// A network that never holds the client host (TEST-NET-1, RFC 5737).
const ELSEWHERE: &str = "192.0.2.0/24";
const NOTIFICATION: &str = "/lab/api/settings/@jupyterlab/apputils-extension:notification";

/// The lab's log, as `rjup logs` prints it.
fn lab_log(project: &Project) -> String {
    let out = project.rjup(&["logs"], &[], None);
    assert_success(&out, "rjup logs");
    format!("{}{}", stdout(&out), stderr(&out))
}

fn colleague_host() -> &'static str {
    let host = lab_host();
    assert_eq!(
        host, "10.231.0.1",
        "root: these tests need the second host of tests/fixtures/client-host.sh, which needs root"
    );
    host
}

fn is_refusal(r: &Response) -> bool {
    r.status == 403
        && r.body
            .to_ascii_lowercase()
            .contains("x-rjup-refused: address")
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_an_allowlist_refuses_other_addresses_before_login_and_admits_listed_ones() {
    let _engine = engine();
    colleague_host();
    let project = Project::from_example("pulled", "allow");
    project.write("rjup.yaml", &format!("{PULLED}allow: [{ELSEWHERE}]\n"));
    let port = free_port();
    project.up(port);

    let colleague = Browser::new(port).with_headers();
    let login = colleague.get("/login");
    assert!(
        is_refusal(&login),
        "the login page must be refused: {}",
        login.body
    );
    assert!(
        login
            .body
            .contains("does not admit requests from 10.231.0.2"),
        "{}",
        login.body
    );
    let favicon = colleague.get("/static/favicons/favicon.ico");
    assert!(is_refusal(&favicon), "static files too: {}", favicon.status);
    let post = colleague.get_url(&format!("http://10.231.0.1:{port}/api/contents"));
    assert!(is_refusal(&post), "the API too: {}", post.status);
    let ws = Browser::new(port)
        .with_headers()
        .websocket_status("/api/kernels/00000000-0000-0000-0000-000000000000/channels");
    assert!(
        is_refusal(&ws),
        "the kernel WebSocket upgrade too: {}",
        ws.body
    );
    let log = lab_log(&project);
    assert!(
        log.contains("rjup: refused a request for /login from 10.231.0.2"),
        "the lab's log must name the refused address:\n{log}"
    );

    // The engine's host's loopback arrives from the container's gateway, as IPv6
    // clients and other containers do: refused too, unless it is rjup's own probe
    // (tests/attacks_lab.rs).
    assert!(is_refusal(
        &Browser::local(port).with_headers().get("/login")
    ));

    // Docker would also publish on [::], where IPv6 clients arrive through docker-proxy
    // from the container's gateway, which is admitted: with a list, IPv4 only.
    let container = inspect(&project.container()).unwrap();
    let bindings = &container["HostConfig"]["PortBindings"]["8888/tcp"];
    assert_eq!(bindings[0]["HostIp"], "0.0.0.0", "{bindings}");
    let over_ipv6 = Browser::at(&format!("http://[::1]:{port}")).get("/login");
    assert_eq!(
        over_ipv6.status, 0,
        "nothing may answer on [::]: {}",
        over_ipv6.body
    );

    let status = project.rjup(&["status", "--json"], &[], None);
    assert_success(&status, "rjup status --json");
    let view: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(view["allow"], serde_json::json!([ELSEWHERE]));
    let ls = project.rjup(&["ls", "--json"], &[], None);
    assert!(
        stdout(&ls).contains(&format!("\"allow\":[\"{ELSEWHERE}\"]")),
        "{}",
        stdout(&ls)
    );

    // With the colleague's network listed, the colleague logs in.
    project.write(
        "rjup.yaml",
        &format!("{PULLED}allow: [{ELSEWHERE}, 10.231.0.0/24]\n"),
    );
    project.up(port);
    let colleague = Browser::new(port);
    assert_eq!(colleague.login(PASSWORD), 302);
    assert_eq!(colleague.get("/api/contents").status, 200);
    let ws =
        colleague.websocket_status("/api/kernels/00000000-0000-0000-0000-000000000000/channels");
    assert!(
        !is_refusal(&ws),
        "an admitted address is not refused: {}",
        ws.body
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_lab_that_refuses_rjups_own_address_counts_as_up_and_check_says_why() {
    let _engine = engine();
    let host = colleague_host();
    let project = Project::from_example("pulled", "allowprobe");
    // Published on the LAN address only, rjup probes it from that address, not through
    // the engine's loopback forwarding, so the lab sees 10.231.0.1, which it refuses.
    project.write(
        "rjup.yaml",
        &format!("{PULLED}bind: {host}\nallow: [{ELSEWHERE}]\n"),
    );
    let port = free_port();
    let up = project.up(port);
    assert!(
        stderr(&up).contains("but refuses this machine's address"),
        "{}",
        stderr(&up)
    );
    assert!(is_refusal(&Browser::new(port).with_headers().get("/login")));

    let out = project.rjup(&["check"], &[("RJUP_PASSWORD", PASSWORD)], None);
    assert_exit(&out, 12, "rjup check from a refused address");
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("the lab refused this machine's address")
            && text.contains("add this machine's address to `allow:`"),
        "{text}"
    );
}

/// The lab's notification settings, the news feed and the update check, as the page
/// asks for them once logged in: all must be off, with nothing fetched.
fn assert_no_phoning_home(browser: &Browser, project: &Project) {
    let settings = browser.get(NOTIFICATION);
    assert_eq!(settings.status, 200, "{}", settings.body);
    let settings: serde_json::Value = serde_json::from_str(&settings.body).unwrap();
    // The page takes the schema's defaults unless the user saved a choice, and a fresh
    // lab has none.
    let properties = &settings["schema"]["properties"];
    assert_eq!(properties["fetchNews"]["default"], "false", "{settings}");
    assert_eq!(
        properties["checkForUpdates"]["default"], false,
        "{settings}"
    );
    assert!(
        settings["settings"].get("fetchNews").is_none(),
        "{settings}"
    );
    let page = browser.get("/lab");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("\"news\": {\"disabled\": true}")
            || page.body.contains("\"news\":{\"disabled\":true}"),
        "the page must have news disabled"
    );
    let news = browser.get("/lab/api/news");
    assert_eq!(news.status, 200, "{}", news.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&news.body).unwrap()["news"],
        serde_json::json!([])
    );
    let update = browser.get("/lab/api/update");
    assert_eq!(update.status, 200, "{}", update.body);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&update.body).unwrap()["notification"],
        serde_json::Value::Null
    );
    let log = lab_log(project);
    for outbound in ["jupyterlab.github.io", "pypi.org", "feed.xml"] {
        assert!(
            !log.contains(outbound),
            "the lab fetched {outbound}:\n{log}"
        );
    }
    let outbound = outbound_connections(&project.container());
    assert!(outbound.is_empty(), "the lab connected out: {outbound:?}");
}

/// The lab's TCP connections that it opened itself to somewhere other than its own
/// loopback (kernels talk over that): any socket whose local port is not the server's,
/// in any state but listening, including the TIME_WAIT a finished fetch leaves.
fn outbound_connections(container: &str) -> Vec<String> {
    let table = exec(container, &["cat", "/proc/net/tcp", "/proc/net/tcp6"]);
    table
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
            let (_, local_port) = local.split_once(':')?;
            let (remote_ip, _) = remote.split_once(':')?;
            let loopback =
                remote_ip.ends_with("7F") || remote_ip == "00000000000000000000000001000000";
            let unset = remote_ip.chars().all(|c| c == '0');
            let own = local_port == "22B8" || *state == "0A";
            (!own && !loopback && !unset).then(|| line.trim().to_string())
        })
        .collect()
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_pulled_lab_never_phones_home() {
    let _engine = engine();
    let project = Project::from_example("pulled", "nonews");
    project.write("rjup.yaml", PULLED);
    let port = free_port();
    project.up(port);
    let browser = Browser::new(port);
    assert_eq!(browser.login(PASSWORD), 302);
    assert_no_phoning_home(&browser, &project);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_built_lab_with_collaboration_serves_its_api_and_never_phones_home() {
    let _engine = engine();
    let project = Project::from_example("", "collab");
    project.write("rjup.yaml", "collaboration: true\n");
    project.notebook("together.ipynb", &["1 + 1"]);
    let port = free_port();
    project.up(port);
    let browser = Browser::new(port);
    assert_eq!(browser.login(PASSWORD), 302);
    assert_no_phoning_home(&browser, &project);

    // What JupyterLab asks before it opens a shared document: a room for the file.
    let session = browser.send_json(
        "PUT",
        "/api/collaboration/session/together.ipynb",
        &serde_json::json!({"format": "json", "type": "notebook"}),
    );
    assert!(
        matches!(session.status, 200 | 201),
        "PUT /api/collaboration/session: {} {}",
        session.status,
        session.body
    );
    let session: serde_json::Value = serde_json::from_str(&session.body).unwrap();
    assert!(
        session["fileId"].is_string() && session["sessionId"].is_string(),
        "{session}"
    );
    // Not for someone who is not logged in.
    let stranger = Browser::new(port);
    assert_eq!(stranger.get("/login").status, 200);
    let refused = stranger.send_json(
        "PUT",
        "/api/collaboration/session/together.ipynb",
        &serde_json::json!({"format": "json", "type": "notebook"}),
    );
    assert!(matches!(refused.status, 401 | 403), "{}", refused.status);

    let status = project.rjup(&["status", "--json"], &[], None);
    let view: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(view["collaboration"], true);

    // The image just built has jupyter-collaboration: run as a ready image, it passes
    // the check a pulled image must pass.
    let image = view["image"].as_str().unwrap();
    let pulled = Project::from_example("pulled", "collabpulled");
    pulled.write(
        "rjup.yaml",
        &format!("image: {image}\ncollaboration: true\n"),
    );
    pulled.up(free_port());
}

#[test]
#[ignore = "podman: needs root and Podman: tests/fixtures/podman.sh"]
fn podman_an_allowlist_works_on_podman_too() {
    let _engine = engine();
    colleague_host();
    let lab = OnEngine::new(Project::from_example("pulled", "allow-podman"), podman());
    lab.project
        .write("rjup.yaml", &format!("{PULLED}allow: [{ELSEWHERE}]\n"));
    let port = free_port();
    assert_success(
        &lab.rjup(&["up", "--port", &port.to_string()]),
        "rjup up on Podman",
    );
    let refused = Browser::new(port).with_headers().get("/login");
    assert!(is_refusal(&refused), "{}", refused.body);
    assert!(refused.body.contains("10.231.0.2"), "{}", refused.body);
    assert!(is_refusal(
        &Browser::local(port).with_headers().get("/login")
    ));

    lab.project
        .write("rjup.yaml", &format!("{PULLED}allow: [10.231.0.2]\n"));
    assert_success(
        &lab.rjup(&["up", "--port", &port.to_string()]),
        "rjup up on Podman",
    );
    assert_eq!(Browser::new(port).login(PASSWORD), 302);
}
