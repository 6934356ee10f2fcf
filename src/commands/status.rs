use std::path::Path;

use crate::cli::StatusArgs;
use crate::engine::endpoint::Endpoint;
use crate::runtime;
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: StatusArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let engine = super::connect(endpoint).await?;
    let spec = super::find_lab(project, &engine, "status", printer).await?;
    let state = ProjectState::for_project(&spec.dir, &spec.name)?;
    let view = runtime::for_spec(&engine, &spec, printer)
        .view(&state)
        .await?;
    // By name and role: hashes stay in rjup's state.
    let accounts = state.accounts()?.listing();
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
    if let Some(certificate) = &view.certificate {
        let (certificate, renewal) = certificate.lines();
        printer.out(format!("  certificate: {certificate}"))?;
        printer.out(format!("  renewal:   {renewal}"))?;
    }
    if view.collaboration {
        printer.out("  collaboration: on")?;
    }
    if view.state != "running" {
        printer.out("  Start it with `rjup up`")?;
    }
    Ok(())
}
