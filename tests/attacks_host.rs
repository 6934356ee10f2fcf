//! Attacks on what rjup itself decides for a lab, tried from the second host as an
//! attacker would (issue 18): an allowlist an engine cannot enforce, a removed
//! collaborator who kept what the lab held, a lab that makes its owner's rjup read a
//! file for it, guessers who lock rjup out, and a broken `rjup.yaml` that keeps rjup
//! from taking a lab down. Each test is named after its attack.

use std::process::Output;

use crate::util::*;

const PULLED: &str = "image: jupyter/minimal-notebook:latest\n";
/// A network that never holds the client host (TEST-NET-1, RFC 5737).
const ELSEWHERE: &str = "192.0.2.0/24";
const ADA: &str = "ada's own passphrase";
const GRACE: &str = "grace's own passphrase";

fn up(project: &Project, port: u16, env: &[(&str, &str)]) -> Output {
    let mut env = env.to_vec();
    env.push(("RJUP_PASSWORD", PASSWORD));
    project.rjup(&["up", "--port", &port.to_string()], &env, None)
}

fn both(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// The lines of rjup's stderr that start with `prefix` (`rjup: error:`, `rjup: warning:`).
fn lines_starting(out: &Output, prefix: &str) -> Vec<String> {
    stderr(out)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

fn container_id(project: &Project) -> Option<String> {
    inspect(&project.container()).map(|c| c["Id"].as_str().unwrap().to_string())
}

/// Removes a container by name when dropped, whatever rjup manages to do: a test whose
/// `rjup down` fails must not leave its lab running.
struct RemoveOnDrop(String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let name = self.0.clone();
        with_docker(|docker| async move {
            let options = bollard::query_parameters::RemoveContainerOptionsBuilder::new()
                .force(true)
                .build();
            let _ = docker.remove_container(&name, Some(options)).await;
        });
    }
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_an_ipv6_client_slips_past_allow_through_the_userland_proxy() {
    let _engine = engine();
    require_client_host("the IPv6 allowlist attack");
    // The README once said to publish on an IPv6 address to serve IPv6 clients with a
    // list. This engine's bridge has no IPv6, so docker-proxy forwards them, and the lab
    // sees each one come from its gateway.
    let project = Project::from_example("pulled", "atk_v6allow");
    project.write(
        "rjup.yaml",
        &format!("{PULLED}bind: \"::\"\nallow: [{ELSEWHERE}]\n"),
    );
    let _cleanup = RemoveOnDrop(project.container());
    let port = free_port();
    let out = up(&project, port, &[]);
    if out.status.success() {
        let stranger = Browser::ipv6(port).get("/login");
        panic!(
            "`rjup up` made a lab whose `allow:` cannot hold; from fd31:231::2, which the list does not name, GET /login answered {}\n{}",
            stranger.status,
            both(&out)
        );
    }
    assert_exit(
        &out,
        3,
        "up with allow: and an IPv6 bind through docker-proxy",
    );
    let errors = lines_starting(&out, "rjup: error:");
    assert_eq!(errors.len(), 1, "one line:\n{}", stderr(&out));
    let error = &errors[0];
    for said in ["allow", "IPv6", "bind", "0.0.0.0", "ip6tables"] {
        assert!(
            error.contains(said),
            "the refusal must mention {said}: {error}"
        );
    }
    assert!(inspect(&project.container()).is_none(), "nothing made");
    assert!(project.state_dir().is_none(), "no state kept");

    // Without a list the lab comes up, with one line about what it cannot tell apart.
    project.write("rjup.yaml", &format!("{PULLED}bind: \"::\"\n"));
    let out = up(&project, port, &[]);
    assert_success(&out, "up with an IPv6 bind and no allow:");
    let warnings = lines_starting(&out, "rjup: warning:");
    assert_eq!(warnings.len(), 1, "one warning:\n{}", stderr(&out));
    assert!(
        warnings[0].contains("IPv6") && warnings[0].contains("throttl"),
        "{}",
        warnings[0]
    );
    assert_eq!(Browser::ipv6(port).get("/login").status, 200);
    let status = project.rjup(&["status"], &[], None);
    assert_success(&status, "rjup status");
    assert!(
        stdout(&status).contains("admits:    every address"),
        "{}",
        stdout(&status)
    );
}

/// What the collaborator runs in a kernel of their own: read the lab's cookie secret
/// and the owner's hash, sign an owner cookie as Jupyter Server would, and leave a
/// backdoor in the container's writable layer that every later kernel runs.
const FORGE_OWNER_COOKIE: &str = r#"
import hashlib, hmac, json, pathlib
from tornado.web import create_signed_value
d = "/etc/rjup/jupyter"
key = open(d + "/cookie_secret", "rb").read()
owner_hash = json.load(open(d + "/rjup_lab.json"))["hashed_password"]
h = hmac.new(key, digestmod=hashlib.sha256)
h.update(b"")
h.update(owner_hash.encode())
value = json.dumps({"username": "owner", "rjup": hashlib.sha256(owner_hash.encode()).hexdigest()[:16]})
backdoor = pathlib.Path.home() / ".ipython/profile_default/startup/00-backdoor.py"
backdoor.parent.mkdir(parents=True, exist_ok=True)
backdoor.write_text("print('backdoor')\n")
print(create_signed_value(h.digest(), "COOKIE_NAME", value).decode())
"#;

/// Runs `code` in a kernel `name` starts through the lab, and returns what it printed.
fn run_code_as(project: &Project, name: &str, password: &str, code: &str) -> String {
    let script = include_str!("attacks/run_code_as.py");
    exec(
        &project.container(),
        &["python3", "-c", script, name, password, code],
    )
}

/// `GET /api/me` from the second host with only the login cookie `cookie`: the account
/// the lab takes it for, or the HTTP status it refused with.
fn who_is(port: u16, cookie_name: &str, cookie: &str) -> Result<String, u16> {
    let out = on_client_host("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}", "-b"])
        .arg(format!("{cookie_name}={cookie}"))
        .arg(format!("http://{}:{port}/api/me", lab_host()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    match status.trim().parse::<u16>().unwrap_or(0) {
        200 => {
            let me: serde_json::Value = serde_json::from_str(body).unwrap();
            Ok(me["identity"]["username"].as_str().unwrap().to_string())
        }
        other => Err(other),
    }
}

fn add(project: &Project, name: &str, password: &str, read_only: bool) {
    let mut args = vec!["user", "add", name, "--password-stdin"];
    if read_only {
        args.push("--read-only");
    }
    let out = project.rjup(&args, &[], Some(&format!("{password}\n")));
    assert_success(&out, "rjup user add");
}

/// The collaborator forges an owner cookie and plants a backdoor; `cut_off` ends the
/// account. Afterwards neither may work, and the container must be a new one.
fn forge_then_cut_off(project: &Project, port: u16, cut_off: &[&str], stdin: Option<&str>) {
    let cookie_name = format!("username-{}-{port}", lab_host().replace('.', "-"));
    let code = FORGE_OWNER_COOKIE.replace("COOKIE_NAME", &cookie_name);
    let forged = run_code_as(project, "ada", ADA, &code);
    let forged = forged.trim();
    assert_eq!(
        who_is(port, &cookie_name, forged),
        Ok("owner".to_string()),
        "the forged cookie passes for the owner's while ada is a collaborator: {forged}"
    );
    let home = exec(&project.container(), &["sh", "-c", "echo $HOME"]);
    let backdoor = format!(
        "{}/.ipython/profile_default/startup/00-backdoor.py",
        home.trim()
    );
    let before = container_id(project).unwrap();

    let out = project.rjup(cut_off, &[], stdin);
    assert_success(&out, &format!("rjup {}", cut_off.join(" ")));
    let said = both(&out);
    assert_eq!(
        who_is(port, &cookie_name, forged),
        Err(403),
        "after `rjup {}`, the forged owner cookie must be refused:\n{said}",
        cut_off.join(" ")
    );
    let after = container_id(project).expect("the lab must still run");
    assert_ne!(after, before, "a fresh container:\n{said}");
    let listing = exec(&project.container(), &["ls", "-a", &backdoor]);
    assert!(
        listing.contains("No such file"),
        "the backdoor must be gone with the old container: {listing}"
    );
    for promise in ["cookie secret", "container"] {
        assert!(said.contains(promise), "the command must say so: {said}");
    }
    // Everyone else logs in again, and works.
    let owner = Browser::new(port);
    assert_eq!(owner.login(PASSWORD), 302, "{said}");
    assert_eq!(owner.get("/api/contents").status, 200);
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_removed_collaborator_keeps_a_forged_owner_cookie() {
    let _engine = engine();
    require_client_host("the forged-cookie attack");
    let project = Project::from_example("pulled", "atk_forge");
    let port = free_port();
    project.up(port);
    add(&project, "ada", ADA, false);

    forge_then_cut_off(&project, port, &["user", "rm", "ada"], None);
    assert_eq!(Browser::new(port).login_as("ada", ADA), 401);

    // A new password for a collaborator ends the same things.
    add(&project, "ada", ADA, false);
    forge_then_cut_off(
        &project,
        port,
        &["user", "passwd", "ada", "--password-stdin"],
        Some("ada's next passphrase\n"),
    );
    assert_eq!(Browser::new(port).login_as("ada", ADA), 401);
    assert_eq!(
        Browser::new(port).login_as("ada", "ada's next passphrase"),
        302
    );

    // A read-only account ran no code: removing it keeps the lab and its sessions.
    add(&project, "grace", GRACE, true);
    let owner = Browser::new(port);
    assert_eq!(owner.login(PASSWORD), 302);
    let before = container_id(&project);
    let out = project.rjup(&["user", "rm", "grace"], &[], None);
    assert_success(&out, "rjup user rm grace");
    assert_eq!(container_id(&project), before, "{}", both(&out));
    assert!(both(&out).contains("without a restart"), "{}", both(&out));
    assert_eq!(owner.get("/api/contents").status, 200, "sessions stay");
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_collaborator_breaks_rjup_yaml_to_stay_in() {
    let _engine = engine();
    require_client_host("the broken rjup.yaml attack");
    let project = Project::from_example("pulled", "atk_staysin");
    let _cleanup = RemoveOnDrop(project.container());
    let port = free_port();
    project.up(port);
    add(&project, "ada", ADA, false);
    // From the second host, ada makes the project's rjup.yaml one rjup refuses.
    let ada = Browser::new(port);
    assert_eq!(ada.login_as("ada", ADA), 302);
    let broken = format!("{PULLED}prot: 8888\n");
    assert_eq!(ada.put_file("rjup.yaml", &broken).status, 200);

    let out = project.rjup(&["user", "rm", "ada"], &[], None);
    assert_success(&out, "rjup user rm with a broken rjup.yaml");
    let said = both(&out);
    assert!(
        said.contains("taken down") && said.contains("cookie secret"),
        "{said}"
    );
    assert_eq!(lines_starting(&out, "rjup: warning:").len(), 1, "{said}");
    assert!(inspect(&project.container()).is_none(), "{said}");

    project.write("rjup.yaml", PULLED);
    project.up(port);
    assert_eq!(Browser::new(port).login_as("ada", ADA), 401);
    assert_eq!(Browser::new(port).login(PASSWORD), 302);
}

/// A certificate and its key outside the project, readable only by the tester, as
/// the owner's certificates in `/etc/letsencrypt` are only by the owner.
fn secret_certificate(project: &Project) -> (std::path::PathBuf, std::path::PathBuf) {
    let outside = project.dir.parent().unwrap().join("x");
    std::fs::create_dir_all(&outside).unwrap();
    let (cert, key) = (outside.join("fullchain.pem"), outside.join("privkey.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=owner-secret",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert_success(&made, "openssl req");
    if let Some((uid, gid)) = tester_ids() {
        for path in [&outside, &cert, &key] {
            std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
        }
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (cert, key)
}

/// Whether the lab's own files hold `secret` (what its user may read in it).
fn lab_holds(project: &Project, secret: &str) -> bool {
    let found = exec(
        &project.container(),
        &["sh", "-c", "cat /etc/rjup/jupyter/* 2>/dev/null"],
    );
    found.contains(secret.trim())
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_lab_makes_its_owner_copy_a_key_from_outside_the_project() {
    let _engine = engine();
    require_client_host("the rjup.yaml path attack");
    let project = Project::from_example("pulled", "atk_tlspath");
    let (cert, key) = secret_certificate(&project);
    let key_pem = std::fs::read_to_string(&key).unwrap();
    let key_body: String = key_pem.lines().nth(1).unwrap().to_string();
    let port = free_port();
    project.up(port);

    // Anyone who may write in the lab may write its rjup.yaml, the project's own file.
    let lab = Browser::new(port);
    assert_eq!(lab.login(PASSWORD), 302);
    let planted = format!("{PULLED}tls:\n  cert: ../x/fullchain.pem\n  key: ../x/privkey.pem\n");
    assert_eq!(lab.put_file("rjup.yaml", &planted).status, 200);
    let out = project.rjup(&["up"], &[], None);
    assert!(
        !lab_holds(&project, &key_body),
        "the owner's `rjup up` copied a key from outside the project into the lab:\n{}",
        both(&out)
    );
    assert_exit(&out, 3, "up with a tls.key outside the project");
    let error = lines_starting(&out, "rjup: error:");
    assert_eq!(error.len(), 1, "{}", stderr(&out));
    assert!(
        error[0].contains("rjup.yaml:3:9") && error[0].contains("outside the project"),
        "{}",
        error[0]
    );
    assert!(error[0].contains("RJUP_TLS_CERT"), "{}", error[0]);
    assert_eq!(
        Browser::new(port).login(PASSWORD),
        302,
        "the lab runs as it was"
    );

    // A link in the project to the same file is the same file.
    let link = project.dir.join("key.pem");
    std::os::unix::fs::symlink("../x/privkey.pem", &link).unwrap();
    std::os::unix::fs::symlink("../x/fullchain.pem", project.dir.join("cert.pem")).unwrap();
    project.write(
        "rjup.yaml",
        &format!("{PULLED}tls:\n  cert: cert.pem\n  key: key.pem\n"),
    );
    let out = project.rjup(&["up"], &[], None);
    assert_exit(&out, 3, "up with tls.cert a link out of the project");
    assert!(
        stderr(&out).contains("outside the project") && !lab_holds(&project, &key_body),
        "{}",
        stderr(&out)
    );

    // So is an environment file rjup finds itself, which it would build into the image.
    project.write("rjup.yaml", "name: atk-tlspath-build\n");
    std::os::unix::fs::symlink("../x/privkey.pem", project.dir.join("requirements.txt")).unwrap();
    let out = project.rjup(&["up", "--port", &free_port().to_string()], &[], None);
    assert_exit(
        &out,
        3,
        "up with requirements.txt a link out of the project",
    );
    assert!(
        stderr(&out).contains("requirements.txt") && stderr(&out).contains("outside the project"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("Building"), "{}", stderr(&out));
    std::fs::remove_file(project.dir.join("requirements.txt")).unwrap();

    // The owner gives such files from outside the project, where the lab cannot.
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(project.dir.join("cert.pem")).unwrap();
    project.write("rjup.yaml", PULLED);
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let out = up(
        &project,
        port,
        &[("RJUP_TLS_CERT", &cert), ("RJUP_TLS_KEY", &key)],
    );
    assert_success(&out, "up with RJUP_TLS_CERT and RJUP_TLS_KEY");
    let fingerprint = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in", &cert])
        .output()
        .unwrap();
    let fingerprint = stdout(&fingerprint);
    let fingerprint = fingerprint.trim().rsplit('=').next().unwrap();
    assert!(stdout(&out).contains(fingerprint), "{}", both(&out));
    assert!(stdout(&out).contains("https://"), "{}", both(&out));
}

/// The validity of the certificate the lab serves, as a browser on the second host
/// sees it: `notBefore` and `notAfter` in seconds since the epoch, and its fingerprint.
fn served_certificate(port: u16) -> (i64, i64, String) {
    let script = format!(
        "openssl s_client -connect {}:{port} </dev/null 2>/dev/null | openssl x509 -noout -startdate -enddate -fingerprint -sha256 -dateopt iso_8601",
        lab_host()
    );
    let out = on_client_host("sh").args(["-c", &script]).output().unwrap();
    let text = stdout(&out);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {text:?}"))
            .trim()
            .to_string()
    };
    let seconds = |date: String| {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", &date, "+%s"])
            .output()
            .unwrap();
        stdout(&out).trim().parse::<i64>().unwrap()
    };
    let fingerprint = field("sha256 Fingerprint=");
    (
        seconds(field("notBefore=")),
        seconds(field("notAfter=")),
        fingerprint,
    )
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_a_self_signed_certificate_stays_valid_until_4096() {
    let _engine = engine();
    require_client_host("the certificate validity attack");
    let project = Project::from_example("pulled", "atk_certdates");
    project.write("rjup.yaml", &format!("{PULLED}tls: self-signed\n"));
    let port = free_port();
    project.up(port);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let day = 86_400;
    let (not_before, not_after, fingerprint) = served_certificate(port);
    assert!(
        not_after <= now + 826 * day,
        "a certificate (and its key) good for {} more days",
        (not_after - now) / day
    );
    assert!(not_after >= now + 824 * day, "a few years: {not_after}");
    assert!(
        (now - 2 * day..=now).contains(&not_before),
        "back-dated a day, not to 1975: {not_before}"
    );

    // A month before it ends, `up` renews it, with a new key, and says so.
    let state = project.state_dir().unwrap();
    std::fs::write(state.join("tls-valid-until"), (now + 20 * day).to_string()).unwrap();
    let out = project.rjup(&["up"], &[], None);
    assert_success(&out, "up a month before the certificate ends");
    let said = both(&out);
    assert!(
        said.contains("Renewed") && said.contains("new key"),
        "{said}"
    );
    let (_, renewed_until, renewed) = served_certificate(port);
    assert_ne!(renewed, fingerprint, "{said}");
    assert!(
        said.contains(&renewed),
        "the new fingerprint is printed: {said}"
    );
    assert!(renewed_until >= now + 824 * day);
    assert_eq!(
        Browser::https(port, &state.join("tls-cert.pem")).login(PASSWORD),
        302
    );
}

#[test]
#[ignore = "root: needs root and a Docker engine, for the second host of tests/fixtures/client-host.sh"]
fn root_ipv6_guessers_lock_the_host_out_of_rjup_check() {
    let _engine = engine();
    require_client_host("the IPv6 guessers attack");
    let project = Project::from_example("pulled", "atk_v6guess");
    let port = free_port();
    project.up(port);
    // Docker publishes the default bind on [::] as well, through docker-proxy: every
    // IPv6 client reaches the lab from the gateway, where the engine's host does too.
    let guesser = Browser::ipv6(port);
    for _ in 0..5 {
        assert_eq!(guesser.login("guess"), 401);
    }
    assert_eq!(guesser.login(PASSWORD), 429, "the guessers are locked out");

    let out = project.rjup(&["check"], &[("RJUP_PASSWORD", PASSWORD)], None);
    assert_success(&out, "rjup check after IPv6 guessers");
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_down_with_an_invalid_rjup_yaml() {
    let _engine = engine();
    // A lab named in rjup.yaml, so that only rjup.yaml or the lab's labels know its name.
    let project = Project::from_example("pulled", "atk_badyaml");
    let name = format!("{}-n", project.name);
    let container = format!("rjup-{name}");
    let _cleanup = RemoveOnDrop(container.clone());
    let valid = format!("{PULLED}name: {name}\n");
    project.write("rjup.yaml", &valid);
    project.up(free_port());

    // Anyone who writes in the lab can break rjup.yaml: with an unknown key, and with
    // YAML that does not parse at all (so not even `name:` can be read from it).
    for broken in [
        format!("{valid}prot: 8888\n"),
        format!("name: {name}\nimage: [jupyter/minimal-notebook\n"),
    ] {
        project.write("rjup.yaml", &broken);
        let status = project.rjup(&["status"], &[], None);
        assert_success(&status, &format!("rjup status with {broken:?}"));
        assert!(
            stdout(&status).contains(&format!("Lab \"{name}\": running")),
            "{}",
            both(&status)
        );
        let warnings = lines_starting(&status, "rjup: warning:");
        assert_eq!(warnings.len(), 1, "{}", stderr(&status));
        assert!(warnings[0].contains("rjup.yaml"), "{}", warnings[0]);
        let json = project.rjup(&["status", "--json"], &[], None);
        assert_success(&json, "rjup status --json");
        let view: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
        assert_eq!(view["state"], "running", "{view}");
        let logs = project.rjup(&["logs", "--tail", "5"], &[], None);
        assert_success(&logs, "rjup logs");
        let up_again = project.rjup(&["up"], &[], None);
        assert_exit(&up_again, 3, "up keeps refusing a bad rjup.yaml");
    }
    let down = project.rjup(&["down"], &[], None);
    assert_success(&down, "rjup down with a broken rjup.yaml");
    assert!(inspect(&container).is_none(), "{}", both(&down));

    // An environment file rjup cannot build stops neither.
    let built = Project::from_example("", "atk_badenv");
    let port = free_port();
    built.up(port);
    built.write("runtime.txt", "r-2018-06-18\n");
    let status = built.rjup(&["status", "--json"], &[], None);
    assert_success(&status, "status with an R runtime.txt");
    assert_success(&built.rjup(&["logs", "--tail", "1"], &[], None), "logs");
    assert_exit(&built.rjup(&["up"], &[], None), 3, "up refuses it");
    assert_success(&built.rjup(&["down"], &[], None), "down");
    assert!(inspect(&built.container()).is_none());
}
