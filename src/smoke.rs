//! `rjup check`'s smoke test of a running lab, from the outside and the way a browser
//! and JupyterLab use it: log in, start a kernel, run code over the kernel's WebSocket
//! (Jupyter messaging protocol 5.3), shut it down, and run notebooks inside the lab.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::http::{self, Target};
use crate::password::Secret;
use crate::websocket::WebSocket;

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
}

/// A browser session: cookies, and the `_xsrf` token Jupyter wants echoed back.
pub struct Client {
    target: Target,
    cookies: BTreeMap<String, String>,
}

impl Client {
    pub fn new(target: Target) -> Self {
        Client {
            target,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn xsrf(&self) -> String {
        self.cookies.get("_xsrf").cloned().unwrap_or_default()
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<http::Response, String> {
        let mut headers = vec![
            ("Cookie", self.cookie_header()),
            ("X-XSRFToken", self.xsrf()),
        ];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct.to_string()));
        }
        let response = http::request(&self.target, method, path, &headers, body, REQUEST_TIMEOUT)
            .await
            .map_err(|e| format!("{method} {}{path}: {e}", self.target))?;
        for cookie in response.headers_named("Set-Cookie") {
            if let Some((name, rest)) = cookie.split_once('=') {
                let value = rest.split(';').next().unwrap_or("").trim_matches('"');
                self.cookies
                    .insert(name.trim().to_string(), value.to_string());
            }
        }
        Ok(response)
    }

    async fn json(
        &mut self,
        method: &str,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Result<Value, String> {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let r = self
            .send(method, path, Some("application/json"), &bytes)
            .await?;
        if r.status != expect {
            return Err(format!(
                "{method} {path} answered HTTP {} (expected {expect}): {}",
                r.status,
                excerpt(&r.text(), 300)
            ));
        }
        if r.body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&r.body)
            .map_err(|e| format!("{method} {path} returned no JSON: {e}"))
    }

    /// The login form, as a browser submits it.
    pub async fn login(&mut self, password: &Secret) -> Result<String, String> {
        let page = self.send("GET", "/login", None, &[]).await?;
        if page.status != 200 {
            return Err(format!("GET /login answered HTTP {}", page.status));
        }
        if self.xsrf().is_empty() {
            return Err("the login page set no _xsrf cookie".into());
        }
        let form = http::form_encode(&[("_xsrf", &self.xsrf()), ("password", password.expose())]);
        let r = self
            .send(
                "POST",
                "/login",
                Some("application/x-www-form-urlencoded"),
                form.as_bytes(),
            )
            .await?;
        match r.status {
            302 => Ok(format!("logged in (HTTP 302 to {})", r.header("Location").unwrap_or("/"))),
            401 => Err("the lab refused the password (HTTP 401); check RJUP_PASSWORD or --password-stdin, or set a new one with `rjup password`".into()),
            other => Err(format!("POST /login answered HTTP {other}")),
        }
    }

    pub async fn start_kernel(&mut self, name: &str, path: &str) -> Result<String, String> {
        let kernel = self
            .json(
                "POST",
                "/api/kernels",
                Some(json!({"name": name, "path": path})),
                201,
            )
            .await?;
        kernel["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "the lab returned a kernel without an id".into())
    }

    pub async fn shutdown_kernel(&mut self, id: &str) -> Result<String, String> {
        self.json("DELETE", &format!("/api/kernels/{id}"), None, 204)
            .await?;
        Ok(format!("kernel {id} shut down"))
    }

    pub async fn channels(&mut self, id: &str) -> Result<Kernel, String> {
        let session = uuid();
        let path = format!("/api/kernels/{id}/channels?session_id={session}");
        let headers = [("Cookie", self.cookie_header())];
        let ws = WebSocket::connect(&self.target, &path, &headers)
            .await
            .map_err(|e| format!("opening the kernel's WebSocket: {e}"))?;
        Ok(Kernel { ws, session })
    }

    pub async fn notebook(&mut self, path: &str) -> Result<Value, String> {
        let encoded: String = path
            .split('/')
            .map(|p| http::form_encode(&[("", p)])[1..].replace('+', "%20"))
            .collect::<Vec<_>>()
            .join("/");
        let model = self
            .json(
                "GET",
                &format!("/api/contents/{encoded}?type=notebook&content=1"),
                None,
                200,
            )
            .await?;
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

impl Kernel {
    /// Runs `code` and collects what it printed; fails if the kernel dies meanwhile.
    pub async fn execute(&mut self, code: &str) -> Result<Execution, String> {
        let msg_id = uuid();
        let message = json!({
            "header": {
                "msg_id": msg_id,
                "username": "rjup",
                "session": self.session,
                "msg_type": "execute_request",
                "version": "5.3",
                "date": "1970-01-01T00:00:00.000000Z",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": false,
                "store_history": false,
                "user_expressions": {},
                "allow_stdin": false,
                "stop_on_error": true,
            },
            "channel": "shell",
            "buffers": [],
        });
        self.ws
            .send_text(&message.to_string())
            .await
            .map_err(|e| format!("sending code to the kernel: {e}"))?;
        let mut execution = Execution::default();
        let (mut idle, mut replied) = (false, false);
        while !(idle && replied) {
            let Some(text) = self
                .ws
                .recv()
                .await
                .map_err(|e| format!("reading from the kernel: {e}"))?
            else {
                return Err("the kernel's WebSocket closed: the kernel died".into());
            };
            let Ok(msg) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let msg_type = msg["header"]["msg_type"].as_str().unwrap_or("");
            let content = &msg["content"];
            if msg_type == "status"
                && matches!(
                    content["execution_state"].as_str(),
                    Some("restarting" | "dead" | "autorestarting")
                )
            {
                return Err(format!(
                    "the kernel died ({}) while running the code",
                    content["execution_state"].as_str().unwrap_or("")
                ));
            }
            if msg["parent_header"]["msg_id"].as_str() != Some(msg_id.as_str()) {
                continue;
            }
            match (msg["channel"].as_str().unwrap_or(""), msg_type) {
                ("iopub", "stream") => execution
                    .output
                    .push_str(content["text"].as_str().unwrap_or("")),
                ("iopub", "execute_result" | "display_data") => {
                    if let Some(text) = content["data"]["text/plain"].as_str() {
                        execution.output.push_str(text);
                        execution.output.push('\n');
                    }
                }
                ("iopub", "error") => {
                    let traceback: Vec<String> = content["traceback"]
                        .as_array()
                        .map(|t| {
                            t.iter()
                                .filter_map(|l| l.as_str())
                                .map(strip_ansi)
                                .collect()
                        })
                        .unwrap_or_default();
                    execution.error = Some(format!(
                        "{}: {}\n{}",
                        content["ename"].as_str().unwrap_or("Error"),
                        content["evalue"].as_str().unwrap_or(""),
                        traceback.join("\n")
                    ));
                }
                ("iopub", "status") if content["execution_state"] == "idle" => idle = true,
                ("shell", "execute_reply") => replied = true,
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
    let mut client = Client::new(target);

    let t = Instant::now();
    let login = client.login(password).await;
    if !report.push("login", t, login) {
        return report;
    }

    let t = Instant::now();
    let kernel_id = match client.start_kernel("python3", "").await {
        Ok(id) => {
            report.push("start kernel", t, Ok(format!("kernel {id}")));
            id
        }
        Err(e) => {
            report.push("start kernel", t, Err(e));
            return report;
        }
    };

    let t = Instant::now();
    let executed = execute_probe(&mut client, &kernel_id).await;
    report.push("execute code", t, executed);

    let t = Instant::now();
    let shutdown = client.shutdown_kernel(&kernel_id).await;
    report.push("shut down kernel", t, shutdown);

    for notebook in notebooks {
        let t = Instant::now();
        let result = run_notebook(&mut client, notebook, notebook_timeout).await;
        report.push(format!("notebook {notebook}"), t, result);
    }
    report
}

/// Runs arithmetic whose answer the kernel cannot have cached, and checks the answer.
async fn execute_probe(client: &mut Client, kernel_id: &str) -> Result<String, String> {
    let [a, b] = crate::state::random_bytes::<2>().map_err(|e| e.to_string())?;
    let (a, b) = (u32::from(a) + 1000, u32::from(b) + 1000);
    let expected = (a * b).to_string();
    let mut kernel = client.channels(kernel_id).await?;
    let result = kernel.execute(&format!("print({a} * {b})")).await;
    kernel.close().await;
    let execution = result?;
    if let Some(error) = execution.error {
        return Err(format!("the code raised {error}"));
    }
    if execution.output.trim() == expected {
        Ok(format!("print({a} * {b}) gave {expected}"))
    } else {
        Err(format!(
            "print({a} * {b}) gave {:?}, expected {expected}",
            execution.output.trim()
        ))
    }
}

/// Runs a notebook's code cells in order in a fresh kernel started in its directory,
/// and shuts that kernel down however it went.
async fn run_notebook(
    client: &mut Client,
    path: &str,
    timeout: Duration,
) -> Result<String, String> {
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
                }) => return Err(format!("{label} raised {error}")),
                Ok(_) => {}
                Err(e) => return Err(format!("{label}: {e}")),
            }
        }
        Ok(format!("{ran} code cells ran"))
    };
    let outcome = match tokio::time::timeout(timeout, cells).await {
        Ok(outcome) => outcome,
        Err(_) => Err(format!(
            "did not finish within {} s (raise check.timeout in rjup.yaml, or pass --notebook-timeout)",
            timeout.as_secs()
        )),
    };
    kernel.close().await;
    let _ = client.shutdown_kernel(&id).await;
    outcome
}

fn uuid() -> String {
    let b = crate::state::random_bytes::<16>().unwrap_or_default();
    let h = crate::state::hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Tracebacks come coloured for terminals; reports want plain text.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip to the end of a CSI sequence: a letter.
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// JUnit XML, which CI systems read as test results.
pub fn junit(report: &Report, suite: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let failures = report.steps.iter().filter(|s| !s.ok).count();
    let total: f64 = report.steps.iter().map(|s| s.seconds).sum();
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{total:.3}\">\n",
        report.steps.len(),
        esc(suite),
        report.steps.len()
    );
    for step in &report.steps {
        xml.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            esc(suite),
            esc(&step.name),
            step.seconds
        ));
        if step.ok {
            xml.push_str("/>\n");
        } else {
            let first = step.detail.lines().next().unwrap_or("");
            xml.push_str(&format!(
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                esc(first),
                esc(&step.detail)
            ));
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_colours_are_stripped_from_tracebacks() {
        assert_eq!(
            strip_ansi("\u{1b}[0;31mValueError\u{1b}[0m: boom"),
            "ValueError: boom"
        );
    }

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
        let xml = junit(&r, "rjup check demo");
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("name=\"notebook a&lt;b&gt;.ipynb\""));
        assert!(xml.contains("<failure message=\"cell 2 raised &quot;x&quot; &amp; y\">"));
    }

    #[test]
    fn uuids_have_the_usual_shape() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
    }
}
