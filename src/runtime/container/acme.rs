//! The engine's ACME renewer as a container, `rjup-acme`, for labs that run as
//! containers: made, changed and removed as `tls: acme` labs come and go, and
//! converged like a lab (a config-hash label over the labs it serves and its image).
//! It holds one host port per challenge, so it is replaced by remove-then-create; its
//! state is in volumes, so that loses nothing.
//!
//! Two `up`s at once (of two projects, or two users) may both change it: each makes its
//! change from what it finds, and one that finds the name taken, or its container gone
//! under it, looks again. Jobs are files in the volume, so no change loses another's.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::acme::{self, Challenge, Job, Status};
use crate::archive::{Archive, ROOT};
use crate::config::Acme;
use crate::engine::host::LabHost;
use crate::engine::Engine;
use crate::error::{self, Error};
use crate::lab::acme::{self as lab_acme, AcmeLab};
use crate::lab::net;
use crate::settings::Spec;
use crate::ui::printer::Printer;

/// How many times a change of the renewer is tried while others change it too.
const ATTEMPTS: usize = 5;

/// The renewer as the engine has it.
struct Current {
    id: String,
    labs: BTreeMap<String, Challenge>,
    config_hash: Option<String>,
    running: bool,
    /// Its image, as it was created from, and that image's id.
    image: String,
    image_id: String,
}

async fn current(engine: &Engine) -> anyhow::Result<Option<Current>> {
    let Some(found) = engine.inspect(acme::RENEWER).await? else {
        return Ok(None);
    };
    let labels = found.config.as_ref().and_then(|c| c.labels.as_ref());
    Ok(Some(Current {
        id: found.id.clone().unwrap_or_default(),
        labs: lab_acme::served(labels),
        config_hash: labels.and_then(|l| l.get(lab_acme::label::CONFIG_HASH).cloned()),
        running: found.state.as_ref().and_then(|s| s.running) == Some(true),
        image: found
            .config
            .as_ref()
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        image_id: found.image.clone().unwrap_or_default(),
    }))
}

/// Has the renewer give `spec`'s lab its certificate, as `wanted` asks: the job copied
/// in, the renewer made or changed to serve the lab, then its answer awaited (up to
/// `timeout`). A refusal leaves the renewer as it was found, and so the lab's previous
/// certificate, if it had one.
pub async fn obtain(
    engine: &Engine,
    spec: &Spec,
    wanted: &Acme,
    timeout: Duration,
    printer: Printer,
) -> anyhow::Result<AcmeLab> {
    lab_acme::check_platform(engine).await?;
    let host = engine.lab_host().await;
    let names = lab_acme::names(wanted, &net::published_addresses(&host, spec.bind))?;
    let (pem, roots) = lab_acme::roots(spec, wanted)?;
    // In a rootless engine the lab is uid 0 there (see lab::container).
    let owner = if engine.flavour().await?.rootless {
        ROOT
    } else {
        spec.owner
    };
    let job = lab_acme::job(spec, wanted, names, pem, owner)?;
    let (tag, image_id) = lab_acme::ensure_image(engine, printer).await?;

    let before = current(engine).await?;
    let previous_job = match &before {
        Some(renewer) if renewer.labs.contains_key(&job.lab) => {
            engine.download(&renewer.id, &job_path(&job.lab)).await?
        }
        _ => None,
    };
    let undo = Undo {
        lab: job.lab.clone(),
        previous_job,
        before,
    };
    if let Err(e) = serve(engine, &host, &tag, &image_id, &job).await {
        undo.run(engine).await;
        return Err(e);
    }
    let mut job = job;
    let status = loop {
        let wait = crate::ui::progress::Wait::new(
            &format!("Waiting for a certificate from {}", job.directory),
            printer,
        );
        let answered = answer(engine, &job, timeout).await;
        drop(wait);
        let status = match answered {
            Ok(status) => status,
            Err(e) => {
                undo.run(engine).await;
                return Err(e);
            }
        };
        let Some(untrusted) = lab_acme::Untrusted::check(
            status.certificate.as_deref(),
            status.issuer.as_deref(),
            &roots,
            &job.names[0],
        ) else {
            break status;
        };
        if untrusted.replace(&mut job, printer) {
            let json = serde_json::to_vec_pretty(&job)?;
            if let Some(renewer) = current(engine).await? {
                upload_job(engine, &renewer.id, &job.lab, &json).await?;
            }
            continue;
        }
        undo.run(engine).await;
        return Err(untrusted.error(wanted).into());
    };
    if let Some(failure) = &status.last_error {
        printer.warn(format!(
            "renewing the lab's certificate fails ({} attempts; the next at {}): {}; the lab serves the one it has, {}",
            status.failures,
            status.retry_at.map_or_else(|| "?".into(), acme::moment),
            failure.message,
            lab_acme::describe(&status)
        ));
    }
    lab_acme::remove_old_images(engine, &tag).await;
    Ok(AcmeLab::new(job, status, roots))
}

/// What puts the renewer back as it was for the lab when the lab does not get its
/// certificate: serving it as before (with its old job, so its old certificate), or not
/// at all. Labs another command added meanwhile stay.
struct Undo {
    lab: String,
    /// The lab's job before, when the renewer served it already.
    previous_job: Option<Vec<u8>>,
    before: Option<Current>,
}

impl Undo {
    /// Best effort: the refusal the user sees matters more than a failure here.
    async fn run(self, engine: &Engine) {
        if let Err(e) = self.restore(engine).await {
            tracing::debug!("acme: putting the renewer back: {e:#}");
        }
    }

    async fn restore(&self, engine: &Engine) -> anyhow::Result<()> {
        let now = current(engine).await?;
        let found = now.as_ref().or(self.before.as_ref());
        let mut labs = found.map(|r| r.labs.clone()).unwrap_or_default();
        match self.before.as_ref().and_then(|b| b.labs.get(&self.lab)) {
            Some(challenge) => labs.insert(self.lab.clone(), *challenge),
            None => labs.remove(&self.lab),
        };
        let image = found.map(|r| (r.image.clone(), r.image_id.clone()));
        let id = match (&now, image) {
            (Some(renewer), _) if renewer.labs == labs && renewer.running => {
                Some(renewer.id.clone())
            }
            (_, Some((image, image_id))) => {
                set_labs(engine, now.as_ref(), &labs, &image, &image_id).await?
            }
            (_, None) => None,
        };
        if let (Some(id), Some(job)) = (&id, &self.previous_job) {
            upload_job(engine, id, &self.lab, job).await?;
        }
        if !labs.contains_key(&self.lab) {
            engine.remove_volume(&acme::lab_volume(&self.lab)).await?;
        }
        Ok(())
    }
}

/// Makes the renewer serve exactly `labs`, from `image`, in place of `now`; none at all
/// when there are no labs. Returns the new renewer's id.
async fn set_labs(
    engine: &Engine,
    now: Option<&Current>,
    labs: &BTreeMap<String, Challenge>,
    image: &str,
    image_id: &str,
) -> anyhow::Result<Option<String>> {
    if let Some(renewer) = now {
        engine.remove(&renewer.id).await?;
    }
    if labs.is_empty() {
        return Ok(None);
    }
    let (body, _) = lab_acme::renewer(image, image_id, labs);
    let id = engine.create(acme::RENEWER, body).await?.id;
    engine.start(&id).await?;
    Ok(Some(id))
}

fn job_path(lab: &str) -> String {
    format!("{}/jobs/{lab}.json", acme::STATE_DIR)
}

/// Copies a job file into the renewer's volume, root's and 0600: it holds the account
/// key.
async fn upload_job(engine: &Engine, id: &str, lab: &str, json: &[u8]) -> anyhow::Result<()> {
    let mut archive = Archive::new();
    archive
        .dir("jobs/", 0o700, ROOT)
        .file(&format!("jobs/{lab}.json"), json, 0o600, ROOT);
    engine
        .upload_to(id, acme::STATE_DIR, archive.finish())
        .await
}

/// Makes the renewer serve `job`'s lab: changed to mount its volume and hold its
/// challenge's port where it does not yet, then the job copied in.
async fn serve(
    engine: &Engine,
    host: &LabHost,
    tag: &str,
    image_id: &str,
    job: &Job,
) -> anyhow::Result<()> {
    let json = serde_json::to_vec_pretty(job)?;
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let found = current(engine).await?;
        let mut labs = found.as_ref().map(|r| r.labs.clone()).unwrap_or_default();
        labs.insert(job.lab.clone(), job.challenge);
        let (body, hash) = lab_acme::renewer(tag, image_id, &labs);
        let id = match &found {
            Some(renewer) if renewer.config_hash.as_deref() == Some(&hash) => {
                if !renewer.running {
                    start(engine, host, &renewer.id, job.challenge).await?;
                }
                renewer.id.clone()
            }
            _ => {
                let held: Vec<Challenge> = found
                    .as_ref()
                    .map(|r| r.labs.values().copied().collect())
                    .unwrap_or_default();
                if !held.contains(&job.challenge) {
                    check_port(engine, host, job.challenge).await?;
                }
                if let Some(renewer) = &found {
                    engine.remove(&renewer.id).await?;
                }
                match engine.create(acme::RENEWER, body).await {
                    Ok(created) => created.id,
                    // Another `up` made one meanwhile: look again.
                    Err(e) if matches!(error::find(&e), Some(Error::NameAppeared { .. })) => {
                        last = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        // The job first, then the start: a new renewer begins with it.
        match upload_job(engine, &id, &job.lab, &json).await {
            Ok(()) => {}
            Err(e) if engine.inspect(&id).await?.is_none() => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        }
        if engine.inspect(&id).await?.and_then(|c| c.state?.running) != Some(true) {
            start(engine, host, &id, job.challenge).await?;
        }
        return Ok(());
    }
    Err(last
        .unwrap_or_else(|| anyhow::anyhow!("the renewer kept changing"))
        .context("other rjup commands kept changing the renewer (rjup-acme); run `rjup up` again"))
}

/// Starts the renewer; a port the engine could not publish names its holder.
async fn start(
    engine: &Engine,
    host: &LabHost,
    id: &str,
    challenge: Challenge,
) -> anyhow::Result<()> {
    match engine.start(id).await {
        Ok(()) => Ok(()),
        Err(e) if matches!(error::find(&e), Some(Error::PortTakenStarting { .. })) => {
            let port = challenge.host_port();
            let holder = holder(engine, host, port)
                .await?
                .unwrap_or_else(|| format!("another program ({e:#})"));
            // A renewer that cannot hold its ports serves no one: the next `up` makes
            // it again.
            let _ = engine.remove(id).await;
            Err(Error::AcmePortTaken {
                port,
                holder,
                challenge,
            }
            .into())
        }
        Err(e) => Err(e),
    }
}

/// Refuses a challenge whose port something else holds, before anything changes.
async fn check_port(engine: &Engine, host: &LabHost, challenge: Challenge) -> anyhow::Result<()> {
    let port = challenge.host_port();
    match holder(engine, host, port).await? {
        None => Ok(()),
        Some(holder) => Err(Error::AcmePortTaken {
            port,
            holder,
            challenge,
        }
        .into()),
    }
}

/// Who holds `port` on the engine's host: a container, a program rjup cannot listen
/// beside, or (a privileged port, where rjup may not even try) one that answers there.
async fn holder(engine: &Engine, host: &LabHost, port: u16) -> anyhow::Result<Option<String>> {
    let all = IpAddr::from([0, 0, 0, 0]);
    if let Some(holder) = super::ports::port_holder(engine, all, port, None).await? {
        return Ok(Some(holder));
    }
    let at = match host {
        LabHost::Local => Some(IpAddr::from([127, 0, 0, 1])),
        LabHost::Remote { addr, .. } => *addr,
    };
    let Some(at) = at else { return Ok(None) };
    let addr = SocketAddr::new(at, port);
    let connect = tokio::net::TcpStream::connect(addr);
    Ok(
        match tokio::time::timeout(Duration::from_millis(500), connect).await {
            Ok(Ok(_)) => Some(format!(
                "another program on the engine's host (something answers at {addr})"
            )),
            _ => None,
        },
    )
}

/// Waits for the renewer's answer to `job`: a certificate, or why there is none.
async fn answer(engine: &Engine, job: &Job, timeout: Duration) -> anyhow::Result<Status> {
    let started = Instant::now();
    let mut checked = Instant::now();
    let id = job.id();
    loop {
        if let Some(status) = lab_acme::status(engine, &job.lab).await? {
            if status.job == id {
                if status.valid_at(acme::now()) {
                    return Ok(status);
                }
                let failure = status.last_error.clone().unwrap_or(acme::Failure {
                    kind: acme::FailureKind::Other,
                    message: "the renewer has no valid certificate for the lab".into(),
                    at: acme::now(),
                });
                return Err(Error::AcmeFailed {
                    directory: job.directory.clone(),
                    names: job.names.clone(),
                    failure,
                    challenge: job.challenge,
                }
                .into());
            }
        }
        if checked.elapsed() >= Duration::from_secs(2) {
            checked = Instant::now();
            let running = current(engine).await?.is_some_and(|r| r.running);
            if !running {
                let log = engine.log_tail(acme::RENEWER, 10).await;
                return Err(anyhow::anyhow!(
                    "the renewer (the container rjup-acme) stopped: {}",
                    log.trim()
                ));
            }
        }
        if started.elapsed() >= timeout {
            return Err(Error::AcmeFailed {
                directory: job.directory.clone(),
                names: job.names.clone(),
                failure: acme::Failure {
                    kind: acme::FailureKind::Unreachable,
                    message: format!(
                        "no certificate within {} s (raise --timeout if the CA is just slow; `docker logs rjup-acme` shows what the renewer did)",
                        timeout.as_secs()
                    ),
                    at: acme::now(),
                },
                challenge: job.challenge,
            }
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Takes `lab` off the renewer: its volume unmounted (and removed), its port let go
/// when no other lab needs it, and the renewer removed when it serves no lab at all.
pub async fn release(engine: &Engine, lab: &str) -> anyhow::Result<()> {
    for _ in 0..ATTEMPTS {
        let Some(renewer) = current(engine).await? else {
            break;
        };
        if !renewer.labs.contains_key(lab) {
            break;
        }
        let mut labs = renewer.labs.clone();
        labs.remove(lab);
        match set_labs(
            engine,
            Some(&renewer),
            &labs,
            &renewer.image,
            &renewer.image_id,
        )
        .await
        {
            Ok(_) => break,
            // Another command made one meanwhile: look again.
            Err(e) if matches!(error::find(&e), Some(Error::NameAppeared { .. })) => continue,
            Err(e) => return Err(e),
        }
    }
    // The certificate goes with the lab; the renewer's own copy stays, for the next `up`.
    if let Err(e) = engine.remove_volume(&acme::lab_volume(lab)).await {
        tracing::debug!("acme: keeping the volume of {lab}: {e:#}");
    }
    Ok(())
}

/// What the renewer says about `lab`'s certificate, when it serves the lab.
pub async fn status(engine: &Engine, lab: &str) -> anyhow::Result<Option<Status>> {
    match current(engine).await? {
        Some(renewer) if renewer.labs.contains_key(lab) => lab_acme::status(engine, lab).await,
        _ => Ok(None),
    }
}
