//! Labs on a Docker Swarm: the three-node swarm of `tests/fixtures/swarm.sh`, each node
//! its own dockerd at 10.240.0.1x, the manager node 1. Tests on the swarm share one
//! cluster and its ports, so they run one at a time.

use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use crate::util::*;

/// The manager's DOCKER_HOST, starting the swarm once per run.
fn manager() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| fixture_engine("swarm", &["swarm.sh", "up", "3"]))
}

/// The swarm, to this test alone.
fn swarm() -> (MutexGuard<'static, ()>, &'static str) {
    static ONE: Mutex<()> = Mutex::new(());
    let guard = ONE.lock().unwrap_or_else(PoisonError::into_inner);
    (guard, manager())
}

/// `docker` on the manager (or another engine), as root.
fn docker(host: &str, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", host)
        .output()
        .expect("running docker")
}

fn docker_text(host: &str, args: &[&str]) -> String {
    let out = docker(host, args);
    assert_success(&out, &format!("docker {args:?}"));
    stdout(&out)
}

/// A project whose lab runs on the swarm; `rjup down` there when dropped.
struct SwarmLab {
    project: Project,
    host: &'static str,
}

impl SwarmLab {
    fn new(example: &str, test: &str, host: &'static str, swarm: &str) -> SwarmLab {
        let project = Project::from_example(example, test);
        let yaml = std::fs::read_to_string(project.dir.join("rjup.yaml")).unwrap_or_default();
        project.write("rjup.yaml", &format!("{yaml}\n{swarm}\n"));
        SwarmLab { project, host }
    }

    fn rjup(&self, args: &[&str], password: &str) -> Output {
        self.project.rjup(
            args,
            &[("DOCKER_HOST", self.host), ("RJUP_PASSWORD", password)],
            None,
        )
    }

    fn service(&self) -> String {
        format!("rjup-{}", self.project.name)
    }

    fn secrets(&self) -> Vec<String> {
        let filter = format!("label=io.rjup.project={}", self.project.dir.display());
        docker_text(
            self.host,
            &["secret", "ls", "--filter", &filter, "--format", "{{.Name}}"],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }

    fn version(&self) -> String {
        docker_text(
            self.host,
            &[
                "service",
                "inspect",
                &self.service(),
                "--format",
                "{{.Version.Index}}",
            ],
        )
    }

    /// Nothing of the lab is left on the cluster.
    fn assert_gone(&self) {
        let services = docker_text(self.host, &["service", "ls", "--format", "{{.Name}}"]);
        assert!(!services.contains(&self.service()), "{services}");
        assert_eq!(self.secrets(), Vec::<String>::new());
    }
}

impl Drop for SwarmLab {
    fn drop(&mut self) {
        let _ = self.rjup(&["down"], PASSWORD);
    }
}

/// The node URL `up` printed: http(s)://10.240.0.1x:PORT/lab.
fn node_url(out: &Output, port: u16) -> String {
    let text = stdout(out);
    text.lines()
        .map(str::trim)
        .find(|l| {
            let node = l.starts_with("http://10.240.0.1") || l.starts_with("https://10.240.0.1");
            node && l.ends_with(&format!(":{port}/lab"))
        })
        .unwrap_or_else(|| panic!("no node URL in:\n{text}"))
        .to_string()
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_pull_mode_lab_is_a_service_with_secrets_that_rolls_on_a_new_password() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let port = 18801;
    let lab = SwarmLab::new(
        "pulled",
        "sw-pull",
        host,
        &format!("port: {port}\nswarm: {{}}"),
    );
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up on the swarm");
    let url = node_url(&up, port);
    let status = lab.rjup(&["status"], PASSWORD);
    assert!(stdout(&status).contains(&url), "{}", stdout(&status));
    assert_success(&lab.rjup(&["check"], PASSWORD), "rjup check on the swarm");
    // Every verb knows the service: ls across the cluster, and the service's log.
    let ls = lab.rjup(&["ls", "--json"], PASSWORD);
    assert_success(&ls, "rjup ls on the swarm");
    assert!(stdout(&ls).contains(&url), "{}", stdout(&ls));
    let logs = lab.rjup(&["logs", "--tail", "50"], PASSWORD);
    assert_success(&logs, "rjup logs on the swarm");
    let log = String::from_utf8_lossy(&logs.stdout).into_owned();
    assert!(log.contains("Jupyter"), "the server's log: {log}");

    // The hash is only in secrets: not in the service, nor the task's container.
    let inspect = docker_text(host, &["service", "inspect", &lab.service()]);
    assert!(!inspect.contains("argon2"), "{inspect}");
    // Pinned by digest, as `docker service create` pins: no registry round trip on a
    // node that holds the image, a failover's start included.
    assert!(
        inspect.contains("jupyter/minimal-notebook:latest@sha256:"),
        "{inspect}"
    );
    let node = url
        .trim_start_matches("http://10.240.0.1")
        .split(':')
        .next()
        .unwrap();
    let node_host = format!("unix:///run/rjup-swarm/node{node}/docker.sock");
    let filter = format!("label=com.docker.swarm.service.name={}", lab.service());
    let ids = docker_text(&node_host, &["ps", "-q", "--filter", &filter]);
    let id = ids
        .lines()
        .next()
        .expect("the task's container on its node");
    let container = docker_text(&node_host, &["inspect", id]);
    assert!(!container.contains("argon2"), "{container}");
    let mode = docker_text(
        &node_host,
        &[
            "exec",
            id,
            "stat",
            "-c",
            "%a %u %g",
            "/etc/rjup/jupyter/rjup_lab.json",
        ],
    );
    // Root's, readable by the lab's group: the lab cannot rewrite its config.
    let gid = tester_ids().map_or(0, |(_, gid)| gid);
    assert_eq!(
        mode.trim(),
        format!("440 0 {gid}"),
        "the secret's mode and owner"
    );

    // A no-op `up` changes nothing.
    let version = lab.version();
    assert_success(&lab.rjup(&["up"], PASSWORD), "a second rjup up");
    assert_eq!(lab.version(), version, "a no-op up updated the service");

    // A new password: a new secret, the old one gone, the lab checking the new one.
    let before = lab.secrets();
    let changed = lab.project.rjup(
        &["password", "--password-stdin"],
        &[("DOCKER_HOST", host)],
        Some("another horse battery\n"),
    );
    assert_success(&changed, "rjup password on the swarm");
    let after = lab.secrets();
    let old_settings = before
        .iter()
        .find(|s| s.starts_with("rjup-settings-"))
        .unwrap();
    assert!(!after.contains(old_settings), "{before:?} -> {after:?}");
    assert!(
        after.iter().any(|s| s.starts_with("rjup-settings-")),
        "{after:?}"
    );
    assert_ne!(lab.version(), version);
    assert_success(
        &lab.rjup(&["check"], "another horse battery"),
        "rjup check with the new password",
    );
    assert_exit(&lab.rjup(&["check"], PASSWORD), 12, "the old password");

    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_swarm_lab_on_an_engine_that_is_no_manager_is_one_line_and_exit_3() {
    let _engine = engine();
    let project = Project::from_example("pulled", "sw-nomgr");
    project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\nswarm: {}\n",
    );
    // The main engine is in no swarm.
    let out = project.rjup(&["up"], &[("RJUP_PASSWORD", PASSWORD)], None);
    assert_exit(&out, 3, "up on a non-manager");
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("not a Swarm manager") && err.contains("DOCKER_HOST"),
        "{err}"
    );
    assert!(containers_named(&project.name).is_empty());
}

/// An HTTP CONNECT proxy on this machine's address on the swarm's bridge: the nodes
/// reach no package index by themselves, as cluster nodes behind a corporate proxy, so
/// a build on the manager goes through it (rjup hands `HTTPS_PROXY` and `HTTP_PROXY`
/// to builds).
fn build_proxy() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let listener = std::net::TcpListener::bind("10.240.0.1:0").expect("a port on the bridge");
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                std::thread::spawn(move || tunnel(client));
            }
        });
        url
    })
    .clone()
}

/// One CONNECT (uv, pip), or one plain `GET http://...` (apt, whose Debian mirrors are
/// http): read the request head, dial its target, then copy both ways; a plain request
/// goes on as it came, since servers take the absolute form too.
fn tunnel(mut client: std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let first = text.lines().next().unwrap_or("");
    let (connect, target) = match first.strip_prefix("CONNECT ") {
        Some(rest) => (true, rest.split(' ').next().map(str::to_string)),
        None => (
            false,
            first
                .split(' ')
                .nth(1)
                .and_then(|url| url.strip_prefix("http://"))
                .and_then(|rest| rest.split('/').next())
                .map(|host| match host.contains(':') {
                    true => host.to_string(),
                    false => format!("{host}:80"),
                }),
        ),
    };
    let Some(target) = target else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    let Ok(mut upstream) = std::net::TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n");
        return;
    };
    let started = if connect {
        client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
    } else {
        upstream.write_all(&head)
    };
    if started.is_err() {
        return;
    }
    let (mut up_read, mut client_write) =
        (upstream.try_clone().unwrap(), client.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut client_read, mut up_write) = (client, upstream);
    let _ = std::io::copy(&mut client_read, &mut up_write);
    let _ = up_write.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
}

/// The swarm node an `http://10.240.0.1x:PORT/...` URL names, as its number.
fn node_of(url: &str) -> u32 {
    url.trim_start_matches("http://10.240.0.1")
        .trim_start_matches("https://10.240.0.1")
        .split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no swarm node in {url}"))
}

fn node_host(node: u32) -> String {
    format!("unix:///run/rjup-swarm/node{node}/docker.sock")
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_build_mode_pushes_to_the_registry_and_a_worker_runs_the_push_by_digest() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let port = 18802;
    let lab = SwarmLab::new(
        "minimal",
        "sw-build",
        host,
        &format!(
            "port: {port}\nswarm:\n  registry: 10.240.0.1:5000\n  constraints: [node.role==worker]"
        ),
    );
    // Binder's `start` runs before the server on a Swarm too (the service's command
    // once replaced the image's entrypoint, and with it `start`).
    lab.project.write(
        "start",
        "#!/bin/bash\necho \"$@\" > /project/started-with\nexec \"$@\"\n",
    );
    let proxy = build_proxy();
    let up = lab.project.rjup(
        &["up", "--timeout", "300"],
        &[
            ("DOCKER_HOST", host),
            ("RJUP_PASSWORD", PASSWORD),
            ("HTTPS_PROXY", &proxy),
            ("HTTP_PROXY", &proxy),
        ],
        None,
    );
    assert_success(&up, "rjup up in build mode on the swarm");
    assert!(
        stderr(&up).contains("Pushing 10.240.0.1:5000/"),
        "{}",
        stderr(&up)
    );
    let url = node_url(&up, port);
    let node = node_of(&url);
    assert_ne!(node, 1, "the lab runs on the manager: {url}");

    let image = docker_text(
        host,
        &[
            "service",
            "inspect",
            &lab.service(),
            "--format",
            "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        ],
    );
    let image = image.trim();
    assert!(
        image.starts_with("10.240.0.1:5000/rjup/") && image.contains("@sha256:"),
        "{image}"
    );
    // The worker pulled exactly that digest from the registry.
    let digests = docker_text(
        &node_host(node),
        &[
            "image",
            "ls",
            "--digests",
            "--format",
            "{{.Repository}}@{{.Digest}}",
        ],
    );
    assert!(
        digests.lines().any(|d| d == image),
        "{image} not in:\n{digests}"
    );
    assert_success(
        &lab.rjup(&["check"], PASSWORD),
        "rjup check on the built lab",
    );
    let started = std::fs::read_to_string(lab.project.dir.join("started-with"))
        .unwrap_or_else(|e| panic!("the Swarm lab never ran its start script: {e}"));
    assert_eq!(started.trim(), "jupyter-lab", "start ran, then the lab");
    // The build is not pushed again when nothing changed.
    let version = lab.version();
    let again = lab.rjup(&["up"], PASSWORD);
    assert_success(&again, "a second rjup up");
    assert!(!stderr(&again).contains("Pushing"), "{}", stderr(&again));
    assert_eq!(lab.version(), version);

    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
}

/// Node `node` cut off from the others while this lives: its link comes back up when
/// dropped, whatever the test did.
struct CutOff(u32);

impl CutOff {
    fn new(node: u32) -> CutOff {
        link(node, "down");
        CutOff(node)
    }
}

impl Drop for CutOff {
    fn drop(&mut self) {
        link(self.0, "up");
        // The node's log can stay out of the manager's reach after the cut
        // (moby/moby#35011), for every later test's `rjup logs`: heal the swarm.
        fixture("swarm", &["swarm.sh", "heal"]);
    }
}

fn link(node: u32, state: &str) {
    let out = Command::new("ip")
        .args(["link", "set", &format!("rjup-sw{node}h"), state])
        .output()
        .expect("running ip");
    assert_success(&out, &format!("ip link set rjup-sw{node}h {state}"));
}

/// Polls `probe` every second until it gives a value, for at most `seconds`.
fn within<T>(seconds: u64, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {seconds} s"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The containers of the lab's service running on each node: a stale task on a node
/// that comes back counts until Swarm shuts it down.
fn running_copies(service: &str) -> usize {
    let filter = format!("label=com.docker.swarm.service.name={service}");
    (1..=3)
        .map(|node| {
            let out = docker(&node_host(node), &["ps", "-q", "--filter", &filter]);
            stdout(&out).lines().count()
        })
        .sum()
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_a_lab_whose_node_is_cut_off_answers_on_the_other_worker_with_its_notebook() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let port = 18803;
    let lab = SwarmLab::new(
        "pulled",
        "sw-failover",
        host,
        &format!("port: {port}\nswarm:\n  constraints: [node.role==worker]"),
    );
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up on a worker");
    let url = node_url(&up, port);
    let first = node_of(&url);
    assert_ne!(first, 1, "{url}");
    let browser = Browser::at(url.trim_end_matches("/lab"));
    assert_eq!(browser.login(PASSWORD), 302, "login on node {first}");
    let saved = browser.put_notebook("before-the-cut.ipynb", "print('kept')");
    assert_eq!(saved.status, 201, "{}", saved.body);

    let started = std::time::Instant::now();
    let cut = CutOff::new(first);
    let other = 5 - first;
    let moved = format!("http://10.240.0.1{other}:{port}");
    let urls = within(150, "the lab answering on the other worker", || {
        let status = lab.rjup(&["status", "--json"], PASSWORD);
        let view: serde_json::Value = serde_json::from_str(&stdout(&status)).ok()?;
        let urls = view["urls"].to_string();
        let answers = Browser::at(&moved).get("/login").status == 200;
        (answers && urls.contains(&moved)).then_some(urls)
    });
    eprintln!(
        "node {first} cut off: the lab answered on node {other} after {:.1} s ({urls})",
        started.elapsed().as_secs_f64()
    );
    let browser = Browser::at(&moved);
    assert_eq!(browser.login(PASSWORD), 302, "login on node {other}");
    let kept = browser.get("/api/contents/before-the-cut.ipynb");
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert!(kept.body.contains("print('kept')"), "{}", kept.body);

    drop(cut);
    within(120, "one running copy after the node came back", || {
        let ready = docker_text(host, &["node", "ls", "--format", "{{.Status}}"]);
        let all_back = ready.lines().all(|s| s == "Ready");
        (all_back && running_copies(&lab.service()) == 1).then_some(())
    });
    assert_success(&lab.rjup(&["check"], PASSWORD), "rjup check after failover");
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
}

#[test]
#[ignore = "swarm: needs root, a Swarm (tests/fixtures/swarm.sh up 3) with the registry 10.240.0.1:5000, and pebble from tests/fixtures/pebble.sh"]
fn swarm_tls_acme_a_lab_whose_node_is_cut_off_serves_its_new_node_s_certificate() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let ca = crate::acme::pebble("default", 14000, &[]);
    let port = 18814;
    let lab = SwarmLab::new(
        "pulled",
        "sw-acme-move",
        host,
        &format!(
            "port: {port}\ntls: acme\nacme:\n  names: [10.240.0.11, 10.240.0.12, 10.240.0.13]\n  directory: {}\n  ca_certificates: ca.pem\nswarm:\n  registry: 10.240.0.1:5000\n  constraints: [node.role==worker]",
            ca.directory
        ),
    );
    lab.project
        .write("ca.pem", &std::fs::read_to_string(&ca.bundle).unwrap());
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up with tls: acme on a worker");
    let first = node_of(&node_url(&up, port));
    assert_ne!(first, 1);
    let other = 5 - first;
    let moved = format!("10.240.0.1{other}");

    let started = std::time::Instant::now();
    let cut = CutOff::new(first);
    // Nothing is ordered at move time: the other worker's volume holds its own
    // certificate since `up`, and the lab serves it there.
    let served = within(150, "the lab serving on the other worker", || {
        served_at(&moved, port, &ca.root).ok()
    });
    eprintln!(
        "node {first} cut off: the lab served a certificate for {moved} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(served.contains(&format!("IP Address:{moved}")), "{served}");
    let login = format!("https://{moved}:{port}/login");
    let curl = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null", "--cacert"])
        .arg(&ca.root)
        .args(["-w", "%{http_code} %{ssl_verify_result}", &login])
        .output()
        .unwrap();
    assert_eq!(stdout(&curl), "200 0", "{login}: {}", stderr(&curl));
    let status = lab.rjup(&["status", "--json"], PASSWORD);
    let view: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert!(
        view["certificate"]["names"].to_string().contains(&moved),
        "{view}"
    );
    drop(cut);
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
}

/// A container on node `number` holding its port 80, removed when this is dropped.
struct PortHolder(String);

impl PortHolder {
    fn new(number: u32) -> PortHolder {
        let node = format!("unix:///run/rjup-swarm/node{number}/docker.sock");
        let images = docker_text(&node, &["images", "-q", "jupyter/minimal-notebook"]);
        let image = images.lines().next().unwrap_or_else(|| {
            panic!("node {number} has no jupyter/minimal-notebook image to hold its port 80 with (run a swarm test that pulls it first)")
        });
        let name = format!("rjup-test-port80-holder-{}", std::process::id());
        let run = [
            "run",
            "-d",
            "--name",
            &name,
            "-p",
            "80:8888",
            "--entrypoint",
            "sleep",
            image,
            "600",
        ];
        // An earlier test's renewer task lets port 80 go only once Swarm has stopped it,
        // which comes after its service is removed: wait for the port, not a fixed time.
        let out = within(60, "port 80 free on the node", || {
            let _ = docker(&node, &["rm", "-f", &name]);
            let out = docker(&node, &run);
            let taken = stderr(&out).contains("port is already allocated");
            (!taken).then_some(out)
        });
        assert_success(&out, &format!("docker {run:?}"));
        PortHolder(node)
    }
}

impl Drop for PortHolder {
    fn drop(&mut self) {
        let name = format!("rjup-test-port80-holder-{}", std::process::id());
        let _ = docker(&self.0, &["rm", "-f", &name]);
    }
}

#[test]
#[ignore = "swarm: needs root, a Swarm (tests/fixtures/swarm.sh up 3) with the registry 10.240.0.1:5000, and pebble from tests/fixtures/pebble.sh"]
fn swarm_tls_acme_with_port_80_taken_on_a_node_is_one_line_naming_it_and_leaves_nothing() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let ca = crate::acme::pebble("default", 14000, &[]);
    let lab = SwarmLab::new(
        "pulled",
        "sw-acme-port",
        host,
        &format!(
            "port: 18815\ntls: acme\nacme:\n  names: [10.240.0.11, 10.240.0.12, 10.240.0.13]\n  directory: {}\n  ca_certificates: ca.pem\nswarm:\n  registry: 10.240.0.1:5000",
            ca.directory
        ),
    );
    lab.project
        .write("ca.pem", &std::fs::read_to_string(&ca.bundle).unwrap());
    let _holder = PortHolder::new(2);
    let out = lab.rjup(&["up", "--timeout", "60"], PASSWORD);
    fails_cleanly(
        &lab,
        &out,
        6,
        &[
            "port 80",
            "10.240.0.12",
            "already allocated",
            "tls: self-signed",
        ],
    );
    let services = docker_text(host, &["service", "ls", "--format", "{{.Name}}"]);
    assert!(!services.lines().any(|s| s == "rjup-acme"), "{services}");
    let secrets = docker_text(host, &["secret", "ls", "--format", "{{.Name}}"]);
    assert!(!secrets.contains("rjup-acme-job-"), "{secrets}");
}

/// A label on a node of the swarm while this lives.
struct NodeLabel {
    host: &'static str,
    node: String,
    label: &'static str,
}

impl NodeLabel {
    /// Labels the node at `10.240.0.1<number>` with `label=yes`.
    fn new(host: &'static str, number: u32, label: &'static str) -> NodeLabel {
        let address = format!("10.240.0.1{number}");
        let ids = docker_text(host, &["node", "ls", "-q"]);
        let node = ids
            .lines()
            .find(|id| {
                docker_text(
                    host,
                    &["node", "inspect", id, "--format", "{{.Status.Addr}}"],
                )
                .trim()
                    == address
            })
            .unwrap_or_else(|| panic!("no node at {address}"))
            .to_string();
        let add = format!("{label}=yes");
        docker_text(host, &["node", "update", "--label-add", &add, &node]);
        NodeLabel { host, node, label }
    }
}

impl Drop for NodeLabel {
    fn drop(&mut self) {
        let _ = docker(
            self.host,
            &["node", "update", "--label-rm", self.label, &self.node],
        );
    }
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_constraints_place_the_lab_on_the_labelled_node() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let port = 18804;
    let _label = NodeLabel::new(host, 3, "rjup.test");
    let lab = SwarmLab::new(
        "pulled",
        "sw-constraints",
        host,
        &format!("port: {port}\nswarm:\n  constraints: [node.labels.rjup.test==yes]"),
    );
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up on the labelled node");
    assert_eq!(node_of(&node_url(&up, port)), 3, "{}", stdout(&up));
    let constraints = docker_text(
        host,
        &[
            "service",
            "inspect",
            &lab.service(),
            "--format",
            "{{json .Spec.TaskTemplate.Placement.Constraints}}",
        ],
    );
    assert_eq!(constraints.trim(), r#"["node.labels.rjup.test==yes"]"#);
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
}

/// A failed first `up`: its exit code, one line on stderr holding every one of
/// `words`, and nothing of the lab left on the cluster.
fn fails_cleanly(lab: &SwarmLab, out: &Output, code: i32, words: &[&str]) {
    assert_exit(out, code, "a failed rjup up on the swarm");
    let err = stderr(out);
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("rjup: error"))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(
        err.lines()
            .skip_while(|l| !l.starts_with("rjup: error"))
            .count(),
        1,
        "more than one line of error:\n{err}"
    );
    for word in words {
        assert!(errors[0].contains(word), "no {word:?} in: {err}");
    }
    lab.assert_gone();
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_a_constraint_no_node_satisfies_is_pending_with_the_schedulers_reason() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let lab = SwarmLab::new(
        "pulled",
        "sw-unsatisfiable",
        host,
        "port: 18805\nswarm:\n  constraints: [node.labels.rjup.nowhere==yes]",
    );
    let started = std::time::Instant::now();
    let out = lab.rjup(&["up", "--timeout", "20"], PASSWORD);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "{:?}",
        started.elapsed()
    );
    fails_cleanly(
        &lab,
        &out,
        9,
        &["pending", "no suitable node", "constraints"],
    );
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_a_registry_that_refuses_the_push_is_exit_7_and_leaves_nothing() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    // Nothing listens there.
    let lab = SwarmLab::new(
        "minimal",
        "sw-no-registry",
        host,
        "port: 18806\nswarm:\n  registry: 10.240.0.1:5999",
    );
    let proxy = build_proxy();
    let out = lab.project.rjup(
        &["up", "--timeout", "300"],
        &[
            ("DOCKER_HOST", host),
            ("RJUP_PASSWORD", PASSWORD),
            ("HTTPS_PROXY", &proxy),
            ("HTTP_PROXY", &proxy),
        ],
        None,
    );
    fails_cleanly(
        &lab,
        &out,
        7,
        &["pushing 10.240.0.1:5999/", "swarm.registry"],
    );
    let tags = docker_text(host, &["image", "ls", "--format", "{{.Repository}}"]);
    let pushed = format!("10.240.0.1:5999/rjup/{}", lab.project.name);
    assert!(!tags.contains(&pushed), "a tag is left:\n{tags}");
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_a_project_path_the_nodes_lack_is_the_tasks_error_not_a_timeout() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let lab = SwarmLab::new("", "sw-missing-path", host, "");
    // rjup sees the project on a tmpfs of its own mount namespace; the nodes, in this
    // machine's, see an empty directory without it.
    let hidden = lab.project.dir.join("hidden");
    std::fs::create_dir(&hidden).unwrap();
    let dir = hidden.join("project");
    let yaml = format!(
        "name: {}\nimage: jupyter/minimal-notebook:latest\nport: 18807\nswarm: {{}}\n",
        lab.project.name
    );
    let (chown, setpriv) = tester_ids().map_or((String::new(), String::new()), |(uid, gid)| {
        (
            format!("chown -R {uid}:{gid} \"$dir\" && "),
            format!("setpriv --reuid={uid} --regid={gid} --init-groups -- "),
        )
    });
    let script = format!(
        "mount -t tmpfs tmpfs \"$hidden\" && mkdir \"$dir\" && printf '%s' \"$yaml\" > \"$dir/rjup.yaml\" && {chown}cd \"$dir\" && exec {setpriv}\"$rjup\" up --timeout 120"
    );
    let started = std::time::Instant::now();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("hidden", &hidden)
        .env("dir", &dir)
        .env("yaml", &yaml)
        .env("rjup", rjup_bin())
        .env("XDG_STATE_HOME", &lab.project.state_home)
        .env("HOME", &lab.project.state_home)
        .env("DOCKER_HOST", host)
        .env("RJUP_PASSWORD", PASSWORD)
        .output()
        .expect("running unshare");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "waited for the timeout: {:?}\n{}",
        started.elapsed(),
        stderr(&out)
    );
    assert!(!dir.exists(), "the nodes see the project");
    let project = dir.display().to_string();
    fails_cleanly(&lab, &out, 9, &["rejected", &project]);
    let filter = format!("label=io.rjup.project={project}");
    let secrets = docker_text(host, &["secret", "ls", "-q", "--filter", &filter]);
    assert_eq!(secrets.trim(), "", "secrets left");
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_check_up_down_on_a_swarm_lab_removes_its_service_and_secrets() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let lab = SwarmLab::new("pulled", "sw-check-down", host, "port: 18808\nswarm: {}");
    let out = lab.rjup(&["check", "--up", "--down"], PASSWORD);
    assert_success(&out, "rjup check --up --down on the swarm");
    assert!(
        stdout(&out).contains("service and secrets removed"),
        "{}",
        stdout(&out)
    );
    lab.assert_gone();
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_down_removes_the_secrets_an_interrupted_up_left_without_a_service() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let lab = SwarmLab::new("pulled", "sw-leftover", host, "port: 18809\nswarm: {}");
    // What an `up` cut off after making its secrets and before its service leaves.
    let project = format!("io.rjup.project={}", lab.project.dir.display());
    let name = format!("rjup-config-leftover{}", std::process::id());
    let made = Command::new("sh")
        .args([
            "-c",
            "echo hash | docker secret create --label \"$1\" \"$2\" -",
            "sh",
            &project,
            &name,
        ])
        .env("DOCKER_HOST", host)
        .output()
        .expect("docker secret create");
    assert_success(&made, "docker secret create");
    let other = format!("rjup-config-other{}", std::process::id());
    let kept = Command::new("sh")
        .args([
            "-c",
            "echo hash | docker secret create --label io.rjup.project=/elsewhere \"$1\" -",
            "sh",
            &other,
        ])
        .env("DOCKER_HOST", host)
        .output()
        .expect("docker secret create");
    assert_success(&kept, "docker secret create of another project");
    assert_eq!(lab.secrets(), vec![name]);

    let down = lab.rjup(&["down"], PASSWORD);
    assert_success(&down, "rjup down without a service");
    assert!(
        stderr(&down).contains("removed 1 secret"),
        "{}",
        stderr(&down)
    );
    lab.assert_gone();
    let left = docker_text(host, &["secret", "ls", "--format", "{{.Name}}"]);
    let _ = docker(host, &["secret", "rm", &other]);
    assert!(
        left.lines().any(|l| l == other),
        "another project's secret went: {left}"
    );
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_a_self_signed_certificate_names_every_node_the_lab_may_move_to() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let port = 18810;
    let lab = SwarmLab::new(
        "pulled",
        "sw-tls",
        host,
        &format!("port: {port}\ntls: self-signed\nswarm: {{}}"),
    );
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up with TLS on the swarm");
    let url = node_url(&up, port);
    assert!(url.starts_with("https://"), "{url}");
    let cert = lab.project.state_dir().unwrap().join("tls-cert.pem");
    let names = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl");
    let names = stdout(&names);
    for node in 1..=3 {
        assert!(
            names.contains(&format!("IP Address:10.240.0.1{node}")),
            "node {node} not in {names}"
        );
    }
    // A client that checks the name against the node's address, as a browser does.
    let login = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&cert)
        .arg(url.replace("/lab", "/login"))
        .output()
        .expect("curl");
    assert_eq!(stdout(&login), "200", "{}", stderr(&login));
    assert_success(&lab.rjup(&["check"], PASSWORD), "rjup check over TLS");
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_a_swarm_lab_whose_allowlist_refuses_rjup_still_counts_as_up() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let port = 18811;
    // rjup reaches the node from 10.240.0.1, which this list leaves out.
    let lab = SwarmLab::new(
        "pulled",
        "sw-allow",
        host,
        &format!("port: {port}\nallow: [192.0.2.0/24]\nswarm: {{}}"),
    );
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up on the swarm");
    assert!(
        stderr(&up).contains("but refuses this machine's address"),
        "{}",
        stderr(&up)
    );
    let url = node_url(&up, port);
    let refused = Browser::at(url.trim_end_matches("/lab"))
        .with_headers()
        .get("/login");
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("does not admit requests from 10.240.0.1"),
        "{}",
        refused.body
    );
    let check = lab.rjup(&["check"], PASSWORD);
    assert_exit(&check, 12, "rjup check from a refused address");
    assert!(
        stdout(&check).contains("add this machine's address to `allow:`"),
        "{}",
        stdout(&check)
    );
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_named_accounts_on_a_swarm_lab_are_a_new_secret_and_a_service_update() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let port = 18811;
    let lab = SwarmLab::new(
        "pulled",
        "sw-accounts",
        host,
        &format!("port: {port}\nswarm: {{}}"),
    );
    assert_success(&lab.rjup(&["up"], PASSWORD), "rjup up on the swarm");
    let version = lab.version();
    // Secrets cannot change in place: the accounts are a new one, and an update.
    let added = lab.project.rjup(
        &["user", "add", "ada", "--password-stdin"],
        &[("DOCKER_HOST", host)],
        Some("ada's own passphrase\n"),
    );
    assert_success(&added, "rjup user add on the swarm");
    assert!(
        stderr(&added).contains("restarted its task"),
        "{}",
        stderr(&added)
    );
    assert_ne!(lab.version(), version, "the service must be updated");
    assert!(
        lab.secrets()
            .iter()
            .any(|s| s.starts_with("rjup-accounts-")),
        "{:?}",
        lab.secrets()
    );
    let status = lab.rjup(&["status"], PASSWORD);
    let url = stdout(&status)
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("urls:").map(str::trim).map(str::to_string))
        .filter(|u| u.starts_with("http://10.240.0.1"))
        .unwrap_or_else(|| panic!("no node URL in {}", stdout(&status)));
    let ada = Browser::at(url.trim_end_matches("/lab"));
    assert_eq!(ada.login_as("ada", "ada's own passphrase"), 302);
    assert!(ada.get("/api/me").body.contains("\"username\": \"ada\""));

    // ada could run code: removing her makes the cookie secret anew too, in a new task.
    let cookie_secret = |secrets: Vec<String>| {
        secrets
            .into_iter()
            .find(|s| s.starts_with("rjup-cookie-"))
            .expect("a cookie secret")
    };
    let (before, version) = (cookie_secret(lab.secrets()), lab.version());
    let removed = lab
        .project
        .rjup(&["user", "rm", "ada"], &[("DOCKER_HOST", host)], None);
    assert_success(&removed, "rjup user rm on the swarm");
    assert!(
        stderr(&removed).contains("new cookie secret"),
        "{}",
        stderr(&removed)
    );
    assert_ne!(cookie_secret(lab.secrets()), before);
    assert_ne!(lab.version(), version, "the service must be updated");
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
}

#[test]
#[ignore = "swarm: needs root and a Swarm: tests/fixtures/swarm.sh up 3"]
fn swarm_collaboration_with_a_pulled_image_lacking_it_is_refused_before_anything_is_made() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let lab = SwarmLab::new(
        "pulled",
        "sw-collab",
        host,
        "port: 18812\ncollaboration: true\nswarm: {}",
    );
    let out = lab.rjup(&["up"], PASSWORD);
    fails_cleanly(&lab, &out, 7, &["lacks jupyter-collaboration"]);
}

/// The certificate a new connection gets at `address:port`, verified against `root`
/// and for `address` (openssl fails otherwise). From the test host, which is another
/// machine to the nodes: the second host has no route to the Swarm's network.
fn served_at(address: &str, port: u16, root: &std::path::Path) -> Result<String, String> {
    let script = format!(
        "openssl s_client -connect {address}:{port} -CAfile {} -verify_ip {address} -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName -issuer",
        root.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    let text = stdout(&out);
    if out.status.success() && text.contains("IP Address:") {
        Ok(text)
    } else {
        Err(format!("{text}{}", stderr(&out)))
    }
}

#[test]
#[ignore = "swarm: needs root, a Swarm (tests/fixtures/swarm.sh up 3) with the registry 10.240.0.1:5000, and pebble from tests/fixtures/pebble.sh"]
fn swarm_tls_acme_gives_every_node_a_certificate_for_its_address_that_a_browser_trusts() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let ca = crate::acme::pebble("default", 14000, &[]);
    let port = 18813;
    let lab = SwarmLab::new(
        "pulled",
        "sw-acme",
        host,
        &format!(
            "port: {port}\ntls: acme\nacme:\n  names: [10.240.0.11, 10.240.0.12, 10.240.0.13]\n  directory: {}\n  ca_certificates: ca.pem\nswarm:\n  registry: 10.240.0.1:5000\n  constraints: [node.role==worker]",
            ca.directory
        ),
    );
    lab.project
        .write("ca.pem", &std::fs::read_to_string(&ca.bundle).unwrap());
    let started = std::time::Instant::now();
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up with tls: acme on the swarm");
    eprintln!(
        "tls: acme on 3 nodes: up in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let url = node_url(&up, port);
    assert!(url.starts_with("https://"), "{url}");
    let first = node_of(&url);
    let address = format!("10.240.0.1{first}");
    // A browser that trusts the CA's root alone, no -k, from the test host (another
    // machine to the nodes; the second host has no route to the Swarm's network).
    let login = url.replace("/lab", "/login");
    let curl = Command::new("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null", "--cacert"])
        .arg(&ca.root)
        .args(["-w", "%{http_code} %{ssl_verify_result}", &login])
        .output()
        .unwrap();
    assert_eq!(stdout(&curl), "200 0", "{login}: {}", stderr(&curl));
    let served = served_at(&address, port, &ca.root).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        served.contains(&format!("IP Address:{address}")),
        "the certificate names its node: {served}"
    );
    // Every node's renewer has its own node's certificate already, for when the lab
    // moves: each logged one (a new order, or the one its volume kept from before).
    let log = docker(host, &["service", "logs", "--raw", "rjup-acme"]);
    let log = format!("{}{}", stdout(&log), stderr(&log));
    for ordered in log.lines().filter(|l| l.contains(": certificate for ")) {
        eprintln!("{ordered}");
    }
    for n in 1..=3 {
        let names = format!("\"names\":[\"10.240.0.1{n}\"],\"certificate\":\"-----BEGIN");
        assert!(
            log.lines()
                .any(|l| l.starts_with("rjup-acme-status ") && l.contains(&names)),
            "no certificate for node {n} in the renewer's log:\n{log}"
        );
    }
    let status = lab.rjup(&["status", "--json"], PASSWORD);
    assert_success(&status, "rjup status");
    let view: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    let names = view["certificate"]["names"].to_string();
    assert!(names.contains(&address), "{view}");
    assert!(view["urls"].to_string().contains(&url), "{view}");

    // A no-op `up` changes neither the lab nor the renewer.
    let version = lab.version();
    let renewer = || {
        docker_text(
            host,
            &[
                "service",
                "inspect",
                "rjup-acme",
                "--format",
                "{{.Version.Index}}",
            ],
        )
    };
    let renewer_version = renewer();
    assert_success(&lab.rjup(&["up"], PASSWORD), "a second rjup up");
    assert_eq!(lab.version(), version, "a no-op up updated the lab");
    assert_eq!(renewer(), renewer_version, "a no-op up updated the renewer");

    // `down` takes the lab off the renewer: with no other lab, it goes, its port and
    // its job's secret with it.
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
    let services = docker_text(host, &["service", "ls", "--format", "{{.Name}}"]);
    assert!(!services.lines().any(|s| s == "rjup-acme"), "{services}");
    let secrets = docker_text(host, &["secret", "ls", "--format", "{{.Name}}"]);
    assert!(!secrets.contains("rjup-acme-job-"), "{secrets}");
}

/// Regression (CI, f80f38a): each node's renewer kept the certificate an earlier run's
/// pebble issued, and once pebble restarted with a new root, `up` refused it instead of
/// ordering anew, as the single-engine renewer does.
#[test]
#[ignore = "swarm: needs root, a Swarm (tests/fixtures/swarm.sh up 3) with the registry 10.240.0.1:5000, and pebble from tests/fixtures/pebble.sh"]
fn swarm_tls_acme_regression_certificates_kept_from_a_ca_with_a_new_root_are_ordered_anew() {
    let _engine = engine();
    let (_swarm, host) = swarm();
    let ca = crate::acme::pebble("sw-rerooted", 14005, &[]);
    let port = 18816;
    let lab = SwarmLab::new(
        "pulled",
        "sw-acme-rerooted",
        host,
        &format!(
            "port: {port}\ntls: acme\nacme:\n  names: [10.240.0.11, 10.240.0.12, 10.240.0.13]\n  directory: {}\n  ca_certificates: ca.pem\nswarm:\n  registry: 10.240.0.1:5000\n  constraints: [node.role==worker]",
            ca.directory
        ),
    );
    lab.project
        .write("ca.pem", &std::fs::read_to_string(&ca.bundle).unwrap());
    assert_success(&lab.rjup(&["up"], PASSWORD), "rjup up with tls: acme");
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    ca.down();
    // The same directory, a new root.
    let ca = crate::acme::pebble("sw-rerooted", 14005, &[]);
    lab.project
        .write("ca.pem", &std::fs::read_to_string(&ca.bundle).unwrap());
    let up = lab.rjup(&["up"], PASSWORD);
    assert_success(&up, "rjup up once the CA has a new root");
    assert!(
        stderr(&up).contains("asking for a new one"),
        "rjup says why it orders anew:\n{}",
        stderr(&up)
    );
    let url = node_url(&up, port);
    let address = format!("10.240.0.1{}", node_of(&url));
    served_at(&address, port, &ca.root)
        .unwrap_or_else(|e| panic!("the new root's certificate: {e}"));
    assert_success(&lab.rjup(&["down"], PASSWORD), "rjup down");
    lab.assert_gone();
    ca.down();
}
