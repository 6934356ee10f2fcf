//! Faults a lab must survive, each on a real engine: a killed server, Ctrl-C at every
//! stage, the engine going away mid-command, two `up`s at once, a port stolen late.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::util::*;

/// Follows a running rjup's stderr; `wait_for` blocks until a line contains a needle.
struct Watched {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watched {
    fn start(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Watched {
        let mut child = spawn_as_tester(&project.dir, &project.state_home, args, env);
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watched {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let hit = line.contains(needle);
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "rjup never printed {needle:?}; it printed:\n{}",
            self.seen.join("\n")
        );
    }

    fn interrupt(&self) {
        // SAFETY: signalling a child we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
    }

    /// Waits for the exit; returns its code and everything it printed to stderr.
    fn finish(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                    self.seen.push(line);
                }
                let mut out = String::new();
                let _ = self.child.stdout.take().unwrap().read_to_string(&mut out);
                return (status.code(), format!("{}\n{out}", self.seen.join("\n")));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "rjup did not exit within {timeout:?}; it printed:\n{}",
                    self.seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn no_half_written_state(project: &Project) {
    if let Some(state) = project.state_dir() {
        for entry in std::fs::read_dir(state).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with('.'),
                "a half-written state file was left: {name}"
            );
        }
    }
}

fn assert_interrupted_cleanly(project: &Project, code: Option<i32>, output: &str) {
    assert_eq!(code, Some(130), "Ctrl-C must exit 130:\n{output}");
    assert!(output.contains("interrupted"), "{output}");
    assert!(
        inspect(&project.container()).is_none(),
        "an orphan container was left:\n{output}"
    );
    no_half_written_state(project);
}

fn second_up_works(project: &Project) {
    let port = free_port();
    project.up(port);
    assert_eq!(Browser::local(port).login(PASSWORD), 302);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_killed_server_comes_back_by_itself() {
    let _engine = engine();
    let project = Project::from_example("minimal", "killed");
    let port = free_port();
    project.up(port);
    // The pattern's brackets keep the shell running it from matching itself.
    exec(
        &project.container(),
        &["sh", "-c", "for p in /proc/[0-9]*; do grep -q 'bin/jupyter-la[b]' $p/cmdline 2>/dev/null && kill -9 ${p#/proc/}; done; true"],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut restarted = false;
    while Instant::now() < deadline {
        let c = inspect(&project.container()).unwrap();
        restarted = c["RestartCount"].as_i64().unwrap_or(0) >= 1;
        if restarted && Browser::local(port).get("/login").status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        restarted,
        "the engine did not restart the lab after its server was killed"
    );
    assert_eq!(
        Browser::local(port).login(PASSWORD),
        302,
        "the lab must serve again, with the same password"
    );
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_ctrl_c_during_a_pull_leaves_nothing_and_a_second_up_works() {
    // It removes the image other tests' labs run, so it runs with no other engine test.
    let _engine = engine_alone();
    let project = Project::from_example("pulled", "intpull");
    remove_image("jupyter/minimal-notebook:latest");
    let mut run = Watched::start(
        &project,
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
    );
    run.wait_for("Pulling jupyter/minimal-notebook", Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    run.interrupt();
    let (code, output) = run.finish(Duration::from_secs(30));
    assert_interrupted_cleanly(&project, code, &output);
    second_up_works(&project);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_ctrl_c_during_a_build_leaves_nothing_and_a_second_up_works() {
    let _engine = engine();
    let project = Project::from_example("minimal", "intbuild");
    project.write(
        "postBuild",
        &format!("#!/bin/sh\n# {}\nsleep 120\n", project.name),
    );
    let mut run = Watched::start(
        &project,
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
    );
    run.wait_for("/opt/rjup/postBuild", Duration::from_secs(300));
    std::thread::sleep(Duration::from_millis(500));
    run.interrupt();
    let (code, output) = run.finish(Duration::from_secs(30));
    assert_interrupted_cleanly(&project, code, &output);
    // Unique, so the second build runs its steps rather than taking an earlier run's.
    project.write(
        "postBuild",
        &format!("#!/bin/sh\n# {}\ntrue\n", project.name),
    );
    second_up_works(&project);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_ctrl_c_while_the_lab_starts_removes_it_and_a_second_up_works() {
    let _engine = engine();
    let project = Project::from_example("minimal", "intstart");
    project.write("start", "#!/bin/sh\nsleep 60\nexec \"$@\"\n");
    let mut run = Watched::start(
        &project,
        &["up", "--port", &free_port().to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
    );
    run.wait_for("Waiting for the lab to answer", Duration::from_secs(300));
    std::thread::sleep(Duration::from_millis(500));
    run.interrupt();
    let (code, output) = run.finish(Duration::from_secs(30));
    assert_interrupted_cleanly(&project, code, &output);
    project.write("start", "#!/bin/sh\nexec \"$@\"\n");
    second_up_works(&project);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_ctrl_c_during_a_recreate_brings_the_old_lab_back() {
    let _engine = engine();
    let project = Project::from_example("minimal", "intswap");
    let port = free_port();
    project.up(port);
    let old_id = inspect(&project.container()).unwrap()["Id"].clone();
    // The replacement runs but takes its time to answer, so the swap is cut mid-way.
    project.write("start", "#!/bin/sh\nsleep 60\nexec \"$@\"\n");
    let mut run = Watched::start(
        &project,
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", "a password never put in place")],
    );
    run.wait_for("Waiting for the lab to answer", Duration::from_secs(300));
    std::thread::sleep(Duration::from_millis(500));
    run.interrupt();
    let (code, output) = run.finish(Duration::from_secs(60));
    assert_eq!(code, Some(130), "{output}");
    assert_eq!(inspect(&project.container()).unwrap()["Id"], old_id);
    assert!(
        containers_named(&format!("{}.next", project.container())).is_empty(),
        "the replacement must be removed: {output}"
    );
    // The old lab is started again; it answers once its server is back up.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while Browser::new(port).get("/login").status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the old lab did not come back: {output}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(Browser::new(port).login(PASSWORD), 302, "{output}");
}

/// A Unix socket in front of the engine's: it forwards everything until told to drop
/// it all (the engine going away), and can act on rjup's requests on their way.
struct EngineProxy {
    path: std::path::PathBuf,
    cut: Arc<AtomicBool>,
    /// What taking the lab's port gave, once rjup asked the engine to create the lab.
    taken: Arc<Mutex<Option<std::io::Result<TcpListener>>>>,
    /// How many build reports it cut short.
    cut_reports: Arc<std::sync::atomic::AtomicUsize>,
    _dir: tempfile::TempDir,
}

/// What the proxy does to rjup's requests and the engine's answers on their way.
#[derive(Clone, Copy, Default)]
struct Meddling {
    /// Take this port on all interfaces when rjup creates its lab.
    take_on_create: Option<u16>,
    /// End each build's answer in the middle of a line, as Docker 20.10 did twice in CI.
    cut_build_reports: bool,
}

impl EngineProxy {
    fn start() -> EngineProxy {
        EngineProxy::start_with(Meddling::default())
    }

    /// Ends every build's answer with half a line of JSON and then a proper end of the
    /// body, once the engine has finished the build: the engine's answer is whole but
    /// for its last line.
    fn cutting_build_reports() -> EngineProxy {
        EngineProxy::start_with(Meddling {
            cut_build_reports: true,
            ..Meddling::default()
        })
    }

    /// Takes `port` on all interfaces when rjup asks the engine to create its lab, and
    /// holds it until the proxy drops. rjup has chosen the port by then and found it
    /// free; the engine publishes it only when the lab starts, after the create. So the
    /// race a user can hit (something else grabbing the port in between) happens every
    /// time, from outside rjup.
    fn taking_port_on_create(port: u16) -> EngineProxy {
        EngineProxy::start_with(Meddling {
            take_on_create: Some(port),
            ..Meddling::default()
        })
    }

    fn start_with(meddling: Meddling) -> EngineProxy {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let taken = Arc::new(Mutex::new(None));
        let cut_reports = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let on_create: Option<Arc<dyn Fn() + Send + Sync>> = meddling.take_on_create.map(|port| {
            let taken = taken.clone();
            Arc::new(move || {
                let mut taken = taken.lock().unwrap_or_else(PoisonError::into_inner);
                if taken.is_none() {
                    *taken = Some(TcpListener::bind(("0.0.0.0", port)));
                }
            }) as Arc<dyn Fn() + Send + Sync>
        });
        let flag = cut.clone();
        let counted = cut_reports.clone();
        std::thread::spawn(move || {
            let mut open: Vec<UnixStream> = Vec::new();
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let upstream = UnixStream::connect("/var/run/docker.sock").unwrap();
                        let (from, to) =
                            (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                        let on_create = on_create.clone();
                        // Set while a build's answer is on its way back.
                        let building = meddling
                            .cut_build_reports
                            .then(|| Arc::new(AtomicBool::new(false)));
                        let sent = building.clone();
                        std::thread::spawn(move || forward_requests(from, to, on_create, sent));
                        let (from, to) =
                            (upstream.try_clone().unwrap(), client.try_clone().unwrap());
                        let counted = counted.clone();
                        std::thread::spawn(move || forward_answers(from, to, building, counted));
                        open.push(client);
                        open.push(upstream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for stream in open {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        });
        EngineProxy {
            path,
            cut,
            taken,
            cut_reports,
            _dir: dir,
        }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.path);
    }

    /// Whether the proxy saw the lab's create and took the port; why not, if it did not.
    fn took_the_port(&self) -> Result<(), String> {
        match &*self.taken.lock().unwrap_or_else(PoisonError::into_inner) {
            Some(Ok(_)) => Ok(()),
            Some(Err(e)) => Err(format!("the proxy could not take the port: {e}")),
            None => Err("the proxy never saw rjup create its lab".into()),
        }
    }
}

impl Drop for EngineProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies rjup's requests to the engine, calling `on_create` before passing on a request
/// that creates a lab's container, and setting `building` when it passes on a build. A
/// lab's create is matched by its `name=rjup-` query, not by the exact name, since a
/// recreate creates the replacement under a temporary name with that prefix.
fn forward_requests(
    mut from: UnixStream,
    mut to: UnixStream,
    on_create: Option<Arc<dyn Fn() + Send + Sync>>,
    building: Option<Arc<AtomicBool>>,
) {
    let mut buf = vec![0u8; 64 << 10];
    // The end of the previous read, so that a request line split across reads is seen.
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if on_create.is_some() || building.is_some() {
            let mut seen = std::mem::take(&mut tail);
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            let creates_a_lab = text.lines().any(|line| {
                line.starts_with("POST ")
                    && line.contains("/containers/create?")
                    && line.contains("name=rjup-")
            });
            if let (true, Some(on_create)) = (creates_a_lab, &on_create) {
                on_create();
            }
            let builds = text
                .lines()
                .any(|line| line.starts_with("POST ") && line.contains("/build?"));
            if let (true, Some(building)) = (builds, &building) {
                building.store(true, Ordering::SeqCst);
            }
            tail = seen.split_off(seen.len().saturating_sub(1024));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// Copies the engine's answers back to rjup. While `building` is set, the end of the
/// chunked answer (`0` and an empty line) is held back and half a line of JSON goes
/// before it: the answer ends properly but in the middle of its last message.
fn forward_answers(
    mut from: UnixStream,
    mut to: UnixStream,
    building: Option<Arc<AtomicBool>>,
    cut_reports: Arc<std::sync::atomic::AtomicUsize>,
) {
    const END: &[u8] = b"\r\n0\r\n\r\n";
    let mut buf = vec![0u8; 64 << 10];
    // What is read but not yet passed on: the start of an end the next read may finish.
    let mut held: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        held.extend_from_slice(&buf[..n]);
        let cutting = building.as_ref().is_some_and(|b| b.load(Ordering::SeqCst));
        let pass = if !cutting {
            held.len()
        } else if let Some(at) = held.windows(END.len()).position(|w| w == END) {
            // Through the CRLF that closes the last whole chunk, then half a line.
            let mut cut = held[..at + 2].to_vec();
            cut.extend_from_slice(b"7\r\n{\"aux\":\r\n0\r\n\r\n");
            held.drain(..at + END.len());
            if to.write_all(&cut).is_err() {
                break;
            }
            building.as_ref().unwrap().store(false, Ordering::SeqCst);
            cut_reports.fetch_add(1, Ordering::SeqCst);
            held.len()
        } else {
            held.len().saturating_sub(END.len() - 1)
        };
        if to.write_all(&held[..pass]).is_err() {
            break;
        }
        held.drain(..pass);
    }
    let _ = to.write_all(&held);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_regression_a_build_report_cut_after_the_image_is_made_still_brings_the_lab_up() {
    let _engine = engine();
    let project = Project::from_example("minimal", "cutreport");
    // Unique, so the build runs rather than finding the image made.
    project.write(
        "postBuild",
        &format!("#!/bin/sh\n# {}\ntrue\n", project.name),
    );
    let proxy = EngineProxy::cutting_build_reports();
    let port = free_port();
    let up = project.rjup(
        &["up", "--port", &port.to_string()],
        &[
            ("RJUP_PASSWORD", PASSWORD),
            ("DOCKER_HOST", &proxy.docker_host()),
        ],
        None,
    );
    assert_eq!(
        proxy.cut_reports.load(Ordering::SeqCst),
        1,
        "the proxy must have cut the build's report"
    );
    assert_success(&up, "rjup up whose build report was cut short");
    assert_eq!(Browser::local(port).login(PASSWORD), 302);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_the_engine_going_away_mid_command_is_a_clear_error_and_a_retry_works() {
    let _engine = engine();
    let project = Project::from_example("minimal", "enginegone");
    project.write("start", "#!/bin/sh\nsleep 5\nexec \"$@\"\n");
    let proxy = EngineProxy::start();
    let port = free_port();
    let host = proxy.docker_host();
    let mut run = Watched::start(
        &project,
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD), ("DOCKER_HOST", &host)],
    );
    run.wait_for("Waiting for the lab to answer", Duration::from_secs(300));
    proxy.cut();
    let (code, output) = run.finish(Duration::from_secs(60));
    assert_eq!(code, Some(5), "losing the engine must exit 5:\n{output}");
    assert!(
        output.contains("lost the connection to the Docker engine")
            && output.contains("run the command again"),
        "{output}"
    );
    no_half_written_state(&project);
    // The engine is back (rjup talks to it directly again): a retry converges.
    // The same command again: a failed first `up` keeps no state, so it needs the password again.
    let retry = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD)],
        None,
    );
    assert_success(&retry, "rjup up after the engine came back");
    assert_eq!(containers_named(&project.name).len(), 1, "exactly one lab");
    assert_eq!(Browser::local(port).login(PASSWORD), 302);
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_two_ups_at_once_make_exactly_one_lab_and_both_report_it() {
    let _engine = engine();
    let project = Project::from_example("minimal", "twoups");
    let port = free_port().to_string();
    let args = ["up", "--port", port.as_str()];
    let first = Watched::start(&project, &args, &[("RJUP_PASSWORD", PASSWORD)]);
    let second = Watched::start(&project, &args, &[("RJUP_PASSWORD", PASSWORD)]);
    let (c1, out1) = first.finish(Duration::from_secs(300));
    let (c2, out2) = second.finish(Duration::from_secs(300));
    assert_eq!(
        (c1, c2),
        (Some(0), Some(0)),
        "both must succeed:\n{out1}\n---\n{out2}"
    );
    for out in [&out1, &out2] {
        assert!(
            out.contains(&format!(":{port}/lab")),
            "each reports the lab:\n{out}"
        );
    }
    assert_eq!(containers_named(&project.name).len(), 1, "exactly one lab");
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_port_taken_after_rjup_chose_it_is_a_clear_error_naming_a_free_one() {
    let _engine = engine();
    let project = Project::from_example("minimal", "latetaken");
    let port = free_port();
    let proxy = EngineProxy::taking_port_on_create(port);
    let host = proxy.docker_host();
    let out = project.rjup(
        &["up", "--port", &port.to_string()],
        &[("RJUP_PASSWORD", PASSWORD), ("DOCKER_HOST", &host)],
        None,
    );
    if let Err(why) = proxy.took_the_port() {
        panic!("{why}, so this run tested no race:\n{}", stderr(&out));
    }
    assert_exit(&out, 6, "up when the port is taken late");
    let err = stderr(&out);
    assert!(
        err.contains("after rjup chose it") && err.contains("use --port"),
        "{err}"
    );
    assert!(inspect(&project.container()).is_none());
    assert!(
        containers_named(&project.name).is_empty(),
        "no container may be left behind, under any name"
    );
}

fn remove_image(reference: &str) {
    with_docker(|docker| async move {
        let _ = docker
            .remove_image(
                reference,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    });
}

#[test]
#[ignore = "engine: needs a Docker engine"]
fn engine_a_recreate_onto_a_port_taken_late_brings_the_old_lab_back() {
    let _engine = engine();
    let project = Project::from_example("minimal", "swaptaken");
    let old_port = free_port();
    project.up(old_port);
    let old_id = inspect(&project.container()).unwrap()["Id"].clone();

    // The replacement moves to a new port, which is taken once rjup has chosen it.
    let new_port = free_port();
    let proxy = EngineProxy::taking_port_on_create(new_port);
    let out = project.rjup(
        &["up", "--port", &new_port.to_string()],
        &[
            ("RJUP_PASSWORD", PASSWORD),
            ("DOCKER_HOST", &proxy.docker_host()),
        ],
        None,
    );
    if let Err(why) = proxy.took_the_port() {
        panic!("{why}, so this run tested no race:\n{}", stderr(&out));
    }
    assert_exit(&out, 6, "a recreate onto a port taken late");
    let err = stderr(&out);
    assert!(
        err.contains("the previous lab was started again") && err.contains("after rjup chose it"),
        "the error must say the port was taken and the old lab is back: {err}"
    );
    assert_eq!(inspect(&project.container()).unwrap()["Id"], old_id);
    assert!(
        containers_named(&format!("{}.next", project.container())).is_empty(),
        "no replacement may be left behind"
    );
    assert_eq!(
        Browser::new(old_port).login(PASSWORD),
        302,
        "the old lab must answer at its old address with its old password"
    );
}
