//! `rjup check --url` against servers that lie or never stop: each must end in a clear
//! reason and exit code 12, never a panic or a hang. No Docker needed: the "lab" is a
//! fake server thread in this test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};

const PASSWORD: &str = "hostile-test-password";

/// Serves every connection on its own thread with `answer(request line, stream)`.
fn fake_lab(answer: fn(&str, &mut TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let line = read_request(&mut stream);
                answer(&line, &mut stream);
            });
        }
    });
    port
}

/// Reads one request, head and body, and returns its request line.
fn read_request(stream: &mut TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let _ = reader.take(length).read_to_end(&mut Vec::new());
    first.trim_end().to_string()
}

fn reply(stream: &mut TcpStream, status: &str, headers: &[&str], body: &str) {
    let mut text = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for header in headers {
        text.push_str(&format!("{header}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let _ = stream.write_all(text.as_bytes());
}

/// `rjup check --url http://127.0.0.1:PORT` in an empty project with its own state.
fn check(port: u16, extra: &[&str]) -> (Output, tempfile::TempDir) {
    let temp = tempfile::tempdir().unwrap();
    let project = temp.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let output = Command::new(env!("CARGO_BIN_EXE_rjup"))
        .arg("-C")
        .arg(&project)
        .args(["check", "--url", &url])
        .args(extra)
        .env("RJUP_PASSWORD", PASSWORD)
        .env("XDG_STATE_HOME", temp.path().join("state"))
        // Neither a Docker engine nor a proxy may be involved in reaching --url.
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("http_proxy", "http://127.0.0.1:9")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (output, temp)
}

/// Exit code 12, no panic, and the failed step's line saying `reason`.
fn assert_check_failed(output: &Output, step: &str, reason: &str) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(output.status.code(), Some(12), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    assert!(
        stderr.contains(&format!("the check failed at: {step}")),
        "{all}"
    );
    if stdout.trim_start().starts_with('{') {
        return;
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL") && l.contains(step))
        .unwrap_or_else(|| panic!("no FAIL line for {step}: {all}"));
    assert!(line.contains(reason), "{all}");
}

#[test]
fn a_huge_content_length_fails_the_check_cleanly() {
    let port = fake_lab(|_, stream| {
        let head = "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc";
        let _ = stream.write_all(head.as_bytes());
    });
    let (output, _temp) = check(port, &[]);
    assert_check_failed(
        &output,
        "login",
        &format!("GET http://127.0.0.1:{port}/login: no valid HTTP answer"),
    );
}

#[test]
fn an_endless_body_fails_the_check_at_the_size_bound() {
    let port = fake_lab(|_, stream| {
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20));
        let _ = stream.write_all(head.as_bytes());
        // Until rjup hangs up.
        while stream.write_all(chunk.as_bytes()).is_ok() {}
    });
    let (output, _temp) = check(port, &[]);
    assert_check_failed(&output, "login", "grew past 64 MiB");
}

/// Jupyter's login and kernels API, but a kernel WebSocket whose upgrade answer carries
/// the wrong `Sec-WebSocket-Accept`.
fn lab_with_a_wrong_accept(request: &str, stream: &mut TcpStream) {
    let path = request.split(' ').nth(1).unwrap_or("");
    match request.split(' ').next().unwrap_or("") {
        "GET" if path == "/login" => reply(
            stream,
            "200 OK",
            &["Set-Cookie: _xsrf=tok; Path=/"],
            "<form>",
        ),
        "POST" if path == "/login" => reply(
            stream,
            "302 Found",
            &["Location: /lab", "Set-Cookie: login=yes; Path=/"],
            "",
        ),
        "POST" if path == "/api/kernels" => reply(stream, "201 Created", &[], r#"{"id":"k1"}"#),
        "DELETE" => reply(stream, "204 No Content", &[], ""),
        "GET" if path.starts_with("/api/kernels/k1/channels") => {
            let _ = stream.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSBrZXk=\r\n\r\n");
            // Hold the connection open: the client must not wait for anything more.
            std::thread::sleep(std::time::Duration::from_secs(5));
        }
        _ => reply(stream, "404 Not Found", &[], ""),
    }
}

#[test]
fn a_wrong_websocket_accept_fails_the_execute_step() {
    let port = fake_lab(lab_with_a_wrong_accept);
    let (output, _temp) = check(port, &[]);
    assert_check_failed(
        &output,
        "execute code",
        "opening the kernel's WebSocket: ws://127.0.0.1",
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Sec-WebSocket-Accept"), "{stdout}");
    for passed in ["login", "start kernel", "shut down kernel"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok ") && l.contains(passed)),
            "{stdout}"
        );
    }
}

#[test]
fn the_reports_of_a_failed_check_keep_their_shape() {
    let port = fake_lab(lab_with_a_wrong_accept);
    let temp = tempfile::tempdir().unwrap();
    let junit = temp.path().join("report.xml");
    let (output, _temp) = check(port, &["--json", "--junit", junit.to_str().unwrap()]);
    assert_check_failed(&output, "execute code", "");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let steps = report["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["login", "start kernel", "execute code", "shut down kernel"]
    );
    for step in steps {
        assert!(step["ok"].is_boolean() && step["seconds"].is_number());
        assert!(step["detail"].is_string());
    }
    assert!(steps[2]["detail"]
        .as_str()
        .unwrap()
        .contains("Sec-WebSocket-Accept"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"4\""), "{xml}");
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(
        xml.contains("<failure message=\"opening the kernel&apos;s WebSocket")
            || xml.contains("<failure message=\"opening the kernel's WebSocket"),
        "{xml}"
    );
}
