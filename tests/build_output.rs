//! What a build shows: its steps, numbered the same way from the first to the last, and
//! when it fails, the lines that say why.

use crate::util::*;

/// The `Step n/N` lines under each `Building` line of `rjup build`'s output.
fn steps_by_build(err: &str) -> Vec<(String, Vec<(u64, u64)>)> {
    let mut builds: Vec<(String, Vec<(u64, u64)>)> = Vec::new();
    for line in err.lines() {
        if let Some(tag) = line.strip_prefix("Building ") {
            builds.push((tag.to_string(), Vec::new()));
        } else if let Some(rest) = line.trim_start().strip_prefix("Step ") {
            let counts = rest.split(' ').next().unwrap();
            let (n, total) = counts.split_once('/').unwrap();
            builds
                .last_mut()
                .expect("a step under a build")
                .1
                .push((n.parse().unwrap(), total.parse().unwrap()));
        }
    }
    builds
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_postbuild_failing_early_is_quoted_at_its_error_not_only_its_last_lines() {
    let _engine = engine();
    let project = Project::from_example("", "postbuild-early");
    // No `set -e`: the script goes on after the command that failed, and fails later
    // for its sake, with pages of output between.
    project.write(
        "postBuild",
        "#!/bin/bash\necho starting\nmv data/raw.csv data.csv\nfor n in $(seq 1 40); do echo \"Collecting package-$n\"; done\ntest -f data.csv\n",
    );
    let out = project.rjup(&["build"], &[], None);
    assert_exit(&out, 8, "build with a failing postBuild");
    let err = stderr(&out);
    let error = err
        .lines()
        .position(|l| l.starts_with("rjup: error:"))
        .unwrap_or_else(|| panic!("no error: {err}"));
    let report: Vec<&str> = err.lines().skip(error).collect();
    assert!(
        report[1].contains("earlier lines in ") && report[1].trim_end().ends_with("build.log"),
        "{err}"
    );
    let cause = "mv: cannot stat 'data/raw.csv': No such file or directory";
    assert!(
        report.iter().any(|l| l.trim() == cause),
        "the cause is shown, not only in build.log:\n{err}"
    );
    assert!(
        report.iter().any(|l| l.trim() == "Collecting package-40"),
        "{err}"
    );

    // Each build's steps run from 1 to its own count.
    for (tag, steps) in steps_by_build(&err) {
        let total = steps.first().map_or(0, |s| s.1);
        assert!(
            steps
                .iter()
                .enumerate()
                .all(|(i, s)| *s == (i as u64 + 1, total)),
            "{tag}: {steps:?}\n{err}"
        );
    }
}
