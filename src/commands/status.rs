use std::path::Path;

use super::view::LabView;
use crate::cli::StatusArgs;
use crate::converge::container;
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::printer::Printer;
use crate::settings::{self, Overrides, Spec};
use crate::state::ProjectState;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: StatusArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect(endpoint).await?;
    let view = view(&engine, &spec).await?;
    if args.json {
        printer.out(serde_json::to_string(&view)?)?;
        return Ok(());
    }
    printer.out(format!("Lab \"{}\": {}", view.name, view.state))?;
    printer.out(format!("  project:   {}", view.project))?;
    printer.out(format!("  engine:    {}", view.engine))?;
    if let Some(file) = &spec.config_file {
        printer.out(format!("  config:    {}", file.display()))?;
    }
    if view.state != "absent" {
        printer.out(format!("  container: {}", view.container))?;
    }
    if let Some(image) = &view.image {
        printer.out(format!("  image:     {image}"))?;
    }
    if let Some(uptime) = view.uptime() {
        printer.out(format!("  uptime:    {uptime}"))?;
    }
    for (i, url) in view.urls.iter().enumerate() {
        printer.out(format!(
            "  {} {url}",
            if i == 0 { "urls:     " } else { "          " }
        ))?;
    }
    if view.state != "running" {
        printer.out("  Start it with `rjup up`")?;
    }
    Ok(())
}

/// The project's lab as the engine sees it now.
pub async fn view(engine: &Engine, spec: &Spec) -> anyhow::Result<LabView> {
    let container = container::existing(engine, spec).await?;
    let remembered = ProjectState::for_project(&spec.dir, &spec.name)?.port()?;
    Ok(LabView::new(
        &engine.lab_host().await,
        &spec.name,
        &spec.dir.display().to_string(),
        &spec.container_name(),
        container.as_ref(),
        remembered,
        spec.bind,
    )
    .on_engine(engine.name()))
}
