//! rjup: one command from a project directory to a password-protected JupyterLab.
//!
//! The binary is `src/main.rs`; this library exists so benchmarks can reach the pieces
//! they measure (`password`). The flow is cli → settings → converge → engine.

mod accounts;
mod admission;
mod archive;
mod certificate;
mod cleanup;
pub mod cli;
mod client;
mod collaboration;
pub mod commands;
mod config;
mod converge;
mod credentials;
mod docker_config;
mod endpoint;
mod engine;
mod environment;
pub mod error;
mod host;
mod image;
mod image_ref;
mod jupyter;
mod lab;
mod lab_service;
mod lock;
mod net;
pub mod password;
mod ports;
mod printer;
mod progress;
mod project_file;
mod settings;
mod smoke;
mod state;
mod tls;
mod transport;
