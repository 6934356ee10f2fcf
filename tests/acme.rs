//! `tls: acme` (issue 22) against a real ACME CA, pebble (`tests/fixtures/pebble.sh`),
//! which validates the host's address on its ports 80 and 443 as Let's Encrypt does:
//! a browser on the second host trusts the lab with the CA's root alone; a renewal
//! replaces the certificate under a live kernel; a port taken, a CA that refuses and a
//! directory that does not answer are each one line that leaves the lab as it was.
//!
//! The tests run one at a time: they share the engine's one renewer (`rjup-acme`) and
//! the host's ports 80 and 443, which one of them takes on purpose.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::util::*;

/// The lab's address on the test host's link, which the certificates name.
const ADDRESS: &str = "10.231.0.1";

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// For a test of this group: the engine, the second host, no other acme test at once,
/// and the host's ports 80 and 443 free (or held by rjup's renewer), else a failure that
/// names who holds them.
#[must_use = "hold it until the test ends"]
fn acme_test() -> (
    MutexGuard<'static, ()>,
    std::sync::RwLockReadGuard<'static, ()>,
) {
    let engine = engine();
    let serial = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
    require_client_host("the acme tests");
    for port in [80, 443] {
        if let Some(holder) = holder_of(port) {
            panic!("acme: the host's port {port} is held by {holder}; these tests need it for the renewer that answers the CA (stop it and run them again)");
        }
    }
    // Each test starts from no renewer: one an earlier run left (its image, its kept
    // orders) would otherwise answer for this one.
    for args in [
        &["rm", "-f", "rjup-acme"][..],
        &["volume", "rm", "rjup-acme"],
    ] {
        let _ = Command::new("docker").args(args).output();
    }
    (serial, engine)
}

/// Who holds `port` on this host, besides rjup's own renewer: a container, or a process.
fn holder_of(port: u16) -> Option<String> {
    let containers = Command::new("docker")
        .args([
            "ps",
            "--filter",
            &format!("publish={port}"),
            "--format",
            "{{.Names}}",
        ])
        .output()
        .unwrap();
    let names: Vec<String> = stdout(&containers)
        .lines()
        .filter(|n| *n != "rjup-acme")
        .map(|n| format!("the container {n}"))
        .collect();
    if !names.is_empty() {
        return Some(names.join(", "));
    }
    if stdout(&containers).lines().any(|n| n == "rjup-acme") {
        return None;
    }
    let listening = Command::new("ss")
        .args(["-ltnpH", &format!("sport = :{port}")])
        .output()
        .unwrap();
    let text = stdout(&listening);
    (!text.trim().is_empty()).then(|| format!("a process: {}", text.trim()))
}

/// One pebble instance, as `tests/fixtures/pebble.sh` starts it.
pub struct Pebble {
    name: &'static str,
    env: Vec<(&'static str, String)>,
    pub directory: String,
    /// The directory's CA and the issuing root: what `acme.ca_certificates` trusts.
    pub bundle: PathBuf,
    /// What a browser trusts: the root that signs what it issues, and nothing else.
    pub root: PathBuf,
}

pub fn pebble(name: &'static str, port: u16, settings: &[(&'static str, &str)]) -> Pebble {
    let mut env: Vec<(&'static str, String)> = vec![
        ("PEBBLE_NAME", name.to_string()),
        ("PEBBLE_PORT", port.to_string()),
        ("PEBBLE_MANAGEMENT_PORT", (port + 1000).to_string()),
    ];
    env.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
    let out = run_pebble(&env, "up");
    let value = |key: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("pebble.sh printed no {key}:\n{out}"))
            .to_string()
    };
    Pebble {
        name,
        directory: value("PEBBLE_DIRECTORY"),
        bundle: value("PEBBLE_CA_BUNDLE").into(),
        root: value("PEBBLE_ROOT").into(),
        env,
    }
}

fn run_pebble(env: &[(&'static str, String)], verb: &str) -> String {
    let script = repo_root().join("tests/fixtures/pebble.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(verb)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "acme tests need `tests/fixtures/pebble.sh {verb}` ({env:?}), which failed:\n{}",
        stderr(&out)
    );
    stdout(&out)
}

impl Pebble {
    pub fn down(&self) {
        run_pebble(&self.env, "down");
        eprintln!("pebble {} is down", self.name);
    }
}

/// A pulled lab with `tls: acme` from `ca`, for `ADDRESS`, and `more` in rjup.yaml.
fn acme_project(test: &str, ca: &Pebble, more: &str) -> Project {
    let project = Project::from_example("pulled", test);
    write_acme_config(&project, ca, more);
    project
}

fn write_acme_config(project: &Project, ca: &Pebble, more: &str) {
    write_acme_config_for(project, ca, ADDRESS, more);
}

/// The same, for the certificate's `names` (YAML flow list items).
fn write_acme_config_for(project: &Project, ca: &Pebble, names: &str, more: &str) {
    project.write("ca.pem", &std::fs::read_to_string(&ca.bundle).unwrap());
    project.write(
        "rjup.yaml",
        &format!(
            "image: jupyter/minimal-notebook:latest\ntls: acme\nacme:\n  names: [{names}]\n  directory: {}\n  ca_certificates: ca.pem\n{more}",
            ca.directory
        ),
    );
}

/// The certificate the lab serves to a new connection from the second host, verified
/// against `root` and for `ADDRESS` (`openssl s_client` fails otherwise): its serial and
/// end, as `serial=...` and `notAfter=...` lines.
fn served(port: u16, root: &Path) -> Result<String, String> {
    let script = format!(
        "openssl s_client -connect {ADDRESS}:{port} -CAfile {} -verify_ip {ADDRESS} -verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate -issuer",
        root.display()
    );
    let out = on_client_host("sh").args(["-c", &script]).output().unwrap();
    let text = stdout(&out);
    if out.status.success() && text.contains("serial=") {
        Ok(text)
    } else {
        Err(format!("{}{}", text, stderr(&out)))
    }
}

fn serial(served: &str) -> String {
    served
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap_or_default()
        .to_string()
}

/// `curl` on the second host, trusting only `root` (never `-k`): the status and
/// curl's verdict on the certificate (0 is verified).
fn curl_trusting(root: &Path, url: &str) -> (u16, String, String) {
    let out = on_client_host("curl")
        .args(["-sS", "--max-time", "20", "-o", "/dev/null", "--cacert"])
        .arg(root)
        .args(["-w", "%{http_code} %{ssl_verify_result}", url])
        .output()
        .unwrap();
    let text = stdout(&out);
    let (code, verify) = text.split_once(' ').unwrap_or((&text, ""));
    (code.parse().unwrap_or(0), verify.to_string(), stderr(&out))
}

fn renewer_log() -> String {
    let out = Command::new("docker")
        .args(["logs", "rjup-acme"])
        .output()
        .unwrap();
    format!("{}{}", stdout(&out), stderr(&out))
}

fn container_id(name: &str) -> Option<String> {
    inspect(name).map(|c| c["Id"].as_str().unwrap().to_string())
}

/// Whether `rjup up` failed with exit `code` and exactly one line on stderr that says
/// `says`; panics with the output otherwise.
fn one_line(out: &std::process::Output, code: i32, says: &[&str]) -> String {
    assert_exit(out, code, "rjup up");
    let err = stderr(out);
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("rjup: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line:\n{err}");
    assert_eq!(
        errors[0].lines().count(),
        1,
        "the error is one line:\n{err}"
    );
    for word in says {
        assert!(
            errors[0].contains(word),
            "the error should say {word:?}:\n{err}"
        );
    }
    errors[0].to_string()
}

#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_a_lab_gets_a_certificate_the_second_host_trusts_and_status_shows_it() {
    let _guard = acme_test();
    let ca = pebble("default", 14000, &[]);
    let project = acme_project("acme-basic", &ca, "");
    let port = free_port();
    let out = project.up(port);
    let said = stdout(&out);
    assert!(
        said.contains(&format!("https://{ADDRESS}:{port}/lab"))
            && said.contains(&format!(
                "TLS certificate for {ADDRESS}, from CN=Pebble Intermediate CA"
            )),
        "{said}"
    );

    // The colleague's browser trusts the CA's root alone, and checks the address.
    let url = format!("https://{ADDRESS}:{port}/login");
    assert_eq!(
        curl_trusting(&ca.root, &url).0,
        200,
        "{:?}",
        curl_trusting(&ca.root, &url)
    );
    assert_eq!(curl_trusting(&ca.root, &url).1, "0");
    let directory_ca = ca.bundle.parent().unwrap().join("directory-ca.pem");
    let (code, _, why) = curl_trusting(&directory_ca, &url);
    assert_eq!(code, 0, "another CA's root must not verify it");
    assert!(why.contains("certificate"), "{why}");
    let served = served(port, &ca.root).expect("the certificate verifies for the address");
    assert!(served.contains("Pebble Intermediate CA"), "{served}");
    assert_eq!(Browser::https(port, &ca.root).login(PASSWORD), 302);

    // rjup's own probes trust the CA's roots, not a pin.
    assert_success(
        &project.rjup(&["check"], &[("RJUP_PASSWORD", PASSWORD)], None),
        "rjup check of an acme lab",
    );

    let status = stdout(&project.rjup(&["status"], &[], None));
    assert!(
        status.contains(&format!(
            "certificate: {ADDRESS}, from CN=Pebble Intermediate CA"
        )) && status.contains("valid until 20")
            && status.contains("renewal:   automatic, from 20"),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&project.rjup(&["status", "--json"], &[], None))).unwrap();
    assert_eq!(json["certificate"]["names"], serde_json::json!([ADDRESS]));
    assert!(json["certificate"]["not_after"].as_i64().unwrap() > 0);
    assert_eq!(
        json["urls"],
        serde_json::json!([format!("https://{ADDRESS}:{port}/lab")])
    );

    // The renewer: rjup itself on an empty image, without the Docker socket, root
    // without capabilities but CHOWN, on a read-only root, holding port 80.
    let renewer = inspect("rjup-acme").expect("the renewer runs");
    let host = &renewer["HostConfig"];
    assert_eq!(host["CapAdd"], serde_json::json!(["CHOWN"]));
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(host["PortBindings"]["8080/tcp"][0]["HostPort"], "80");
    let mounts = renewer["Mounts"].to_string();
    assert!(!mounts.contains("docker.sock"), "{mounts}");
    let image = renewer["Config"]["Image"].as_str().unwrap();
    assert!(image.starts_with("rjup/acme:"), "{image}");
    let shell = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            image,
            "-c",
            "true",
        ])
        .output()
        .unwrap();
    assert!(!shell.status.success(), "the renewer's image has no shell");

    // The lab reads its certificate from its volume, read-only; the key is its own.
    let lab = inspect(&project.container()).unwrap();
    let mount = lab["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/etc/rjup/tls")
        .expect("the certificate's volume is mounted");
    assert_eq!(mount["RW"], false);
    let listing = exec(&project.container(), &["ls", "-ln", "/etc/rjup/tls"]);
    let (uid, _) = tester_ids().unwrap();
    assert!(
        listing.contains(&format!("-r-------- 1 {uid} ")),
        "the key is the lab user's, 0400:\n{listing}"
    );
    // The account key: rjup's state, 0600.
    let account = std::fs::read_dir(project.state_home.join("rjup/acme"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&account).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{}", account.display());

    // `down` takes the lab off the renewer, which serves no other and goes, with port 80.
    assert_success(&project.rjup(&["down"], &[], None), "rjup down");
    assert!(
        inspect("rjup-acme").is_none(),
        "the renewer goes with the last lab"
    );
    assert_eq!(holder_of(80), None);
}

#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_a_renewal_replaces_the_certificate_while_a_kernel_stays_alive() {
    let _guard = acme_test();
    // Certificates of 60 s: renewed with 20 s left, some 40 s after they are issued.
    let ca = pebble("short", 14001, &[("PEBBLE_VALIDITY", "60")]);
    let project = acme_project("acme-renewal", &ca, "");
    let port = free_port();
    project.up(port);
    let before = served(port, &ca.root).expect("the first certificate verifies");
    let lab_before = container_id(&project.container()).unwrap();
    let files_before = exec(&project.container(), &["ls", "/etc/rjup/tls"]);

    // A colleague on the second host runs a kernel over a WebSocket opened under the
    // first certificate.
    let script = repo_root().join("tests/acme/kernel_across_renewal.py");
    let mut client = on_client_host("/usr/bin/python3")
        .arg(&script)
        .arg(format!("https://{ADDRESS}:{port}"))
        .arg(PASSWORD)
        .arg(&ca.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let ready = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    let kernel = ready
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("the kernel client did not start: {ready}"))
        .to_string();

    // The renewer renews it by itself, with no hook in rjup: new connections get the
    // new certificate, which verifies as the first did.
    let started = Instant::now();
    let after = loop {
        match served(port, &ca.root) {
            Ok(now) if serial(&now) != serial(&before) => break now,
            Ok(_) => {}
            Err(why) => panic!("a new connection during the renewal failed: {why}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "no renewal within 150 s; the renewer said:\n{}",
            renewer_log()
        );
        std::thread::sleep(Duration::from_secs(2));
    };

    // The same kernel, on the WebSocket opened before, still has its variable.
    client
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"renewed\n")
        .unwrap();
    let x = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    let state = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    let finished = client.wait_with_output().unwrap();
    assert_eq!(x, "x 42", "{}", stderr(&finished));
    assert_eq!(
        state,
        format!("kernel {kernel} idle"),
        "{}",
        stderr(&finished)
    );

    // Nothing was restarted: the lab is the same container, reading the same files,
    // whose certificate alone changed.
    assert_eq!(container_id(&project.container()).unwrap(), lab_before);
    assert_eq!(
        exec(&project.container(), &["ls", "/etc/rjup/tls"]),
        files_before
    );
    assert_ne!(
        after.lines().find(|l| l.starts_with("notAfter=")),
        before.lines().find(|l| l.starts_with("notAfter="))
    );
    assert!(
        renewer_log().matches("certificate for 10.231.0.1").count() >= 2,
        "{}",
        renewer_log()
    );
}

#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_a_failed_renewal_shows_in_status_and_in_the_lab_s_log() {
    let _guard = acme_test();
    let ca = pebble("failing", 14002, &[("PEBBLE_VALIDITY", "60")]);
    let project = acme_project("acme-failing", &ca, "");
    let port = free_port();
    project.up(port);
    let first = served(port, &ca.root).unwrap();
    // The CA goes away before the renewal is due.
    ca.down();
    let started = Instant::now();
    let status = loop {
        let status = stdout(&project.rjup(&["status"], &[], None));
        if status.contains("renewal:   failing") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no failed renewal in `rjup status` within 120 s:\n{status}\nthe renewer said:\n{}",
            renewer_log()
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(
        status.contains("(1 in a row; next try")
            && status.contains("https://10.231.0.1:14002/dir")
            && status.contains("Connection refused"),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&project.rjup(&["status", "--json"], &[], None))).unwrap();
    assert_eq!(json["certificate"]["last_error"]["kind"], "unreachable");

    // The lab's own log says so, with the reason, within seconds.
    let started = Instant::now();
    loop {
        let log = stdout(&project.rjup(&["logs"], &[], None));
        if log.contains("rjup: renewing the lab's TLS certificate failed (1 in a row") {
            assert!(log.contains("Connection refused"), "{log}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the lab's log does not say the renewal failed:\n{log}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // It keeps serving the certificate it had.
    assert_eq!(serial(&served(port, &ca.root).unwrap()), serial(&first));
}

#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_port_80_taken_is_one_line_naming_its_holder_and_the_lab_stays_as_it_was() {
    let _guard = acme_test();
    assert!(
        inspect("rjup-acme").is_none(),
        "the renewer of another lab holds port 80 already; remove that lab first"
    );
    let ca = pebble("default", 14000, &[]);
    let project = Project::from_example("pulled", "acme-port");
    project.write("rjup.yaml", "image: jupyter/minimal-notebook:latest\n");
    let port = free_port();
    project.up(port);
    let lab = container_id(&project.container()).unwrap();

    // Something else holds port 80.
    let holder = format!("rjup-test-port80-{}", std::process::id());
    let held = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &holder,
            "-p",
            "80:8000",
            "python:3.13-slim",
        ])
        .args(["python3", "-m", "http.server", "8000"])
        .output()
        .unwrap();
    assert_success(&held, "a container holding port 80");
    let _remove = Removal(holder.clone());

    write_acme_config(&project, &ca, "");
    let out = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    one_line(
        &out,
        6,
        &[
            "port 80 on the engine's host is taken by the container rjup-test-port80-",
            "acme.challenge: tls-alpn-01",
            "tls: self-signed",
        ],
    );
    // Nothing made, the lab as it was: the same container, over plain HTTP.
    assert!(inspect("rjup-acme").is_none(), "no renewer half-made");
    assert_eq!(container_id(&project.container()).unwrap(), lab);
    assert_eq!(Browser::new(port).get("/login").status, 200);
    let volumes = Command::new("docker")
        .args(["volume", "ls", "-q"])
        .output()
        .unwrap();
    assert!(
        !stdout(&volumes).contains(&format!("rjup-acme-{}", project.name)),
        "no certificate volume left"
    );
}

/// Removes a container the test made, however the test ends.
struct Removal(String);

impl Drop for Removal {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_a_refusing_ca_and_an_unreachable_directory_are_one_line_each_and_the_lab_keeps_its_certificate(
) {
    let _guard = acme_test();
    let ca = pebble("default", 14000, &[]);
    let project = acme_project("acme-refused", &ca, "");
    let port = free_port();
    project.up(port);
    let lab = container_id(&project.container()).unwrap();
    let first = serial(&served(port, &ca.root).unwrap());

    // A CA that refuses every new account (it wants an external account binding).
    let refusing = pebble("refusing", 14003, &[("PEBBLE_REQUIRE_EAB", "true")]);
    write_acme_config(&project, &refusing, "");
    let out = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    one_line(
        &out,
        15,
        &[
            "the ACME CA at https://10.231.0.1:14003/dir refused a certificate for 10.231.0.1",
            "externalAccountRequired",
            "tls: self-signed",
        ],
    );
    assert_eq!(container_id(&project.container()).unwrap(), lab);
    assert_eq!(serial(&served(port, &ca.root).unwrap()), first);

    // A directory nothing answers at.
    let gone = Pebble {
        directory: "https://10.231.0.1:14099/dir".into(),
        ..pebble("default", 14000, &[])
    };
    write_acme_config(&project, &gone, "");
    let out = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    one_line(
        &out,
        15,
        &[
            "the ACME directory https://10.231.0.1:14099/dir could not be reached",
            "Connection refused",
        ],
    );
    assert_eq!(container_id(&project.container()).unwrap(), lab);
    assert_eq!(serial(&served(port, &ca.root).unwrap()), first);
    let started = Instant::now();
    loop {
        let status = stdout(&project.rjup(&["status"], &[], None));
        if status.contains("renewal:   automatic") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the renewer serves the lab as before:\n{status}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_two_labs_with_the_same_address_share_one_order_and_tls_alpn_01_works_on_443() {
    let _guard = acme_test();
    let ca = pebble("default", 14000, &[]);
    let first = acme_project("acme-share-a", &ca, "");
    let second = acme_project("acme-share-b", &ca, "");
    let (port_a, port_b) = (free_port(), free_port());
    first.up(port_a);
    second.up(port_b);
    // One certificate for both: the second lab got the first one's, not an order of
    // its own (the renewer's log starts again when `up` remounts it, so it cannot tell).
    assert_eq!(
        serial(&served(port_a, &ca.root).unwrap()),
        serial(&served(port_b, &ca.root).unwrap()),
        "the second lab gets the first one's certificate"
    );
    // Taking one lab down keeps the renewer for the other.
    assert_success(&first.rjup(&["down"], &[], None), "rjup down");
    assert!(inspect("rjup-acme").is_some());
    assert!(served(port_b, &ca.root).is_ok());
    assert_success(&second.rjup(&["down"], &[], None), "rjup down");

    // tls-alpn-01: the CA checks each address on port 443, which the renewer holds;
    // the IPv6 one too (other names than before: a new order).
    let alpn = Project::from_example("pulled", "acme-alpn");
    write_acme_config_for(
        &alpn,
        &ca,
        &format!("{ADDRESS}, 'fd31:231::1'"),
        "  challenge: tls-alpn-01\n",
    );
    let port = free_port();
    let out = alpn.up(port);
    assert!(
        stdout(&out).contains(&format!("https://[fd31:231::1]:{port}/lab")),
        "{}",
        stdout(&out)
    );
    assert!(served(port, &ca.root).is_ok());
    assert!(
        renewer_log().contains("certificate for 10.231.0.1, fd31:231::1"),
        "{}",
        renewer_log()
    );
    let renewer = inspect("rjup-acme").unwrap();
    assert_eq!(
        renewer["HostConfig"]["PortBindings"]["8443/tcp"][0]["HostPort"],
        "443"
    );
    assert!(
        renewer_log().contains("answered the tls-alpn-01 challenge"),
        "{}",
        renewer_log()
    );
}

/// Regression: the renewer kept a certificate from a CA that then restarted with a new
/// root (pebble makes one at each start; a CA may change its chain); the next `up`
/// orders a new one rather than refusing the kept one.
#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_regression_a_kept_certificate_from_a_ca_with_a_new_root_is_ordered_anew() {
    let _guard = acme_test();
    let ca = pebble("rerooted", 14004, &[]);
    let project = acme_project("acme-rerooted", &ca, "");
    let port = free_port();
    project.up(port);
    assert_success(&project.rjup(&["down"], &[], None), "rjup down");
    ca.down();
    let ca = pebble("rerooted", 14004, &[]);
    write_acme_config(&project, &ca, "");
    let out = project.up(port);
    assert!(
        stderr(&out).contains("does not verify") && stderr(&out).contains("asking for a new one"),
        "rjup says why it orders anew:\n{}",
        stderr(&out)
    );
    served(port, &ca.root).unwrap_or_else(|e| panic!("the new root's certificate: {e}"));
    assert_success(&project.rjup(&["down"], &[], None), "rjup down");
    ca.down();
}

#[test]
#[ignore = "acme: needs root, an engine, the second host, pebble from tests/fixtures/pebble.sh and the host's ports 80 and 443"]
fn acme_without_a_public_address_says_so_and_makes_nothing() {
    let _guard = acme_test();
    let project = Project::from_example("pulled", "acme-private");
    project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\ntls: acme\n",
    );
    let out = project.rjup(
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    one_line(
        &out,
        3,
        &["public addresses", "tls: self-signed", "acme.names"],
    );
    assert!(inspect(&project.container()).is_none());
    assert!(inspect("rjup-acme").is_none());
}
