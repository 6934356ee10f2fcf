//! Errors a user can act on, each with its own exit code.
//!
//! Anything else that goes wrong travels as a plain `anyhow::Error` with context and
//! exits with 1. The codes are part of rjup's interface: the README lists them.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Bad `rjup.yaml`, flag or project directory.
    Config = 3,
    /// No password source, an empty one, or a prompt that did not match.
    Password = 4,
    /// The Docker engine did not answer.
    Docker = 5,
    /// The host port is held by something else.
    PortTaken = 6,
    /// The image could not be found or pulled.
    Image = 7,
    /// The image build failed.
    Build = 8,
    /// The lab did not answer HTTP in time, or exited while starting.
    NotReady = 9,
    /// The container name belongs to another project.
    Conflict = 10,
    /// There is no lab to act on.
    NoLab = 11,
    /// `rjup check` ran, and a step failed.
    CheckFailed = 12,
    /// `rjup.lock` no longer matches the environment files.
    LockStale = 13,
    /// `gpus` asks for GPUs the engine cannot give.
    NoGpu = 14,
    /// Interrupted by Ctrl-C.
    Interrupted = 130,
}

/// A failure the user can fix; the message says what is wrong and what to do.
#[derive(Debug)]
pub struct Error {
    pub code: Code,
    pub message: String,
}

impl Error {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Shorthand for `Err(Error::new(code, message).into())`.
pub fn fail<T>(code: Code, message: impl Into<String>) -> anyhow::Result<T> {
    Err(Error::new(code, message).into())
}

/// The exit code for an error chain: the first [`Error`] in it decides, else 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Error>())
        .map_or(1, |e| e.code as u8)
}

/// Whether the error is a reader that went away, which is a normal way for output to end.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_code_comes_from_the_user_error_inside_a_context_chain() {
        let err = fail::<()>(Code::PortTaken, "port 8888 is taken")
            .context("starting the lab")
            .unwrap_err();
        assert_eq!(exit_code(&err), 6);
        assert_eq!(format!("{err:#}"), "starting the lab: port 8888 is taken");
    }

    #[test]
    fn plain_errors_exit_with_one() {
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
    }
}
