//! Attacks on what the lab itself enforces (issue 18), each tried as an attacker would,
//! from the second host, against a real lab. Every test is one attack that worked on an
//! earlier rjup and is named after it; it passes when the attack fails.
//!
//! Labs are shared by the tests that can share one (each test holds it while it runs,
//! and the last one to finish takes it down), so that the module starts few labs. Tests
//! that lock something out use their own client addresses and account names, so that
//! they cannot disturb each other on a shared lab.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use sha2::{Digest, Sha256};

use crate::util::*;

const PULLED: &str = "image: jupyter/minimal-notebook:latest\n";
/// The read-only guest's and the collaborator's passwords.
const GRACE: &str = "grace's own passphrase";
const ADA: &str = "ada's own passphrase";
/// The header rjup's own probes carry, and what it is computed from.
const PROBE_HEADER: &str = "X-Rjup-Probe";
/// A network that never holds the client host (TEST-NET-1, RFC 5737).
const ELSEWHERE: &str = "192.0.2.0/24";
const CONFIG_DIR: &str = "/etc/rjup/jupyter";

// ---------------------------------------------------------------------------------------
// Shared labs.

/// A running lab and what the attacks need to know of it.
struct Lab {
    project: Project,
    port: u16,
    tls: bool,
}

impl Lab {
    fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}:{}", lab_host(), self.port)
    }

    /// A client on the second host, logged in as nobody yet.
    fn client(&self) -> Client {
        let client = Client::new(&self.base(), true);
        if self.tls {
            client.cacert(&self.project.state_dir().unwrap().join("tls-cert.pem"))
        } else {
            client
        }
    }

    /// A client on the engine's own host, over its loopback (which the lab sees as the
    /// container's gateway).
    fn host_client(&self) -> Client {
        Client::new(&format!("http://127.0.0.1:{}", self.port), false)
    }

    fn container(&self) -> String {
        self.project.container()
    }

    /// The exact bytes of the lab's cookie secret, as the lab reads them.
    fn cookie_secret(&self) -> String {
        exec(
            &self.container(),
            &["cat", &format!("{CONFIG_DIR}/cookie_secret")],
        )
    }

    /// The key rjup's probes carry: SHA-256 of "rjup-probe\n" and the cookie secret.
    fn probe_key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"rjup-probe\n");
        hasher.update(self.cookie_secret().as_bytes());
        hex(&hasher.finalize())
    }
}

/// The lab in `slot` while some test holds it, else a new one from `make`.
fn shared(slot: &'static Mutex<Weak<Lab>>, make: fn(usize) -> Lab) -> Arc<Lab> {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(lab) = slot.upgrade() {
        return lab;
    }
    let lab = Arc::new(make(MADE.fetch_add(1, Ordering::SeqCst)));
    *slot = Arc::downgrade(&lab);
    lab
}

fn start(test: &str, yaml: &str, tls: bool) -> Lab {
    let project = Project::from_example("pulled", test);
    project.write("rjup.yaml", yaml);
    project.write("notes.txt", "for your eyes\n");
    // Links out of the project, as real projects hold them.
    for (link, target) in [("etclink", "/etc"), ("parent", "..")] {
        let path = project.dir.join(link);
        std::os::unix::fs::symlink(target, &path).unwrap();
        if let Some((uid, gid)) = tester_ids() {
            std::os::unix::fs::lchown(&path, Some(uid), Some(gid)).unwrap();
        }
    }
    let port = free_port();
    project.up(port);
    Lab { project, port, tls }
}

fn add_account(project: &Project, name: &str, password: &str, read_only: bool) {
    let mut args = vec!["user", "add", name, "--password-stdin"];
    if read_only {
        args.push("--read-only");
    }
    let out = project.rjup(&args, &[], Some(&format!("{password}\n")));
    assert_success(&out, "rjup user add");
}

/// A plain lab with a read-only guest, grace, and links out of the project.
fn guest_lab() -> Arc<Lab> {
    static LAB: Mutex<Weak<Lab>> = Mutex::new(Weak::new());
    shared(&LAB, |n| {
        let lab = start(&format!("atk-guest-{n}"), PULLED, false);
        add_account(&lab.project, "grace", GRACE, true);
        lab
    })
}

/// The same with TLS.
fn tls_lab() -> Arc<Lab> {
    static LAB: Mutex<Weak<Lab>> = Mutex::new(Weak::new());
    shared(&LAB, |n| {
        let lab = start(
            &format!("atk-tls-{n}"),
            &format!("{PULLED}tls: self-signed\n"),
            true,
        );
        add_account(&lab.project, "grace", GRACE, true);
        lab
    })
}

/// A lab for the login throttle, with a collaborator, ada.
fn throttle_lab() -> Arc<Lab> {
    static LAB: Mutex<Weak<Lab>> = Mutex::new(Weak::new());
    shared(&LAB, |n| {
        let lab = start(&format!("atk-throttle-{n}"), PULLED, false);
        add_account(&lab.project, "ada", ADA, false);
        lab
    })
}

/// A lab whose `allow:` admits neither the client host nor the engine's host.
fn allow_lab() -> Arc<Lab> {
    static LAB: Mutex<Weak<Lab>> = Mutex::new(Weak::new());
    shared(&LAB, |n| {
        start(
            &format!("atk-allow-{n}"),
            &format!("{PULLED}allow: [{ELSEWHERE}]\n"),
            false,
        )
    })
}

// ---------------------------------------------------------------------------------------
// An attacker's HTTP client: curl, from the second host (or this one), keeping cookies.

struct Client {
    base: String,
    on_client_host: bool,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    /// The response head, lowercased.
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.head
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
    }

    fn set_cookie(&self, name: &str) -> String {
        let prefix = format!("set-cookie: {}", name.to_ascii_lowercase());
        self.head
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {name} cookie in:\n{}", self.head))
            .to_string()
    }

    fn refused_address(&self) -> bool {
        self.status == 403 && self.header("x-rjup-refused").as_deref() == Some("address")
    }
}

impl Client {
    fn new(base: &str, on_client_host: bool) -> Client {
        Client {
            base: base.to_string(),
            on_client_host,
            args: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// From this source address of the second host (made there if need be).
    fn from(mut self, address: &str) -> Client {
        client_address(address);
        self.args
            .extend(["--interface".to_string(), address.to_string()]);
        self
    }

    fn header(mut self, header: &str) -> Client {
        self.args.extend(["-H".to_string(), header.to_string()]);
        self
    }

    fn cacert(mut self, file: &Path) -> Client {
        self.args
            .extend(["--cacert".to_string(), file.display().to_string()]);
        self
    }

    fn jar(&self) -> PathBuf {
        self.dir.path().join("cookies")
    }

    fn curl(&self, args: &[&str]) -> Reply {
        let head = self.dir.path().join("head");
        let _ = std::fs::remove_file(&head);
        let mut cmd = if self.on_client_host {
            on_client_host("curl")
        } else {
            Command::new("curl")
        };
        let jar = self.jar();
        // As a browser sends it: Jupyter refuses /files/ and /nbconvert/ without one.
        let referer = format!("{}/lab", self.base);
        let out = cmd
            .args(["-sS", "-g", "--max-time", "60", "--referer", &referer, "-D"])
            .arg(&head)
            .arg("-b")
            .arg(&jar)
            .arg("-c")
            .arg(&jar)
            .args(["-w", "\n%{http_code}"])
            .args(&self.args)
            .args(args)
            .output()
            .expect("running curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        Reply {
            status: status.trim().parse().unwrap_or(0),
            head: std::fs::read_to_string(&head)
                .unwrap_or_default()
                .to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    fn get(&self, path: &str) -> Reply {
        self.curl(&[&format!("{}{path}", self.base)])
    }

    fn xsrf(&self) -> String {
        let jar = std::fs::read_to_string(self.jar()).unwrap_or_default();
        jar.lines()
            .rev()
            .find_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() >= 7 && f[5] == "_xsrf").then(|| f[6].to_string())
            })
            .expect("the login page set no _xsrf cookie")
    }

    /// Logs in as a browser does: the login page's `_xsrf` cookie, then the form.
    fn login(&self, name: &str, password: &str) -> Reply {
        let page = self.get("/login");
        assert_eq!(page.status, 200, "GET /login: {page:?}");
        let mut args = vec![
            "--data-urlencode".to_string(),
            format!("_xsrf={}", self.xsrf()),
            "--data-urlencode".to_string(),
            format!("password={password}"),
        ];
        if !name.is_empty() {
            args.extend(["--data-urlencode".to_string(), format!("username={name}")]);
        }
        args.push(format!("{}/login", self.base));
        self.curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn logged_in(self, name: &str, password: &str) -> Client {
        let login = self.login(name, password);
        assert_eq!(login.status, 302, "{name} must log in: {login:?}");
        self
    }

    /// A request with a body read from `file`, with the `_xsrf` token the page sends.
    fn send_file(&self, method: &str, path: &str, file: &Path) -> Reply {
        self.curl(&[
            "-X",
            method,
            "-H",
            &format!("X-XSRFToken: {}", self.xsrf()),
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            &format!("@{}", file.display()),
            &format!("{}{path}", self.base),
        ])
    }

    fn send_json(&self, method: &str, path: &str, body: &serde_json::Value) -> Reply {
        let file = self.dir.path().join("body.json");
        std::fs::write(&file, body.to_string()).unwrap();
        self.send_file(method, path, &file)
    }
}

/// Makes `address` one of the second host's addresses (idempotent; never removed, since
/// other tests may use it too).
fn client_address(address: &str) {
    require_client_host("an attack from several client addresses");
    let ok = Command::new("ip")
        .args(["netns", "exec", "rjup-client", "ip", "addr", "replace"])
        .arg(format!("{address}/24"))
        .args(["dev", "rjup-cli0"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "could not give the client host the address {address}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs a Python script on the second host (its own python3), returning its JSON line.
fn python_on_client(script: &str, args: &[String]) -> serde_json::Value {
    require_client_host("a raw-socket attack");
    let out = on_client_host("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("running python3 on the client host (the attacks need it)");
    assert!(
        out.status.success(),
        "the attack script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Sends a POST with a `length`-byte body as fast as the lab takes it, reading the
/// answer meanwhile: a client that streams, as an attacker's would, not one that waits
/// for `100 Continue`.
const STREAM_POST: &str = r#"
import json, socket, sys, threading
host, port, path, total = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.create_connection((host, port), timeout=120)
s.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
           f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {total}\r\n\r\n").encode())
answer = bytearray()
def read():
    try:
        while True:
            data = s.recv(65536)
            if not data:
                break
            answer.extend(data)
    except OSError:
        pass
reader = threading.Thread(target=read, daemon=True)
reader.start()
sent, chunk = 0, b"a" * (1 << 20)
try:
    while sent < total:
        n = min(len(chunk), total - sent)
        s.sendall(chunk[:n])
        sent += n
except OSError:
    pass
reader.join(120)
head = bytes(answer).split(b"\r\n\r\n", 1)[0].decode("latin-1")
print(json.dumps({"sent": sent, "head": head}))
"#;

/// Opens a connection, sends half a request head, and waits for the lab to hang up.
const SLOWLORIS: &str = r#"
import json, socket, sys, time
host, port, wait = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, port), timeout=10)
s.sendall(f"GET /login HTTP/1.1\r\nHost: {host}:{port}\r\nX-Slow: ".encode())
s.settimeout(wait)
started = time.monotonic()
try:
    closed = s.recv(1) == b""
except socket.timeout:
    closed = False
except OSError:
    closed = True
print(json.dumps({"closed": closed, "seconds": time.monotonic() - started}))
"#;

/// The most memory the lab's container has used, as the engine reports it (cgroup v1's
/// `max_usage`).
fn peak_memory(container: &str) -> u64 {
    use futures_util::StreamExt;
    let container = container.to_string();
    with_docker(|docker| async move {
        let options = bollard::query_parameters::StatsOptionsBuilder::new()
            .stream(false)
            .one_shot(true)
            .build();
        let stats = docker
            .stats(&container, Some(options))
            .next()
            .await
            .unwrap()
            .unwrap();
        stats
            .memory_stats
            .and_then(|m| m.max_usage)
            .expect("this test reads the engine's max_usage, which only cgroup v1 reports; run it on a cgroup v1 engine (as CI's)")
    })
}

/// Streams an unauthenticated `size`-byte POST to `path` from the second host; returns
/// the answer's head and how much the lab's peak memory grew meanwhile.
fn big_post(lab: &Lab, path: &str, size: u64) -> (String, u64, u64) {
    let before = peak_memory(&lab.container());
    let answer = python_on_client(
        STREAM_POST,
        &[
            lab_host().to_string(),
            lab.port.to_string(),
            path.to_string(),
            size.to_string(),
        ],
    );
    let after = peak_memory(&lab.container());
    let (head, sent) = (
        answer["head"].as_str().unwrap(),
        answer["sent"].as_u64().unwrap(),
    );
    eprintln!(
        "POST {path} ({size} bytes): {sent} sent, answered {:?}, the lab's peak memory {} -> {} MiB",
        head.lines().next().unwrap_or(""),
        before / MIB,
        after / MIB
    );
    (head.to_string(), sent, after.saturating_sub(before))
}

const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------
// Finding 1: symlinks out of the project.

/// The paths a guest tries, through `/etc` and through `..`, for a file of the lab's
/// config directory.
fn through_links(file: &str) -> [String; 2] {
    [
        format!("etclink/rjup/jupyter/{file}"),
        format!("parent/etc/rjup/jupyter/{file}"),
    ]
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_guest_reads_the_cookie_secret_through_a_project_symlink() {
    let _engine = engine();
    let lab = guest_lab();
    let secret = lab.cookie_secret();
    assert!(
        secret.len() >= 32,
        "no cookie secret in the lab: {secret:?}"
    );
    let grace = lab.client().logged_in("grace", GRACE);
    let mut leaks = Vec::new();
    for path in through_links("cookie_secret") {
        for route in [
            format!("/api/contents/{path}"),
            format!("/api/contents/{path}?content=0"),
            format!("/files/{path}"),
            format!("/view/{path}"),
            format!("/nbconvert/script/{path}"),
            format!("/api/contents/{path}/checkpoints"),
        ] {
            let reply = grace.get(&route);
            if reply.body.contains(&secret) || reply.status != 404 {
                leaks.push(format!("{route}: {} {:.200}", reply.status, reply.body));
            }
        }
    }
    for dir in ["etclink", "parent", "parent/etc/rjup/jupyter"] {
        let reply = grace.get(&format!("/api/contents/{dir}"));
        if reply.status != 404 {
            leaks.push(format!(
                "/api/contents/{dir}: {} {:.200}",
                reply.status, reply.body
            ));
        }
    }
    let listing = grace.get("/api/contents");
    assert_eq!(listing.status, 200, "{listing:?}");
    let listing: serde_json::Value = serde_json::from_str(&listing.body).unwrap();
    let names: Vec<&str> = listing["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"notes.txt"), "{names:?}");
    for link in ["etclink", "parent"] {
        if names.contains(&link) {
            leaks.push(format!(
                "the listing shows {link}, a link out of the project"
            ));
        }
    }
    assert!(
        leaks.is_empty(),
        "a read-only guest reached the lab's config through links out of the project:\n{}",
        leaks.join("\n")
    );
    // Files inside the project are still the guest's to read.
    let notes = grace.get("/api/contents/notes.txt");
    assert_eq!(notes.status, 200, "{notes:?}");
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_the_owner_writes_outside_the_project_through_a_project_symlink() {
    let _engine = engine();
    let lab = guest_lab();
    let owner = lab.client().logged_in("", PASSWORD);
    let file = serde_json::json!({"type": "file", "format": "text", "content": "planted"});
    let mut reached = Vec::new();
    for path in ["etclink/rjup-planted.txt", "parent/tmp/rjup-planted.txt"] {
        let put = owner.send_json("PUT", &format!("/api/contents/{path}"), &file);
        if put.status != 404 {
            reached.push(format!("PUT {path}: {} {:.200}", put.status, put.body));
        }
    }
    let copy = owner.send_json(
        "POST",
        "/api/contents",
        &serde_json::json!({"copy_from": "etclink/passwd"}),
    );
    if copy.status != 404 {
        reached.push(format!(
            "copy of etclink/passwd: {} {:.200}",
            copy.status, copy.body
        ));
    }
    let rename = owner.send_json(
        "PATCH",
        "/api/contents/notes.txt",
        &serde_json::json!({"path": "parent/tmp/notes.txt"}),
    );
    if rename.status != 404 {
        reached.push(format!(
            "rename into parent/tmp: {} {:.200}",
            rename.status, rename.body
        ));
    }
    let delete = owner.curl(&[
        "-X",
        "DELETE",
        "-H",
        &format!("X-XSRFToken: {}", owner.xsrf()),
        &format!("{}/api/contents/etclink/hostname", owner.base),
    ]);
    if delete.status != 404 {
        reached.push(format!(
            "DELETE etclink/hostname: {} {:.200}",
            delete.status, delete.body
        ));
    }
    let planted = exec(
        &lab.container(),
        &["sh", "-c", "ls /etc/rjup-planted.txt /tmp/rjup-planted.txt /tmp/notes.txt 2>/dev/null; test -e /etc/hostname && echo hostname-kept"],
    );
    assert!(
        reached.is_empty() && planted.trim() == "hostname-kept",
        "the lab wrote outside the project through its links:\n{}\nin the container: {planted}",
        reached.join("\n")
    );
    assert!(lab.project.dir.join("notes.txt").exists());
}

/// Tornado's signed cookie (version 2), as Jupyter Server signs its login cookie.
fn forged_cookie(file_secret: &[u8], hash: &str, name: &str, value: &str) -> String {
    // ServerApp.cookie_secret: HMAC-SHA256 of the file's bytes over password ("") + hash.
    let secret = hmac_sha256(file_secret, hash.as_bytes());
    let field = |s: &str| format!("{}:{s}", s.len());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let to_sign = format!(
        "2|{}|{}|{}|{}|",
        field("0"),
        field(&now),
        field(name),
        field(&base64_encode(value.as_bytes()))
    );
    let signature = hex(&hmac_sha256(&secret, to_sign.as_bytes()));
    format!("{to_sign}{signature}")
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_guest_forges_the_owners_cookie_from_what_it_can_read() {
    let _engine = engine();
    let lab = guest_lab();
    let grace = lab.client().logged_in("grace", GRACE);
    // Everything the guest can read of the lab's config, by every link.
    let mut secret = None;
    let mut hash = None;
    for file in ["cookie_secret", "jupyter_server_config.py", "rjup_lab.json"] {
        for path in through_links(file) {
            let reply = grace.get(&format!("/api/contents/{path}"));
            if reply.status == 404 {
                continue;
            }
            assert_eq!(reply.status, 200, "{path}: {reply:?}");
            let model: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            let content = model["content"].as_str().unwrap_or_default().to_string();
            if file == "cookie_secret" {
                secret = Some(content);
            } else if let Some(start) = content.find("argon2:$argon2") {
                let end = content[start..]
                    .find('"')
                    .map_or(content.len(), |e| start + e);
                hash = Some(content[start..end].to_string());
            }
        }
    }
    let (Some(secret), Some(hash)) = (secret, hash) else {
        // Nothing to forge a cookie from: the attack ends here.
        return;
    };
    let fingerprint = hex(&Sha256::digest(hash.as_bytes()))[..16].to_string();
    let name = format!("username-{}-{}", lab_host().replace('.', "-"), lab.port);
    let value = serde_json::json!({"username": "owner", "rjup": fingerprint}).to_string();
    let cookie = forged_cookie(secret.as_bytes(), &hash, &name, &value);
    let xsrf = grace.xsrf();
    let kernel = Client::new(&lab.base(), true).curl(&[
        "-X",
        "POST",
        "-b",
        &format!("{name}={cookie}; _xsrf={xsrf}"),
        "-H",
        &format!("X-XSRFToken: {xsrf}"),
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        r#"{"name": "python3"}"#,
        &format!("{}/api/kernels", lab.base()),
    ]);
    panic!(
        "a read-only guest read the cookie secret and the owner's hash through links out of the project; a forged owner cookie starting a kernel got {}: {:.300}",
        kernel.status, kernel.body
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_guest_reads_the_tls_key_through_a_project_symlink() {
    let _engine = engine();
    let lab = tls_lab();
    let key = exec(&lab.container(), &["cat", &format!("{CONFIG_DIR}/lab.key")]);
    assert!(
        key.contains("PRIVATE KEY"),
        "no key in the TLS lab: {key:.80}"
    );
    let grace = lab.client().logged_in("grace", GRACE);
    for path in through_links("lab.key") {
        for route in [format!("/api/contents/{path}"), format!("/files/{path}")] {
            let reply = grace.get(&route);
            assert!(
                reply.status == 404 && !reply.body.contains("PRIVATE KEY"),
                "a read-only guest read the TLS key at {route}: {} {:.200}",
                reply.status,
                reply.body
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Finding 5: the lab's config directory is not the lab's to change.

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_code_in_the_lab_plants_a_backdoor_in_its_config() {
    let _engine = engine();
    let lab = guest_lab();
    // As the lab's user, with its capabilities (none): what a kernel or terminal runs as.
    let script = format!(
        "cd {CONFIG_DIR} || exit 1
         (echo '# backdoor' >> jupyter_server_config.py) 2>/dev/null && echo APPENDED
         (: > planted.py) 2>/dev/null && echo CREATED
         chmod u+w jupyter_server_config.py 2>/dev/null && echo CHMODDED
         mv cookie_secret cookie_secret.old 2>/dev/null && echo MOVED
         (: > /etc/rjup/planted.py) 2>/dev/null && echo CREATED-ABOVE
         (echo x >> accounts.json) 2>/dev/null && echo APPENDED-ACCOUNTS
         stat -c '%n %u %a' /etc/rjup . * | sort"
    );
    let out = exec(&lab.container(), &["sh", "-c", &script]);
    for word in ["APPENDED", "CREATED", "CHMODDED", "MOVED"] {
        assert!(
            !out.contains(word),
            "code running as the lab's user changed its config directory ({word}):\n{out}"
        );
    }
    for line in out.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(fields.get(1), Some(&"0"), "not root's: {line}\n{out}");
        let mode = fields[2];
        assert!(
            mode == "440" || mode == "550",
            "writable or world-readable: {line}\n{out}"
        );
    }
    // And the lab still serves.
    assert_eq!(lab.client().get("/login").status, 200);
}

// ---------------------------------------------------------------------------------------
// Finding 3: bodies before authentication.

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_an_unauthenticated_450_mb_post_fills_the_labs_memory() {
    let _engine = engine();
    let lab = guest_lab();
    let (head, sent, grew) = big_post(&lab, "/login", 450 * MIB);
    assert!(
        head.starts_with("http/1.1 413") || head.starts_with("HTTP/1.1 413"),
        "the lab must answer 413 before reading the body: {head:?} ({sent} bytes sent)"
    );
    assert!(
        grew < 64 * MIB,
        "the lab's peak memory grew by {} MiB for an unauthenticated body",
        grew / MIB
    );
    assert!(
        sent < 450 * MIB,
        "the lab read the whole body ({sent} bytes)"
    );
    // The login form itself is small: a bigger one is refused the same way.
    let big_form = lab.client().curl(&[
        "--data-binary",
        &format!("password={}", "a".repeat(100 * 1024)),
        &format!("{}/login", lab.base()),
    ]);
    assert_eq!(big_form.status, 413, "{big_form:?}");
    // A body without a length is bounded too.
    let client = lab.client();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big");
    std::fs::write(&file, vec![b'a'; 2 * MIB as usize]).unwrap();
    let chunked = client.curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{}/login", lab.base()),
    ]);
    assert!(
        chunked.status == 400 || chunked.status == 413 || chunked.status == 0,
        "an unauthenticated chunked body past the bound must be refused: {chunked:?}"
    );

    // A read-only guest, who may write nothing, is bounded the same way.
    let grace = lab.client().logged_in("grace", GRACE);
    let guest_body = grace.send_json(
        "PUT",
        "/api/contents/by-grace.txt",
        &serde_json::json!({"type": "file", "format": "text", "content": "a".repeat(100 * 1024)}),
    );
    assert_eq!(guest_body.status, 413, "{guest_body:?}");

    // Logged in, big files still upload, in chunks as JupyterLab sends them and whole.
    let owner = lab.client().logged_in("", PASSWORD);
    let data: Vec<u8> = (0..5 * MIB as usize).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<&[u8]> = data.chunks(MIB as usize).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let number = if i + 1 == chunks.len() {
            -1
        } else {
            i as i64 + 1
        };
        let put = owner.send_json(
            "PUT",
            "/api/contents/upload.bin",
            &serde_json::json!({"type": "file", "format": "base64", "chunk": number, "content": base64_encode(chunk)}),
        );
        assert!(put.status == 200 || put.status == 201, "chunk {i}: {put:?}");
    }
    assert_eq!(
        std::fs::read(lab.project.dir.join("upload.bin")).unwrap(),
        data
    );
    let whole = owner.send_json(
        "PUT",
        "/api/contents/whole.bin",
        &serde_json::json!({"type": "file", "format": "base64", "content": base64_encode(&data)}),
    );
    assert!(whole.status == 201 || whole.status == 200, "{whole:?}");
    assert_eq!(
        std::fs::metadata(lab.project.dir.join("whole.bin"))
            .unwrap()
            .len(),
        data.len() as u64
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_refused_address_fills_the_labs_memory_before_its_403() {
    let _engine = engine();
    let lab = allow_lab();
    let (head, sent, grew) = big_post(&lab, "/api/contents", 450 * MIB);
    assert!(
        head.starts_with("http/1.1 403") || head.starts_with("HTTP/1.1 403"),
        "a refused address gets its 403: {head:?}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("x-rjup-refused: address"),
        "{head}"
    );
    assert!(
        grew < 64 * MIB,
        "the lab's peak memory grew by {} MiB for a refused address's body",
        grew / MIB
    );
    assert!(
        sent < 450 * MIB,
        "the lab read the whole body ({sent} bytes)"
    );
}

// ---------------------------------------------------------------------------------------
// Finding 2: the gateway is everybody's address.

/// The lab's container's gateway, where the engine's host forwards connections from.
fn gateway(container: &str) -> String {
    let c = inspect(container).unwrap();
    let networks = c["NetworkSettings"]["Networks"].as_object().unwrap();
    networks
        .values()
        .find_map(|n| n["Gateway"].as_str().filter(|g| !g.is_empty()))
        .expect("the lab's network has no gateway")
        .to_string()
}

/// Runs `python3 -c script` in a throwaway container of python:3.13-slim on the engine.
fn in_another_container(name: &str, script: &str) -> String {
    use futures_util::StreamExt;
    let name = format!("rjup-e2e-{name}-{}", std::process::id());
    let script = script.to_string();
    with_docker(|docker| async move {
        let mut pull = docker.create_image(
            Some(
                bollard::query_parameters::CreateImageOptionsBuilder::new()
                    .from_image("python:3.13-slim")
                    .build(),
            ),
            None,
            None,
        );
        while let Some(step) = pull.next().await {
            step.expect("pulling python:3.13-slim from the stand-in registry");
        }
        let _ = docker
            .remove_container(
                &name,
                Some(
                    bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .build(),
                ),
            )
            .await;
        docker
            .create_container(
                Some(
                    bollard::query_parameters::CreateContainerOptionsBuilder::new()
                        .name(&name)
                        .build(),
                ),
                bollard::models::ContainerCreateBody {
                    image: Some("python:3.13-slim".to_string()),
                    cmd: Some(vec!["python3".into(), "-c".into(), script]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        docker.start_container(&name, None).await.unwrap();
        let mut wait = docker.wait_container(&name, None);
        while wait.next().await.is_some() {}
        let mut logs = docker.logs(
            &name,
            Some(
                bollard::query_parameters::LogsOptionsBuilder::new()
                    .stdout(true)
                    .stderr(true)
                    .build(),
            ),
        );
        let mut text = String::new();
        while let Some(Ok(chunk)) = logs.next().await {
            text.push_str(&chunk.to_string());
        }
        let _ = docker
            .remove_container(
                &name,
                Some(
                    bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                        .force(true)
                        .build(),
                ),
            )
            .await;
        text
    })
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_another_container_on_the_engine_passes_the_allowlist_as_the_gateway() {
    let _engine = engine();
    let lab = allow_lab();
    let gateway = gateway(&lab.container());
    // A container on the same engine reaches the published port through the engine's
    // host, which forwards it from the lab's gateway.
    let script = format!(
        r#"
import urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://{gateway}:{port}/login", timeout=20)
    print("STATUS", r.status, r.headers.get("X-Rjup-Refused"))
except urllib.error.HTTPError as e:
    print("STATUS", e.code, e.headers.get("X-Rjup-Refused"))
"#,
        port = lab.port
    );
    let out = in_another_container("atk-neighbour", &script);
    assert!(
        out.contains("STATUS 403 address"),
        "another container on the engine must be refused by `allow:`: {out}"
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_the_engines_host_passes_the_allowlist_without_rjups_probe_key() {
    let _engine = engine();
    let lab = allow_lab();
    let key = lab.probe_key();
    let bare = lab.host_client().get("/login");
    assert!(
        bare.refused_address(),
        "the engine's host's loopback arrives from the gateway, as IPv6 clients and other containers do; without rjup's key it must be refused: {bare:?}"
    );
    let wrong = lab
        .host_client()
        .header(&format!("{PROBE_HEADER}: {}", "0".repeat(64)))
        .get("/login");
    assert!(wrong.refused_address(), "a wrong key: {wrong:?}");
    let probe = lab
        .host_client()
        .header(&format!("{PROBE_HEADER}: {key}"))
        .get("/login");
    assert_eq!(probe.status, 200, "rjup's own probe is admitted: {probe:?}");
    // The key admits only from the gateway: the second host is still refused with it.
    let elsewhere = lab
        .client()
        .header(&format!("{PROBE_HEADER}: {key}"))
        .get("/login");
    assert!(elsewhere.refused_address(), "{elsewhere:?}");
}

// ---------------------------------------------------------------------------------------
// Findings 4, 6 and 7: the login throttle.

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_ipv6_guessers_lock_rjups_own_probe_out() {
    let _engine = engine();
    let lab = throttle_lab();
    require_client_host("an IPv6 guesser");
    // Over IPv6 through docker-proxy, the guesses arrive from the lab's gateway.
    let guesser = Client::new(&format!("http://[fd31:231::1]:{}", lab.port), true);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(guesser.login("", "a wrong guess").status);
    }
    assert_eq!(
        statuses.last(),
        Some(&429),
        "the IPv6 guesser is throttled: {statuses:?}"
    );
    // rjup's probe (up, check) comes from the engine's host, through the same gateway.
    let probe = lab
        .host_client()
        .header(&format!("{PROBE_HEADER}: {}", lab.probe_key()));
    let login = probe.login("", PASSWORD);
    assert_eq!(
        login.status, 302,
        "rjup's probe, with its key, must not share the gateway's lockout: {login:?}"
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_locked_out_guesser_tells_existing_names_from_unknown_ones() {
    let _engine = engine();
    let lab = throttle_lab();
    // Ten failures from two addresses lock an account; five lock an address. So the
    // guesser spends four addresses on an existing name and an unknown one, alike.
    for (name, addresses) in [
        ("ada", ["10.231.0.3", "10.231.0.4"]),
        ("zed", ["10.231.0.5", "10.231.0.6"]),
    ] {
        for address in addresses {
            let client = lab.client().from(address);
            for _ in 0..5 {
                let status = client.login(name, "a wrong guess").status;
                assert!(
                    status == 401 || status == 429,
                    "{name} from {address}: {status}"
                );
            }
        }
    }
    let observer = lab.client().from("10.231.0.7");
    let existing = observer.login("ada", "a wrong guess");
    let unknown = observer.login("zed", "a wrong guess");
    assert_eq!(
        existing.status, 429,
        "the existing account is locked: {existing:?}"
    );
    assert_eq!(
        (unknown.status, unknown.header("retry-after").is_some()),
        (existing.status, existing.header("retry-after").is_some()),
        "an unknown name must get the same answer as an existing one under lockout:\nexisting: {existing:?}\nunknown: {unknown:?}"
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_throttled_guesser_is_not_told_when_to_retry() {
    let _engine = engine();
    let lab = throttle_lab();
    let guesser = lab.client().from("10.231.0.8");
    let mut last = None;
    for _ in 0..6 {
        last = Some(guesser.login("x-retry", "a wrong guess"));
    }
    let last = last.unwrap();
    assert_eq!(last.status, 429, "{last:?}");
    let seconds: u64 = last
        .header("retry-after")
        .unwrap_or_else(|| panic!("a 429 without Retry-After: {last:?}"))
        .parse()
        .unwrap();
    assert!((1..=31).contains(&seconds), "Retry-After: {seconds}");
}

// ---------------------------------------------------------------------------------------
// Finding 8: the smaller ones.

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_cross_site_request_carries_the_login_cookie() {
    let _engine = engine();
    let lab = guest_lab();
    let client = lab.client();
    let page = client.get("/login");
    let xsrf = page.set_cookie("_xsrf");
    assert!(xsrf.contains("samesite=lax"), "the _xsrf cookie: {xsrf}");
    let login = client.login("", PASSWORD);
    assert_eq!(login.status, 302);
    let session = login.set_cookie("username-");
    assert!(
        session.contains("samesite=lax") && session.contains("httponly"),
        "the login cookie: {session}"
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_tls_lab_can_be_downgraded_to_plain_http() {
    let _engine = engine();
    let lab = tls_lab();
    let client = lab.client();
    for path in ["/login", "/static/favicons/favicon.ico"] {
        let reply = client.get(path);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        assert_eq!(
            reply.header("strict-transport-security").as_deref(),
            Some("max-age=31536000"),
            "{path} on a TLS lab: {}",
            reply.head
        );
    }
    let login = client.login("", PASSWORD);
    let session = login.set_cookie("username-");
    assert!(
        session.contains("secure") && session.contains("samesite=lax"),
        "{session}"
    );
    assert_eq!(
        client
            .get("/api/contents")
            .header("strict-transport-security")
            .as_deref(),
        Some("max-age=31536000")
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_anyone_reads_the_server_version_at_api() {
    let _engine = engine();
    let lab = guest_lab();
    let stranger = lab.client().get("/api");
    assert!(
        stranger.status == 403 && !stranger.body.contains("version"),
        "GET /api without login: {stranger:?}"
    );
    let owner = lab.client().logged_in("", PASSWORD);
    let api = owner.get("/api");
    assert_eq!(api.status, 200, "{api:?}");
    assert!(api.body.contains("version"), "{api:?}");
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_slowloris_socket_is_kept_for_an_hour() {
    let _engine = engine();
    let lab = guest_lab();
    // The lab's header timeout is a minute; an hour was tornado's default. Wait for the
    // lab to hang up, up to a bound far below the hour.
    let answer = python_on_client(
        SLOWLORIS,
        &[
            lab_host().to_string(),
            lab.port.to_string(),
            "180".to_string(),
        ],
    );
    assert_eq!(
        answer["closed"], true,
        "a half-sent request head must be dropped in minutes, not kept: {answer}"
    );
}
