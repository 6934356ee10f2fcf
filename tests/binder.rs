//! Binder repositories as they are (issue 20): a postBuild that changes the lab's
//! environment and uses the repository's files, environment.yml solved from a conda
//! channel and locked, and the lab's own packages constraining every install.

use std::sync::OnceLock;

use crate::environments::example_lab_has_its_environment;
use crate::util::*;

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_binder_extension_example_post_build_and_start_change_the_labs_environment() {
    let _engine = engine();
    // pip into the lab, a repository file moved into it and enabled with --sys-prefix,
    // a prebuilt JupyterLab extension, NB_* and REPO_DIR, ipywidgets: its notebook.
    example_lab_has_its_environment("binder-extension", "env-binder-ext");
}

/// The line of `out`'s error that starts with `prefix`, trimmed.
fn line_starting<'a>(err: &'a str, prefix: &str) -> &'a str {
    err.lines()
        .map(str::trim)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{err}"))
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_requirement_that_conflicts_with_the_lab_is_one_line_naming_both() {
    let _engine = engine();
    let project = Project::from_example("", "conflict");
    // An extension for JupyterLab 3, which uv would install by replacing JupyterLab.
    project.write("requirements.txt", "jupyterlab-robotmode==0.4.0\n");
    let out = project.rjup(&["build"], &[], None);
    assert_exit(&out, 8, "build with a requirement that needs JupyterLab 3");
    let err = stderr(&out);
    let line = line_starting(
        &err,
        "rjup: requirements.txt conflicts with the lab's own packages: ",
    );
    assert!(
        line.contains("the lab runs jupyterlab==4.") && line.contains("jupyterlab-robotmode"),
        "{line}"
    );

    // tornado 5, as old streamlit asked for: named with the lab package that needs 6.
    project.write("requirements.txt", "tornado==5.1.1\n");
    let out = project.rjup(&["build"], &[], None);
    assert_exit(&out, 8, "build with tornado==5.1.1");
    let err = stderr(&out);
    let line = line_starting(
        &err,
        "rjup: requirements.txt conflicts with the lab's own packages: ",
    );
    assert!(
        line.contains(" needs tornado>=6") && line.contains("tornado==5.1.1"),
        "{line}"
    );
    assert!(err.contains("Fix: check requirements.txt"), "{err}");

    // postBuild's pip keeps within them too (PIP_CONSTRAINT): JupyterLab stays.
    std::fs::remove_file(project.dir.join("requirements.txt")).unwrap();
    project.write(
        "postBuild",
        "#!/bin/sh\nset -e\npip install jupyterlab-robotmode==0.4.0\n",
    );
    let out = project.rjup(&["build"], &[], None);
    assert_exit(&out, 8, "build with a postBuild that pip installs it");
    let err = stderr(&out);
    assert!(
        err.contains("(constraint) jupyterlab==4.") && err.contains("Fix: fix postBuild"),
        "{err}"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_post_build_runs_in_a_copy_of_the_projects_small_files_and_data_stays_out() {
    let _engine = engine();
    let project = Project::from_example("", "repofiles");
    std::fs::create_dir_all(project.dir.join("binder")).unwrap();
    std::fs::create_dir_all(project.dir.join("scripts")).unwrap();
    project.write("scripts/settings.json", "{\"theme\": \"dark\"}\n");
    project.write("binder/streamlit_call.py", "print('called')\n");
    project.notebook("analysis.ipynb", &["print('work')"]);
    // 64 MiB of data: never in the build context, nor in the copy.
    std::fs::File::create(project.dir.join("data.bin"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    project.write(
        "binder/postBuild",
        "#!/bin/bash\nset -euxo pipefail\n\
         test \"$(pwd)\" = \"$REPO_DIR\"\n\
         cp binder/streamlit_call.py \"$HOME/\"\n\
         mv scripts/settings.json \"$HOME/settings.json\"\n\
         test ! -e data.bin && test ! -e analysis.ipynb\n",
    );
    std::fs::set_permissions(
        project.dir.join("binder/postBuild"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = project.rjup(&["build"], &[], None);
    assert_success(&out, "build with a postBuild that uses repository files");
    let err = stderr(&out);
    let context = line_starting(&err, &format!("Building rjup/{}:", project.name));
    assert!(
        context.contains(" KiB)") || context.ends_with(" B)"),
        "the build context must stay small: {context}"
    );

    // The lab sees the project itself, unchanged by postBuild's `mv`.
    let up = project.up(free_port());
    assert!(project.dir.join("scripts/settings.json").exists());
    let home = exec(
        &project.container(),
        &[
            "sh",
            "-c",
            "cat \"$HOME/settings.json\" \"$HOME/streamlit_call.py\"; ls \"$REPO_DIR\"",
        ],
    );
    assert!(
        home.contains("dark") && home.contains("called") && home.contains("data.bin"),
        "{home}\n{}",
        stderr(&up)
    );

    // Editing a notebook or the data rebuilds nothing; a file postBuild may use does.
    project.notebook("analysis.ipynb", &["print('more work')"]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(project.dir.join("data.bin"))
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let again = project.rjup(&["build"], &[], None);
    assert!(
        stderr(&again).contains("is up to date; nothing to build"),
        "{}",
        stderr(&again)
    );
    project.write("scripts/settings.json", "{\"theme\": \"light\"}\n");
    let rebuilt = project.rjup(&["build"], &[], None);
    assert_success(&rebuilt, "build after editing a small project file");
    assert!(
        stderr(&rebuilt).contains(&format!("Building rjup/{}:", project.name)),
        "{}",
        stderr(&rebuilt)
    );
}

/// The local conda channel's URL, served once per run (tests/fixtures/conda-channel.sh).
fn channel() -> &'static str {
    static CHANNEL: OnceLock<String> = OnceLock::new();
    CHANNEL.get_or_init(|| {
        fixture("conda", &["conda-channel.sh"])
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

/// The packages in the running lab: pip's view and conda's records, for comparing.
fn installed(project: &Project) -> String {
    exec(
        &project.container(),
        &[
            "sh",
            "-c",
            "python -m pip freeze --all | sort; ls /srv/conda/envs/notebook/conda-meta | grep json",
        ],
    )
}

#[test]
#[ignore = "conda: needs root and the local conda channel of tests/fixtures/conda-channel.sh"]
fn conda_environment_yml_from_a_channel_gives_the_lab_its_packages_and_locks_them() {
    let channel = channel();
    let _engine = engine();
    let project = Project::from_example("conda", "conda-env");
    project.write(
        "environment.yml",
        &format!(
            "name: test\nchannels:\n  - {channel}\ndependencies:\n  - python=3.13\n  - tabulate=0.9\n  - rjup-greet\n  - rjup-hello\n  - pip\n  - pip:\n      - toolz==1.0.0\n"
        ),
    );
    project.notebook(
        "conda-packages.ipynb",
        &[
            "import subprocess\nout = subprocess.run(['rjup-greet'], capture_output=True, text=True).stdout\nassert out.strip() == 'hello conda (rjup-words 2.0)', out",
            "out = subprocess.run(['rjup-hello'], capture_output=True, text=True).stdout\nassert out.strip() == 'rjup-hello 1.0 in /srv/conda/envs/notebook', out",
            "import ipywidgets, jupyterlab",
        ],
    );
    project.write(
        "rjup.yaml",
        "check:\n  notebooks: [check-environment.ipynb, conda-packages.ipynb]\n",
    );
    let port = free_port().to_string();
    let password = [("RJUP_PASSWORD", PASSWORD)];
    let out = project.rjup(&["check", "--up", "--port", &port], &password, None);
    assert_success(
        &out,
        "check --up with environment.yml from the local channel",
    );
    let report = stdout(&out);
    assert!(
        report.contains("ok   notebook check-environment.ipynb")
            && report.contains("ok   notebook conda-packages.ipynb"),
        "{report}"
    );
    assert!(
        stderr(&out).contains("Environment: environment.yml"),
        "{}",
        stderr(&out)
    );
    let unlocked = installed(&project);

    let lock = project.rjup(&["lock"], &[], None);
    assert_success(&lock, "rjup lock of environment.yml");
    let text = std::fs::read_to_string(project.dir.join("rjup.lock")).unwrap();
    assert!(
        text.contains(&format!("{channel}/noarch/tabulate-0.9.0-"))
            && text.contains(&format!("{channel}/linux-64/python-3.13"))
            && text.contains(".tar.bz2#sha256:")
            && text.contains("\"toolz==1.0.0\"")
            && text.contains("\"jupyterlab=="),
        "{text}"
    );
    assert_success(
        &project.rjup(&["lock", "--check"], &[], None),
        "lock --check on a fresh lock",
    );
    let locked = project.rjup(&["up", "--locked", "--port", &port], &password, None);
    assert_success(&locked, "up --locked");
    assert!(
        stderr(&locked).contains("Environment: rjup.lock"),
        "{}",
        stderr(&locked)
    );
    assert_eq!(
        installed(&project),
        unlocked,
        "the locked lab must have exactly what the unlocked one had"
    );
    let check = project.rjup(&["check"], &password, None);
    assert_success(&check, "the locked lab passes its notebooks");

    // Another conda package makes the lock stale.
    project.write(
        "environment.yml",
        &format!("channels: [{channel}]\ndependencies:\n  - python=3.13\n  - tabulate=0.9\n  - rjup-words=1.0\n"),
    );
    assert_exit(
        &project.rjup(&["lock", "--check"], &[], None),
        13,
        "lock --check after editing environment.yml",
    );
    assert_success(&project.rjup(&["down"], &[], None), "down");
}

#[test]
#[ignore = "conda: needs root and the local conda channel of tests/fixtures/conda-channel.sh"]
fn conda_an_unreachable_channel_and_unsolvable_packages_are_one_line_each() {
    let channel = channel();
    let _engine = engine();
    let project = Project::from_example("", "conda-bad");
    // Nothing listens there: refused at once.
    let closed = "http://10.231.0.1:8799";
    project.write(
        "environment.yml",
        &format!("channels: [{closed}]\ndependencies:\n  - tabulate\n"),
    );
    let out = project.rjup(&["build"], &[], None);
    assert_exit(&out, 8, "build with a channel nobody serves");
    let err = stderr(&out);
    let line = line_starting(&err, "rjup: cannot reach the conda channel ");
    assert!(
        line.contains(closed) && line.contains("Connection refused"),
        "{line}"
    );
    assert!(err.contains("Fix: check environment.yml"), "{err}");
    let out = project.rjup(&["lock"], &[], None);
    assert_exit(&out, 8, "lock with a channel nobody serves");
    line_starting(&stderr(&out), "rjup: cannot reach the conda channel ");

    // rjup-greet needs rjup-words 2.0; with no python pinned, both Pythons are tried.
    project.write(
        "environment.yml",
        &format!("channels: [{channel}]\ndependencies:\n  - rjup-greet\n  - rjup-words=1.0\n"),
    );
    let out = project.rjup(&["build"], &[], None);
    assert_exit(
        &out,
        8,
        "build with conda packages that do not fit together",
    );
    let err = stderr(&out);
    let line = line_starting(
        &err,
        "rjup: the conda packages of environment.yml cannot be installed together: ",
    );
    assert!(line.contains("rjup-words"), "{line}");
}
