use std::path::Path;

use crate::cli::StatusArgs;
use crate::engine::endpoint::Endpoint;
use crate::engine::Engine;
use crate::lab::service as lab_service;
use crate::runtime::container;
use crate::runtime::swarm as service;
use crate::runtime::view::LabView;
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: StatusArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let engine = Engine::connect(endpoint).await?;
    let spec = super::find_lab(project, &engine, "status", printer).await?;
    let view = view(&engine, &spec).await?;
    // By name and role: hashes stay in rjup's state.
    let accounts = ProjectState::for_project(&spec.dir, &spec.name)?
        .accounts()?
        .listing();
    if args.json {
        let mut json = serde_json::to_value(&view)?;
        json["accounts"] = serde_json::to_value(&accounts)?;
        printer.out(json)?;
        return Ok(());
    }
    printer.out(format!("Lab \"{}\": {}", view.name, view.state))?;
    printer.out(format!("  project:   {}", view.project))?;
    printer.out(format!("  engine:    {}", view.engine))?;
    if let Some(file) = &spec.config_file {
        printer.out(format!("  config:    {}", file.display()))?;
    }
    if view.state != "absent" && view.node.is_none() && view.task.is_none() {
        printer.out(format!("  container: {}", view.container))?;
    }
    if let Some(task) = &view.task {
        printer.out(format!("  service:   {}", view.container))?;
        printer.out(format!("  task:      {task}"))?;
    }
    if let Some(node) = &view.node {
        printer.out(format!("  node:      {node} ({})", view.bind))?;
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
    let accounts: Vec<String> = accounts
        .iter()
        .map(|a| format!("{} ({})", a.name, a.role))
        .collect();
    printer.out(format!("  accounts:  {}", accounts.join(", ")))?;
    printer.out(format!("  admits:    {}", view.admits()))?;
    if view.collaboration {
        printer.out("  collaboration: on")?;
    }
    if view.state != "running" {
        printer.out("  Start it with `rjup up`")?;
    }
    Ok(())
}

/// The project's lab as the engine sees it now: who it admits as its labels say, or as
/// rjup.yaml asks for a lab that does not exist, and whether that holds there.
pub async fn view(engine: &Engine, spec: &Spec) -> anyhow::Result<LabView> {
    let view = found(engine, spec)
        .await?
        .sharing(&spec.allow, spec.collaboration);
    // A Swarm lab's `bind` is its node's address: the one it is published on is asked.
    let bind = match spec.swarm {
        Some(_) => spec.bind,
        None => view.bind.parse().unwrap_or(spec.bind),
    };
    let delivery = crate::lab::admission::delivery(engine, bind, spec.swarm.is_some()).await?;
    Ok(view.admission(bind, delivery))
}

async fn found(engine: &Engine, spec: &Spec) -> anyhow::Result<LabView> {
    if spec.swarm.is_some() {
        service::require_manager(engine).await?;
        let found = service::existing(engine, spec).await?;
        let placement = match &found {
            Some(s) => service::placement(engine, s.id.as_deref().unwrap_or_default()).await?,
            None => Default::default(),
        };
        let name = lab_service::service_name(spec);
        let project = spec.dir.display().to_string();
        return Ok(
            LabView::of_service(&spec.name, &project, &name, found.as_ref(), &placement)
                .on_engine(engine.name()),
        );
    }
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
