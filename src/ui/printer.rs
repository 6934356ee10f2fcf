//! Where rjup's words go. Decided once per command from its flags and streams, then
//! passed to everything that prints or asks, so no part of rjup decides it on its own.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Printer {
    /// A person at a terminal: bars and spinners on stderr.
    Terminal,
    /// A log or a pipe: one plain line per event on stderr.
    Plain,
    /// `--json`: stdout carries only the JSON result, and nothing stops to ask.
    Json,
}

impl Printer {
    pub fn new(json: bool) -> Printer {
        if json {
            Printer::Json
        } else if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            Printer::Terminal
        } else {
            Printer::Plain
        }
    }

    /// One line of news about what rjup is doing, on stderr so stdout stays for results.
    pub fn say(&self, message: impl AsRef<str>) {
        eprintln!("{}", message.as_ref());
    }

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

    /// Whether progress is drawn as bars that redraw in place.
    pub fn draws(&self) -> bool {
        *self == Printer::Terminal
    }

    /// Whether rjup may stop and ask for a password: only a person at a terminal can
    /// answer, and machine output must never wait for one.
    pub fn may_prompt(&self) -> bool {
        *self != Printer::Json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }
}
