//! The lab's image, made: pulled as is, or built from its plan
//! ([`crate::environment::image_plan`]), the shared tools image first. What the engine
//! reports meanwhile is shown as [`crate::ui::progress`] draws it.

use std::path::{Path, PathBuf};

use bollard::models::{BuildInfo, CreateImageInfo};

use crate::engine::progress::{BuildProgress, Progress, PullProgress};
use crate::engine::{BuildOptions, Builder, Engine};
use crate::environment::image_plan::{ImagePlan, Tools};
use crate::state::ProjectState;
use crate::ui::printer::Printer;
use crate::ui::progress;

/// How the lab's image is to be built, as the command asks.
#[derive(Debug, Default, Clone)]
pub struct BuildFlags {
    /// Build every step anew, ignoring the layer cache (the package caches stay).
    pub no_cache: bool,
    /// Pull a newer base image if there is one.
    pub pull: bool,
    /// Where the failing step's whole output goes when the error shows only its end.
    pub log: Option<PathBuf>,
    /// Where the project's last `RJUP_FRESH` value is kept (see [`fresh_arg`]).
    pub state: Option<ProjectState>,
}

impl BuildFlags {
    /// The engine's options for one build: `RJUP_FRESH` only for BuildKit, and kept in
    /// `state` when the project has one.
    fn options(
        &self,
        builder: Builder,
        state: Option<&ProjectState>,
    ) -> anyhow::Result<BuildOptions> {
        let fresh = match builder {
            Builder::BuildKit => {
                let new = format!("rjup-{}", hex::encode(crate::state::random_bytes::<16>()?));
                fresh_arg(state, self.no_cache, &new)?
            }
            Builder::Buildah | Builder::Classic => None,
        };
        Ok(BuildOptions {
            no_cache: self.no_cache,
            pull: self.pull,
            fresh,
        })
    }
}

/// The value of `RJUP_FRESH` for a BuildKit build: a new one (`new`) under `--no-cache`,
/// kept in the project's state; else the kept one, so that the build after `--no-cache`
/// reuses its layers rather than those from before it.
fn fresh_arg(
    state: Option<&ProjectState>,
    no_cache: bool,
    new: &str,
) -> anyhow::Result<Option<String>> {
    match (state, no_cache) {
        (Some(state), true) => state.set_build_fresh(new).map(|()| Some(new.to_string())),
        (None, true) => Ok(Some(new.to_string())),
        (Some(state), false) => state.build_fresh(),
        (None, false) => Ok(None),
    }
}

/// Pulls and builds shown to the user: bars on a terminal, lines otherwise; a failed
/// build's whole step goes to `build_log`.
pub struct Shown<'a> {
    pub printer: Printer,
    pub build_log: Option<&'a Path>,
}

impl Shown<'_> {
    pub fn new(printer: Printer) -> Self {
        Shown {
            printer,
            build_log: None,
        }
    }
}

impl Progress for Shown<'_> {
    fn pull(&self, reference: &str) -> Box<dyn PullProgress + '_> {
        Box::new(progress::Pull::new(reference, self.printer))
    }

    fn build(
        &self,
        tag: &str,
        context_bytes: usize,
        steps: Option<u64>,
    ) -> Box<dyn BuildProgress + '_> {
        Box::new(ShownBuild {
            steps: progress::Build::new(tag, context_bytes, self.printer).expecting(steps),
            log: self.build_log,
        })
    }
}

impl PullProgress for progress::Pull {
    fn update(&mut self, info: &CreateImageInfo) {
        progress::Pull::update(self, info);
    }
}

struct ShownBuild<'a> {
    steps: progress::Build,
    log: Option<&'a Path>,
}

impl BuildProgress for ShownBuild<'_> {
    fn update(&mut self, info: &BuildInfo) {
        self.steps.update(info);
    }

    fn failure_report(&mut self) -> String {
        self.steps.failure_report(15, self.log)
    }
}

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
            None => engine.pull(reference, &Shown::new(printer)).await,
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
                    .pull(base, &Shown::new(printer))
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
            let shown = Shown {
                printer,
                build_log: flags.log.as_deref(),
            };
            // Cache mounts for the builders that take them.
            let pick = |mounts: &Vec<u8>, classic: &Vec<u8>| match builder {
                Builder::BuildKit | Builder::Buildah => mounts.clone(),
                Builder::Classic => classic.clone(),
            };
            if let Some(why) = tools_needed(engine, tools, base, flags.no_cache).await? {
                printer.say(format!("Tools for {base} ({}): {why}", tools.holds()));
                let context = pick(&tools.context, &tools.classic_context);
                // The project's `RJUP_FRESH` is the project's own: the tools are shared.
                let options = flags.options(builder, None)?;
                engine
                    .build(&tools.tag, context, builder, options, &shown)
                    .await?;
            }
            let options = flags.options(builder, flags.state.as_ref())?;
            engine
                .build(
                    tag,
                    pick(context, classic_context),
                    builder,
                    options,
                    &shown,
                )
                .await
        }
    }
}

/// Why the tools image is to be built, if it is. The tools are made once per base and
/// kept, and again from nothing with `--no-cache`, or when the base's image changed
/// under its name (`--pull`, `docker pull`): the tag names the base, the layers tell
/// which image it was.
async fn tools_needed(
    engine: &Engine,
    tools: &Tools,
    base: &str,
    no_cache: bool,
) -> anyhow::Result<Option<&'static str>> {
    Ok(match engine.image_layers(&tools.tag).await? {
        None => Some("built once per base image"),
        Some(_) if no_cache => Some("built again (--no-cache)"),
        Some(tools_layers) => {
            let base_layers = engine.image_layers(base).await?.unwrap_or_default();
            (!tools_layers.starts_with(&base_layers))
                .then_some("built again on the base's newer image")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_after_no_cache_keep_its_fresh_value_so_its_layers_are_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let state = crate::state::ProjectState::in_dir(tmp.path().join("p"));
        let fresh = |no_cache, new| fresh_arg(Some(&state), no_cache, new).unwrap();
        assert_eq!(fresh(false, "s1"), None);
        assert_eq!(fresh(true, "s2").as_deref(), Some("s2"));
        assert_eq!(fresh(false, "s3").as_deref(), Some("s2"));
        assert_eq!(fresh(true, "s4").as_deref(), Some("s4"));
        assert_eq!(fresh(false, "s5").as_deref(), Some("s4"));
        assert_eq!(fresh_arg(None, true, "s6").unwrap().as_deref(), Some("s6"));
        assert_eq!(fresh_arg(None, false, "s7").unwrap(), None);
        let mode = std::fs::metadata(tmp.path().join("p/build-fresh"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
}
