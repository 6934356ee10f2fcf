//! Private images: a base image in a registry that wants a login pulls with the login
//! the docker CLI would use (auths, a credential helper), and fails without one with
//! the `docker login` to run.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Mutex, OnceLock, PoisonError};

use base64::Engine as _;

use crate::util::*;

/// Served by `tests/fixtures/registry-auth.sh`; the only image these tests touch.
const IMAGE: &str = "127.0.0.1:5001/private/python:3.13-slim";
const REGISTRY: &str = "127.0.0.1:5001";

/// Each test removes `IMAGE` and expects its next `up` to pull it: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Login {
    user: String,
    password: String,
}

/// Starts the registry once per run and returns its login.
fn registry() -> &'static Login {
    static LOGIN: OnceLock<Login> = OnceLock::new();
    LOGIN.get_or_init(|| {
        // `REGISTRY=... USER=rjup PASSWORD=...`, read as words: eval would set USER.
        let line = fixture("registry", &["registry-auth.sh"]);
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in registry-auth.sh's output: {line}"))
                .to_string()
        };
        assert_eq!(field("REGISTRY"), REGISTRY);
        Login {
            user: field("USER"),
            password: field("PASSWORD"),
        }
    })
}

/// Removes this engine's copy of `IMAGE`, so that the next `up` must pull it. Other
/// tests' images are left alone: with the same layers, this only drops the tag.
fn forget_private_image() {
    with_docker(|docker| async move {
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new()
            .force(true)
            .build();
        match docker.remove_image(IMAGE, Some(options), None).await {
            Ok(_)
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(e) => panic!("removing {IMAGE}: {e}"),
        }
    });
    assert!(!image_exists(IMAGE), "{IMAGE} is still on the engine");
}

/// A project built from the private image, with the default lab on top.
fn private_project(test: &str) -> Project {
    // "minimal" has the shared JupyterLab layers built first, which this build reuses.
    let project = Project::from_example("minimal", test);
    project.write("rjup.yaml", &format!("build:\n  base: {IMAGE}\n"));
    project
}

/// A directory of the tester's next to the project, for a HOME or a DOCKER_CONFIG.
fn tester_dir(project: &Project, name: &str) -> PathBuf {
    let dir = project.dir.parent().unwrap().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    give_to_tester(&dir, 0o700);
    dir
}

fn give_to_tester(path: &Path, mode: u32) {
    if let Some((uid, gid)) = tester_ids() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Writes `config.json` into `dir` as `docker login` would leave it, readable by the tester only.
fn write_config(dir: &Path, config: &serde_json::Value) -> PathBuf {
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    give_to_tester(&path, 0o600);
    path
}

fn auths(user: &str, password: &str) -> serde_json::Value {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    serde_json::json!({"auths": {REGISTRY: {"auth": auth}}})
}

fn up(project: &Project, port: u16, env: &[(&str, &str)]) -> Output {
    let mut env = env.to_vec();
    env.push(("RJUP_PASSWORD", PASSWORD));
    project.rjup(&["up", "--port", &port.to_string()], &env, None)
}

/// The one line rjup's error is, after asserting that it is the last thing said.
fn error_line(out: &Output) -> String {
    let err = stderr(out);
    let line = err
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        line.starts_with("rjup: error: "),
        "not one error line:\n{err}"
    );
    line
}

/// No container, no built image, no pulled image: a refused pull made nothing.
fn assert_nothing_made(project: &Project, what: &str) {
    assert!(
        containers_named(&project.container()).is_empty(),
        "{what}: a container was made"
    );
    assert!(
        images_named(&format!("rjup/{}", project.name)).is_empty(),
        "{what}: an image was built"
    );
    assert!(!image_exists(IMAGE), "{what}: {IMAGE} was pulled");
}

/// The lab came up from the private image and serves: `rjup check` logs in and runs a kernel.
fn assert_lab_serves(project: &Project, env: &[(&str, &str)], secret: &str) {
    assert!(image_exists(IMAGE), "{IMAGE} was not pulled");
    let mut env = env.to_vec();
    env.push(("RJUP_PASSWORD", PASSWORD));
    let check = project.rjup(&["check"], &env, None);
    assert_success(&check, "rjup check of the lab on the private image");
    assert!(
        stdout(&check).contains("execute code"),
        "{}",
        stdout(&check)
    );
    let lab = inspect(&project.container()).expect("no lab container");
    assert!(
        !lab.to_string().contains(secret),
        "the registry password is in inspect"
    );
}

#[test]
#[ignore = "registry: needs root and a registry that wants a login: tests/fixtures/registry-auth.sh"]
fn registry_a_private_base_wants_a_login_and_pulls_with_the_one_in_auths() {
    let _engine = engine();
    let login = registry();
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let project = private_project("registry-auths");
    let port = free_port();
    forget_private_image();

    let nowhere = tester_dir(&project, "no-login");
    let refused = up(
        &project,
        port,
        &[("DOCKER_CONFIG", nowhere.to_str().unwrap())],
    );
    assert_exit(&refused, 7, "rjup up before docker login");
    let line = error_line(&refused);
    assert!(
        line.contains(IMAGE)
            && line.contains("127.0.0.1:5001 wants a login")
            && line.contains("run `docker login 127.0.0.1:5001`"),
        "{line}"
    );
    assert_nothing_made(&project, "rjup up before docker login");

    // Where `docker login` writes by default: ~/.docker/config.json.
    let home = tester_dir(&project, "home");
    let docker_dir = home.join(".docker");
    std::fs::create_dir(&docker_dir).unwrap();
    give_to_tester(&docker_dir, 0o700);
    write_config(&docker_dir, &auths(&login.user, &login.password));
    let env = [("HOME", home.to_str().unwrap())];
    let out = up(&project, port, &env);
    assert_success(&out, "rjup up with the login in ~/.docker/config.json");
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains(&login.password), "the password was printed");
    }
    assert_lab_serves(&project, &env, &login.password);
}

#[test]
#[ignore = "registry: needs root and a registry that wants a login: tests/fixtures/registry-auth.sh"]
fn registry_a_credential_helper_gives_the_login_for_a_private_base() {
    let _engine = engine();
    let login = registry();
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let project = private_project("registry-helper");
    forget_private_image();

    let config = tester_dir(&project, "docker-config");
    write_config(
        &config,
        &serde_json::json!({"credHelpers": {REGISTRY: "rjuptest"}}),
    );
    let bin = tester_dir(&project, "bin");
    let asked = config.join("asked.log");
    let helper = bin.join("docker-credential-rjuptest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread -r server\necho \"$1 $server\" >> {log}\n\
             if [ \"$server\" = {REGISTRY} ]; then\n\
             printf '{{\"ServerURL\":\"%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}}\\n' \"$server\" '{user}' '{password}'\n\
             else echo 'credentials not found in native keychain'; exit 1; fi\n",
            log = asked.display(),
            user = login.user,
            password = login.password,
        ),
    )
    .unwrap();
    give_to_tester(&helper, 0o700);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let env = [("DOCKER_CONFIG", config.to_str().unwrap()), ("PATH", &path)];
    let out = up(&project, free_port(), &env);
    assert_success(&out, "rjup up with a credential helper");
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap(),
        format!("get {REGISTRY}\n"),
        "the helper was asked for something else"
    );
    assert!(
        !stderr(&out).contains(&login.password),
        "the password was printed"
    );
    assert_lab_serves(&project, &env, &login.password);

    // `--pull` fetches a newer base, and needs the login as much as the first pull.
    let out = project.rjup(&["build", "--pull"], &env, None);
    assert_success(&out, "rjup build --pull of a private base");
    assert_eq!(
        std::fs::read_to_string(&asked).unwrap(),
        format!("get {REGISTRY}\nget {REGISTRY}\n"),
        "rjup build --pull did not ask the helper for the login"
    );
}

#[test]
#[ignore = "registry: needs root and a registry that wants a login: tests/fixtures/registry-auth.sh"]
fn registry_broken_logins_are_one_line_each_and_make_nothing() {
    let _engine = engine();
    let login = registry();
    let _serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let project = private_project("registry-broken");
    let port = free_port();
    forget_private_image();

    let config = tester_dir(&project, "docker-config");
    let config_str = config.to_str().unwrap();
    let file = config.join("config.json");
    std::fs::write(&file, r#"{"auths": {"127.0.0.1:5001": {"auth": "#).unwrap();
    give_to_tester(&file, 0o600);
    let out = up(&project, port, &[("DOCKER_CONFIG", config_str)]);
    assert_exit(&out, 3, "a config.json that is not JSON");
    let line = error_line(&out);
    assert!(
        line.contains(&file.display().to_string()) && line.contains("not valid JSON"),
        "{line}"
    );
    assert_nothing_made(&project, "a config.json that is not JSON");

    let file = write_config(&config, &serde_json::json!({"credsStore": "rjupbroken"}));
    let out = up(&project, port, &[("DOCKER_CONFIG", config_str)]);
    assert_exit(&out, 7, "a credsStore whose helper is not installed");
    let line = error_line(&out);
    assert!(
        line.contains("docker-credential-rjupbroken is not on PATH")
            && line.contains(&file.display().to_string()),
        "{line}"
    );
    assert_nothing_made(&project, "a credsStore whose helper is not installed");

    let wrong = format!("{}-wrong", login.password);
    let file = write_config(&config, &auths(&login.user, &wrong));
    let out = up(&project, port, &[("DOCKER_CONFIG", config_str)]);
    assert_exit(&out, 7, "a wrong password in auths");
    let line = error_line(&out);
    assert!(
        line.contains(&format!("refused the login from {}", file.display()))
            && line.contains("run `docker login 127.0.0.1:5001` again")
            && !line.contains(&wrong),
        "{line}"
    );
    assert_nothing_made(&project, "a wrong password in auths");
}
