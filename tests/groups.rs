//! The suite runs from a clone: engine tests are in groups by what they need, each named
//! so that one `cargo test` filter runs one group, and what a group needs is started by
//! the repository's own scripts in `tests/fixtures/`. Only the stand-in registry may come
//! from beside the repository.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::util::repo_root;

/// The groups, each the prefix of its tests' names and the first word of their ignore
/// reason: `cargo test -- --include-ignored ::podman_` runs the Podman tests.
const GROUPS: [&str; 10] = [
    "engine", "root", "podman", "rootless", "swarm", "ssh", "registry", "browser", "conda", "acme",
];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "node_modules") {
                files(&path, out);
            }
        } else {
            out.push(path);
        }
    }
}

#[test]
fn nothing_but_the_stand_in_registry_comes_from_beside_the_repository() {
    // Spelled in pieces, so that this file does not name what it looks for.
    let outside = [
        concat!("..", "/", "shared"),
        concat!("shared", "/docker/"),
        concat!("shared", "/net/"),
    ];
    let mut found = Vec::new();
    let mut all = Vec::new();
    for dir in ["tests", ".ci", "scripts"] {
        files(&repo_root().join(dir), &mut all);
    }
    for file in all {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if outside.iter().any(|o| line.contains(o)) && !line.contains("stand-ins") {
                let file = file.strip_prefix(repo_root()).unwrap().display();
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a clone cannot run what lives beside the repository: start it with a script in \
         tests/fixtures/ instead (only the stand-in registry, RJUP_TEST_STAND_INS, may come \
         from there):\n{}",
        found.join("\n")
    );
}

#[test]
fn every_ignored_test_is_in_a_group_by_its_name_and_reason() {
    let mut problems = Vec::new();
    let mut all = Vec::new();
    files(&repo_root().join("tests"), &mut all);
    // CI runs on a fresh machine: a fixture it does not start first is installed by the
    // first test that needs it, or not at all.
    let ci = std::fs::read_to_string(repo_root().join(".ci/run")).unwrap();
    let this = repo_root().join("tests/groups.rs");
    for file in all
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "rs") && **f != this)
    {
        let text = std::fs::read_to_string(file).unwrap();
        let module = file.file_stem().unwrap().to_string_lossy();
        let lines: Vec<&str> = text.lines().collect();
        for (n, line) in lines.iter().enumerate() {
            let Some(attribute) = line.trim_start().strip_prefix("#[ignore") else {
                continue;
            };
            let reason = attribute
                .split_once('"')
                .and_then(|(_, r)| r.rsplit_once('"'))
                .map_or("", |(r, _)| r);
            let name = lines[n..]
                .iter()
                .find_map(|l| l.split_once("fn "))
                .map_or("", |(_, r)| r.split('(').next().unwrap_or(""));
            let group = reason.split(':').next().unwrap_or("");
            let what = format!("{module}::{name} (#[ignore = {reason:?}])");
            if !GROUPS.contains(&group) {
                problems.push(format!(
                    "{what}: the reason starts with no group of {GROUPS:?}"
                ));
                continue;
            }
            // bad_input's cases are named in its table, checked below.
            if name != "$name" && !name.starts_with(&format!("{group}_")) {
                problems.push(format!("{what}: the name does not start with `{group}_`"));
            }
            if let Some((_, command)) = reason.split_once("tests/fixtures/") {
                let script = command.split_whitespace().next().unwrap();
                let path = repo_root().join("tests/fixtures").join(script);
                if !path.is_file() {
                    problems.push(format!("{what}: no script {}", path.display()));
                }
                if !ci.contains(script) {
                    problems.push(format!("{what}: .ci/run does not start {script}"));
                }
            } else if !["engine", "root"].contains(&group) {
                problems.push(format!(
                    "{what}: the reason names no script of tests/fixtures/"
                ));
            }
        }
    }
    let table = std::fs::read_to_string(repo_root().join("tests/bad_input.rs")).unwrap();
    for case in table.split("\ntest! {\n").skip(1) {
        let name = case
            .split_once("name: ")
            .and_then(|(_, r)| r.split_once(','))
            .map_or("", |(n, _)| n);
        if case.contains("engine: true") && !name.starts_with("engine_") {
            problems.push(format!(
                "bad_input::{name} needs the engine: name it engine_{name}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn each_fixture_script_says_what_it_gives_and_has_a_down() {
    let mut problems = Vec::new();
    let mut scripts = Vec::new();
    files(&repo_root().join("tests/fixtures"), &mut scripts);
    for script in scripts
        .iter()
        .filter(|s| s.extension().is_some_and(|e| e == "sh"))
    {
        let name = script.file_name().unwrap().to_string_lossy().into_owned();
        if name == "lib.sh" {
            continue;
        }
        let text = std::fs::read_to_string(script).unwrap();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
        if header.len() < 5 {
            problems.push(format!("{name}: no header saying what it gives and prints"));
        }
        if !header
            .iter()
            .any(|l| l.contains(&name) && l.contains(" down"))
        {
            problems.push(format!("{name}: its header shows no `{name} down`"));
        }
        if std::fs::metadata(script).unwrap().permissions().mode() & 0o111 == 0 {
            problems.push(format!("{name}: not executable"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
