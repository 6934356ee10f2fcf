use std::path::Path;

use super::view::LabView;
use crate::cli::StatusArgs;
use crate::engine::Engine;
use crate::settings::{self, Overrides, Spec};
use crate::state::ProjectState;

pub async fn run(project: Option<&Path>, args: StatusArgs) -> anyhow::Result<()> {
    super::machine_output(args.json);
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect().await?;
    let view = view(&engine, &spec).await?;
    if args.json {
        println!("{}", serde_json::to_string(&view)?);
        return Ok(());
    }
    println!("Lab \"{}\": {}", view.name, view.state);
    println!("  project:   {}", view.project);
    if let Some(file) = &spec.config_file {
        println!("  config:    {}", file.display());
    }
    if view.state != "absent" {
        println!("  container: {}", view.container);
    }
    if let Some(image) = &view.image {
        println!("  image:     {image}");
    }
    if let Some(uptime) = view.uptime() {
        println!("  uptime:    {uptime}");
    }
    for (i, url) in view.urls.iter().enumerate() {
        println!(
            "  {} {url}",
            if i == 0 { "urls:     " } else { "          " }
        );
    }
    if view.state != "running" {
        println!("  Start it with `rjup up`");
    }
    Ok(())
}

/// The project's lab as the engine sees it now.
pub async fn view(engine: &Engine, spec: &Spec) -> anyhow::Result<LabView> {
    let container = engine.inspect(&spec.container_name()).await?;
    if let Some(c) = &container {
        super::up::check_owner(c, spec)?;
    }
    let remembered = ProjectState::for_project(&spec.dir, &spec.name)?.port()?;
    Ok(LabView::new(
        &spec.name,
        &spec.dir.display().to_string(),
        &spec.container_name(),
        container.as_ref(),
        remembered,
        spec.bind,
    ))
}
