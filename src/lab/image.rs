//! The lab's image, made: pulled as is, or built from its plan
//! ([`crate::environment::image_plan`]), the shared tools image first.

use crate::engine::{BuildFlags, Builder, Engine};
use crate::environment::image_plan::ImagePlan;
use crate::ui::printer::Printer;

/// The image's id, pulling or building it only when it is not there (or when asked).
pub async fn ensure(
    engine: &Engine,
    plan: &ImagePlan,
    flags: BuildFlags,
    rebuild: bool,
    printer: Printer,
) -> anyhow::Result<String> {
    match plan {
        ImagePlan::Pull { reference } => match engine.image_id(reference).await? {
            Some(id) => Ok(id),
            None => engine.pull(reference, printer).await,
        },
        ImagePlan::Build {
            tag,
            base,
            tools,
            context,
            classic_context,
            used,
            base_from,
        } => {
            if used.is_empty() {
                printer.say("Environment: JupyterLab only (no environment files found)");
            } else {
                printer.say(format!("Environment: {}", used.join(", ")));
            }
            if !rebuild && !flags.no_cache && !flags.pull {
                if let Some(id) = engine.image_id(tag).await? {
                    return Ok(id);
                }
            }
            // rjup pulls the base itself, with the user's registry login, which the
            // engine's own pull inside a build would not send.
            if flags.pull || engine.image_id(base).await?.is_none() {
                engine
                    .pull(base, printer)
                    .await
                    .map_err(|e| match base_from {
                        Some(file) => e.context(format!(
                        "{file} asks for {base} (set build.base in rjup.yaml to use another base)"
                    )),
                        None => e,
                    })?;
            }
            let flags = BuildFlags {
                pull: false,
                ..flags
            };
            let builder = engine.builder().await?;
            // Cache mounts for the builders that take them.
            let pick = |mounts: &Vec<u8>, classic: &Vec<u8>| match builder {
                Builder::BuildKit | Builder::Buildah => mounts.clone(),
                Builder::Classic => classic.clone(),
            };
            // The tools are made once per base and kept, and again from nothing with
            // `--no-cache`, or when the base's image changed under its name (`--pull`,
            // `docker pull`): the tag names the base, the layers tell which image it was.
            let why = match engine.image_layers(&tools.tag).await? {
                None => Some("built once per base image"),
                Some(_) if flags.no_cache => Some("built again (--no-cache)"),
                Some(tools_layers) => {
                    let base_layers = engine.image_layers(base).await?.unwrap_or_default();
                    (!tools_layers.starts_with(&base_layers))
                        .then_some("built again on the base's newer image")
                }
            };
            if let Some(why) = why {
                printer.say(format!(
                    "Tools for {base} (git, wget, curl, unzip, bzip2, gcc, uv): {why}"
                ));
                let context = pick(&tools.context, &tools.classic_context);
                // The project's `RJUP_FRESH` is the project's own: the tools are shared.
                let flags = BuildFlags {
                    state: None,
                    ..flags.clone()
                };
                engine
                    .build(&tools.tag, context, builder, flags, printer)
                    .await?;
            }
            engine
                .build(tag, pick(context, classic_context), builder, flags, printer)
                .await
        }
    }
}
