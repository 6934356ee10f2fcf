//! The lab's environment as the project's files describe it: its Binder files, the
//! `rjup.lock` that pins them, and the plan of the image made from them. Nothing here
//! talks to an engine.

pub mod binder;
pub mod collaboration;
pub mod conda;
pub mod dockerfile;
pub mod image_plan;
pub mod lockfile;
pub mod repository;
