//! A lab on a public IP must be safe: TLS, hardening visible in `docker inspect`, login
//! throttling, and no secret in any place an attacker or a colleague could look.

use std::os::unix::fs::PermissionsExt;

use crate::util::*;

fn fingerprint_of(cert: &std::path::Path) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.trim().rsplit('=').next().unwrap().to_string()
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_tls_self_signed_serves_https_only_with_a_stable_printed_fingerprint() {
    let _engine = engine();
    let project = Project::from_example("pulled", "tls");
    project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\ntls: self-signed\n",
    );
    let port = free_port();
    let out = project.up(port);
    let text = stdout(&out);
    assert!(
        text.contains("https://") && !text.contains("http://"),
        "{text}"
    );
    let cert = project.state_dir().unwrap().join("tls-cert.pem");
    let key_mode = std::fs::metadata(project.state_dir().unwrap().join("tls-key.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    let fingerprint = fingerprint_of(&cert);
    assert!(
        text.contains(&fingerprint),
        "the printed fingerprint must be the certificate's ({fingerprint}):\n{text}"
    );

    // The colleague's browser, trusting that certificate, reaches the lab by this host's IP.
    let browser = Browser::https(port, &cert).with_headers();
    assert_eq!(browser.login(PASSWORD), 302);
    let page = browser.get("/api/contents");
    assert_eq!(page.status, 200);

    // Plain HTTP on that port does not serve the lab.
    let plain = Browser::new(port).get("/login");
    assert_ne!(plain.status, 200, "plain HTTP must not serve the lab");

    // A restart keeps the certificate, so browsers that accepted it keep trusting it.
    assert_success(
        &project.rjup(&["up", "--force-recreate"], &[], None),
        "up --force-recreate",
    );
    assert_eq!(fingerprint_of(&cert), fingerprint);
    assert_eq!(Browser::https(port, &cert).login(PASSWORD), 302);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_tls_login_cookie_is_secure() {
    let _engine = engine();
    let project = Project::from_example("pulled", "tlscookie");
    project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\ntls: self-signed\n",
    );
    let port = free_port();
    project.up(port);
    let cert = project.state_dir().unwrap().join("tls-cert.pem");
    let browser = Browser::https(port, &cert).with_headers();
    let page = browser.get("/login");
    assert_eq!(page.status, 200);
    let xsrf = set_cookie(&page.body, "_xsrf");
    assert!(
        xsrf.contains("secure"),
        "the _xsrf cookie over HTTPS must be Secure: {xsrf}"
    );
    let login = browser.login_response(PASSWORD);
    assert_eq!(login.status, 302);
    let session = set_cookie(&login.body, "username-");
    assert!(
        session.contains("secure") && session.contains("httponly"),
        "the login cookie must be Secure and HttpOnly: {session}"
    );
}

fn set_cookie(headers: &str, name: &str) -> String {
    headers
        .lines()
        .map(str::to_lowercase)
        .find(|l| l.starts_with(&format!("set-cookie: {name}")))
        .unwrap_or_else(|| panic!("no {name} cookie in:\n{headers}"))
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_repeated_failed_logins_from_one_address_are_throttled_and_others_are_not() {
    let _engine = engine();
    require_client_host("the throttle test");
    let project = Project::from_example("pulled", "throttle");
    let port = free_port();
    project.up(port);
    let attacker = Browser::new(port);
    for attempt in 1..=5 {
        assert_eq!(
            attacker.login("guess"),
            401,
            "attempt {attempt} is an ordinary failure"
        );
    }
    assert_eq!(
        attacker.login("guess"),
        429,
        "the sixth failure in a row is throttled"
    );
    assert_eq!(
        attacker.login(PASSWORD),
        429,
        "while locked out, even the right password waits"
    );
    // Another client (this host, over loopback) is unaffected.
    assert_eq!(Browser::local(port).login(PASSWORD), 302);
    let log = stdout(&project.rjup(&["logs"], &[], None));
    assert!(
        log.contains("locked out") && log.contains("10.231.0.2"),
        "the lab logs the lockout:\n{log}"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_hardening_is_visible_in_docker_inspect() {
    let _engine = engine();
    let project = Project::from_example("pulled", "hardening");
    project.write("rjup.yaml", "image: jupyter/minimal-notebook:latest\nresources:\n  memory: 1g\n  cpus: 1.5\n  pids: 2048\n");
    project.up(free_port());
    let c = inspect(&project.container()).unwrap();
    let hc = &c["HostConfig"];
    assert_eq!(hc["CapDrop"], serde_json::json!(["ALL"]));
    assert!(hc["CapAdd"].is_null() || hc["CapAdd"] == serde_json::json!([]));
    assert_eq!(
        hc["SecurityOpt"],
        serde_json::json!(["no-new-privileges:true"])
    );
    assert_eq!(hc["PidsLimit"], 2048);
    assert_eq!(hc["Memory"], 1i64 << 30);
    assert_eq!(hc["NanoCpus"], 1_500_000_000i64);
    assert_eq!(hc["Init"], true);
    assert_ne!(hc["Privileged"], true);
    let user = c["Config"]["User"].as_str().unwrap();
    assert!(
        !user.is_empty() && !user.starts_with("0:") && user != "root",
        "runs as {user}"
    );
    let mounts = c["Mounts"].to_string();
    assert!(!mounts.contains("docker.sock"), "{mounts}");
    assert_eq!(
        c["Mounts"].as_array().unwrap().len(),
        1,
        "only the project is mounted: {mounts}"
    );
    // The process really has no capabilities and cannot gain privileges.
    let status = exec(&project.container(), &["cat", "/proc/1/status"]);
    let status = exec(&project.container(), &["sh", "-c", "cat /proc/self/status"]) + &status;
    assert!(status.contains("CapEff:\t0000000000000000"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_gpus_without_a_gpu_runtime_fail_clearly_and_leave_nothing() {
    let _engine = engine();
    let project = Project::from_example("pulled", "gpus");
    project.write(
        "rjup.yaml",
        "image: jupyter/minimal-notebook:latest\ngpus: all\n",
    );
    let out = project.rjup(
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    if out.status.success() {
        eprintln!("this engine has a GPU runtime; nothing to test");
        return;
    }
    assert_exit(&out, 14, "up with gpus on an engine without a GPU runtime");
    assert!(
        stderr(&out).contains("NVIDIA Container Toolkit"),
        "{}",
        stderr(&out)
    );
    assert!(inspect(&project.container()).is_none());
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_no_secret_in_inspect_processes_logs_image_layers_or_the_project() {
    let _engine = engine();
    let project = Project::from_example("minimal", "secrets");
    // A password no package could contain by chance (PASSWORD is a famous phrase).
    let password = format!(
        "rjup-secret-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let port = free_port();
    assert_success(
        &project.rjup(
            &["up", "--port", &port.to_string()],
            &[("RJUP_PASSWORD", &password)],
            None,
        ),
        "rjup up",
    );
    assert_eq!(Browser::new(port).login(&password), 302);
    let hash = project.stored_hash();
    let digest = hash.rsplit('$').next().unwrap().to_string();
    let secrets = [password.as_str(), hash.as_str(), digest.as_str()];
    let leaks = |place: &str, text: &str| {
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "{place} shows a secret ({secret:.12}…)"
            );
        }
    };
    leaks(
        "docker inspect",
        &inspect(&project.container()).unwrap().to_string(),
    );
    leaks(
        "the process list",
        &exec(
            &project.container(),
            &[
                "sh",
                "-c",
                "cat /proc/[0-9]*/cmdline /proc/[0-9]*/environ 2>/dev/null | tr '\\\\0' ' '",
            ],
        ),
    );
    leaks(
        "the lab's log",
        &stdout(&project.rjup(&["logs"], &[], None)),
    );
    let image = inspect(&project.container()).unwrap()["Config"]["Image"]
        .as_str()
        .unwrap()
        .to_string();
    leaks(
        "the image's layers",
        &String::from_utf8_lossy(&export_image(&image)),
    );
    for (path, bytes) in snapshot(&project.dir) {
        leaks(
            &format!("the project file {}", path.display()),
            &String::from_utf8_lossy(&bytes),
        );
    }
    // The state directory is private.
    let state = project.state_dir().unwrap();
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o700
    );
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            path.display()
        );
    }
    assert_eq!(
        std::fs::metadata(state.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
}

fn export_image(reference: &str) -> Vec<u8> {
    use futures_util::StreamExt;
    with_docker(|docker| async move {
        let mut stream = docker.export_image(reference);
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        bytes
    })
}
