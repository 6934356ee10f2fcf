use std::path::Path;

use serde_json::json;

use crate::cli::DownArgs;
use crate::converge::{container, service};
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::printer::Printer;
use crate::settings::{self, Overrides};
use crate::state::ProjectState;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: DownArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect(endpoint).await?;
    let name = spec.container_name();
    let found = if spec.swarm.is_some() {
        swarm_lab(&engine, &spec).await?
    } else {
        container::existing(&engine, &spec)
            .await?
            .map(|_| name.clone())
    };
    let removed = match found {
        None => {
            printer.say(format!(
                "Lab \"{}\" has no container; nothing to stop",
                spec.name
            ));
            false
        }
        Some(id) if spec.swarm.is_some() => {
            let cleanup = crate::cleanup::Cleanup::default();
            service::Services::new(&engine, &spec, &cleanup, printer, Default::default())
                .remove(&id)
                .await?;
            printer.say(format!(
                "Lab \"{}\" is down: its service and secrets are removed. Kept: the files in {}, the image and the password",
                spec.name,
                spec.dir.display()
            ));
            true
        }
        Some(_) => {
            engine.remove(&name).await?;
            let kept = if args.forget {
                "and the image"
            } else {
                "the image and the password"
            };
            printer.say(format!(
                "Lab \"{}\" is down. Kept: the files in {}, {kept}",
                spec.name,
                spec.dir.display()
            ));
            true
        }
    };
    let forgotten = args.forget && ProjectState::for_project(&spec.dir, &spec.name)?.forget()?;
    if forgotten {
        printer.say("Forgot the stored password hash, cookie secret, port and TLS certificate; the next `rjup up` asks for a new password");
    }
    if args.json {
        printer.out(
            json!({"name": spec.name, "container": name, "removed": removed, "forgotten": forgotten, "state": "absent"}),
        )?;
    }
    Ok(())
}

/// The project's service id, if it has one.
async fn swarm_lab(
    engine: &Engine,
    spec: &crate::settings::Spec,
) -> anyhow::Result<Option<String>> {
    service::require_manager(engine).await?;
    Ok(service::existing(engine, spec)
        .await?
        .map(|s| s.id.unwrap_or_default()))
}
