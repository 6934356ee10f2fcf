//! The image every node of a Swarm runs. Pull mode: each node pulls `image:`, pinned to
//! the digest the registry holds now when it says. Build mode: build on the manager,
//! push to `swarm.registry`, and run the push by digest, so every node runs exactly
//! this build; a build the service already runs is not pushed again.

use crate::engine::Engine;
use crate::environment::image_plan::{self, ImagePlan};
use crate::error::Error;
use crate::lab::image::BuildFlags;
use crate::runtime::{Image, Observed};
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn get(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    observed: Option<&Observed>,
    rebuild: bool,
    printer: Printer,
) -> anyhow::Result<Image> {
    let plan = image_plan::plan(&spec.name, spec.owner, &spec.image);
    let tag = match &plan {
        ImagePlan::Pull { reference } => {
            let pinned = pinned(reference, engine.registry_digest(reference).await);
            return Ok(Image {
                reference: pinned.clone(),
                id: pinned,
                pulled: true,
            });
        }
        ImagePlan::Build { tag, .. } => tag.clone(),
    };
    let registry = spec
        .swarm
        .as_ref()
        .and_then(|s| s.registry.clone())
        .ok_or(Error::NoSwarmRegistry)?;
    let flags = BuildFlags {
        state: Some(state.clone()),
        ..Default::default()
    };
    let id = crate::lab::image::ensure(engine, &plan, flags, rebuild, printer).await?;
    if let Some(current) = observed.filter(|o| runs(o, &id)) {
        let running = engine
            .service(&current.id)
            .await?
            .and_then(|s| s.spec?.task_template?.container_spec?.image);
        if let Some(reference) = running {
            return Ok(Image {
                reference,
                id,
                pulled: false,
            });
        }
    }
    let target = push_target(&registry, &tag);
    printer.say(format!("Pushing {target}"));
    let reference = engine.push(&id, &target).await?;
    Ok(Image {
        reference,
        id,
        pulled: false,
    })
}

/// `reference` pinned by `digest`, as `docker service create` pins: a node that holds
/// the image then starts it without asking the registry again, which a tag makes it
/// do on every start, a failover's included. A reference with a digest is pinned
/// already; one the registry gave no digest for stays as it is.
fn pinned(reference: &str, digest: Option<String>) -> String {
    match digest {
        Some(digest) if !reference.contains('@') => format!("{reference}@{digest}"),
        _ => reference.to_string(),
    }
}

/// Whether the lab `observed` runs the build `id` already, so it needs no push.
fn runs(observed: &Observed, id: &str) -> bool {
    observed.image_id.as_deref() == Some(id)
}

/// Where build `tag` is pushed for the nodes to pull it.
fn push_target(registry: &str, tag: &str) -> String {
    format!("{registry}/{tag}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Status;

    #[test]
    fn a_pulled_image_is_pinned_by_the_registrys_digest_once() {
        let digest = || Some("sha256:abc".to_string());
        assert_eq!(
            pinned("jupyter/minimal-notebook:latest", digest()),
            "jupyter/minimal-notebook:latest@sha256:abc"
        );
        assert_eq!(pinned("repo@sha256:def", digest()), "repo@sha256:def");
        assert_eq!(pinned("repo:tag", None), "repo:tag");
    }

    #[test]
    fn a_build_goes_to_the_swarms_registry_unless_the_lab_runs_it_already() {
        assert_eq!(
            push_target("10.240.0.1:5000", "rjup/demo:0123456789ab"),
            "10.240.0.1:5000/rjup/demo:0123456789ab"
        );
        let observed = Observed {
            id: "svc".into(),
            status: Status::Running,
            config_hash: None,
            image_id: Some("sha256:built".into()),
            port: Some(8888),
        };
        assert!(runs(&observed, "sha256:built"));
        assert!(!runs(&observed, "sha256:other"));
    }
}
