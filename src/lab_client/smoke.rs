//! `rjup check`'s smoke test of a running lab, from the outside and the way a browser
//! and JupyterLab use it: log in, start a kernel, run code over the kernel's WebSocket
//! (Jupyter messaging protocol 5.3), shut it down, and run notebooks inside the lab.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::{Http, Target, WebSocket};
use crate::password::Secret;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub name: String,
    pub ok: bool,
    pub seconds: f64,
    /// What went wrong, or what was seen when it went right.
    pub detail: String,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub ok: bool,
    pub steps: Vec<Step>,
}

impl Report {
    pub fn push(
        &mut self,
        name: impl Into<String>,
        started: Instant,
        result: Result<String, String>,
    ) -> bool {
        let ok = result.is_ok();
        self.steps.push(Step {
            name: name.into(),
            ok,
            seconds: (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            detail: result.unwrap_or_else(|e| e),
        });
        self.ok = self.steps.iter().all(|s| s.ok);
        ok
    }

    fn record(
        &mut self,
        name: impl Into<String>,
        started: Instant,
        result: Result<String, StepError>,
    ) -> bool {
        self.push(name, started, result.map_err(|e| e.to_string()))
    }
}

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

/// A browser session: the cookie jar lives in [`Http`]; Jupyter wants its `_xsrf`
/// cookie echoed back in a header.
pub struct Client {
    http: Http,
}

impl Client {
    pub fn new(target: Target) -> Result<Self, StepError> {
        Ok(Client {
            http: Http::new(target, REQUEST_TIMEOUT)?,
        })
    }

    fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        let request = self.http.request(method, url);
        match self.http.cookie("_xsrf") {
            Some(xsrf) => request.header("X-XSRFToken", xsrf),
            None => request,
        }
    }

    async fn json(
        &mut self,
        method: Method,
        url: Url,
        body: Option<Value>,
        expect: u16,
    ) -> Result<Value, StepError> {
        let path = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let mut request = self
            .request(method.clone(), url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let r = self.http.send(request).await?;
        if r.status != expect {
            return Err(failed(format!(
                "{method} {path} answered HTTP {} (expected {expect}): {}",
                r.status,
                excerpt(&r.text(), 300)
            )));
        }
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&r.body)
            .map_err(|e| failed(format!("{method} {path} returned no JSON: {e}")))
    }

    fn url(&self, path: &str) -> Result<Url, StepError> {
        Ok(self.http.target().url(path)?)
    }

    /// The login form, as a browser submits it.
    pub async fn login(&mut self, password: &Secret) -> Result<String, StepError> {
        let url = self.url("/login")?;
        let page = self
            .http
            .send(self.request(Method::GET, url.clone()))
            .await?;
        if page.refused {
            return Err(StepError::Refused(excerpt(&page.text(), 200)));
        }
        if page.status != 200 {
            return Err(failed(format!("GET /login answered HTTP {}", page.status)));
        }
        let Some(xsrf) = self.http.cookie("_xsrf").filter(|x| !x.is_empty()) else {
            return Err(failed("the login page set no _xsrf cookie"));
        };
        let form = [("_xsrf", xsrf.as_str()), ("password", password.expose())];
        let r = self
            .http
            .send(self.request(Method::POST, url).form(&form))
            .await?;
        match r.status {
            302 => Ok(format!(
                "logged in (HTTP 302 to {})",
                r.location.as_deref().unwrap_or("/")
            )),
            401 => Err(StepError::WrongPassword),
            other => Err(failed(format!("POST /login answered HTTP {other}"))),
        }
    }

    pub async fn start_kernel(&mut self, name: &str, path: &str) -> Result<String, StepError> {
        let url = self.url("/api/kernels")?;
        let kernel = self
            .json(
                Method::POST,
                url,
                Some(json!({"name": name, "path": path})),
                201,
            )
            .await?;
        kernel["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| failed("the lab returned a kernel without an id"))
    }

    pub async fn shutdown_kernel(&mut self, id: &str) -> Result<String, StepError> {
        let url = self.url(&format!("/api/kernels/{id}"))?;
        self.json(Method::DELETE, url, None, 204).await?;
        Ok(format!("kernel {id} shut down"))
    }

    pub async fn channels(&mut self, id: &str) -> Result<Kernel, StepError> {
        let session = uuid();
        let path = format!("/api/kernels/{id}/channels?session_id={session}");
        let ws = self
            .http
            .websocket(&path)
            .await
            .map_err(|e| StepError::Talk("opening the kernel's WebSocket", e))?;
        Ok(Kernel { ws, session })
    }

    pub async fn notebook(&mut self, path: &str) -> Result<Value, StepError> {
        let mut url = self.url("/api/contents")?;
        // Each segment percent-encoded, as a browser would: notebook names have spaces.
        url.path_segments_mut()
            .map_err(|()| failed("the lab's URL cannot hold a notebook path"))?
            .extend(path.split('/'));
        url.set_query(Some("type=notebook&content=1"));
        let model = self.json(Method::GET, url, None, 200).await?;
        Ok(model["content"].clone())
    }
}

/// One kernel's channels over a WebSocket.
pub struct Kernel {
    ws: WebSocket,
    session: String,
}

#[derive(Debug, Default)]
pub struct Execution {
    pub output: String,
    /// `ename: evalue` and the traceback, when the code raised.
    pub error: Option<String>,
}

impl Execution {
    /// Keeps what an iopub message of `kind` says about the code's run.
    fn record(&mut self, kind: &str, content: &Value) {
        match kind {
            "stream" => self.output.push_str(content["text"].as_str().unwrap_or("")),
            "execute_result" | "display_data" => {
                if let Some(text) = content["data"]["text/plain"].as_str() {
                    self.output.push_str(text);
                    self.output.push('\n');
                }
            }
            "error" => {
                let traceback: Vec<String> = content["traceback"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(Value::as_str)
                            .map(strip_ansi_escapes::strip_str)
                            .collect()
                    })
                    .unwrap_or_default();
                self.error = Some(format!(
                    "{}: {}\n{}",
                    content["ename"].as_str().unwrap_or("Error"),
                    content["evalue"].as_str().unwrap_or(""),
                    traceback.join("\n")
                ));
            }
            _ => {}
        }
    }
}

/// A Jupyter messaging protocol 5.3 `execute_request` on the shell channel.
fn execute_request(msg_id: &str, session: &str, code: &str) -> Value {
    json!({
        "header": {
            "msg_id": msg_id,
            "username": "rjup",
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": "1970-01-01T00:00:00.000000Z",
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": false,
            // The kernel numbers only stored executions, and tracebacks name the cell by
            // that number: `Cell In[3]` for the third cell, as a person running it sees.
            "store_history": true,
            "user_expressions": {},
            "allow_stdin": false,
            "stop_on_error": true,
        },
        "channel": "shell",
        "buffers": [],
    })
}

impl Kernel {
    /// Runs `code` and collects what it printed; fails if the kernel dies meanwhile.
    pub async fn execute(&mut self, code: &str) -> Result<Execution, StepError> {
        let msg_id = uuid();
        let request = execute_request(&msg_id, &self.session, code);
        self.ws
            .send_text(request.to_string())
            .await
            .map_err(|e| StepError::Talk("sending code to the kernel", e))?;
        let mut execution = Execution::default();
        let (mut idle, mut replied) = (false, false);
        while !(idle && replied) {
            let Some(text) = self
                .ws
                .recv()
                .await
                .map_err(|e| StepError::Talk("reading from the kernel", e))?
            else {
                return Err(failed("the kernel's WebSocket closed: the kernel died"));
            };
            let Ok(msg) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let msg_type = msg["header"]["msg_type"].as_str().unwrap_or("");
            let content = &msg["content"];
            if let (Some(state @ ("restarting" | "dead" | "autorestarting")), "status") =
                (content["execution_state"].as_str(), msg_type)
            {
                return Err(failed(format!(
                    "the kernel died ({state}) while running the code"
                )));
            }
            if msg["parent_header"]["msg_id"].as_str() != Some(msg_id.as_str()) {
                continue;
            }
            match (msg["channel"].as_str().unwrap_or(""), msg_type) {
                ("iopub", "status") if content["execution_state"] == "idle" => idle = true,
                ("shell", "execute_reply") => replied = true,
                ("iopub", kind) => execution.record(kind, content),
                _ => {}
            }
        }
        Ok(execution)
    }

    pub async fn close(self) {
        self.ws.close().await;
    }
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
    let result = kernel.execute(&format!("print({a} * {b})")).await;
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
/// and shuts that kernel down however it went.
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
        let mut ran = 0;
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
            ran += 1;
            let label = format!(
                "cell {} ({})",
                index + 1,
                excerpt(source.lines().next().unwrap_or(""), 60)
            );
            match kernel.execute(&source).await {
                Ok(Execution {
                    error: Some(error), ..
                }) => return Err(failed(format!("{label} raised {error}"))),
                Ok(_) => {}
                Err(e) => return Err(failed(format!("{label}: {e}"))),
            }
        }
        Ok(cells_ran(ran))
    };
    let outcome = match tokio::time::timeout(timeout, cells).await {
        Ok(outcome) => outcome,
        Err(_) => Err(too_slow(timeout)),
    };
    kernel.close().await;
    let _ = client.shutdown_kernel(&id).await;
    outcome
}

fn cells_ran(n: usize) -> String {
    match n {
        1 => "1 code cell ran".to_string(),
        n => format!("{n} code cells ran"),
    }
}

fn too_slow(timeout: Duration) -> StepError {
    failed(format!(
        "did not finish within {} s (raise check.timeout in rjup.yaml, or pass --notebook-timeout)",
        timeout.as_secs()
    ))
}

/// A random (version 4) UUID, as Jupyter's own clients name sessions and messages.
fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// JUnit XML, which CI systems read as test results.
pub fn junit(report: &Report, suite: &str) -> anyhow::Result<String> {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    // A hand-edited report could hold a negative time; that is no reason to fail.
    let time = |seconds: f64| Duration::try_from_secs_f64(seconds).unwrap_or_default();
    let mut cases = TestSuite::new(suite);
    for step in &report.steps {
        let status = if step.ok {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status
                .set_message(step.detail.lines().next().unwrap_or(""))
                .set_description(step.detail.as_str());
            status
        };
        let mut case = TestCase::new(step.name.as_str(), status);
        case.set_classname(suite).set_time(time(step.seconds));
        cases.add_test_case(case);
    }
    let total = time(report.steps.iter().map(|s| s.seconds).sum());
    cases.set_time(total);
    let mut xml = quick_junit::Report::new(suite);
    xml.set_time(total).add_test_suite(cases);
    Ok(xml.to_string()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_ok_only_when_every_step_is() {
        let mut r = Report {
            ok: true,
            steps: vec![],
        };
        r.push("login", Instant::now(), Ok("in".into()));
        assert!(r.ok);
        r.push("execute code", Instant::now(), Err("boom".into()));
        assert!(!r.ok);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["steps"][1]["name"], "execute code");
        assert!(v["steps"][0]["seconds"].is_number());
    }

    #[test]
    fn junit_marks_failures_and_escapes_text() {
        let mut r = Report {
            ok: true,
            steps: vec![],
        };
        r.push("login", Instant::now(), Ok("in".into()));
        r.push(
            "notebook a<b>.ipynb",
            Instant::now(),
            Err("cell 2 raised \"x\" & y".into()),
        );
        r.push(
            "execute code",
            Instant::now(),
            Err("the kernel said \u{1b}[31mno\u{1b}[0m\u{0}\u{7}".into()),
        );
        let xml = junit(&r, "rjup check demo").unwrap();
        assert!(xml.contains("tests=\"3\""), "{xml}");
        assert!(xml.contains("failures=\"2\""), "{xml}");
        assert!(xml.contains("name=\"notebook a&lt;b&gt;.ipynb\""), "{xml}");
        assert!(
            xml.contains("<failure message=\"cell 2 raised &quot;x&quot; &amp; y\">"),
            "{xml}"
        );
        // XML 1.0 cannot carry control characters at all, escaped or not.
        assert!(xml.contains("the kernel said no"), "{xml}");
        assert!(!xml.contains('\u{7}') && !xml.contains('\u{0}') && !xml.contains('\u{1b}'));
    }

    #[test]
    fn the_cell_count_is_worded_for_one_and_many() {
        assert_eq!(cells_ran(0), "0 code cells ran");
        assert_eq!(cells_ran(1), "1 code cell ran");
        assert_eq!(cells_ran(3), "3 code cells ran");
    }

    #[test]
    fn executions_are_stored_so_the_kernel_numbers_them() {
        let request = execute_request("m", "s", "1/0");
        assert_eq!(request["content"]["store_history"], true);
    }

    #[test]
    fn uuids_have_the_usual_shape() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(&u[14..15], "4", "a version 4 UUID: {u}");
        assert!(
            matches!(&u[19..20], "8" | "9" | "a" | "b"),
            "the RFC 4122 variant: {u}"
        );
        assert_ne!(uuid(), u);
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
