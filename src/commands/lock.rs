//! `rjup lock`: resolve the environment inside the base image and pin it in `rjup.lock`.

use std::path::{Path, PathBuf};

use crate::archive::{Archive, ROOT};
use crate::cli::{LockArgs, LockFlags};
use crate::engine::endpoint::Endpoint;
use crate::engine::Engine;
use crate::environment::image_plan::{
    self, BuildSpec, ImageSource, CONDA_REQUIREMENTS, CONDA_SCRIPT, LAB_REQUIREMENTS,
    UV_REQUIREMENTS,
};
use crate::environment::lockfile::{self, Lockfile};
use crate::error::Error;
use crate::settings::{self, Overrides, Spec};
use crate::ui::printer::Printer;
use crate::ui::progress::Wait;

/// Installs uv in the base image and resolves every input file together, so the pins are
/// what that base's Python would install.
const RESOLVE: &str = r#"set -e
cd /tmp/rjup-lock
python3 -m venv /tmp/rjup-uv >&2
/tmp/rjup-uv/bin/pip install --quiet --disable-pip-version-check -r uv-requirements.txt >&2
uv=/tmp/rjup-uv/bin/uv
inputs=lab-requirements.txt
[ -s packages.txt ] && inputs="$inputs packages.txt"
[ -f requirements.txt ] && inputs="$inputs requirements.txt"
if [ -f project/uv.lock ]; then
  (cd project && "$uv" export --quiet --frozen --no-hashes --no-emit-project --no-header) > uv-lock.txt
  inputs="$inputs uv-lock.txt"
elif [ -f project/pyproject.toml ]; then
  inputs="$inputs project/pyproject.toml"
fi
exec "$uv" pip compile --quiet --no-header --no-annotate --python "$(command -v python3)" $inputs
"#;

/// With environment.yml: py-rattler solves its conda packages (printed first, as
/// `URL#sha256:HEX`), which are installed; then uv installs JupyterLab and the Python
/// packages into that environment, and the pins are what uv added or changed (printed
/// after a `--` line). Installing, not only compiling, gives what a build on those
/// conda packages gets: uv keeps a conda package that satisfies a requirement.
const RESOLVE_CONDA: &str = r#"set -e
cd /tmp/rjup-lock
python3 -m venv /tmp/rjup-uv >&2
/tmp/rjup-uv/bin/pip install --quiet --disable-pip-version-check -r uv-requirements.txt >&2
uv=/tmp/rjup-uv/bin/uv
export UV_CACHE_DIR=/tmp/rjup-cache RJUP_CONDA_CACHE=/tmp/rjup-conda-cache
rattler() {
  "$uv" run --quiet --no-project --with-requirements conda-requirements.txt \
    --python "$(command -v python3)" python conda.py "$@"
}
rattler lock conda-env.json > conda.txt
python3 -c 'import json; print(json.dumps({"packages": [l.strip() for l in open("conda.txt") if l.strip()]}))' > conda-locked.json
env=/srv/conda/envs/notebook
rattler create conda-locked.json "$env" >&2
"$uv" pip freeze --python "$env/bin/python" | sort > before.txt
inputs="-r lab-requirements.txt"
[ -s pip-section.txt ] && inputs="$inputs -r pip-section.txt"
[ -s packages.txt ] && inputs="$inputs -r packages.txt"
[ -f requirements.txt ] && inputs="$inputs -r requirements.txt"
if [ -f project/uv.lock ]; then
  (cd project && "$uv" export --quiet --frozen --no-hashes --no-emit-project --no-header) > uv-lock.txt
  inputs="$inputs -r uv-lock.txt"
elif [ -f project/pyproject.toml ]; then
  inputs="$inputs -r project/pyproject.toml"
fi
"$uv" pip install --quiet --python "$env/bin/python" $inputs >&2
"$uv" pip freeze --python "$env/bin/python" | sort > after.txt
cat conda.txt
echo --
comm -13 before.txt after.txt
"#;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: LockArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    // What the lock is made from: an ignored file is worth knowing here too.
    for warning in &spec.warnings {
        printer.warn(warning);
    }
    let ImageSource::Build(build) = &spec.image else {
        return Err(Error::LockNeedsBuild.into());
    };
    let inputs = image_plan::lock_inputs(build);
    let path = spec.dir.join(lockfile::FILE_NAME);
    if args.check {
        return check(build.lock.as_ref(), &inputs, path, printer);
    }

    let engine = super::connect(endpoint).await?;
    let lock = make(&engine, build, &path, printer).await?;
    let conda = if lock.conda.is_empty() {
        String::new()
    } else {
        format!("{} conda packages and ", lock.conda.len())
    };
    printer.say(format!(
        "Wrote {}: {conda}{} packages on {}",
        path.display(),
        lock.packages.len(),
        lock.base
    ));
    Ok(())
}

/// Resolves `build` and writes the lock to `path`.
async fn make(
    engine: &Engine,
    build: &BuildSpec,
    path: &Path,
    printer: Printer,
) -> anyhow::Result<Lockfile> {
    let base = pinned_base(engine, &build.base, printer).await?;
    let (conda, packages) = resolve(engine, &base, build, printer).await?;
    let lock = Lockfile {
        inputs: image_plan::lock_inputs(build),
        base,
        conda,
        packages,
    };
    // A lock is either the old one or the new one, never half of each; it is an ordinary
    // project file, so it gets the permissions the umask gives any file.
    crate::state::write_atomically(path, lock.render().as_bytes(), 0o666)?;
    Ok(lock)
}

/// Before `up` or `build`: a stale `rjup.lock` is resolved again and what changed is
/// printed, or refused with `--locked`; with `--frozen` it is used as it is.
pub async fn refresh(
    engine: &Engine,
    spec: &mut Spec,
    flags: LockFlags,
    printer: Printer,
) -> anyhow::Result<()> {
    let path = spec.dir.join(lockfile::FILE_NAME);
    let ImageSource::Build(build) = &mut spec.image else {
        return Ok(());
    };
    let inputs = image_plan::lock_inputs(build);
    let Some(old) = build.lock.as_mut() else {
        return Ok(());
    };
    if old.inputs == inputs {
        return Ok(());
    }
    if flags.frozen {
        // As is: the build checks the lock against these inputs, so it passes.
        old.inputs = inputs;
        return Ok(());
    }
    if flags.locked {
        return Err(Error::LockStale { path }.into());
    }
    printer.say(format!(
        "{} no longer matches the environment files; resolving it again",
        path.display()
    ));
    let new = make(engine, build, &path, printer).await?;
    let old = build.lock.replace(new.clone()).unwrap_or_default();
    let changes = changes(&old, &new);
    printer.say(format!(
        "Updated {}: {}",
        path.display(),
        if changes.is_empty() {
            "no package changed".to_string()
        } else {
            changes.join(", ")
        }
    ));
    Ok(())
}

/// What a new lock changes, as uv reports it: added, removed, upgraded (or downgraded).
fn changes(old: &Lockfile, new: &Lockfile) -> Vec<String> {
    use std::collections::BTreeMap;
    let pins = |lock: &Lockfile| -> BTreeMap<String, String> {
        let mut pins: BTreeMap<String, String> = lock
            .packages
            .iter()
            .map(|p| match p.split_once("==") {
                Some((name, version)) => (name.to_lowercase(), version.to_string()),
                None => (p.to_lowercase(), String::new()),
            })
            .collect();
        // A conda package by its archive's name: NAME-VERSION-BUILD.tar.bz2 (or .conda).
        for line in &lock.conda {
            let url = line.split('#').next().unwrap_or(line);
            let file = url.rsplit('/').next().unwrap_or(url);
            let stem = file.trim_end_matches(".tar.bz2").trim_end_matches(".conda");
            let mut parts = stem.rsplitn(3, '-');
            let (_build, version, name) = (parts.next(), parts.next(), parts.next());
            if let (Some(name), Some(version)) = (name, version) {
                pins.insert(
                    format!("{} (conda)", name.to_lowercase()),
                    version.to_string(),
                );
            }
        }
        pins
    };
    let (before, after) = (pins(old), pins(new));
    let mut changes = Vec::new();
    if old.base != new.base {
        changes.push(format!("base {} → {}", old.base, new.base));
    }
    for (name, version) in &after {
        match before.get(name) {
            None => changes.push(format!("added {name}=={version}")),
            Some(was) if was != version => changes.push(format!(
                "{} {name} {was} → {version}",
                direction(was, version)
            )),
            Some(_) => {}
        }
    }
    for (name, version) in &before {
        if !after.contains_key(name) {
            changes.push(format!("removed {name}=={version}"));
        }
    }
    changes
}

/// Compares dotted versions number by number; anything not a number compares as text.
fn direction(was: &str, now: &str) -> &'static str {
    let parts = |v: &str| -> Vec<Result<u64, String>> {
        v.split('.')
            .map(|p| p.parse().map_err(|_| p.to_string()))
            .collect()
    };
    if parts(now) > parts(was) {
        "upgraded"
    } else {
        "downgraded"
    }
}

/// `--check`: whether the lock at `path` was made from these inputs.
fn check(
    lock: Option<&Lockfile>,
    inputs: &str,
    path: PathBuf,
    printer: Printer,
) -> anyhow::Result<()> {
    match lock {
        Some(lock) if lock.inputs == inputs => {
            printer.say(format!("{} matches the environment files", path.display()));
            Ok(())
        }
        Some(_) => Err(Error::LockOutdated { path }.into()),
        None => Err(Error::LockMissing { path }.into()),
    }
}

/// The base image by its registry digest, pulled first if the engine lacks it.
async fn pinned_base(engine: &Engine, base: &str, printer: Printer) -> anyhow::Result<String> {
    if engine.image_id(base).await?.is_none() {
        engine
            .pull(base, &crate::lab::image::Shown::new(printer))
            .await?;
    }
    match engine.repo_digest(base).await? {
        Some(digest) => Ok(digest),
        None => Err(Error::NoRegistryDigest {
            base: base.to_string(),
        }
        .into()),
    }
}

/// Resolves the environment inside `base`; returns the conda packages (with
/// environment.yml) and the pins, JupyterLab among them.
async fn resolve(
    engine: &Engine,
    base: &str,
    build: &BuildSpec,
    printer: Printer,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let wait = Wait::new(&format!("Resolving the environment in {base}"), printer);
    let conda = build.environment.conda_env.is_some();
    let script = if conda { RESOLVE_CONDA } else { RESOLVE };
    let finished = engine.run_once(base, script, resolver_files(build)).await?;
    drop(wait);
    if finished.exit_code != 0 {
        let output = finished
            .stderr
            .trim_end()
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n    ");
        return Err(Error::ResolveFailed {
            exit_code: finished.exit_code,
            output,
        }
        .into());
    }
    let (conda_lines, pins) = match finished.stdout.split_once("\n--\n") {
        Some((conda_lines, pins)) if conda => (conda_lines, pins),
        _ => ("", finished.stdout.as_str()),
    };
    let packages = lockfile::parse_compiled(pins);
    if !packages
        .iter()
        .any(|p| p.to_lowercase().starts_with("jupyterlab=="))
    {
        return Err(Error::ResolvedWithoutJupyter.into());
    }
    let conda_packages = conda_lines
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("#sha256:"))
        .map(str::to_string)
        .collect();
    Ok((conda_packages, packages))
}

/// The files [`RESOLVE`] reads, as a tar archive for the throwaway container.
fn resolver_files(build: &BuildSpec) -> Vec<u8> {
    let mut files = Archive::new();
    let dir = "tmp/rjup-lock";
    files
        .dir(&format!("{dir}/"), 0o755, ROOT)
        .dir(&format!("{dir}/project/"), 0o755, ROOT);
    files.file(
        &format!("{dir}/uv-requirements.txt"),
        UV_REQUIREMENTS.as_bytes(),
        0o644,
        ROOT,
    );
    files.file(
        &format!("{dir}/lab-requirements.txt"),
        LAB_REQUIREMENTS.as_bytes(),
        0o644,
        ROOT,
    );
    files.file(
        &format!("{dir}/packages.txt"),
        build.packages.join("\n").as_bytes(),
        0o644,
        ROOT,
    );
    let env = &build.environment;
    if let Some(conda) = &env.conda_env {
        for (name, contents) in [
            ("conda.py", CONDA_SCRIPT.as_bytes().to_vec()),
            (
                "conda-requirements.txt",
                CONDA_REQUIREMENTS.as_bytes().to_vec(),
            ),
            ("conda-env.json", conda.solve_input().to_json()),
            (
                "pip-section.txt",
                conda.pip_requirements().unwrap_or_default().into_bytes(),
            ),
        ] {
            files.file(&format!("{dir}/{name}"), &contents, 0o644, ROOT);
        }
    }
    if let Some(f) = &env.requirements {
        files.file(&format!("{dir}/requirements.txt"), &f.contents, 0o644, ROOT);
    }
    if let Some(f) = &env.pyproject {
        files.file(
            &format!("{dir}/project/pyproject.toml"),
            &f.contents,
            0o644,
            ROOT,
        );
    }
    if let Some(f) = &env.uv_lock {
        files.file(&format!("{dir}/project/uv.lock"), &f.contents, 0o644, ROOT);
    }
    files.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(base: &str, packages: &[&str]) -> Lockfile {
        Lockfile {
            inputs: String::new(),
            base: base.into(),
            conda: Vec::new(),
            packages: packages.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn changes_say_what_was_added_removed_upgraded_and_downgraded() {
        let old = lock(
            "py@a",
            &["jupyterlab==4.2.0", "Six==1.16.0", "tornado==6.4", "x==2.0"],
        );
        let new = lock(
            "py@a",
            &[
                "jupyterlab==4.10.0",
                "six==1.16.0",
                "tabulate==0.9.0",
                "x==1.9",
            ],
        );
        assert_eq!(
            changes(&old, &new),
            [
                "upgraded jupyterlab 4.2.0 → 4.10.0",
                "added tabulate==0.9.0",
                "downgraded x 2.0 → 1.9",
                "removed tornado==6.4",
            ]
        );
        assert!(changes(&old, &old).is_empty());
        assert_eq!(
            changes(
                &old,
                &lock(
                    "py@b",
                    &old.packages.iter().map(String::as_str).collect::<Vec<_>>()
                )
            ),
            ["base py@a → py@b"]
        );
    }
}
