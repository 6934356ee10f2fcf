//! Where rjup's words go. Decided once per command from its flags and streams, then
//! passed to everything that prints or asks, so no part of rjup decides it on its own.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Printer {
    mode: Mode,
    level: Level,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A person at a terminal: bars and spinners on stderr.
    Terminal,
    /// A log or a pipe: one plain line per event on stderr.
    Plain,
    /// `--json`: stdout carries only the JSON result, and nothing stops to ask.
    Json,
}

/// How much rjup says besides its results: `-q`, nothing but warnings and errors;
/// `-v`, also what it asks the engine and the lab ([`crate::ui::logging`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
}

impl Printer {
    pub fn new(json: bool, level: Level) -> Printer {
        let mode = if json {
            Mode::Json
        } else if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            Mode::Terminal
        } else {
            Mode::Plain
        };
        Printer { mode, level }
    }

    /// Plain lines, as to a log: what tests print with.
    #[cfg(test)]
    pub fn plain() -> Printer {
        Printer {
            mode: Mode::Plain,
            level: Level::Normal,
        }
    }

    /// One line of news about what rjup is doing, on stderr so stdout stays for
    /// results; `-q` silences it.
    pub fn say(&self, message: impl AsRef<str>) {
        if self.level != Level::Quiet {
            eprintln!("{}", message.as_ref());
        }
    }

    /// Something the user should know, said even under `-q`.
    pub fn warn(&self, message: impl AsRef<str>) {
        eprintln!("rjup: warning: {}", message.as_ref());
    }

    /// A line of the command's result on stdout. A reader that went away (`| head`)
    /// comes back as a `BrokenPipe` error, which `main` treats as a normal stop.
    pub fn out(&self, line: impl Display) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()
    }

    /// Whether progress is drawn as bars that redraw in place: on a terminal, unless
    /// `-v` lines would tear them.
    pub fn draws(&self) -> bool {
        self.mode == Mode::Terminal && self.level == Level::Normal
    }

    /// Whether rjup may stop and ask for a password: only a person at a terminal can
    /// answer, and machine output must never wait for one.
    pub fn may_prompt(&self) -> bool {
        self.mode != Mode::Json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }
}
