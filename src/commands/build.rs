use std::path::Path;

use crate::cli::BuildArgs;
use crate::engine::endpoint::Endpoint;
use crate::environment::image_plan::{self, ImagePlan};
use crate::lab::image::BuildFlags;
use crate::settings::{self, Overrides};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: BuildArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let mut spec = settings::resolve(project, Overrides::default())?;
    for warning in &spec.warnings {
        printer.warn(warning);
    }
    let engine = super::connect(endpoint).await?;
    super::lock::refresh(&engine, &mut spec, args.lock, printer).await?;
    let plan = image_plan::plan(&spec.name, spec.owner, &spec.image);
    let state = ProjectState::for_project(&spec.dir, &spec.name).ok();
    let flags = BuildFlags {
        no_cache: args.no_cache,
        pull: args.pull,
        log: state.as_ref().map(ProjectState::build_log),
        state,
    };
    if let ImagePlan::Build { tag, .. } = &plan {
        if !args.no_cache && !args.pull && engine.image_id(tag).await?.is_some() {
            printer.say(format!("Environment: {}", used(&plan)));
            printer.say(format!("Image {tag} is up to date; nothing to build"));
            return Ok(());
        }
    }
    let id = crate::lab::image::ensure(&engine, &plan, flags, true, printer).await?;
    let short = id
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect::<String>();
    printer.say(format!("Image {} is ready ({short})", plan.reference()));
    Ok(())
}

fn used(plan: &ImagePlan) -> String {
    match plan {
        ImagePlan::Build { used, .. } if !used.is_empty() => used.join(", "),
        _ => "JupyterLab only (no environment files found)".to_string(),
    }
}
