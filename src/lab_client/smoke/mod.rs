//! `rjup check`'s smoke test of a running lab, from the outside and the way a browser
//! and JupyterLab use it: log in, start a kernel, run code over the kernel's WebSocket
//! (Jupyter messaging protocol 5.3), shut it down, and run notebooks inside the lab.

mod jupyter;
mod report;

use std::fmt;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Target;
use crate::password::Secret;
use jupyter::{Client, Execution};
pub use report::{junit, Report};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a step failed.
#[derive(Debug)]
pub enum StepError {
    /// rjup could not talk to the lab (connection, TLS, time, size, WebSocket), while
    /// doing what the first field says, if anything.
    Talk(&'static str, super::Error),
    /// The lab refused the password.
    WrongPassword,
    /// The lab refused this machine's address (`allow:`); the lab's words, which name it.
    Refused(String),
    /// The lab answered, but not as a working Jupyter server would; or the code failed.
    Failed(String),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::Talk("", e) => write!(f, "{e}"),
            StepError::Talk(doing, e) => write!(f, "{doing}: {e}"),
            StepError::WrongPassword => f.write_str("the lab refused the password (HTTP 401); check RJUP_PASSWORD or --password-stdin, or set a new one with `rjup password`"),
            StepError::Refused(said) => write!(f, "the lab refused this machine's address ({}); add this machine's address to `allow:` in rjup.yaml and run `rjup up` again, or check from a machine it lists", said.trim()),
            StepError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StepError {}

impl From<super::Error> for StepError {
    fn from(e: super::Error) -> Self {
        StepError::Talk("", e)
    }
}

fn failed(why: impl Into<String>) -> StepError {
    StepError::Failed(why.into())
}

/// The whole check: each step timed, stopping at the first one that later steps need.
pub async fn run(
    target: Target,
    password: &Secret,
    notebooks: &[String],
    notebook_timeout: Duration,
) -> Report {
    let mut report = Report {
        ok: true,
        steps: Vec::new(),
    };
    let t = Instant::now();
    let mut client = match Client::new(target) {
        Ok(client) => client,
        Err(e) => {
            report.record("login", t, Err(e));
            return report;
        }
    };
    let login = client.login(password).await;
    if !report.record("login", t, login) {
        return report;
    }

    let t = Instant::now();
    let kernel_id = match client.start_kernel("python3", "").await {
        Ok(id) => {
            report.push("start kernel", t, Ok(format!("kernel {id}")));
            id
        }
        Err(e) => {
            report.record("start kernel", t, Err(e));
            return report;
        }
    };

    let t = Instant::now();
    // Bounded like a notebook: a lab that accepts the code and never answers must not
    // hold the check forever.
    let executed = match tokio::time::timeout(
        notebook_timeout,
        execute_probe(&mut client, &kernel_id),
    )
    .await
    {
        Ok(executed) => executed,
        Err(_) => Err(too_slow(notebook_timeout)),
    };
    report.record("execute code", t, executed);

    let t = Instant::now();
    let shutdown = client.shutdown_kernel(&kernel_id).await;
    report.record("shut down kernel", t, shutdown);

    for notebook in notebooks {
        let t = Instant::now();
        let result = run_notebook(&mut client, notebook, notebook_timeout).await;
        report.record(format!("notebook {notebook}"), t, result);
    }
    report
}

/// Runs arithmetic whose answer the kernel cannot have cached, and checks the answer.
async fn execute_probe(client: &mut Client, kernel_id: &str) -> Result<String, StepError> {
    let mut ab = [0u8; 2];
    getrandom::fill(&mut ab).map_err(|e| failed(format!("no randomness for the probe: {e}")))?;
    let [a, b] = ab;
    let (a, b) = (u32::from(a) + 1000, u32::from(b) + 1000);
    let expected = (a * b).to_string();
    let mut kernel = client.channels(kernel_id).await?;
    let result = kernel.execute(&format!("print({a} * {b})"), true).await;
    kernel.close().await;
    let execution = result?;
    if let Some(error) = execution.error {
        return Err(failed(format!("the code raised {error}")));
    }
    if execution.output.trim() == expected {
        Ok(format!("print({a} * {b}) gave {expected}"))
    } else {
        Err(failed(format!(
            "print({a} * {b}) gave {:?}, expected {expected}",
            execution.output.trim()
        )))
    }
}

/// Runs a notebook's code cells in order in a fresh kernel started in its directory,
/// and shuts that kernel down however it went. Cell tags work as nbclient (and so
/// `jupyter nbconvert --execute`) reads them: `raises-exception` expects the cell's
/// error and goes on, `skip-execution` skips the cell.
async fn run_notebook(
    client: &mut Client,
    path: &str,
    timeout: Duration,
) -> Result<String, StepError> {
    let notebook = client.notebook(path).await?;
    let kernel_name = notebook["metadata"]["kernelspec"]["name"]
        .as_str()
        .unwrap_or("python3")
        .to_string();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    let id = client.start_kernel(&kernel_name, dir).await?;
    let mut kernel = client.channels(&id).await?;
    let cells = async {
        let cells = notebook["cells"].as_array().cloned().unwrap_or_default();
        let mut ran = Ran::default();
        for (index, cell) in cells.iter().enumerate() {
            if cell["cell_type"] != "code" {
                continue;
            }
            let source = match &cell["source"] {
                Value::Array(lines) => lines.iter().filter_map(Value::as_str).collect::<String>(),
                other => other.as_str().unwrap_or("").to_string(),
            };
            if source.trim().is_empty() {
                continue;
            }
            let tagged = |tag: &str| {
                cell["metadata"]["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|t| t == tag))
            };
            if tagged(SKIP) {
                ran.skipped += 1;
                continue;
            }
            let expects_error = tagged(RAISES);
            ran.cells += 1;
            let label = |line: Option<usize>| {
                let lines: Vec<&str> = source.lines().collect();
                let quoted = line
                    .and_then(|n| lines.get(n.checked_sub(1)?))
                    .filter(|l| !l.trim().is_empty());
                match (line, quoted) {
                    (Some(n), Some(text)) => {
                        format!(
                            "cell {}, line {n} ({})",
                            index + 1,
                            excerpt(text.trim(), 60)
                        )
                    }
                    _ => format!(
                        "cell {} ({})",
                        index + 1,
                        excerpt(lines.first().copied().unwrap_or("").trim(), 60)
                    ),
                }
            };
            match kernel.execute(&source, !expects_error).await {
                Ok(Execution { error: Some(_), .. }) if expects_error => ran.expected_errors += 1,
                Ok(Execution {
                    error: Some(error),
                    count,
                    ..
                }) => {
                    let line = failing_line(&error, count);
                    return Err(failed(format!("{} raised {error}", label(line))));
                }
                Ok(_) => {}
                Err(e) => return Err(failed(format!("{}: {e}", label(None)))),
            }
        }
        Ok(ran.to_string())
    };
    let outcome = match tokio::time::timeout(timeout, cells).await {
        Ok(outcome) => outcome,
        Err(_) => Err(too_slow(timeout)),
    };
    kernel.close().await;
    let _ = client.shutdown_kernel(&id).await;
    outcome
}

/// The cell tag whose cell's error is expected: the notebook goes on after it.
const RAISES: &str = "raises-exception";
/// The cell tag whose cell is not run.
const SKIP: &str = "skip-execution";

/// What a notebook's run did, said as its step's detail.
#[derive(Debug, Default)]
struct Ran {
    cells: usize,
    expected_errors: usize,
    skipped: usize,
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cells {
            1 => f.write_str("1 code cell ran")?,
            n => write!(f, "{n} code cells ran")?,
        }
        match self.expected_errors {
            0 => {}
            1 => write!(f, "; 1 raised, as its `{RAISES}` tag expects")?,
            n => write!(f, "; {n} raised, as their `{RAISES}` tags expect")?,
        }
        match self.skipped {
            0 => Ok(()),
            n => write!(f, "; {n} skipped (`{SKIP}`)"),
        }
    }
}

/// The line of the cell that raised, 1-based, from the traceback of its execution
/// `count`: IPython names the cell `Cell In[3], line 2` (IPython 8 and later; also for
/// a syntax error), or marks the line `----> 2` in the cell's frame, the first one
/// (IPython 7). Other kernels' tracebacks give none.
fn failing_line(traceback: &str, count: Option<u64>) -> Option<usize> {
    let named = traceback.lines().find_map(|line| {
        let (_, rest) = line.split_once("Cell In[")?;
        let (n, rest) = rest.split_once("], line ")?;
        if count.is_some_and(|count| n.parse() != Ok(count)) {
            return None;
        }
        leading_number(rest)
    });
    named.or_else(|| {
        traceback
            .lines()
            .find_map(|line| leading_number(line.trim_start().strip_prefix("---->")?.trim_start()))
    })
}

fn leading_number(text: &str) -> Option<usize> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

fn too_slow(timeout: Duration) -> StepError {
    failed(format!(
        "did not finish within {} s (raise check.timeout in rjup.yaml, or pass --notebook-timeout)",
        timeout.as_secs()
    ))
}

fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cell_count_is_worded_for_one_and_many() {
        let ran = |cells, expected_errors, skipped| {
            Ran {
                cells,
                expected_errors,
                skipped,
            }
            .to_string()
        };
        assert_eq!(ran(0, 0, 0), "0 code cells ran");
        assert_eq!(ran(1, 0, 0), "1 code cell ran");
        assert_eq!(ran(3, 0, 0), "3 code cells ran");
        assert_eq!(
            ran(3, 1, 0),
            "3 code cells ran; 1 raised, as its `raises-exception` tag expects"
        );
        assert_eq!(
            ran(3, 2, 1),
            "3 code cells ran; 2 raised, as their `raises-exception` tags expect; 1 skipped (`skip-execution`)"
        );
    }

    #[test]
    fn the_failing_line_is_read_from_the_cells_own_frame() {
        // IPython 8: the cell's frame first, then the function's, defined in cell 1.
        let traceback = "ValueError: no\n\
            ---------------------------------------------------------------------------\n\
            ValueError                                Traceback (most recent call last)\n\
            Cell In[4], line 3\n      1 x = 1\n      2 y = 2\n----> 3 f(x)\n\n\
            Cell In[1], line 2, in f(x)\n      1 def f(x):\n----> 2     raise ValueError('no')\n\n\
            ValueError: no";
        assert_eq!(failing_line(traceback, Some(4)), Some(3));
        assert_eq!(failing_line(traceback, None), Some(3));
        // A syntax error has no arrow.
        let syntax = "SyntaxError: incomplete input (1234.py, line 2)\n  Cell In[7], line 2\n    x = (\n        ^\nSyntaxError: incomplete input";
        assert_eq!(failing_line(syntax, Some(7)), Some(2));
        // IPython 7 names the cell by a file; the first arrow is the cell's.
        let old = "ZeroDivisionError: division by zero\n<ipython-input-2-abc> in <module>\n      1 a = 1\n----> 2 a / 0\n";
        assert_eq!(failing_line(old, Some(2)), Some(2));
        assert_eq!(
            failing_line("Error: boom\nat <anonymous>:1:7", Some(1)),
            None
        );
    }

    use crate::lab_client::tests::{reply, serve};

    /// Enough of Jupyter for login and kernels: `_xsrf` on the login page, a login
    /// cookie for the right form, and kernel start and shutdown for a logged-in session.
    /// The kernel's WebSocket upgrade answers a wrong `Sec-WebSocket-Accept`.
    fn fake_jupyter(request: &str) -> Vec<u8> {
        let cookies = request
            .lines()
            .find_map(|l| l.strip_prefix("cookie: "))
            .unwrap_or("");
        let xsrf = cookies.split("; ").any(|c| c == "_xsrf=tok")
            && request.contains("x-xsrftoken: tok\r\n");
        let logged_in = xsrf && cookies.split("; ").any(|c| c == "login=yes");
        let line = request.lines().next().unwrap_or("");
        match line.split(' ').take(2).collect::<Vec<_>>()[..] {
            ["GET", "/login"] => reply("200 OK", &["Set-Cookie: _xsrf=tok; Path=/"], "<form>"),
            ["POST", "/login"] if !request.ends_with("_xsrf=tok&password=s3+cr%26t") => {
                reply("401 Unauthorized", &[], "")
            }
            ["POST", "/login"] if xsrf => reply(
                "302 Found",
                &["Location: /lab", "Set-Cookie: login=yes; Path=/; HttpOnly"],
                "",
            ),
            ["POST", "/api/kernels"] if logged_in => reply("201 Created", &[], r#"{"id": "k1"}"#),
            ["DELETE", "/api/kernels/k1"] if logged_in => reply("204 No Content", &[], ""),
            ["GET", path] if path.starts_with("/api/kernels/k1/channels?session_id=") => {
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n".to_vec()
            }
            ["GET", "/api/contents/my%20dir/a%20b.ipynb?type=notebook&content=1"] if logged_in => {
                reply("200 OK", &[], r#"{"content": {"cells": []}}"#)
            }
            _ => reply("403 Forbidden", &[], "no"),
        }
    }

    fn secret(text: &str) -> Secret {
        Secret::new(text.to_string()).unwrap()
    }

    #[tokio::test]
    async fn login_posts_the_form_with_the_xsrf_token_and_keeps_the_cookies() {
        let addr = serve(fake_jupyter).await;
        let mut client = Client::new(Target::plain(addr)).unwrap();
        let login = client.login(&secret("s3 cr&t")).await.unwrap();
        assert_eq!(login, "logged in (HTTP 302 to /lab)");
        assert_eq!(client.start_kernel("python3", "").await.unwrap(), "k1");
        let notebook = client.notebook("my dir/a b.ipynb").await.unwrap();
        assert_eq!(notebook["cells"], json!([]));
    }

    #[tokio::test]
    async fn a_refused_password_says_how_to_fix_it() {
        let addr = serve(fake_jupyter).await;
        let mut client = Client::new(Target::plain(addr)).unwrap();
        let e = client.login(&secret("wrong")).await.unwrap_err();
        assert!(matches!(e, StepError::WrongPassword));
        assert!(e.to_string().contains("RJUP_PASSWORD"));
    }

    #[tokio::test]
    async fn a_wrong_websocket_accept_fails_the_execute_step_only() {
        let addr = serve(fake_jupyter).await;
        let report = run(
            Target::plain(addr),
            &secret("s3 cr&t"),
            &[],
            Duration::from_secs(10),
        )
        .await;
        let steps: Vec<(&str, bool)> = report
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.ok))
            .collect();
        assert_eq!(
            steps,
            [
                ("login", true),
                ("start kernel", true),
                ("execute code", false),
                ("shut down kernel", true)
            ]
        );
        assert!(!report.ok);
        let detail = &report.steps[2].detail;
        assert!(
            detail.starts_with("opening the kernel's WebSocket: ws://"),
            "{detail}"
        );
        assert!(detail.contains("Sec-WebSocket-Accept"), "{detail}");
    }
}
