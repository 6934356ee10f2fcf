//! Jupyter as a browser and JupyterLab use it: the login form, kernels over the REST
//! API, a kernel's channels over a WebSocket (Jupyter messaging protocol 5.3), and a
//! notebook's contents.

use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::{excerpt, failed, StepError, REQUEST_TIMEOUT};
use crate::lab_client::{Http, Target, WebSocket};
use crate::password::Secret;

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
    /// The kernel's number for this execution, `In[3]`, which tracebacks name the
    /// cell by.
    pub count: Option<u64>,
}

impl Execution {
    /// Keeps what an iopub message of `kind` says about the code's run.
    fn record(&mut self, kind: &str, content: &Value) {
        if let Some(count) = content["execution_count"].as_u64() {
            self.count = Some(count);
        }
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
fn execute_request(msg_id: &str, session: &str, code: &str, stop_on_error: bool) -> Value {
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
            "stop_on_error": stop_on_error,
        },
        "channel": "shell",
        "buffers": [],
    })
}

impl Kernel {
    /// Runs `code` and collects what it printed; fails if the kernel dies meanwhile.
    /// `stop_on_error` as nbclient sets it: off for a cell whose error is expected, so
    /// that the kernel runs what is sent after it.
    pub async fn execute(
        &mut self,
        code: &str,
        stop_on_error: bool,
    ) -> Result<Execution, StepError> {
        let msg_id = uuid();
        let request = execute_request(&msg_id, &self.session, code, stop_on_error);
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
                ("shell", "execute_reply") => {
                    execution.count = content["execution_count"].as_u64().or(execution.count);
                    replied = true;
                }
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

/// A random (version 4) UUID, as Jupyter's own clients name sessions and messages.
fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executions_are_stored_so_the_kernel_numbers_them() {
        let request = execute_request("m", "s", "1/0", true);
        assert_eq!(request["content"]["store_history"], true);
        assert_eq!(request["content"]["stop_on_error"], true);
        let expected = execute_request("m", "s", "1/0", false);
        assert_eq!(expected["content"]["stop_on_error"], false);
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
}
