//! Engines reached the way the docker CLI reaches them: a context chosen by `docker
//! context use`, `DOCKER_CONTEXT` and `--context`; `ssh://` with a port, through a real
//! sshd on loopback; `tcp://` with TLS, through a TLS-terminating proxy in front of the
//! engine's socket. Each runs a real lab (`up`, `status`, `check`, `down`); each bad
//! engine is one line, its exit code, and nothing made.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::util::*;

const SOCKET: &str = "/var/run/docker.sock";

/// `up`, `status` (text and JSON: the engine named), `check` and `down`, each with its
/// own environment, so that a test can show each verb finding the engine its own way.
fn run_a_lab(project: &Project, envs: [&[(&str, &str)]; 4], engine: &str) {
    let port = free_port().to_string();
    let up = project.rjup(&["up", "--port", &port], &with_password(envs[0]), None);
    assert_success(&up, "rjup up");

    let status = project.rjup(&["status", "--json"], envs[1], None);
    assert_success(&status, "rjup status --json");
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(json["engine"], engine, "{json}");
    assert_eq!(json["state"], "running", "{json}");
    let text = project.rjup(&["status"], envs[1], None);
    assert!(
        stdout(&text).contains(&format!("engine:    {engine}\n")),
        "{}",
        stdout(&text)
    );

    let check = project.rjup(&["check"], &with_password(envs[2]), None);
    assert_success(&check, "rjup check");

    let down = project.rjup(&["down"], envs[3], None);
    assert_success(&down, "rjup down");
    assert!(inspect(&project.container()).is_none(), "down left the lab");
}

fn with_password<'a>(env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = env.to_vec();
    env.push(("RJUP_PASSWORD", PASSWORD));
    env
}

/// One line on stderr, the exit code, the words that say which engine and why, and
/// nothing made: no container, no state.
fn refused(project: &Project, env: &[(&str, &str)], code: i32, words: &[&str], not: &[&str]) {
    let out = project.rjup(&["up"], &with_password(env), None);
    assert_refused(project, &out, code, words, not);
}

fn assert_refused(project: &Project, out: &Output, code: i32, words: &[&str], not: &[&str]) {
    assert_exit(out, code, "rjup up against a bad engine");
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line:\n{err}");
    assert!(lines[0].starts_with("rjup: error: "), "{err}");
    for word in words {
        assert!(err.contains(word), "{err:?} lacks {word:?}");
    }
    for word in not {
        assert!(!err.contains(word), "{err:?} has {word:?}");
    }
    assert!(
        containers_named(&project.name).is_empty(),
        "a container was made"
    );
    assert!(project.state_dir().is_none(), "state was kept");
}

// ---- contexts -------------------------------------------------------------------------

/// A docker CLI config directory of the tester's, holding the context `name` made by
/// `docker context create` with `host`.
fn docker_config(project: &Project, name: &str, host: &str) -> String {
    let dir = project.state_home.with_file_name("docker-config");
    let dir = dir.display().to_string();
    let script =
        format!("mkdir -p {dir} && docker context create {name} --docker host={host} >/dev/null");
    let out = project.shell(&script, &[("DOCKER_CONFIG", &dir)]);
    assert_success(&out, "docker context create");
    dir
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_context_is_found_by_docker_context_use_docker_context_and_the_flag() {
    let _engine = engine();
    let project = Project::from_example("minimal", "ctx-lab");
    let context = format!("rjup-ctx-{}", std::process::id());
    let config = docker_config(&project, &context, &format!("unix://{SOCKET}"));
    let use_it = project.shell(
        &format!("docker context use {context} >/dev/null"),
        &[("DOCKER_CONFIG", &config)],
    );
    assert_success(&use_it, "docker context use");
    let by_use: &[(&str, &str)] = &[("DOCKER_CONFIG", &config)];
    // The flag beats DOCKER_HOST and DOCKER_CONTEXT, both set to engines that are not there.
    let flag_env: &[(&str, &str)] = &[
        ("DOCKER_CONFIG", &config),
        ("DOCKER_HOST", "unix:///nonexistent.sock"),
        ("DOCKER_CONTEXT", "nonexistent"),
    ];
    let by_flag = format!("--context={context}");
    let port = free_port().to_string();
    let up = project.rjup(
        &["up", "--port", &port],
        &[("DOCKER_CONFIG", &config), ("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_success(&up, "rjup up with `docker context use`");
    let status = |args: &[&str], env: &[(&str, &str)]| {
        let out = project.rjup(args, env, None);
        assert_success(&out, "rjup status --json");
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };
    assert_eq!(status(&["status", "--json"], by_use)["engine"], context);
    assert_eq!(
        status(&["-c", &context, "status", "--json"], flag_env)["engine"],
        context
    );
    let ls = status(&[&by_flag, "ls", "--json"], flag_env);
    assert_eq!(ls["engine"], context, "{ls}");

    // DOCKER_CONTEXT with `docker context use default`: the variable wins.
    let reset = project.shell(
        "docker context use default >/dev/null",
        &[("DOCKER_CONFIG", &config)],
    );
    assert_success(&reset, "docker context use default");
    let by_var: &[(&str, &str)] = &[("DOCKER_CONFIG", &config), ("DOCKER_CONTEXT", &context)];
    assert_eq!(status(&["status", "--json"], by_var)["engine"], context);
    assert_eq!(status(&["status", "--json"], by_use)["engine"], "default");
    let check = project.rjup(
        &["check"],
        &[
            ("DOCKER_CONFIG", &config),
            ("DOCKER_CONTEXT", &context),
            ("RJUP_PASSWORD", PASSWORD),
        ],
        None,
    );
    assert_success(&check, "rjup check with DOCKER_CONTEXT");
    let down = project.rjup(&[&by_flag, "down"], flag_env, None);
    assert_success(&down, "rjup down --context");
    assert!(inspect(&project.container()).is_none(), "down left the lab");
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_an_unknown_context_is_exit_3_and_names_the_ones_there_are() {
    let _engine = engine();
    let project = Project::from_example("", "ctx-unknown");
    let context = format!("rjup-known-{}", std::process::id());
    let config = docker_config(&project, &context, &format!("unix://{SOCKET}"));
    let typo = context.replacen("known", "knwon", 1);
    refused(
        &project,
        &[("DOCKER_CONFIG", &config), ("DOCKER_CONTEXT", &typo)],
        3,
        &[
            &format!("\"{typo}\""),
            "DOCKER_CONTEXT",
            &format!("did you mean \"{context}\""),
        ],
        &[],
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_context_whose_engine_is_down_is_exit_5_and_names_the_context() {
    let _engine = engine();
    let project = Project::from_example("", "ctx-down");
    let host = format!("tcp://127.0.0.1:{}", free_port());
    let config = docker_config(&project, "rjup-down", &host);
    refused(
        &project,
        &[("DOCKER_CONFIG", &config), ("DOCKER_CONTEXT", "rjup-down")],
        5,
        &[&host, "context \"rjup-down\"", "--context"],
        &["systemctl"],
    );
}

// ---- ssh ------------------------------------------------------------------------------

/// The engine over ssh: a private sshd on a loopback port (`tests/fixtures/sshd.sh`)
/// that lets the tester in with the key in the tester's ~/.ssh, and nobody else; its host
/// key is in the tester's known_hosts. Started once per run.
fn ssh_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        // The tester must exist first: as root, this makes it.
        tester_ids().expect("ssh tests need root, to start sshd");
        fixture_engine("ssh", &["sshd.sh", TESTER])
    })
}

/// The same sshd, as `user`.
fn ssh_host_as(user: &str) -> String {
    let (_, address) = ssh_host().rsplit_once('@').unwrap();
    format!("ssh://{user}@{address}")
}

#[test]
#[ignore = "ssh: needs root and an sshd: tests/fixtures/sshd.sh rjup-tester"]
fn ssh_an_ssh_engine_on_a_non_default_port_runs_a_lab() {
    let _engine = engine();
    let host = ssh_host().to_string();
    let project = Project::from_example("minimal", "ssh-lab");
    let env: &[(&str, &str)] = &[("DOCKER_HOST", &host)];
    run_a_lab(&project, [env; 4], &host);
}

#[test]
#[ignore = "ssh: needs root and an sshd: tests/fixtures/sshd.sh rjup-tester"]
fn ssh_logs_follow_streams_over_ssh() {
    let _engine = engine();
    let host = ssh_host().to_string();
    let project = Project::from_example("minimal", "ssh-logs");
    project.up(free_port());
    let mut follow = spawn_as_tester(
        &project.dir,
        &project.state_home,
        &["logs", "-f"],
        &[("DOCKER_HOST", &host)],
    );
    let mut stdout = follow.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let read = stdout.read(&mut first).unwrap();
    let still_following = follow.try_wait().unwrap().is_none();
    follow.kill().unwrap();
    let _ = follow.wait();
    assert!(read > 0, "rjup logs -f over ssh printed nothing");
    assert!(
        still_following,
        "rjup logs -f over ssh did not keep following"
    );
}

#[test]
#[ignore = "ssh: needs root and an sshd: tests/fixtures/sshd.sh rjup-tester"]
fn ssh_a_build_streams_its_steps_over_ssh() {
    let _engine = engine();
    let host = ssh_host().to_string();
    let project = Project::from_example("minimal", "ssh-build");
    // Only this last step is new: every layer before it is the default image's.
    project.write(
        "postBuild",
        "#!/bin/sh\necho built-over-ssh > /tmp/marker\n",
    );
    let out = project.rjup(&["build"], &[("DOCKER_HOST", &host)], None);
    assert_success(&out, "rjup build over ssh");
    let said = stderr(&out) + &stdout(&out);
    assert!(
        said.contains(&format!("Building rjup/{}:", project.name)),
        "{said}"
    );
    assert!(
        !images_named(&format!("rjup/{}", project.name)).is_empty(),
        "no image"
    );
}

#[test]
#[ignore = "ssh: needs root and an sshd: tests/fixtures/sshd.sh rjup-tester"]
fn ssh_an_ssh_host_that_refuses_the_key_is_exit_5_with_ssh_s_reason() {
    let _engine = engine();
    let host = ssh_host_as("nobody");
    let project = Project::from_example("", "ssh-refused");
    refused(
        &project,
        &[("DOCKER_HOST", &host)],
        5,
        &[&host, "Permission denied (publickey)", "ssh -p"],
        &["systemctl"],
    );
}

// ---- a remote engine is another machine -----------------------------------------------

/// The lab is published on the engine's host, here the loopback address the endpoint
/// names, and every URL rjup gives says so, never this machine's other interfaces.
#[test]
#[ignore = "ssh: needs root and an sshd: tests/fixtures/sshd.sh rjup-tester"]
fn ssh_an_ssh_engine_s_lab_urls_name_the_engine_s_host() {
    let _engine = engine();
    let host = ssh_host().to_string();
    let project = Project::from_example("minimal", "ssh-urls");
    let port = free_port();
    let env: &[(&str, &str)] = &[("DOCKER_HOST", &host)];
    let only = vec![format!("http://127.0.0.1:{port}/lab")];
    let up = project.rjup(
        &["up", "--port", &port.to_string()],
        &with_password(env),
        None,
    );
    assert_success(&up, "rjup up over ssh");
    let printed: Vec<String> = stdout(&up)
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("http"))
        .map(str::to_string)
        .collect();
    assert_eq!(printed, only, "{}", stdout(&up));
    let status = project.rjup(&["status", "--json"], env, None);
    assert_success(&status, "rjup status --json over ssh");
    let json: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(json["urls"], serde_json::json!(only), "{json}");
    let ls = project.rjup(&["ls", "--json"], env, None);
    assert_success(&ls, "rjup ls --json over ssh");
    let json: serde_json::Value = serde_json::from_str(&stdout(&ls)).unwrap();
    let lab = json["labs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == project.name.as_str())
        .unwrap_or_else(|| panic!("ls lacks the lab: {json}"));
    assert_eq!(lab["urls"], serde_json::json!(only), "{json}");
}

/// rjup in a mount namespace of its own, where `dir` is a tmpfs the engine, in the
/// machine's namespace, cannot see: a project on this machine that the engine's machine
/// does not have.
fn up_where_the_engine_cannot_see(
    dir: &Path,
    name: &str,
    state_home: &Path,
    env: &[(&str, &str)],
) -> Output {
    let (uid, gid) = tester_ids().expect("the test makes a mount namespace, which needs root");
    let project = dir.join(name);
    let example = repo_root().join("examples/minimal");
    let script = format!(
        "mount -t tmpfs -o mode=0755 tmpfs {d} && mkdir {p} && cp -r {e}/. {p} && chown -R {uid}:{gid} {p} \
         && cd {p} && exec setpriv --reuid={uid} --regid={gid} --init-groups -- {rjup} up",
        d = dir.display(),
        p = project.display(),
        e = example.display(),
        rjup = rjup_bin(),
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("HOME", format!("/home/{TESTER}"))
        .env("XDG_STATE_HOME", state_home)
        .env("RJUP_PASSWORD", PASSWORD)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running unshare")
}

#[test]
#[ignore = "ssh: needs root and an sshd: tests/fixtures/sshd.sh rjup-tester"]
fn ssh_a_remote_engine_without_the_project_s_path_is_exit_3_and_makes_nothing() {
    let _engine = engine();
    let host = ssh_host().to_string();
    // Named after the project, so that its lab would be this test's.
    let project = Project::from_example("minimal", "ssh-no-path");
    let elsewhere = project.dir.with_file_name("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let path = elsewhere.join(&project.name);
    let out = up_where_the_engine_cannot_see(
        &elsewhere,
        &project.name,
        &project.state_home,
        &[("DOCKER_HOST", &host)],
    );
    // The image is built first (its progress is on stderr too); the error is the last line.
    assert_exit(&out, 3, "rjup up on an engine without the project's path");
    let err = stderr(&out);
    let last = err
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or_default();
    assert_eq!(err.matches("rjup: error: ").count(), 1, "{err}");
    let opening = format!("rjup: error: the project {} does not exist", path.display());
    for words in [opening.as_str(), host.as_str(), "same path"] {
        assert!(last.contains(words), "{last:?} lacks {words:?}");
    }
    assert!(
        containers_named(&project.name).is_empty(),
        "a container was left"
    );
    assert!(project.state_dir().is_none(), "state was kept");
    assert!(
        !path.exists(),
        "the engine made the project's directory on its host"
    );
}

/// A port held on the engine's host by a program, not a container: rjup cannot listen
/// there to find out, so it asks whether anything answers.
#[test]
#[ignore = "ssh: needs root and an sshd: tests/fixtures/sshd.sh rjup-tester"]
fn ssh_a_port_taken_on_a_remote_engine_s_host_is_exit_6_naming_a_free_one() {
    let _engine = engine();
    let host = ssh_host().to_string();
    let project = Project::from_example("", "ssh-port-taken");
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let out = project.rjup(
        &["up", "--port", &port],
        &with_password(&[("DOCKER_HOST", &host)]),
        None,
    );
    assert_refused(
        &project,
        &out,
        6,
        &[
            &format!("port {port} on 0.0.0.0 is taken by another program on the engine's host"),
            &format!("127.0.0.1:{port}"),
            "(free)",
        ],
        &["this host"],
    );
    drop(held);
}

// ---- tcp with TLS ---------------------------------------------------------------------

/// A TLS-terminating proxy on loopback in front of the engine's socket, requiring a
/// client certificate; `certs` holds the CA, client certificate and key, `wrong_ca` the
/// same with another CA. `plain` counts connections that did not start with TLS.
struct TlsEngine {
    port: u16,
    certs: PathBuf,
    wrong_ca: PathBuf,
    plain: Arc<AtomicUsize>,
}

fn tls_engine() -> &'static TlsEngine {
    static ENGINE: OnceLock<TlsEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rjup-tls-engine-{}", std::process::id()));
        let (certs, wrong_ca) = (dir.join("certs"), dir.join("wrong-ca"));
        let ca = certificate_authority("rjup test engine CA");
        let (client_cert, client_key) = issue(&ca, &[], rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        let other = certificate_authority("some other CA");
        for (d, ca_pem) in [(&certs, ca.pem()), (&wrong_ca, other.pem())] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("ca.pem"), ca_pem).unwrap();
            std::fs::write(d.join("cert.pem"), &client_cert).unwrap();
            std::fs::write(d.join("key.pem"), &client_key).unwrap();
        }
        let (server_cert, server_key) = issue(
            &ca,
            &["127.0.0.1"],
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        );
        let config = server_config(ca.der().clone(), &server_cert, &server_key);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let plain = Arc::new(AtomicUsize::new(0));
        let counter = plain.clone();
        std::thread::spawn(move || proxy(listener, config, counter));
        TlsEngine {
            port,
            certs,
            wrong_ca,
            plain,
        }
    })
}

fn certificate_authority(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// A certificate and key in PEM, signed by `ca`.
fn issue(
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
    names: &[&str],
    usage: rcgen::ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    params.extended_key_usages = vec![usage];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn server_config(
    ca: rustls_pki_types::CertificateDer<'static>,
    cert_pem: &str,
    key_pem: &str,
) -> Arc<rustls::ServerConfig> {
    use rustls_pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let clients = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cert = rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(clients)
        .with_single_cert(vec![cert], key)
        .unwrap();
    Arc::new(config)
}

fn proxy(
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    plain: Arc<AtomicUsize>,
) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, plain) = (acceptor.clone(), plain.clone());
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                // 0x16 opens every TLS handshake; anything else is plain HTTP.
                if tcp.peek(&mut first).await.is_ok_and(|n| n == 1) && first[0] != 0x16 {
                    plain.fetch_add(1, Ordering::SeqCst);
                    return;
                }
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut engine) = tokio::net::UnixStream::connect(SOCKET).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut engine).await;
            });
        }
    });
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_tls_engine_runs_a_lab() {
    let _engine = engine();
    let tls = tls_engine();
    let host = format!("tcp://127.0.0.1:{}", tls.port);
    let certs = tls.certs.display().to_string();
    let project = Project::from_example("minimal", "tls-lab");
    let env: &[(&str, &str)] = &[
        ("DOCKER_HOST", &host),
        ("DOCKER_TLS_VERIFY", "1"),
        ("DOCKER_CERT_PATH", &certs),
    ];
    run_a_lab(&project, [env; 4], &host);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_tls_asked_for_without_certificates_is_refused_never_plain() {
    let _engine = engine();
    let tls = tls_engine();
    let host = format!("tcp://127.0.0.1:{}", tls.port);
    let project = Project::from_example("", "tls-no-certs");
    let missing = project.dir.join("no-such-dir").display().to_string();
    refused(
        &project,
        &[
            ("DOCKER_HOST", &host),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", &missing),
        ],
        5,
        &[
            &format!("{missing}/ca.pem"),
            "DOCKER_TLS_VERIFY",
            "never falls back to plain HTTP",
        ],
        &["systemctl"],
    );
    assert_eq!(
        tls.plain.load(Ordering::SeqCst),
        0,
        "rjup spoke plain HTTP to the TLS engine"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_tls_engine_with_another_ca_is_exit_5_naming_the_certificate() {
    let _engine = engine();
    let tls = tls_engine();
    let host = format!("tcp://127.0.0.1:{}", tls.port);
    let wrong = tls.wrong_ca.display().to_string();
    let project = Project::from_example("", "tls-wrong-ca");
    refused(
        &project,
        &[
            ("DOCKER_HOST", &host),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", &wrong),
        ],
        5,
        &[&host, "certificate", "UnknownIssuer"],
        &["systemctl"],
    );
}
