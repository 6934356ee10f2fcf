//! Per-project environments from the project's own files: the Binder conventions, the
//! content-hash tag that rebuilds only when they change, and rjup.lock.

use crate::util::*;

/// `rjup check --up --down` in a copy of an example: its notebook asserts the versions.
pub fn example_lab_has_its_environment(example: &str, test: &str) {
    let project = Project::from_example(example, test);
    let out = project.rjup(
        &[
            "check",
            "--up",
            "--down",
            "--port",
            &free_port().to_string(),
        ],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_success(
        &out,
        &format!("rjup check --up --down in examples/{example}"),
    );
    let report = stdout(&out);
    assert!(
        report.contains("ok   notebook check-environment.ipynb"),
        "{report}"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_requirements_example_kernel_imports_the_pinned_version() {
    let _engine = engine();
    example_lab_has_its_environment("requirements", "env-req");
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_binder_apt_postbuild_example_gets_apt_requirements_postbuild_and_start() {
    let _engine = engine();
    example_lab_has_its_environment("binder-apt-postbuild", "env-binder");
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_pyproject_uv_example_installs_exactly_what_uv_lock_pins() {
    let _engine = engine();
    example_lab_has_its_environment("pyproject-uv", "env-uv");
}

fn image_tag(out: &std::process::Output) -> String {
    let err = stderr(out);
    err.lines()
        .filter_map(|l| {
            l.strip_prefix("Building ")
                .or_else(|| l.strip_prefix("Image "))
                .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        })
        .find(|tag| !tag.starts_with("rjup/tools:"))
        .unwrap_or_else(|| panic!("no image tag in:\n{err}"))
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_only_environment_files_rebuild_and_data_never_enters_the_build() {
    let _engine = engine();
    let project = Project::from_example("requirements", "rebuild");
    let first = project.rjup(&["build"], &[], None);
    assert_success(&first, "rjup build");
    let tag = image_tag(&first);
    let context_line = stderr(&first)
        .lines()
        .find(|l| l.contains("build context:"))
        .map(str::to_string);

    // A notebook and 64 MiB of data change nothing: no build runs.
    project.notebook("new-analysis.ipynb", &["print('edited')"]);
    let data = project.dir.join("data.bin");
    std::fs::File::create(&data)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let again = project.rjup(&["build"], &[], None);
    assert_success(&again, "rjup build after editing a notebook");
    assert!(
        stderr(&again).contains("is up to date; nothing to build"),
        "{}",
        stderr(&again)
    );
    assert_eq!(image_tag(&again), tag);
    assert!(
        stderr(&again).contains("Environment: requirements.txt"),
        "build says which files it used"
    );

    // Changing requirements.txt does rebuild, with the same small context.
    project.write("requirements.txt", "tabulate==0.8.10\nsix==1.16.0\n");
    let rebuilt = project.rjup(&["build"], &[], None);
    assert_success(&rebuilt, "rjup build after editing requirements.txt");
    assert!(
        stderr(&rebuilt).contains(&format!("Building rjup/{}:", project.name)),
        "{}",
        stderr(&rebuilt)
    );
    assert_ne!(image_tag(&rebuilt), tag);
    let size = |line: &str| {
        line.rsplit("build context: ")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .to_string()
    };
    let new_context = stderr(&rebuilt)
        .lines()
        .find(|l| l.contains("build context:"))
        .map(str::to_string)
        .unwrap();
    assert!(
        new_context.contains("KiB") || new_context.ends_with(" B)"),
        "the context must stay tiny: {new_context}"
    );
    if let Some(first_context) = context_line {
        assert!(size(&first_context).contains("KiB"), "{first_context}");
    }
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_editing_requirements_reuses_the_apt_layer() {
    let _engine = engine();
    let project = Project::from_example("binder-apt-postbuild", "aptcache");
    assert_success(&project.rjup(&["build"], &[], None), "first build");
    // Whole seconds, as the engine records layer times; a layer made before this moment
    // came from the cache.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let rebuild_started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // A comment unique to this run, so no earlier run's cache holds this requirements layer.
    project.write(
        "binder/requirements.txt",
        &format!(
            "# {} {rebuild_started}\nsix==1.16.0\ntabulate==0.8.10\n",
            project.name
        ),
    );
    assert_success(
        &project.rjup(&["build"], &[], None),
        "build after editing requirements",
    );
    let after = layers(&image_tag_of(&project));
    let made = |needle: &str| {
        after
            .iter()
            .find(|(cmd, _)| cmd.contains(needle))
            .map(|(_, created)| *created)
            .unwrap_or_else(|| panic!("no layer runs {needle:?}"))
    };
    assert!(
        made("/opt/rjup/apt.txt apt-get install") < rebuild_started,
        "the apt.txt layer must come from the cache"
    );
    assert!(
        made("uv venv") < rebuild_started,
        "the JupyterLab layer must come from the cache"
    );
    assert!(
        made("/opt/rjup/requirements.txt") >= rebuild_started,
        "the requirements layer must be rebuilt"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_new_project_on_a_base_built_before_reuses_its_tools() {
    let _engine = engine();
    // Both with Python requirements, so both on the tools image with repo2docker's tools.
    let first = Project::from_example("minimal", "toolsfirst");
    first.write("requirements.txt", "six==1.16.0\n");
    assert_success(&first.rjup(&["build"], &[], None), "first project's build");
    // Unique requirements, so nothing of this image comes from an earlier run's cache.
    let second = Project::from_example("minimal", "toolssecond");
    second.write(
        "requirements.txt",
        &format!("# {}\nsix==1.16.0\n", second.name),
    );
    let out = second.rjup(&["build"], &[], None);
    assert_success(&out, "second project's build");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("Tools for") && !err.contains("Building rjup/tools:"),
        "the tools were built again for a base that has them:\n{err}"
    );
    let (first, second) = (image_tag_of(&first), image_tag_of(&second));
    let shared = with_docker(|docker| async move {
        let layers = |image: String| {
            let docker = docker.clone();
            async move {
                let inspected = docker.inspect_image(&image).await.unwrap();
                inspected.root_fs.unwrap().layers.unwrap()
            }
        };
        let (first, second) = (layers(first).await, layers(second).await);
        let filters = std::collections::HashMap::from([("reference", vec!["rjup/tools"])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&filters)
            .build();
        let mut shared = false;
        for tools in docker.list_images(Some(options)).await.unwrap() {
            let tools = layers(tools.id).await;
            shared |= first.starts_with(&tools) && second.starts_with(&tools);
        }
        shared
    });
    assert!(shared, "both labs must start from one tools image's layers");
}

/// Runs `script` with `sh` in a container of `image`, as the lab user.
fn sh_in(image: &str, script: &str) -> std::process::Output {
    std::process::Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "sh", image, "-c", script])
        .output()
        .unwrap()
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_lab_of_jupyterlab_alone_has_no_compiler_and_one_with_requirements_has_one() {
    let _engine = engine();
    let tools = "command -v git && command -v gcc && command -v wget";
    let bare = Project::from_example("", "toolsbare");
    let out = bare.rjup(&["build"], &[], None);
    assert_success(&out, "build of JupyterLab alone");
    let built = image_tag(&out);
    let found = sh_in(&built, tools);
    assert!(
        !found.status.success(),
        "JupyterLab alone got repo2docker's tools: {}",
        stdout(&found)
    );
    let lab = sh_in(&built, "jupyter lab --version");
    assert!(lab.status.success(), "{}", stderr(&lab));

    let with_requirements = Project::from_example("requirements", "toolsreq");
    let built = image_tag_of(&with_requirements);
    let found = sh_in(&built, tools);
    assert!(
        found.status.success(),
        "a project with requirements.txt must get git, gcc and wget: {}{}",
        stdout(&found),
        stderr(&found)
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_base_that_changed_under_its_name_gets_new_tools() {
    let _engine = engine();
    // A base name of this run's own, first for python:3.13-slim, then for an image
    // with one more layer, as `docker pull` of a newer base would leave it.
    let base = format!("rjup-test/base:{}", std::process::id());
    let (repo, tag) = base.split_once(':').unwrap();
    let (repo, tag) = (repo.to_string(), tag.to_string());
    let tag_as_base = |image: String| {
        let (repo, tag) = (repo.clone(), tag.clone());
        with_docker(|docker| async move {
            let options = bollard::query_parameters::TagImageOptionsBuilder::new()
                .repo(&repo)
                .tag(&tag)
                .build();
            docker.tag_image(&image, Some(options)).await.unwrap();
        })
    };
    tag_as_base("python:3.13-slim".to_string());
    let first = Project::from_example("", "basefirst");
    first.write("rjup.yaml", &format!("build:\n  base: {base}\n"));
    let out = first.rjup(&["build"], &[], None);
    assert_success(&out, "build on the base");
    let tools_of = |out: &std::process::Output| {
        stderr(out)
            .lines()
            .find_map(|l| l.strip_prefix("Building rjup/tools:"))
            .map(|rest| format!("rjup/tools:{}", rest.split_whitespace().next().unwrap()))
            .expect("a base of this run's own has no tools yet")
    };
    let old_tools = with_docker(|docker| async move {
        docker
            .inspect_image(&tools_of(&out))
            .await
            .unwrap()
            .id
            .unwrap()
    });

    let newer = with_docker(|docker| async move {
        use bollard::query_parameters::*;
        let body = bollard::models::ContainerCreateBody {
            image: Some("python:3.13-slim".into()),
            cmd: Some(vec!["touch".into(), "/newer".into()]),
            ..Default::default()
        };
        let id = docker
            .create_container(None::<CreateContainerOptions>, body)
            .await
            .unwrap()
            .id;
        docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
            .unwrap();
        let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
        while futures_util::StreamExt::next(&mut wait).await.is_some() {}
        let options = CommitContainerOptionsBuilder::new().container(&id).build();
        let image = docker
            .commit_container(options, bollard::models::ContainerConfig::default())
            .await
            .unwrap()
            .id;
        docker
            .remove_container(&id, None::<RemoveContainerOptions>)
            .await
            .unwrap();
        image
    });
    tag_as_base(newer.clone());
    let second = Project::from_example("", "basesecond");
    second.write("rjup.yaml", &format!("build:\n  base: {base}\n"));
    let out = second.rjup(&["build"], &[], None);
    assert_success(&out, "build after the base changed");
    assert!(
        stderr(&out).contains("built again on the base's newer image"),
        "the tools were not made again on the new base:\n{}",
        stderr(&out)
    );
    let tools = tools_of(&out);
    drop((first, second));
    with_docker(
        |docker| async move { remove_images(&docker, [tools, old_tools, base, newer]).await },
    );
}

fn image_tag_of(project: &Project) -> String {
    let out = project.rjup(&["build"], &[], None);
    assert_success(&out, "rjup build");
    image_tag(&out)
}

/// The image's layers, oldest first: (the command that made it, when, in Unix seconds).
fn layers(tag: &str) -> Vec<(String, i64)> {
    with_docker(|docker| async move {
        let mut history = docker.image_history(tag).await.unwrap();
        history.reverse();
        history
            .into_iter()
            .map(|h| (h.created_by, h.created))
            .collect()
    })
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_runtime_txt_base_that_cannot_be_pulled_names_runtime_txt_and_the_override() {
    let _engine = engine();
    let project = Project::from_example("", "runtime310");
    project.write("runtime.txt", "python-3.10\n");
    let out = project.rjup(&["build"], &[], None);
    assert_exit(
        &out,
        7,
        "build with runtime.txt naming an image the engine cannot pull",
    );
    let err = stderr(&out);
    assert!(
        err.contains("runtime.txt asks for python:3.10-slim")
            && err.contains("set build.base in rjup.yaml")
            && err.contains("pulling python:3.10-slim failed"),
        "{err}"
    );
    // With build.base set, runtime.txt is ignored, and not listed as used.
    project.write("rjup.yaml", "build:\n  base: rjup-test/no-such-base:1\n");
    let out = project.rjup(&["build"], &[], None);
    let err = stderr(&out);
    let environment = err
        .lines()
        .find(|l| l.starts_with("Environment:"))
        .unwrap_or_else(|| panic!("no Environment: line in {err}"));
    assert!(!environment.contains("runtime.txt"), "{environment}");
    assert!(
        err.contains("wins over runtime.txt") && !err.contains("runtime.txt asks for"),
        "{err}"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_failing_postbuild_is_named_and_its_whole_output_kept_in_a_log() {
    let _engine = engine();
    let project = Project::from_example("", "postbuildlog");
    project.write(
        "postBuild",
        "#!/bin/sh\nfor n in $(seq 1 40); do echo \"line $n\"; done\nprintf '\\033[31mred\\033[0m\\n'\nexit 3\n",
    );
    let out = project.rjup(&["build"], &[], None);
    assert_exit(&out, 8, "build with a failing postBuild");
    let err = stderr(&out);
    assert!(!err.contains('\u{1b}'), "escapes off a terminal: {err:?}");
    assert!(
        err.contains("Fix: fix postBuild") && !err.contains("check `build.packages`"),
        "{err}"
    );
    let cut = err
        .lines()
        .find(|l| l.contains("earlier lines in "))
        .unwrap_or_else(|| panic!("the shown part is not marked as cut: {err}"));
    let path = cut.split("earlier lines in ").nth(1).unwrap().trim();
    assert!(path.ends_with("build.log"), "{cut}");
    let log = std::fs::read_to_string(path).unwrap();
    assert!(
        log.contains("line 1\n") && log.contains("line 40\n") && log.contains("red"),
        "{log}"
    );
    assert!(err.contains("    red"), "{err}");
}

/// What used to stop a project before any build (issue 20): settings only, so `rjup
/// lock --check` shows it without an engine; it exits 13 for the missing lock.
#[test]
fn environment_yml_beside_requirements_and_an_r_runtime_under_build_base_are_no_errors() {
    let project = Project::from_example("", "conda");
    project.write("environment.yml", "name: base\ndependencies:\n  - numpy\n");
    project.write("requirements.txt", "six\n");
    let out = project.rjup(&["lock", "--check"], &[], None);
    assert_exit(
        &out,
        13,
        "lock --check with environment.yml and requirements.txt",
    );
    let err = stderr(&out);
    assert!(
        err.contains("requirements.txt is not used: environment.yml is, as on Binder"),
        "{err}"
    );
    // Named in rjup.yaml, it is used, and nothing speaks of a build.base never set.
    project.write("rjup.yaml", "build:\n  requirements: requirements.txt\n");
    let out = project.rjup(&["lock", "--check"], &[], None);
    assert_exit(
        &out,
        13,
        "lock --check with environment.yml and build.requirements",
    );
    let err = stderr(&out);
    assert!(
        !err.contains("build.base") && !err.contains("not used"),
        "{err}"
    );

    // build.base makes runtime.txt ignored, whatever language it names.
    let r = Project::from_example("", "rruntime");
    r.write("runtime.txt", "r-2018-06-18\n");
    assert_exit(
        &r.rjup(&["lock", "--check"], &[], None),
        3,
        "an R runtime.txt without build.base",
    );
    r.write("rjup.yaml", "build:\n  base: python:3.12-slim\n");
    let out = r.rjup(&["lock", "--check"], &[], None);
    assert_exit(&out, 13, "an R runtime.txt with build.base");
    assert!(
        stderr(&out).contains("build.base python:3.12-slim in rjup.yaml wins over runtime.txt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn both_binder_directories_are_refused_before_anything_runs() {
    let project = Project::from_example("", "twobinders");
    std::fs::create_dir_all(project.dir.join("binder")).unwrap();
    std::fs::create_dir_all(project.dir.join(".binder")).unwrap();
    let out = project.rjup(&["build"], &[], None);
    assert_exit(&out, 3, "build with binder/ and .binder/");
    assert!(stderr(&out).contains("both binder/ and .binder/"));
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_lock_pins_the_base_by_digest_and_every_package_and_check_catches_drift() {
    let _engine = engine();
    let project = Project::from_example("requirements", "lock");
    let locked = project.rjup(&["lock"], &[], None);
    assert_success(&locked, "rjup lock");
    let text = std::fs::read_to_string(project.dir.join("rjup.lock")).unwrap();
    assert!(text.contains("base: \"python@sha256:"), "{text}");
    for pin in [
        "\"jupyterlab==",
        "\"tabulate==0.8.10\"",
        "\"jupyter-server==",
        "\"tornado==",
    ] {
        assert!(text.contains(pin), "rjup.lock lacks {pin}:\n{text}");
    }
    assert_success(
        &project.rjup(&["lock", "--check"], &[], None),
        "lock --check on a fresh lock",
    );

    project.write("requirements.txt", "tabulate==0.9.0\ntoolz\n");
    assert_exit(
        &project.rjup(&["lock", "--check"], &[], None),
        13,
        "lock --check after editing requirements.txt",
    );
    let port = free_port().to_string();
    let password = [("RJUP_PASSWORD", PASSWORD)];
    let up = project.rjup(&["up", "--locked", "--port", &port], &password, None);
    assert_exit(&up, 13, "up --locked with a stale lock");
    assert!(stderr(&up).contains("run `rjup lock`"));
    let check = project.rjup(
        &["check", "--up", "--locked", "--port", &port],
        &password,
        None,
    );
    assert_exit(&check, 13, "check --up --locked with a stale lock");
    assert!(
        inspect(&project.container()).is_none(),
        "a refused lock starts no lab"
    );

    // Without --locked, as uv does: resolve again, say what changed, and go on.
    let up = project.rjup(&["up", "--port", &port], &password, None);
    assert_success(&up, "up with a stale lock re-locks");
    let err = stderr(&up);
    assert!(
        err.contains("Updated ")
            && err.contains("added toolz==")
            && err.contains("upgraded tabulate 0.8.10 → 0.9.0"),
        "{err}"
    );
    let relocked = std::fs::read_to_string(project.dir.join("rjup.lock")).unwrap();
    assert!(
        relocked.contains("\"toolz==") && relocked.contains("\"tabulate==0.9.0\""),
        "{relocked}"
    );
    assert_success(
        &project.rjup(&["lock", "--check"], &[], None),
        "lock --check after the re-lock",
    );
    project.notebook(
        "new.ipynb",
        &["import tabulate, toolz\nassert tabulate.__version__ == '0.9.0'"],
    );
    assert_success(
        &project.rjup(&["check", "new.ipynb"], &password, None),
        "the lab has the new package",
    );
    assert_success(&project.rjup(&["down"], &[], None), "down");

    // --frozen builds from the lock as it is: the image it made already exists.
    project.write("requirements.txt", "tabulate==0.8.10\n");
    let frozen = project.rjup(&["build", "--frozen"], &[], None);
    assert_success(&frozen, "build --frozen with a stale lock");
    assert!(
        stderr(&frozen).contains("is up to date"),
        "{}",
        stderr(&frozen)
    );
    assert_eq!(
        std::fs::read_to_string(project.dir.join("rjup.lock")).unwrap(),
        relocked,
        "--frozen leaves the lock alone"
    );
    std::fs::write(project.dir.join("rjup.lock"), &text).unwrap();
    let out = project.rjup(
        &[
            "check",
            "--up",
            "--down",
            "--port",
            &free_port().to_string(),
        ],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_success(&out, "check --up with the lock");
    assert!(
        stderr(&out).contains("Environment: rjup.lock (pinning requirements.txt)"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_proxy_settings_reach_the_build_and_ca_certificates_reach_the_lab() {
    let _engine = engine();
    let project = Project::from_example("", "proxyca");
    let cert = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "/dev/null",
            "-days",
            "1",
            "-subj",
            "/CN=rjup test CA",
        ])
        .output()
        .expect("openssl");
    let pem = String::from_utf8(cert.stdout).unwrap();
    assert!(
        pem.contains("BEGIN CERTIFICATE"),
        "openssl made no certificate"
    );
    project.write("corp-ca.pem", &pem);
    let marker = format!("rjup-no-proxy-{}", std::process::id());
    project.write(
        "postBuild",
        "#!/bin/sh\necho \"$NO_PROXY\" > \"$HOME/no-proxy-seen\"\n",
    );
    project.write(
        "rjup.yaml",
        "build:\n  ca_certificates: [corp-ca.pem]\ncheck:\n  notebooks: [check.ipynb]\n",
    );
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .take(3)
        .collect();
    project.notebook(
        "check.ipynb",
        &[
            &format!("from pathlib import Path\nassert Path.home().joinpath('no-proxy-seen').read_text().strip() == '{marker}'"),
            &format!("import os\nbundle = open(os.environ['SSL_CERT_FILE']).read().replace('\\n', '')\nassert '{body}' in bundle"),
        ],
    );
    let out = project.rjup(
        &[
            "check",
            "--up",
            "--down",
            "--port",
            &free_port().to_string(),
        ],
        &[("RJUP_PASSWORD", PASSWORD), ("NO_PROXY", &marker)],
        None,
    );
    assert_success(&out, "check --up with a CA certificate and NO_PROXY");
    let tag = image_tag(&out);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let image = rt.block_on(async {
        let docker = bollard::Docker::connect_with_defaults()
            .unwrap()
            .negotiate_version()
            .await
            .unwrap();
        serde_json::to_string(&docker.inspect_image(&tag).await.unwrap().config).unwrap()
    });
    assert!(
        !image.contains(&marker),
        "proxy settings must not be baked into the image: {image}"
    );
    // The tools image holds this run's own certificate, so no later run can use it:
    // without the project's image on it, untagging it removes it.
    let tools = stderr(&out)
        .lines()
        .find_map(|l| l.strip_prefix("Building rjup/tools:"))
        .map(|rest| format!("rjup/tools:{}", rest.split_whitespace().next().unwrap()))
        .expect("a new certificate builds its own tools image");
    drop(project);
    with_docker(|docker| async move { remove_images(&docker, [tools]).await });
}

/// How many packages uv said it downloaded or built in the output, from its summary.
fn prepared(out: &std::process::Output) -> Vec<u64> {
    stderr(out)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Prepared "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_adding_one_package_downloads_only_that_package_and_the_lab_has_it() {
    let _engine = engine();
    let project = Project::from_example("", "addone");
    // A comment unique to this run, so that the install step runs instead of coming
    // from an earlier run's build cache.
    let unique = format!("# {}\n", project.name);
    project.write("requirements.txt", &format!("{unique}tabulate==0.9.0\n"));
    assert_success(&project.rjup(&["build"], &[], None), "first build");

    project.write(
        "requirements.txt",
        &format!("{unique}tabulate==0.9.0\ntoolz==1.0.0\n"),
    );
    let up = project.up(free_port());
    // Both are installed into the rebuilt layer, and only what uv's cache lacked is
    // fetched: toolz (or nothing, when an earlier run fetched it); never tabulate, and
    // never the 90 packages of JupyterLab, whose stage is reused.
    let err = stderr(&up);
    assert!(err.contains("Installed 2 packages"), "{err}");
    assert!(
        prepared(&up).iter().all(|&n| n <= 1),
        "more than the new package was downloaded:\n{err}"
    );
    let imported = exec(
        &project.container(),
        &[
            "python",
            "-c",
            "import tabulate, toolz; print(toolz.__version__)",
        ],
    );
    assert_eq!(imported.trim(), "1.0.0");
    project.rjup(&["down"], &[], None);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_post_build_has_repo2docker_tools_and_node_when_it_builds_extensions() {
    let _engine = engine();
    let project = Project::from_example("", "r2dtools");
    // Each tool a Binder postBuild commonly runs; `set -e` fails the build on a missing one.
    project.write(
        "postBuild",
        "#!/bin/bash\nset -euo pipefail\n\
         git --version\nwget --version >/dev/null\ncurl --version >/dev/null\n\
         unzip -v >/dev/null\necho data | bzip2 | bzip2 -d\n\
         printf 'int main(void) { return 0; }' > t.c && gcc t.c -o t && ./t && rm t t.c\n\
         # what `jupyter labextension install` needs\nnode --version\nnpm --version\n",
    );
    let out = project.rjup(&["build"], &[], None);
    assert_success(
        &out,
        "build with a postBuild using git, wget, curl, unzip, bzip2, gcc and node",
    );

    // Without a mention of Node.js, the image goes without it (about 100 MB less).
    project.write(
        "postBuild",
        "#!/bin/bash\nset -e\ncommand -v git\n! ls /usr/bin/nod[e] 2>/dev/null\n",
    );
    let out = project.rjup(&["build"], &[], None);
    assert_success(&out, "build with a postBuild that checks node is absent");
}
