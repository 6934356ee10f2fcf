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
use crate::tls::Trust;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: CheckArgs,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    let spec = project_spec(project, &args)?;
    let notebooks = notebooks_to_run(&spec, &args)?;
    let secret = match password::given(args.password.password_stdin)? {
        Some(secret) => secret,
        None => password::prompt_existing(
            "`rjup check` logs in with the lab's password, which rjup does not store",
            printer,
        )?,
    };
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

/// The project as the check needs it. `--up` makes the lab, so it refuses what `up`
/// refuses; checking a running lab reads only rjup.yaml, and no environment file,
/// which the lab was built from already and which may since have changed.
fn project_spec(project: Option<&Path>, args: &CheckArgs) -> anyhow::Result<settings::Spec> {
    if args.up {
        return settings::resolve(
            project,
            Overrides {
                port: args.port,
                bind: args.bind,
            },
        );
    }
    let found = settings::find(project)?;
    // The notebooks, the timeout and `tls` are rjup.yaml's, so it must be usable.
    match found.invalid {
        Some(why) => Err(Error::config(why).into()),
        None => Ok(found.spec),
    }
}

/// The notebooks to run, as paths in the project (`/`-separated, as the lab names
/// them): the ones named, from the current directory as a shell resolves them, else
/// `check.notebooks`, from the project. Each must be a file inside the project, which
/// is all the lab sees; that is settled before any step runs or `--up` starts anything.
fn notebooks_to_run(spec: &settings::Spec, args: &CheckArgs) -> anyhow::Result<Vec<String>> {
    if args.notebooks.is_empty() {
        return Ok(spec
            .check_notebooks
            .iter()
            .map(|notebook| in_project(&spec.dir, notebook, &spec.dir, Named::InConfig))
            .collect::<Result<_, _>>()?);
    }
    let cwd = std::env::current_dir().context("finding the current directory")?;
    Ok(args
        .notebooks
        .iter()
        .map(|notebook| in_project(&cwd, notebook, &spec.dir, Named::OnCommandLine))
        .collect::<Result<_, _>>()?)
}

/// Where a notebook's path was given, which says what it is relative to.
#[derive(Debug, Clone, Copy)]
enum Named {
    OnCommandLine,
    InConfig,
}

/// `given`, resolved from `base`, as a path inside `project` (canonical). A file that
/// exists is judged by its real path, links and `..` followed as opening it would;
/// one that does not, by its text.
fn in_project(base: &Path, given: &str, project: &Path, named: Named) -> Result<String, Error> {
    let path = base.join(given);
    let (real, exists) = match path.canonicalize() {
        Ok(real) => (real, path.is_file()),
        Err(_) => (lexically_normal(&path), false),
    };
    let Ok(inside) = real.strip_prefix(project) else {
        return Err(Error::config(format!(
            "notebook {given} ({}) is outside the project {}, and the lab sees only the project's files; move it into the project",
            real.display(),
            project.display()
        )));
    };
    if !exists {
        let whence = match named {
            Named::OnCommandLine => "relative to the current directory",
            Named::InConfig => "a `check.notebooks` entry in rjup.yaml, relative to the project",
        };
        return Err(Error::config(format!(
            "notebook {given} ({}) is not a file in the project {}; check its path, {whence}",
            real.display(),
            project.display()
        )));
    }
    let parts: Option<Vec<&str>> = inside
        .components()
        .map(|c| c.as_os_str().to_str())
        .collect();
    parts.map(|parts| parts.join("/")).ok_or_else(|| {
        Error::config(format!(
            "notebook {given}: its path {} is not UTF-8, which the lab's API cannot name; rename it",
            real.display()
        ))
    })
}

/// An absolute path with `.` and `..` taken away by its text alone, for a file that
/// does not exist, so has no real path.
fn lexically_normal(path: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let mut normal = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

fn is_no_lab(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Error>()
        .is_some_and(|e| e.code() == crate::error::Code::NoLab)
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
            // The address in the URL is the name a CA's certificate must carry.
            match certificate::trust(spec, &state, None, printer, &[])? {
                Some(Trust::Issued { roots, .. }) => {
                    let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
                    let names = vec![host.trim_matches(['[', ']']).to_string()];
                    Some(Trust::Issued { roots, names })
                }
                other => other,
            }
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
        for line in report_lines(&report) {
            printer.out(line)?;
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

/// The name column's width when every name is shorter.
const MIN_NAME_WIDTH: usize = 30;

/// The report as text: a line per step, its columns aligned however long a name is
/// (`notebook analysis/very/long/name.ipynb`); under a failed step, the rest of what
/// went wrong.
fn report_lines(report: &Report) -> Vec<String> {
    use unicode_width::UnicodeWidthStr;
    let width = report
        .steps
        .iter()
        .map(|s| s.name.width())
        .fold(MIN_NAME_WIDTH, usize::max);
    let mut lines = Vec::new();
    for step in &report.steps {
        let mark = if step.ok { "ok  " } else { "FAIL" };
        let pad = " ".repeat(width - step.name.width());
        let mut detail = step.detail.lines();
        lines.push(format!(
            "{mark} {}{pad} {:>8.2} s  {}",
            step.name,
            step.seconds,
            detail.next().unwrap_or("")
        ));
        if !step.ok {
            lines.extend(detail.map(|line| format!("       {line}")));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project `p` with `nb/a.ipynb` and a link to a notebook outside it, beside
    /// `outside.ipynb`; canonical.
    fn tree() -> (tempfile::TempDir, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let project = root.join("p");
        std::fs::create_dir_all(project.join("nb")).unwrap();
        std::fs::write(project.join("nb/a.ipynb"), "{}").unwrap();
        std::fs::write(root.join("outside.ipynb"), "{}").unwrap();
        std::os::unix::fs::symlink(root.join("outside.ipynb"), project.join("link.ipynb")).unwrap();
        (tmp, project)
    }

    #[test]
    fn notebooks_named_on_the_command_line_are_found_from_the_current_directory() {
        let (_tmp, project) = tree();
        let from = |dir: &Path, given: &str| in_project(dir, given, &project, Named::OnCommandLine);
        let nb = project.join("nb");
        assert_eq!(from(&project, "nb/a.ipynb").unwrap(), "nb/a.ipynb");
        assert_eq!(from(&nb, "a.ipynb").unwrap(), "nb/a.ipynb");
        assert_eq!(from(&nb, "./a.ipynb").unwrap(), "nb/a.ipynb");
        assert_eq!(from(&nb, "../nb/a.ipynb").unwrap(), "nb/a.ipynb");
        let absolute = project.join("nb/a.ipynb");
        assert_eq!(
            from(Path::new("/"), absolute.to_str().unwrap()).unwrap(),
            "nb/a.ipynb"
        );
    }

    #[test]
    fn a_notebook_outside_the_project_is_refused_naming_it_and_the_project() {
        let (_tmp, project) = tree();
        let from = |dir: &Path, given: &str| {
            in_project(dir, given, &project, Named::OnCommandLine)
                .unwrap_err()
                .to_string()
        };
        let outside = project.parent().unwrap().join("outside.ipynb");
        for (dir, given) in [
            (project.as_path(), "../outside.ipynb"),
            (project.as_path(), outside.to_str().unwrap()),
            (project.as_path(), "link.ipynb"),
            (&project.join("nb"), "../../outside.ipynb"),
        ] {
            let said = from(dir, given);
            assert_eq!(
                said,
                format!(
                    "notebook {given} ({}) is outside the project {}, and the lab sees only the project's files; move it into the project",
                    outside.display(),
                    project.display()
                )
            );
        }
        // One that does not exist is judged by its text.
        assert!(from(&project, "../gone.ipynb").contains("is outside the project"));
        assert!(from(&project, "/tmp/gone.ipynb").contains("(/tmp/gone.ipynb) is outside"));
    }

    #[test]
    fn a_missing_notebook_is_named_with_what_its_path_is_relative_to() {
        let (_tmp, project) = tree();
        let nb = project.join("nb");
        let said = in_project(&nb, "b.ipynb", &project, Named::OnCommandLine)
            .unwrap_err()
            .to_string();
        assert_eq!(
            said,
            format!(
                "notebook b.ipynb ({}) is not a file in the project {}; check its path, relative to the current directory",
                nb.join("b.ipynb").display(),
                project.display()
            )
        );
        let said = in_project(&project, "a.ipynb", &project, Named::InConfig)
            .unwrap_err()
            .to_string();
        assert!(
            said.ends_with("a `check.notebooks` entry in rjup.yaml, relative to the project"),
            "{said}"
        );
        assert!(in_project(&project, "nb", &project, Named::OnCommandLine).is_err());
        assert_eq!(
            in_project(&project, "nb/a.ipynb", &project, Named::InConfig).unwrap(),
            "nb/a.ipynb"
        );
    }

    #[test]
    fn text_paths_lose_their_dots() {
        assert_eq!(
            lexically_normal(Path::new("/a/./b/../c")),
            Path::new("/a/c")
        );
        assert_eq!(lexically_normal(Path::new("/a/../../b")), Path::new("/b"));
    }

    #[test]
    fn the_text_report_keeps_its_columns_for_long_names() {
        let report = |steps: &[(&str, Result<&str, &str>)]| {
            let mut report = Report::default();
            for (name, result) in steps {
                let result = result.map(str::to_string).map_err(str::to_string);
                report.push(*name, Instant::now(), result);
            }
            for step in &mut report.steps {
                step.seconds = 1.5;
            }
            report
        };
        let long = report(&[
            ("login", Ok("logged in")),
            (
                "notebook analysis/very/long/name/indeed.ipynb",
                Ok("2 code cells ran"),
            ),
            (
                "notebook données/é.ipynb",
                Err("cell 2 raised X\nTraceback"),
            ),
        ]);
        let lines = report_lines(&long);
        assert_eq!(
            lines,
            [
                "ok   login                                             1.50 s  logged in",
                "ok   notebook analysis/very/long/name/indeed.ipynb     1.50 s  2 code cells ran",
                "FAIL notebook données/é.ipynb                          1.50 s  cell 2 raised X",
                "       Traceback",
            ]
        );
        // Short names keep the usual width.
        let short = report_lines(&report(&[("login", Ok("in"))]));
        assert_eq!(
            short,
            [format!("ok   login{}     1.50 s  in", " ".repeat(25))]
        );
    }
}
