use std::path::Path;

use serde_json::json;

use crate::cli::DownArgs;
use crate::engine::endpoint::Endpoint;
use crate::engine::Engine;
use crate::runtime::container;
use crate::runtime::swarm as service;
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: DownArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let engine = Engine::connect(endpoint).await?;
    let spec = super::find_lab(project, &engine, "down", printer).await?;
    let name = spec.container_name();
    let removed = if spec.swarm.is_some() {
        swarm_down(&engine, &spec, printer).await?
    } else {
        container_down(&engine, &spec, &args, printer).await?
    };
    let forgotten = args.forget && ProjectState::for_project(&spec.dir, &spec.name)?.forget()?;
    if forgotten {
        printer.say("Forgot the stored password hash, named accounts, cookie secret, port and TLS certificate; the next `rjup up` asks for a new password");
    }
    if args.json {
        printer.out(
            json!({"name": spec.name, "container": name, "removed": removed, "forgotten": forgotten, "state": "absent"}),
        )?;
    }
    Ok(())
}

async fn container_down(
    engine: &Engine,
    spec: &Spec,
    args: &DownArgs,
    printer: Printer,
) -> anyhow::Result<bool> {
    if container::existing(engine, spec).await?.is_none() {
        printer.say(format!(
            "Lab \"{}\" has no container; nothing to stop",
            spec.name
        ));
        return Ok(false);
    }
    engine.remove(&spec.container_name()).await?;
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
    Ok(true)
}

async fn swarm_down(engine: &Engine, spec: &Spec, printer: Printer) -> anyhow::Result<bool> {
    let removed = service::remove_lab(engine, spec, printer).await?;
    if removed.service {
        printer.say(format!(
            "Lab \"{}\" is down: its service and secrets are removed. Kept: the files in {}, the image and the password",
            spec.name,
            spec.dir.display()
        ));
    } else if removed.leftover_secrets > 0 {
        printer.say(format!(
            "Lab \"{}\" has no service; removed {} secret(s) an interrupted `rjup up` left",
            spec.name, removed.leftover_secrets
        ));
    } else {
        printer.say(format!(
            "Lab \"{}\" has no service; nothing to stop",
            spec.name
        ));
    }
    Ok(removed.service || removed.leftover_secrets > 0)
}
