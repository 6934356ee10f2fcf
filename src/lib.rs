//! rjup: one command from a project directory to a password-protected JupyterLab.
//!
//! The binary is `src/main.rs`; this library exists so benchmarks can reach the pieces
//! they measure (`password`). The layers, top to bottom: `commands` (one file per
//! verb) → `converge` (the one lab flow) → `runtime` (a container or a Swarm service)
//! → `lab` (what the lab is) → `engine` (the Docker API); the other modules are leaves
//! any layer may use. docs/development.md has the table and the rule.

pub mod cli;
pub mod commands;
mod converge;
mod engine;
mod lab;
mod runtime;

mod acme;
mod archive;
mod config;
mod environment;
pub mod error;
mod image_ref;
mod jupyter;
mod lab_client;
pub mod password;
mod project_file;
mod settings;
mod state;
mod tls;
mod ui;
