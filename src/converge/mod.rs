//! Bringing a project's lab to the state its files and flags describe, apart from the
//! verbs that ask for it.
//!
//! As docker compose's convergence does, it observes what runs, plans the one action
//! that closes the gap (comparing a config-hash label, not the whole configuration),
//! acts, and then waits until the lab answers. A lab is replaced by create-then-swap:
//! the replacement must answer before the old lab is removed, and if it does not, the
//! old lab is started again, so a failed change never costs the user the lab they had.
//!
//! The steps are written against [`Runtime`], one way of running a lab. A container on
//! one engine is the first ([`container`]); a Swarm service is a second implementation
//! of the same steps.

mod plan;

use std::net::IpAddr;
use std::time::Duration;

pub use plan::{plan, Action};

use crate::engine::{Engine, Flavour};
use crate::environment::image_plan::{self, ImagePlan};
use crate::lab::image::BuildFlags;
use crate::lab::{admission, certificate, label};
use crate::runtime::cleanup::Cleanup;
use crate::runtime::container::{self, ports};
use crate::runtime::ready::{lab_address, Readiness};
use crate::runtime::swarm as service;
use crate::runtime::{Observed, Runtime, Status};
use crate::settings::{Found, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

/// Carries out `action`, then makes sure the lab answers.
pub async fn act<R: Runtime>(
    runtime: &R,
    action: &Action,
    current: Option<&Observed>,
    desired: &R::Desired,
    ready: &Readiness,
    printer: Printer,
) -> anyhow::Result<()> {
    let name = runtime.name();
    match (action, current) {
        (Action::Create, _) | (_, None) => {
            printer.say(format!("Creating {name}"));
            runtime.create(desired, ready).await
        }
        // Running is not the same as answering: it may still be starting, say after an
        // `up` that was cut off. The check costs one local request when it answers.
        (Action::Nothing, Some(current)) => runtime.answers(current, ready).await,
        (Action::Start, Some(current)) => {
            printer.say(format!("Starting {name}"));
            runtime.start(current, desired, ready).await
        }
        (Action::Recreate(reason), Some(current)) => {
            printer.say(format!("Recreating {name}: {reason}"));
            runtime.replace(current, desired, ready).await
        }
    }
}

/// What every kind of lab does once its desired state is known: plan the one action
/// against what was observed, and carry it out.
async fn plan_and_act<R: Runtime>(
    runtime: &R,
    observed: Option<&Observed>,
    desired: &R::Desired,
    ready: &Readiness,
    force: bool,
    printer: Printer,
) -> anyhow::Result<Action> {
    let (config_hash, image_id) = R::wanted(desired);
    let action = plan(observed, config_hash, image_id, force);
    act(runtime, &action, observed, desired, ready, printer).await?;
    Ok(action)
}

/// Limits the engine accepts and shows in inspect but does not apply deserve a word, not
/// silence: the hardening the README promises is weaker on such an engine.
fn warn_ignored_limits(flavour: Flavour, spec: &Spec, printer: Printer) {
    if flavour.ignores_pids_limit {
        printer.warn(format!(
            "this engine applies no pids limit (no cgroup driver, as in rootless Docker without cgroup v2), so the lab's limit of {} processes is not enforced",
            spec.resources.pids
        ));
    }
}

/// The lab `found` names, for verbs that act on what exists: when rjup.yaml could not
/// say the lab's name, the name its container or service carries for the project's
/// directory (which also tells a Swarm lab), else the one rjup keeps state under.
pub async fn identify(engine: &Engine, found: Found) -> anyhow::Result<Spec> {
    let mut spec = found.spec;
    if found.name_known {
        return Ok(spec);
    }
    let project = format!("{}={}", label::PROJECT, spec.dir.display());
    let name_of = |labels: Option<&std::collections::HashMap<String, String>>| {
        labels.and_then(|l| l.get(label::NAME)).cloned()
    };
    let containers = engine.labs(&project).await?;
    if let Some(name) = containers
        .iter()
        .find_map(|c| name_of(c.config.as_ref().and_then(|c| c.labels.as_ref())))
    {
        spec.name = name;
        spec.swarm = None;
        return Ok(spec);
    }
    if engine.swarm_role().await? == crate::engine::Role::Manager {
        let services = engine.services(&project).await?;
        if let Some(name) = services
            .iter()
            .find_map(|s| name_of(s.spec.as_ref().and_then(|s| s.labels.as_ref())))
        {
            spec.name = name;
            spec.swarm = Some(spec.swarm.unwrap_or_default());
            return Ok(spec);
        }
    }
    if let Some(name) = ProjectState::kept_name(&spec.dir) {
        spec.name = name;
    }
    Ok(spec)
}

/// Refuses to make a lab whose `allow:` this engine cannot enforce, before anything is
/// made; prints what the lab cannot tell apart where there is no list to break.
async fn judge_admission(engine: &Engine, spec: &Spec, printer: Printer) -> anyhow::Result<()> {
    let delivery = crate::lab::admission::delivery(engine, spec.bind, spec.swarm.is_some()).await?;
    let warnings = admission::judge(spec.bind, !spec.allow.is_empty(), delivery)
        .map_err(crate::error::Error::config)?;
    for warning in warnings {
        printer.warn(warning);
    }
    Ok(())
}

pub struct Options {
    pub force_recreate: bool,
    pub rebuild: bool,
    pub timeout: Duration,
}

pub struct Outcome {
    pub port: u16,
    pub action: Action,
    /// The SHA-256 fingerprint of the lab's certificate, when it serves HTTPS.
    pub fingerprint: Option<String>,
    /// The address of the node that runs a Swarm lab; a container is at `bind`.
    pub host: Option<IpAddr>,
}

/// Brings the project's lab container to the desired state: observe, choose the port,
/// get the image, plan, act, and remember the port.
pub async fn converge(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    hashed_password: &str,
    options: &Options,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<Outcome> {
    if spec.swarm.is_some() {
        return converge_service(
            engine,
            spec,
            state,
            hashed_password,
            options,
            printer,
            cleanup,
        )
        .await;
    }
    let _lock = state.lock(printer).await?;
    let runtime = container::Containers::new(engine, spec, cleanup, printer);
    // What kind of engine this is costs Podman a request of its own: ask it meanwhile,
    // but not over ssh, where a second request at once is a second ssh login (~0.3 s).
    let (observed, flavour) = if engine.over_ssh() {
        (runtime.observe().await, engine.flavour().await)
    } else {
        tokio::join!(runtime.observe(), engine.flavour())
    };
    let (observed, flavour) = (observed?, flavour?);
    spec.ensure_lock_fresh()?;
    judge_admission(engine, spec, printer).await?;
    // The port first: a taken port or a wrong bind address fails before a long build.
    let ours = observed
        .as_ref()
        .filter(|o| o.status == Status::Running)
        .and_then(|o| o.port);
    let port = ports::choose(engine, spec, state, ours, printer).await?;
    let image_plan = image_plan::plan(&spec.name, spec.owner, &spec.image);
    let image_id = crate::lab::image::ensure(
        engine,
        &image_plan,
        BuildFlags {
            log: Some(state.build_log()),
            state: Some(state.clone()),
            ..BuildFlags::default()
        },
        options.rebuild,
        printer,
    )
    .await?;
    let cookie_secret = state.cookie_secret()?;
    let accounts = state.accounts()?.lab_file();
    let lab_host = engine.lab_host().await;
    let probe = lab_address(&lab_host, spec.bind, port)?;
    let tls = certificate::for_lab(spec, state, Some(&lab_host), printer)?;
    let desired = crate::lab::container::desired(&crate::lab::Inputs {
        spec,
        image_reference: image_plan.reference(),
        image_id: &image_id,
        pulled: matches!(image_plan, ImagePlan::Pull { .. }),
        host_port: port,
        hashed_password,
        cookie_secret: &cookie_secret,
        tls: tls.as_ref(),
        accounts: &accounts,
        rootless: flavour.rootless,
        podman: flavour.podman,
    })?;
    let made_alike = made_alike(observed.as_ref(), &desired.config_hash);
    check_collaboration(engine, spec, &image_plan, made_alike, printer).await?;
    let ready = Readiness::new(
        probe,
        tls.as_ref(),
        &cookie_secret,
        options.timeout,
        printer,
    )?;
    let force = options.force_recreate;
    let action = plan_and_act(
        &runtime,
        observed.as_ref(),
        &desired,
        &ready,
        force,
        printer,
    )
    .await?;
    if action != Action::Nothing {
        warn_ignored_limits(flavour, spec, printer);
    } else if let Some(running) = &observed {
        // The accounts are no part of the config hash: a running lab gets them anew
        // when they differ from what was last copied in, in case `rjup user`'s own copy
        // failed after it saved them, or raced another change.
        container::sync_accounts_if_changed(engine, &running.id, &desired, state).await?;
    }
    state.set_port(port)?;
    let fingerprint = tls.as_ref().map(|t| t.fingerprint()).transpose()?;
    Ok(Outcome {
        port,
        action,
        fingerprint,
        host: None,
    })
}

/// Whether the lab observed was made from the same image and config as desired now.
fn made_alike(observed: Option<&Observed>, config_hash: &str) -> bool {
    observed.and_then(|o| o.config_hash.as_deref()) == Some(config_hash)
}

/// `collaboration: true` with a pulled image: refused unless it has jupyter-collaboration.
/// A lab made alike passed already, and an unchanged `up` stays quick. The probe runs
/// where rjup is connected, a Swarm manager included, so the image is pulled there
/// first (for a container it is there already).
async fn check_collaboration(
    engine: &Engine,
    spec: &Spec,
    image_plan: &ImagePlan,
    made_alike: bool,
    printer: Printer,
) -> anyhow::Result<()> {
    if spec.collaboration && matches!(image_plan, ImagePlan::Pull { .. }) && !made_alike {
        crate::lab::image::ensure(engine, image_plan, BuildFlags::default(), false, printer)
            .await?;
        crate::lab::collaboration::ensure_in_image(engine, image_plan.reference()).await?;
    }
    Ok(())
}

/// The same steps for a lab that is a Swarm service: observe, choose the port among the
/// cluster's labs, get the image every node can pull, plan, act, and remember the port.
async fn converge_service(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    hashed_password: &str,
    options: &Options,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<Outcome> {
    let _lock = state.lock(printer).await?;
    service::require_manager(engine).await?;
    let runtime = service::Services::new(engine, spec, cleanup, printer, options.timeout);
    let observed = runtime.observe().await?;
    spec.ensure_lock_fresh()?;
    judge_admission(engine, spec, printer).await?;
    let port = service::choose_port(engine, spec, state, observed.as_ref()).await?;
    let image = service::image(
        engine,
        spec,
        state,
        observed.as_ref(),
        options.rebuild,
        printer,
    )
    .await?;
    if spec.gpus.is_some() {
        printer.warn("`gpus` is not carried to a Swarm service (Swarm gives GPUs only as generic resources a node advertises); the lab runs without them");
    }
    let cookie_secret = state.cookie_secret()?;
    let accounts = state.accounts()?.lab_file();
    let nodes = engine.node_addresses().await?;
    let lab_host = engine.lab_host().await;
    let tls = certificate::for_lab_on(spec, state, Some(&lab_host), printer, &nodes)?;
    let desired = crate::lab::service::desired(&crate::lab::Inputs {
        spec,
        image_reference: &image.reference,
        image_id: &image.id,
        pulled: image.pulled,
        host_port: port,
        hashed_password,
        cookie_secret: &cookie_secret,
        tls: tls.as_ref(),
        accounts: &accounts,
        rootless: false,
        podman: false,
    })?;
    let image_plan = image_plan::plan(&spec.name, spec.owner, &spec.image);
    let made_alike = made_alike(observed.as_ref(), &desired.config_hash);
    check_collaboration(engine, spec, &image_plan, made_alike, printer).await?;
    // The node is not known before the task runs: the runtime probes it there.
    let probe = std::net::SocketAddr::new(spec.bind, port);
    let ready = Readiness::new(
        probe,
        tls.as_ref(),
        &cookie_secret,
        options.timeout,
        printer,
    )?;
    let force = options.force_recreate;
    let action = plan_and_act(
        &runtime,
        observed.as_ref(),
        &desired,
        &ready,
        force,
        printer,
    )
    .await?;
    state.set_port(port)?;
    let host = service::placement(engine, runtime.name()).await?.address;
    let fingerprint = tls.as_ref().map(|t| t.fingerprint()).transpose()?;
    Ok(Outcome {
        port,
        action,
        fingerprint,
        host,
    })
}
