//! What the engine reports while it pulls or builds. The engine says what happens; the
//! one who asked decides how it shows (a person's terminal, a log), so nothing here
//! prints, and the engine needs nothing from above it.

use bollard::models::{BuildInfo, CreateImageInfo};

/// Where a pull or a build reports as it goes.
pub trait Progress {
    /// A pull of `reference` starts.
    fn pull(&self, reference: &str) -> Box<dyn PullProgress + '_>;
    /// A build of `tag` starts, from a context of `context_bytes`, whose Dockerfile has
    /// `steps` steps as BuildKit numbers them, when that is known.
    fn build(
        &self,
        tag: &str,
        context_bytes: usize,
        steps: Option<u64>,
    ) -> Box<dyn BuildProgress + '_>;
}

/// One pull under way: the engine's messages about each layer.
pub trait PullProgress {
    fn update(&mut self, info: &CreateImageInfo);
}

/// One build under way: the engine's messages about each step.
pub trait BuildProgress {
    fn update(&mut self, info: &BuildInfo);
    /// When the build failed: the failing step and the end of its output.
    fn failure_report(&mut self) -> String;
}
