//! Bringing a project's lab to the state its files and flags describe, apart from the
//! verbs that ask for it.
//!
//! As docker compose's convergence does, it observes what runs, plans the one action
//! that closes the gap (comparing a config-hash label, not the whole configuration),
//! acts, and then waits until the lab answers. A lab is replaced by create-then-swap:
//! the replacement must answer before the old lab is removed, and if it does not, the
//! old lab is started again, so a failed change never costs the user the lab they had.
//!
//! The flow is written once, against [`Runtime`]: a container on one engine and a Swarm
//! service take the same steps, each its own way ([`crate::runtime`]). [`accounts`]
//! brings a change of the named accounts to the lab.

pub mod accounts;
mod plan;

use std::net::IpAddr;
use std::time::Duration;

pub use plan::{plan, Action};

use crate::config::TlsConfig;
use crate::engine::Engine;
use crate::environment::image_plan::{self, ImagePlan};
use crate::lab::image::BuildFlags;
use crate::lab::{admission, certificate, Inputs};
use crate::password::{Check, Hashing, PasswordChanged};
use crate::runtime::cleanup::Cleanup;
use crate::runtime::ready::Readiness;
use crate::runtime::{self, with_runtime, Observed, Runtime};
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::tls::Trust;
use crate::ui::printer::Printer;

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
    /// With `tls: acme`: the certificate the renewer gave the lab.
    pub certificate: Option<crate::acme::Status>,
}

/// Brings the project's lab to the desired state, holding the project's lock: observe,
/// choose the port, get the image, plan, act, and remember the port.
pub async fn converge(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    hashed_password: Hashing,
    options: &Options,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<Outcome> {
    let _lock = state.lock_project(printer).await?;
    let runtime = runtime::for_spec(engine, spec, printer).converging(cleanup, options.timeout);
    let lab = Lab {
        engine,
        spec,
        state,
        printer,
    };
    with_runtime!(&runtime, runtime => lab.converge(runtime, hashed_password, options).await)
}

/// The project's lab, as converging it needs.
struct Lab<'a> {
    engine: &'a Engine,
    spec: &'a Spec,
    state: &'a ProjectState,
    printer: Printer,
}

impl Lab<'_> {
    /// The one flow, on whichever runtime the spec chose.
    async fn converge<R: Runtime>(
        &self,
        runtime: &R,
        hashed_password: Hashing,
        options: &Options,
    ) -> anyhow::Result<Outcome> {
        let Lab {
            engine,
            spec,
            state,
            printer,
        } = *self;
        runtime.prepare().await?;
        let observed = runtime.observe().await?;
        tracing::trace!("converge {}: observed {observed:?}", runtime.name());
        spec.ensure_lockfile_fresh()?;
        judge_admission(runtime, spec, printer).await?;
        // The port first: a taken port or a wrong bind address fails before a long build.
        let port = runtime.port(state, observed.as_ref()).await?;
        tracing::trace!("converge {}: port {port}", runtime.name());
        let image = runtime
            .image(state, observed.as_ref(), options.rebuild)
            .await?;
        tracing::trace!(
            "converge {}: image {} ({}{})",
            runtime.name(),
            image.reference,
            image.id,
            if image.pulled { ", pulled" } else { "" }
        );
        let cookie_secret = state.cookie_secret()?;
        let accounts = state.accounts()?.lab_file();
        let probe = runtime.probe_address(port).await?;
        let lab_host = engine.lab_host().await;
        let elsewhere = runtime.serving_addresses().await?;
        let tls = certificate::for_lab_on(spec, state, Some(&lab_host), printer, &elsewhere)?;
        // Before the lab is made: a CA that refuses leaves the lab as it was.
        let acme = match &spec.tls {
            TlsConfig::Acme(wanted) => Some(runtime.acme(wanted, options.timeout).await?),
            _ => None,
        };
        let trust = match (&acme, &tls) {
            (Some(acme), _) => Some(acme.trust()),
            (None, Some(tls)) => Some(Trust::pinned(tls)?),
            (None, None) => None,
        };
        let ready = Readiness::new(
            probe,
            trust.as_ref(),
            &cookie_secret,
            options.timeout,
            printer,
        )?;
        // The lab is made with the stored hash while argon2 checks the given password
        // against it, and waits for the check before it starts; a new password (rare)
        // makes it again. A password with no stored hash is hashed first.
        let (mut hashed_password, mut check) = match hashed_password.guess() {
            Ok(guess) => guess,
            Err(hashing) => (hashing.hash().await?, Check::none()),
        };
        let mut announce = true;
        let (desired, action) = loop {
            let desired = runtime
                .desired(&Inputs {
                    spec,
                    image_reference: &image.reference,
                    image_id: &image.id,
                    pulled: image.pulled,
                    host_port: port,
                    hashed_password: &hashed_password,
                    cookie_secret: &cookie_secret,
                    tls: tls.as_ref(),
                    acme: acme.as_ref(),
                    accounts: &accounts,
                    rootless: false,
                    podman: false,
                })
                .await?;
            let (config_hash, image_id) = R::wanted(&desired);
            let made_alike = made_alike(observed.as_ref(), config_hash);
            check_collaboration(engine, spec, made_alike, printer).await?;
            let action = plan(
                observed.as_ref(),
                config_hash,
                image_id,
                options.force_recreate,
            );
            tracing::trace!(
                "converge {}: {action:?} (config hash {config_hash})",
                runtime.name()
            );
            let steps = Steps {
                ready: &ready,
                check: &check,
                announce,
            };
            match act(
                runtime,
                &action,
                observed.as_ref(),
                &desired,
                &steps,
                printer,
            )
            .await
            {
                Ok(()) => break (desired, action),
                Err(err) => match err.downcast::<PasswordChanged>() {
                    Ok(changed) => {
                        tracing::debug!("converge {}: a new password", runtime.name());
                        hashed_password = changed.hash;
                        check = Check::none();
                        announce = matches!(action, Action::Nothing | Action::Start);
                    }
                    Err(err) => return Err(err),
                },
            }
        };
        let changed = action != Action::Nothing;
        runtime
            .settle(changed, observed.as_ref(), &desired, state)
            .await?;
        state.set_port(port)?;
        let host = runtime.host().await?;
        let fingerprint = tls.as_ref().map(|t| t.fingerprint()).transpose()?;
        Ok(Outcome {
            port,
            action,
            fingerprint,
            host,
            certificate: acme.map(|a| a.status),
        })
    }
}

/// What carrying out an action waits for.
pub struct Steps<'a> {
    /// The lab answering.
    pub ready: &'a Readiness,
    /// The password check: passed before anything starts or stops.
    pub check: &'a Check,
    /// Whether to say what is done: not when it is done again for a changed password.
    pub announce: bool,
}

/// Carries out `action`, then makes sure the lab answers.
pub async fn act<R: Runtime>(
    runtime: &R,
    action: &Action,
    current: Option<&Observed>,
    desired: &R::Desired,
    steps: &Steps<'_>,
    printer: Printer,
) -> anyhow::Result<()> {
    let name = runtime.name();
    let say = |what: String| {
        if steps.announce {
            printer.say(what);
        }
    };
    let ready = steps.ready;
    match (action, current) {
        (Action::Create, _) | (_, None) => {
            say(format!("Creating {name}"));
            runtime.create(desired, ready, steps.check).await
        }
        // Running is not the same as answering: it may still be starting, say after an
        // `up` that was cut off. The check costs one local request when it answers.
        (Action::Nothing, Some(current)) => {
            steps.check.pass().await?;
            runtime.answers(current, ready).await
        }
        (Action::Start, Some(current)) => {
            steps.check.pass().await?;
            say(format!("Starting {name}"));
            runtime.start(current, desired, ready).await
        }
        (Action::Recreate(reason), Some(current)) => {
            say(format!("Recreating {name}: {reason}"));
            runtime.replace(current, desired, ready, steps.check).await
        }
    }
}

/// Refuses to make a lab whose `allow:` cannot be enforced where it runs, before
/// anything is made; prints what the lab cannot tell apart where there is no list to
/// break.
async fn judge_admission<R: Runtime>(
    runtime: &R,
    spec: &Spec,
    printer: Printer,
) -> anyhow::Result<()> {
    let delivery = runtime.delivery(spec.bind).await?;
    let warnings = admission::judge(spec.bind, !spec.allow.is_empty(), delivery)
        .map_err(crate::error::Error::config)?;
    for warning in warnings {
        printer.warn(warning);
    }
    Ok(())
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
    made_alike: bool,
    printer: Printer,
) -> anyhow::Result<()> {
    let image_plan = &image_plan::plan(&spec.name, spec.owner, &spec.image);
    if spec.collaboration && matches!(image_plan, ImagePlan::Pull { .. }) && !made_alike {
        crate::lab::image::ensure(engine, image_plan, BuildFlags::default(), false, printer)
            .await?;
        crate::lab::collaboration::ensure_in_image(engine, image_plan.reference()).await?;
    }
    Ok(())
}
