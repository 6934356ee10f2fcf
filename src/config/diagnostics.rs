//! A file serde cannot read, turned into one line: `file:line:column: what; how to fix`.

use crate::error::{did_you_mean, Error};

/// What each value must look like, for messages about a value of the wrong type.
const EXPECTED: &[(&str, &str)] = &[
    ("name", "a name of lowercase letters, digits, `-` and `_`"),
    ("port", "a port number from 1 to 65535"),
    ("bind", "an IP address such as 0.0.0.0 or 127.0.0.1"),
    (
        "image",
        "an image reference such as jupyter/minimal-notebook:latest",
    ),
    ("build", "a mapping with `base`, `packages`, `requirements`, `apt`, `post_build` and `ca_certificates`"),
    ("requirements", "the path of a requirements file, relative to the project"),
    ("apt", "a list of Debian package names, such as [jq, libgl1]"),
    ("post_build", "the path of a script, relative to the project"),
    ("ca_certificates", "a list of paths of PEM certificates (`build`), or one such path (`acme`)"),
    ("base", "an image reference such as python:3.13-slim"),
    (
        "packages",
        "a list of pip requirements, such as [pandas, numpy>=2]",
    ),
    ("env", "a mapping of NAME: value"),
    ("check", "a mapping with `notebooks` and `timeout`"),
    (
        "notebooks",
        "a list of notebook paths relative to the project, such as [analysis.ipynb]",
    ),
    ("timeout", "a number of seconds, such as 600"),
    ("tls", "`self-signed`, `acme`, or a mapping with `cert` and `key` (paths of PEM files)"),
    ("acme", "a mapping with `email`, `names`, `directory`, `ca_certificates` and `challenge`"),
    ("email", "an email address such as ada@example.org"),
    ("names", "a list of IP addresses and DNS names, such as [203.0.113.7, lab.example.org]"),
    ("directory", "the https:// URL of an ACME directory"),
    ("challenge", "`http-01` or `tls-alpn-01`"),
    ("resources", "a mapping with `memory`, `cpus` and `pids`"),
    ("memory", "an amount such as 4g or 512m"),
    ("cpus", "a number of CPUs such as 2 or 0.5"),
    ("pids", "a whole number of processes such as 1024"),
    ("gpus", "`all`, or a number of GPUs such as 1"),
    ("swarm", "a mapping with `registry` and `constraints` (or `{}` for the defaults)"),
    ("registry", "a registry address such as registry.example.org:5000"),
    ("constraints", "a list of placement constraints such as [node.labels.gpu==true]"),
    ("allow", "a list of addresses and networks, such as [10.0.0.0/8, 192.168.1.23]"),
    ("collaboration", "true or false"),
];

/// Turns a serde-saphyr error into `file:line:column: what; how to fix`.
pub(super) fn describe_parse_error(err: &serde_saphyr::Error, text: &str, origin: &str) -> Error {
    let plain = err.without_snippet().to_string();
    let message = match plain.rfind(" at line ") {
        Some(i) => &plain[..i],
        None => plain.as_str(),
    };
    let Some(loc) = err.location() else {
        return Error::config(format!("{origin}: {message}"));
    };
    let (line, column) = (loc.line(), loc.column());
    let described = if let Some(rest) = message.strip_prefix("unknown field `") {
        let (key, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| {
                list.trim_start_matches("one of ")
                    .split(", ")
                    .map(|s| s.trim_matches('`'))
                    .collect()
            })
            .unwrap_or_default();
        let hint = match did_you_mean(key, &candidates) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("known keys here: {}", candidates.join(", ")),
        };
        format!("unknown key `{key}`; {hint}")
    } else if let Some(key) = key_on_line(text, line, column) {
        let expected = EXPECTED
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(String::new(), |(_, e)| format!("; expected {e}"));
        format!("bad value for `{key}`: {message}{expected}")
    } else {
        format!("{message}; see `rjup init` for an example of every key")
    };
    Error::config(format!("{origin}:{line}:{column}: {described}"))
}

/// The key whose value starts at or before `column` on `line`, if the line is `key: value`.
fn key_on_line(text: &str, line: u64, column: u64) -> Option<String> {
    let l = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let (key, _) = l.split_once(':')?;
    let key = key
        .trim()
        .trim_start_matches("- ")
        .trim_matches(['"', '\'']);
    let key_end = l.find(':')? as u64 + 1;
    (column > key_end && !key.is_empty()).then(|| key.to_string())
}
