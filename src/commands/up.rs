//! `rjup up`: converge the project's lab on what its files and flags describe.

use std::io::ErrorKind;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::ContainerInspectResponse;

use crate::cli::UpArgs;
use crate::config::TlsConfig;
use crate::engine::{BuildFlags, Engine};
use crate::error::{fail, Code, Error};
use crate::image::{self, ImagePlan};
use crate::lab::{self, label, Action, Observed};
use crate::progress::{say, warn};
use crate::settings::{self, Overrides, PortRequest, Spec};
use crate::state::ProjectState;
use crate::tls::{self, Tls};
use crate::{client, net, password};

/// A container made by this run that is not yet serving; Ctrl-C removes it.
static HALF_MADE: Mutex<Option<String>> = Mutex::new(None);
/// A project state directory this run made; Ctrl-C removes it.
static FRESH_STATE: Mutex<Option<ProjectState>> = Mutex::new(None);

/// Runs `work`; if it fails and the project had no state before, removes the state it
/// made (password hash, cookie secret, certificate), so a failed first `up` leaves nothing.
pub async fn keeping_state_only_on_success<T>(
    state: &ProjectState,
    work: impl std::future::Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let fresh = !state.exists();
    if fresh {
        *FRESH_STATE.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
    }
    let result = work.await;
    if fresh {
        FRESH_STATE.lock().unwrap_or_else(|e| e.into_inner()).take();
        if result.is_err() {
            let _ = state.forget();
        }
    }
    result
}

pub struct Options {
    pub force_recreate: bool,
    pub rebuild: bool,
    pub timeout: Duration,
}

pub async fn run(project: Option<&Path>, args: UpArgs) -> anyhow::Result<()> {
    super::machine_output(args.json);
    let spec = settings::resolve(
        project,
        Overrides {
            port: args.port,
            bind: args.bind,
        },
    )?;
    for warning in &spec.warnings {
        warn(warning);
    }
    let state = ProjectState::for_project(&spec.dir, &spec.name)?;
    let options = Options {
        force_recreate: args.force_recreate || args.rebuild,
        rebuild: args.rebuild,
        timeout: Duration::from_secs(args.timeout),
    };
    let given = password::given(args.password.password_stdin)?;
    let (engine, outcome) = keeping_state_only_on_success(&state, async {
        let hashed = password_for_up(&state, given)?;
        let engine = Engine::connect().await?;
        let outcome = converge(&engine, &spec, &state, &hashed, &options).await?;
        Ok((engine, outcome))
    })
    .await?;
    if args.json {
        let view = super::status::view(&engine, &spec).await?;
        let mut json = serde_json::to_value(&view)?;
        json["action"] = serde_json::Value::from(outcome.action.word());
        json["tls_fingerprint"] = serde_json::Value::from(outcome.fingerprint.clone());
        println!("{json}");
    } else {
        print_urls(&spec, &outcome);
    }
    Ok(())
}

/// The hash to run with: a given password wins, else the stored hash, else a prompt.
pub fn password_for_up(
    state: &ProjectState,
    given: Option<password::Secret>,
) -> anyhow::Result<String> {
    let stored = state.password_hash()?;
    let secret = match (given, stored) {
        (Some(secret), Some(hash)) if password::verify(&secret, &hash) => return Ok(hash),
        (Some(secret), _) => secret,
        (None, Some(hash)) => return Ok(hash),
        (None, None) => password::prompt_new("this lab has no password yet")?,
    };
    let hash = password::hash(&secret)?;
    state.set_password_hash(&hash)?;
    Ok(hash)
}

pub fn print_urls(spec: &Spec, outcome: &Outcome) {
    println!("Lab \"{}\" is up:", spec.name);
    for url in net::urls(spec.scheme(), spec.bind, outcome.port) {
        println!("  {url}");
    }
    if let Some(fingerprint) = &outcome.fingerprint {
        println!("TLS certificate SHA-256 fingerprint (compare with what your browser shows):");
        println!("  {fingerprint}");
    }
}

pub struct Outcome {
    pub port: u16,
    pub action: Action,
    /// The SHA-256 fingerprint of the lab's certificate, when it serves HTTPS.
    pub fingerprint: Option<String>,
}

/// The certificate the lab serves, if it serves HTTPS: the user's, or the project's own
/// self-signed one, made once and kept so its fingerprint stays the same.
pub fn tls_material(spec: &Spec, state: &ProjectState) -> anyhow::Result<Option<Tls>> {
    match &spec.tls {
        TlsConfig::Off => Ok(None),
        TlsConfig::Files { cert, key } => {
            tls::from_files(&spec.dir.join(cert), &spec.dir.join(key)).map(Some)
        }
        TlsConfig::SelfSigned => {
            let names = tls::subject_names(
                &net::published_addresses(spec.bind),
                net::hostname().as_deref(),
            );
            let (material, made) = state.self_signed_tls(&names)?;
            if made {
                say(format!(
                    "Made a self-signed TLS certificate for {}",
                    names.join(", ")
                ));
            }
            Ok(Some(material))
        }
    }
}

/// How rjup itself reaches the lab: over HTTPS trusting exactly its certificate.
pub fn probe_target(bind: IpAddr, port: u16, tls: Option<&Tls>) -> anyhow::Result<client::Target> {
    let addr = net::probe_address(bind, port);
    Ok(client::Target {
        addr,
        tls: match tls {
            Some(tls) => Some(tls::pinned_client(tls.cert_der()?)?),
            None => None,
        },
    })
}

/// Brings the lab to the desired state.
pub async fn converge(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    hashed_password: &str,
    options: &Options,
) -> anyhow::Result<Outcome> {
    let _lock = state.lock().await?;
    let name = spec.container_name();
    let existing = engine.inspect(&name).await?;
    if let Some(container) = &existing {
        check_owner(container, spec)?;
    }
    let observed = existing.as_ref().map(observe);
    let running_port = existing
        .as_ref()
        .filter(|_| observed.as_ref().is_some_and(|o| o.state == "running"))
        .and_then(|c| container_label(c, label::PORT))
        .and_then(|p| p.parse().ok());

    spec.ensure_lock_fresh()?;
    // The port first: a taken port or a wrong bind address fails before a long build.
    let port = choose_port(engine, spec, state, running_port).await?;
    let image_plan = image::plan(spec);
    let image_id =
        ensure_image(engine, &image_plan, BuildFlags::default(), options.rebuild).await?;
    let cookie_secret = state.cookie_secret()?;
    let tls = tls_material(spec, state)?;
    let desired = lab::desired(&lab::Inputs {
        spec,
        image_reference: image_plan.reference(),
        image_id: &image_id,
        pulled: matches!(image_plan, ImagePlan::Pull { .. }),
        host_port: port,
        hashed_password,
        cookie_secret: &cookie_secret,
        tls: tls.as_ref(),
    })?;

    let action = lab::plan(observed.as_ref(), &desired, options.force_recreate);
    let probe = probe_target(spec.bind, port, tls.as_ref())?;
    // A test hook for the race a user can hit: something takes the port between rjup
    // choosing it and the engine publishing it.
    let _port_thief = std::env::var_os("RJUP_TEST_TAKE_PORT_AFTER_CHOOSING")
        .and_then(|_| std::net::TcpListener::bind(std::net::SocketAddr::new(spec.bind, port)).ok());
    match action {
        // Running is not the same as answering: it may still be starting, say after an
        // `up` that was cut off. The check costs one local request when it answers.
        Action::Nothing => wait_ready(engine, &name, &probe, options.timeout).await?,
        Action::Start => {
            say(format!("Starting {name}"));
            engine
                .start(&name)
                .await
                .or_else(|e| port_taken_late(e, spec, port))?;
            wait_ready(engine, &name, &probe, options.timeout).await?;
        }
        Action::Create | Action::Recreate(_) => {
            if let Action::Recreate(reason) = &action {
                say(format!("Recreating {name}: {reason}"));
                engine.remove(&name).await?;
            } else {
                say(format!("Creating {name}"));
            }
            let id = engine.create(&desired.name, desired.body.clone()).await?;
            *HALF_MADE.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
            let started = async {
                engine.upload(&id, desired.files.clone()).await?;
                engine
                    .start(&id)
                    .await
                    .or_else(|e| port_taken_late(e, spec, port))?;
                wait_ready(engine, &id, &probe, options.timeout).await
            }
            .await;
            HALF_MADE.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Err(err) = started {
                // A lab that never served is removed, so the next `up` starts clean.
                let _ = engine.remove(&id).await;
                return Err(err);
            }
        }
    }
    state.set_port(port)?;
    let fingerprint = tls.as_ref().map(Tls::fingerprint).transpose()?;
    Ok(Outcome {
        port,
        action,
        fingerprint,
    })
}

/// When the engine could not publish the port it was given, names a free one instead.
fn port_taken_late(err: anyhow::Error, spec: &Spec, port: u16) -> anyhow::Result<()> {
    if crate::error::exit_code(&err) != Code::PortTaken as u8 {
        return Err(err);
    }
    let free = (port.saturating_add(1)..=u16::MAX)
        .chain(settings::DEFAULT_PORT..port)
        .find(|p| net::can_listen(spec.bind, *p).is_ok());
    let instead = free.map_or_else(
        || "stop what holds it".to_string(),
        |p| format!("use --port {p} (free now)"),
    );
    fail(
        Code::PortTaken,
        format!("port {port} on {} was taken by another program after rjup chose it, while the lab was starting; {instead}, or run `rjup up` again", spec.bind),
    )
}

/// Removes a container this run made but did not finish; used on Ctrl-C.
pub async fn abandon() {
    if let Some(state) = FRESH_STATE.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = state.forget();
    }
    let id = HALF_MADE.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(id) = id {
        if let Ok(engine) = Engine::connect().await {
            let _ = engine.remove(&id).await;
        }
    }
}

/// Refuses to touch a container of the same name that belongs to another project.
pub fn check_owner(container: &ContainerInspectResponse, spec: &Spec) -> anyhow::Result<()> {
    let project = container_label(container, label::PROJECT);
    if project == Some(spec.dir.to_string_lossy().as_ref()) {
        return Ok(());
    }
    let owner = match project {
        Some(path) => format!("the rjup project at {path}"),
        None => "something other than rjup".to_string(),
    };
    fail(
        Code::Conflict,
        format!(
            "the container name {} is taken by {owner}; give this project another name with `name:` in rjup.yaml",
            spec.container_name()
        ),
    )
}

fn container_label<'a>(container: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
    container
        .config
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn observe(container: &ContainerInspectResponse) -> Observed {
    Observed {
        state: container
            .state
            .as_ref()
            .and_then(|s| s.status)
            .map_or_else(|| "unknown".to_string(), |s| s.to_string()),
        config_hash: container_label(container, label::CONFIG_HASH).map(str::to_string),
        image_id: container.image.clone(),
    }
}

/// The image's id, pulling or building it only when it is not there (or when asked).
pub async fn ensure_image(
    engine: &Engine,
    plan: &ImagePlan,
    flags: BuildFlags,
    rebuild: bool,
) -> anyhow::Result<String> {
    match plan {
        ImagePlan::Pull { reference } => match engine.image_id(reference).await? {
            Some(id) => Ok(id),
            None => engine.pull(reference).await,
        },
        ImagePlan::Build {
            tag,
            base,
            context,
            used,
        } => {
            if used.is_empty() {
                say("Environment: JupyterLab only (no environment files found)");
            } else {
                say(format!("Environment: {}", used.join(", ")));
            }
            if !rebuild && !flags.no_cache && !flags.pull {
                if let Some(id) = engine.image_id(tag).await? {
                    return Ok(id);
                }
            }
            if engine.image_id(base).await?.is_none() {
                engine.pull(base).await?;
            }
            engine.build(tag, context.clone(), flags).await
        }
    }
}

/// The host port to publish on: the one asked for, else the remembered one, else the
/// first free one from 8888 up.
async fn choose_port(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    ours: Option<u16>,
) -> anyhow::Result<u16> {
    let fixed = match spec.port {
        PortRequest::Fixed(port) => Some(port),
        PortRequest::Auto => None,
    };
    let wanted = match fixed {
        Some(port) => port,
        None => state.port()?.unwrap_or(settings::DEFAULT_PORT),
    };
    let holder = match port_holder(engine, spec.bind, wanted, ours).await? {
        None => return Ok(wanted),
        Some(holder) => holder,
    };
    let free = next_free_port(engine, spec.bind, wanted, ours).await?;
    match (fixed, free) {
        (None, Some(free)) => {
            if wanted != settings::DEFAULT_PORT || state.port()?.is_some() {
                warn(format!(
                    "port {wanted} is taken by {holder}; publishing on {free} instead"
                ));
            }
            Ok(free)
        }
        (_, free) => {
            let instead = free.map_or_else(
                || "no free port was found above it either".to_string(),
                |p| format!("use --port {p} (free), or stop what holds it"),
            );
            fail(
                Code::PortTaken,
                format!(
                    "port {wanted} on {} is taken by {holder}; {instead}",
                    spec.bind
                ),
            )
        }
    }
}

async fn next_free_port(
    engine: &Engine,
    bind: IpAddr,
    after: u16,
    ours: Option<u16>,
) -> anyhow::Result<Option<u16>> {
    let start = after.max(settings::DEFAULT_PORT);
    for port in (start..=u16::MAX)
        .chain(settings::DEFAULT_PORT..start)
        .filter(|p| *p != after)
        .take(200)
    {
        if port_holder(engine, bind, port, ours).await?.is_none() {
            return Ok(Some(port));
        }
    }
    Ok(None)
}

/// Who holds `bind:port`, or `None` if rjup may publish there.
async fn port_holder(
    engine: &Engine,
    bind: IpAddr,
    port: u16,
    ours: Option<u16>,
) -> anyhow::Result<Option<String>> {
    if ours == Some(port) {
        return Ok(None);
    }
    if let Some(c) = engine.containers_publishing(port).await?.into_iter().next() {
        let labels = c.labels.unwrap_or_default();
        let container = c
            .names
            .unwrap_or_default()
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        return Ok(Some(
            match (labels.get(label::NAME), labels.get(label::PROJECT)) {
                (Some(lab), Some(project)) => format!("the rjup lab \"{lab}\" of {project}"),
                _ => format!("the container {container}"),
            },
        ));
    }
    match net::can_listen(bind, port) {
        Ok(()) => Ok(None),
        Err(e) if e.kind() == ErrorKind::AddrInUse => Ok(Some("another program on this host".to_string())),
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => fail(
            Code::Config,
            format!("bind address {bind} is not an address of this host; use one of its addresses, or 0.0.0.0 for all of them"),
        ),
        // Privileged ports: the engine, not rjup, will listen there.
        Err(_) => Ok(None),
    }
}

/// Waits until the lab serves its login page; on failure shows the lab's last words.
async fn wait_ready(
    engine: &Engine,
    id: &str,
    probe: &client::Target,
    timeout: Duration,
) -> anyhow::Result<()> {
    let answers = |status: u16| (200..400).contains(&status);
    if client::get_status(probe, "/login", Duration::from_secs(2))
        .await
        .is_ok_and(answers)
    {
        return Ok(());
    }
    let wait = crate::progress::Wait::new("Waiting for the lab to answer");
    let started = Instant::now();
    let mut last_check = Instant::now();
    let (failure, fix) = loop {
        if let Ok(status) = client::get_status(probe, "/login", Duration::from_secs(2)).await {
            if (200..400).contains(&status) {
                return Ok(());
            }
        }
        if last_check.elapsed() >= Duration::from_secs(1) {
            last_check = Instant::now();
            if let Some(container) = engine.inspect(id).await? {
                let state = container.state.unwrap_or_default();
                if state.running != Some(true) || state.restarting == Some(true) {
                    break (
                        format!("the lab exited while starting (exit code {})", state.exit_code.unwrap_or_default()),
                        "fix what its log shows (check `env` and `image` in rjup.yaml) and run `rjup up` again",
                    );
                }
            }
        }
        if started.elapsed() >= timeout {
            break (
                format!(
                    "the lab did not answer on {probe}/login within {} s",
                    timeout.as_secs()
                ),
                "raise --timeout if it is just slow, or fix what its log shows",
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(wait);
    let log = engine.log_tail(id, 25).await;
    let log = log.trim_end();
    // The init in front of the server reports a missing command this way.
    if log.contains("exec jupyter failed") {
        return fail(Code::Image, lab::NO_JUPYTER);
    }
    let shown = if log.is_empty() {
        "  (the log is empty)".to_string()
    } else {
        log.lines()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    Err(Error::new(
        Code::NotReady,
        format!("{failure}; {fix}. Its last log lines:\n{shown}"),
    )
    .into())
}
