//! rjup's integration tests, one module per area, in one binary so that the harness
//! (`util`) is compiled once and its once-per-run fixtures are shared by every area.
//!
//! Tests that need a Docker engine are `#[ignore]`d, so plain `cargo test` lists them
//! as ignored instead of passing them untested; `cargo test -- --include-ignored` runs
//! them, and each fails loudly when no engine answers.

mod browser;
mod util;

mod accounts;
mod acme;
mod architecture;
mod attacks_host;
mod attacks_lab;
mod bad_input;
mod binder;
mod build_output;
mod check;
mod cli;
mod collaboration;
mod data_safety;
mod docs;
mod e2e;
mod engines;
mod environments;
mod faults;
mod groups;
mod hostile;
mod podman;
mod recreate;
mod registry;
mod rootless;
mod security;
mod sharing;
mod swarm;
mod verbosity;
