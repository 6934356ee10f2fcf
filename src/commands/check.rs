//! `rjup check`: a smoke test of the project's lab, for CI and for people.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::sync::OnceCell;

use crate::cli::CheckArgs;
use crate::converge::{self, Options};
use crate::engine::endpoint::Endpoint;
use crate::engine::Engine;
use crate::error::Error;
use crate::lab::certificate;
use crate::lab_client::smoke::{self, Report};
use crate::lab_client::Target;
use crate::password;
use crate::runtime;
use crate::runtime::cleanup::Cleanup;
use crate::runtime::ready::probe_target;
use crate::settings::{self, Overrides};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: CheckArgs,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    let spec = settings::resolve(
        project,
        Overrides {
            port: args.port,
            bind: args.bind,
        },
    )?;
    let secret = match password::given(args.password.password_stdin)? {
        Some(secret) => secret,
        None => password::prompt_existing(
            "`rjup check` logs in with the lab's password, which rjup does not store",
            printer,
        )?,
    };
    let notebooks = notebooks_to_run(&spec, &args)?;
    // `--url` alone needs no engine, so a check against a remote lab works on a host
    // without one; otherwise connect now, so a missing engine fails before any step.
    let engine = LazyEngine {
        endpoint,
        engine: OnceCell::new(),
    };
    if args.up || args.down || args.url.is_none() {
        engine.get().await?;
    }
    let mut report = Report {
        ok: true,
        steps: Vec::new(),
    };

    if args.up {
        let t = Instant::now();
        let converged = bring_up(&engine, &spec, &secret, &args, printer, cleanup).await;
        match converged {
            Ok(outcome) => {
                report.push(
                    "up",
                    t,
                    Ok(format!(
                        "lab {} on port {}",
                        outcome.action.word(),
                        outcome.port
                    )),
                );
            }
            Err(err) => {
                report.push("up", t, Err(format!("{err:#}")));
                return finish(&engine, &spec, &args, report, Some(err), printer).await;
            }
        }
    }

    let t = Instant::now();
    match lab_target(&engine, &spec, args.url.as_deref(), printer).await {
        Ok(target) => {
            let timeout = Duration::from_secs(args.notebook_timeout.unwrap_or(spec.check_timeout));
            let checked = smoke::run(target, &secret, &notebooks, timeout).await;
            report.steps.extend(checked.steps);
            report.ok = report.steps.iter().all(|s| s.ok);
        }
        // No lab is nothing to check, not a failed step: exit 11, as `rjup logs` does.
        Err(err) if is_no_lab(&err) => return Err(err),
        Err(err) => {
            report.push("login", t, Err(format!("{err:#}")));
        }
    }
    finish(&engine, &spec, &args, report, None, printer).await
}

/// The notebooks to run: the ones named, else `check.notebooks`; each must exist.
fn notebooks_to_run(spec: &settings::Spec, args: &CheckArgs) -> anyhow::Result<Vec<String>> {
    let notebooks = if args.notebooks.is_empty() {
        spec.check_notebooks.clone()
    } else {
        args.notebooks.clone()
    };
    for notebook in &notebooks {
        if spec.dir.join(notebook).is_file() {
            continue;
        }
        let message = if within(Path::new(notebook)) {
            format!("notebook {notebook} does not exist in the project {}; check its name, which is relative to the project", spec.dir.display())
        } else {
            format!("notebook {notebook} is not in the project {}; give its path relative to the project", spec.dir.display())
        };
        return Err(Error::config(message).into());
    }
    Ok(notebooks)
}

fn is_no_lab(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Error>()
        .is_some_and(|e| e.code() == crate::error::Code::NoLab)
}

/// Whether a relative path stays inside the directory it is relative to, judged by its
/// text alone: the file it names may not exist.
fn within(path: &Path) -> bool {
    use std::path::Component;
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => depth -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// `--up`: the lab as `rjup up` would make it, with the password the check logs in with.
async fn bring_up(
    engine: &LazyEngine<'_>,
    spec: &settings::Spec,
    secret: &password::Secret,
    args: &CheckArgs,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<converge::Outcome> {
    let state = ProjectState::for_project(&spec.dir, &spec.name)?;
    let mut spec = spec.clone();
    cleanup
        .state_only_on_success(&state, async {
            let hashed = password::for_lab(&state, Some(secret_copy(secret)?), printer)?;
            super::lock::refresh(engine.get().await?, &mut spec, args.lock, printer).await?;
            let options = Options {
                force_recreate: false,
                rebuild: false,
                timeout: Duration::from_secs(args.timeout),
            };
            converge::converge(
                engine.get().await?,
                &spec,
                &state,
                hashed,
                &options,
                printer,
                cleanup,
            )
            .await
        })
        .await
}

/// The engine, connected the first time a step needs it.
struct LazyEngine<'a> {
    endpoint: &'a Endpoint,
    engine: OnceCell<Engine>,
}

impl LazyEngine<'_> {
    async fn get(&self) -> anyhow::Result<&Engine> {
        self.engine
            .get_or_try_init(|| super::connect(self.endpoint))
            .await
    }
}

fn secret_copy(secret: &password::Secret) -> anyhow::Result<password::Secret> {
    password::Secret::new(secret.expose().to_string())
}

/// Where the lab answers: `--url`, else where the engine's host publishes it; over
/// HTTPS, trusting exactly the certificate rjup gave the lab.
async fn lab_target(
    engine: &LazyEngine<'_>,
    spec: &settings::Spec,
    url: Option<&str>,
    printer: Printer,
) -> anyhow::Result<Target> {
    let state = ProjectState::for_project(&spec.dir, &spec.name)?;
    if let Some(url) = url {
        let (https, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => {
                return Err(Error::config(format!(
                    "--url {url} must look like http://HOST:PORT or https://HOST:PORT"
                ))
                .into())
            }
        };
        let hostport = rest.split('/').next().unwrap_or(rest);
        let addr = tokio::net::lookup_host(hostport)
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| Error::config(format!("--url {url}: cannot resolve {hostport}")))?;
        let tls = if https {
            certificate::for_lab(spec, &state, None, printer)?
        } else {
            None
        };
        if https && tls.is_none() {
            return Err(Error::config(format!("--url {url} is https, but rjup.yaml sets no `tls`, so rjup has no certificate to trust")).into());
        }
        return probe_target(
            addr,
            tls.as_ref(),
            state.existing_cookie_secret()?.as_deref(),
        );
    }
    let engine = engine.get().await?;
    runtime::for_spec(engine, spec, printer)
        .target(&state)
        .await
}

async fn finish(
    engine: &LazyEngine<'_>,
    spec: &settings::Spec,
    args: &CheckArgs,
    mut report: Report,
    up_error: Option<anyhow::Error>,
    printer: Printer,
) -> anyhow::Result<()> {
    if args.down {
        let t = Instant::now();
        let engine = engine.get().await?;
        let removed = runtime::for_spec(engine, spec, printer)
            .remove()
            .await
            .map(|removed| removed.step().to_string())
            .map_err(|e| format!("{e:#}"));
        report.push("down", t, removed);
    }
    if args.json {
        let json = json!({"ok": report.ok, "name": spec.name, "steps": report.steps});
        printer.out(json)?;
    } else {
        for step in &report.steps {
            let mark = if step.ok { "ok  " } else { "FAIL" };
            printer.out(format!(
                "{mark} {:<30} {:>8.2} s  {}",
                step.name,
                step.seconds,
                first_line(&step.detail)
            ))?;
            if !step.ok {
                for line in step.detail.lines().skip(1) {
                    printer.out(format!("       {line}"))?;
                }
            }
        }
    }
    if let Some(path) = &args.junit {
        std::fs::write(
            path,
            smoke::junit(&report, &format!("rjup check {}", spec.name))?,
        )
        .with_context(|| format!("writing the JUnit report to {}", path.display()))?;
    }
    if report.ok {
        return Ok(());
    }
    // A lab that never came up keeps the exit code `up` would have given.
    if let Some(err) = up_error {
        return Err(err);
    }
    let steps = report
        .steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| s.name.clone())
        .collect();
    Err(Error::CheckFailed { steps }.into())
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_that_stay_in_the_project_are_within_it() {
        assert!(within(Path::new("missing.ipynb")));
        assert!(within(Path::new("./nb/../a.ipynb")));
        assert!(!within(Path::new("../elsewhere/a.ipynb")));
        assert!(!within(Path::new("nb/../../a.ipynb")));
        assert!(!within(Path::new("/tmp/a.ipynb")));
    }
}
