//! `rjup lock`: resolve the environment inside the base image and pin it in `rjup.lock`.

use std::path::{Path, PathBuf};

use crate::archive::{Archive, ROOT};
use crate::cli::LockArgs;
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::error::Error;
use crate::image::{self, BuildSpec, ImageSource, LAB_REQUIREMENTS, UV_REQUIREMENTS};
use crate::lock::{self, Lock};
use crate::printer::Printer;
use crate::progress::Wait;
use crate::settings::{self, Overrides};

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

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: LockArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let ImageSource::Build(build) = &spec.image else {
        return Err(Error::LockNeedsBuild.into());
    };
    if let Some(conda) = &build.environment.conda {
        return Err(Error::LockCannotPinConda {
            file: conda.shown.clone(),
        }
        .into());
    }
    let inputs = image::lock_inputs(build);
    let path = spec.dir.join(lock::FILE_NAME);
    if args.check {
        return check(build.lock.as_ref(), &inputs, path, printer);
    }

    let engine = Engine::connect(endpoint).await?;
    let base = pinned_base(&engine, &build.base, printer).await?;
    let packages = resolve(&engine, &base, build, printer).await?;
    let lock = Lock {
        inputs,
        base,
        packages,
    };
    // A lock is either the old one or the new one, never half of each; it is an ordinary
    // project file, so it gets the permissions the umask gives any file.
    crate::state::write_atomically(&path, lock.render().as_bytes(), 0o666)?;
    printer.say(format!(
        "Wrote {}: {} packages on {}",
        path.display(),
        lock.packages.len(),
        lock.base
    ));
    Ok(())
}

/// `--check`: whether the lock at `path` was made from these inputs.
fn check(lock: Option<&Lock>, inputs: &str, path: PathBuf, printer: Printer) -> anyhow::Result<()> {
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
        engine.pull(base, printer).await?;
    }
    match engine.repo_digest(base).await? {
        Some(digest) => Ok(digest),
        None => Err(Error::NoRegistryDigest {
            base: base.to_string(),
        }
        .into()),
    }
}

/// Resolves the environment inside `base`; returns the pins, JupyterLab among them.
async fn resolve(
    engine: &Engine,
    base: &str,
    build: &BuildSpec,
    printer: Printer,
) -> anyhow::Result<Vec<String>> {
    let wait = Wait::new(&format!("Resolving the environment in {base}"), printer);
    let finished = engine
        .run_once(base, RESOLVE, resolver_files(build))
        .await?;
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
    let packages = lock::parse_compiled(&finished.stdout);
    if !packages
        .iter()
        .any(|p| p.to_lowercase().starts_with("jupyterlab=="))
    {
        return Err(Error::ResolvedWithoutJupyter.into());
    }
    Ok(packages)
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
