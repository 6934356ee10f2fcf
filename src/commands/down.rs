use std::path::Path;

use serde_json::json;

use crate::cli::DownArgs;
use crate::engine::endpoint::Endpoint;
use crate::runtime;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: DownArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let engine = super::connect(endpoint).await?;
    let spec = super::find_lab(project, &engine, "down", printer).await?;
    let name = spec.container_name();
    let removed = runtime::for_spec(&engine, &spec, printer).remove().await?;
    printer.say(removed.describe(&spec.name, &spec.dir, args.forget));
    let forgotten = args.forget && ProjectState::for_project(&spec.dir, &spec.name)?.forget()?;
    if forgotten {
        printer.say("Forgot the stored password hash, named accounts, cookie secret, port and TLS certificate; the next `rjup up` asks for a new password");
    }
    if args.json {
        printer.out(
            json!({"name": spec.name, "container": name, "removed": removed.any(), "forgotten": forgotten, "state": "absent"}),
        )?;
    }
    Ok(())
}
