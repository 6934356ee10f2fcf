//! rjup: one command from a project directory to a password-protected JupyterLab.
//!
//! The binary is `src/main.rs`; this library exists so benchmarks can reach the pieces
//! they measure (`password`). The flow is cli → settings → plan → engine.

mod archive;
pub mod cli;
mod client;
pub mod commands;
mod config;
mod engine;
mod environment;
pub mod error;
mod image;
mod jupyter;
mod lab;
mod lock;
mod net;
pub mod password;
mod progress;
mod settings;
mod smoke;
mod state;
mod tls;
