//! `environment.yml`, read by rjup itself: its channels and conda packages become the
//! JSON that `images/lab/conda.py` solves (with py-rattler, in the build), its `pip:`
//! section a requirements file installed after them. Reading it here makes bad YAML a
//! `file:line` error before any build, and editing only the `pip:` list reuse the
//! conda step.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The Python a conda environment gets when `environment.yml` pins none and its
/// packages allow it: the default base's (`settings::DEFAULT_BASE`), which JupyterLab's
/// wheels and the tests' channel support. Binder's is 3.10, kept for old repositories;
/// here, packages that cannot have 3.13 get the newest Python they can instead.
pub const DEFAULT_PYTHON: &str = "3.13";
/// JupyterLab 4's floor: an older pin cannot run the lab.
pub const MIN_PYTHON: (u32, u32) = (3, 9);

/// What `conda.py` is given (`conda-env.json`): solve these, or install these locked
/// packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum CondaInput {
    Solve {
        channels: Vec<String>,
        specs: Vec<String>,
        default_python: String,
        min_python: String,
    },
    Locked {
        packages: Vec<String>,
    },
}

impl CondaInput {
    pub fn to_json(&self) -> Vec<u8> {
        let mut text = serde_json::to_string_pretty(self).expect("plain data serialises");
        text.push('\n');
        text.into_bytes()
    }
}

/// `environment.yml`, as rjup uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondaEnv {
    /// Channel names or URLs, `defaults` spelled out, `nodefaults` dropped.
    pub channels: Vec<String>,
    /// Conda match specs, as written.
    pub specs: Vec<String>,
    /// The `pip:` section, `-r FILE` lines replaced by the file's lines.
    pub pip: Vec<String>,
}

impl CondaEnv {
    pub fn solve_input(&self) -> CondaInput {
        CondaInput::Solve {
            channels: self.channels.clone(),
            specs: self.specs.clone(),
            default_python: DEFAULT_PYTHON.to_string(),
            min_python: format!("{}.{}", MIN_PYTHON.0, MIN_PYTHON.1),
        }
    }

    /// The `pip:` section as a requirements file, if it has any line.
    pub fn pip_requirements(&self) -> Option<String> {
        (!self.pip.is_empty()).then(|| format!("{}\n", self.pip.join("\n")))
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    dependencies: Option<Vec<Dependency>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Dependency {
    Spec(String),
    Pip { pip: Vec<String> },
}

/// The conda channels `defaults` means (conda's own, which rattler does not know).
const DEFAULTS: [&str; 2] = [
    "https://repo.anaconda.com/pkgs/main",
    "https://repo.anaconda.com/pkgs/r",
];

/// Reads the file `shown` (as the user knows it), found in `dir` of `project`
/// (canonical): a `-r FILE` line of its `pip:` section is read from there, inside the
/// project only.
pub fn parse(project: &Path, dir: &Path, shown: &str, contents: &[u8]) -> anyhow::Result<CondaEnv> {
    let text = String::from_utf8_lossy(contents);
    let raw: Raw = serde_saphyr::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map_or(String::new(), |l| format!(":{}:{}", l.line(), l.column()));
        Error::config(format!(
            "{}{at}: not an environment file conda could read ({}); it lists `channels:` and `dependencies:`, with pip's packages under `- pip:`",
            shown,
            e.without_snippet()
        ))
    })?;
    let mut channels = Vec::new();
    for channel in raw.channels.unwrap_or_default() {
        match channel.trim() {
            "nodefaults" => {}
            "defaults" => channels.extend(DEFAULTS.iter().map(|c| c.to_string())),
            other => channels.push(other.to_string()),
        }
    }
    if channels.is_empty() {
        // repo2docker's .condarc
        channels.push("conda-forge".to_string());
    }
    channels.dedup();
    let mut specs = Vec::new();
    let mut pip = Vec::new();
    for dependency in raw.dependencies.unwrap_or_default() {
        match dependency {
            Dependency::Spec(spec) => {
                let spec = spec.trim().to_string();
                check_python(&spec, shown)?;
                if !spec.is_empty() {
                    specs.push(spec);
                }
            }
            Dependency::Pip { pip: lines } => {
                for line in lines {
                    pip.extend(pip_line(project, dir, shown, line.trim())?);
                }
            }
        }
    }
    Ok(CondaEnv {
        channels,
        specs,
        pip,
    })
}

/// A `python=X.Y` pin older than JupyterLab 4 allows, refused (Binder would run the
/// server on another Python, in an environment of its own).
fn check_python(spec: &str, shown: &str) -> anyhow::Result<()> {
    let Some(rest) = spec.strip_prefix("python") else {
        return Ok(());
    };
    // `python=3.8`, `python 3.8`, `python==3.8.10`; not `python>=3.6` or `pythonnet=3`
    let pinned = rest.trim_start();
    if !(rest.starts_with([' ', '='])
        && pinned.starts_with(|c: char| c == '=' || c.is_ascii_digit()))
    {
        return Ok(());
    }
    let version = pinned.trim_start_matches('=').trim_start();
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    if let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) {
        if (major, minor) < MIN_PYTHON {
            return Err(Error::config(format!(
                "{shown}: `{spec}` asks for Python {major}.{minor}, and JupyterLab needs Python {}.{} or later; pin a newer one (python={}, say)",
                MIN_PYTHON.0, MIN_PYTHON.1, DEFAULT_PYTHON
            ))
            .into());
        }
    }
    Ok(())
}

/// One line of the `pip:` section: `-r FILE` (conda runs pip in the file's directory)
/// becomes that file's lines, read from inside the project.
fn pip_line(project: &Path, dir: &Path, shown: &str, line: &str) -> anyhow::Result<Vec<String>> {
    let included = line
        .strip_prefix("-r")
        .or_else(|| line.strip_prefix("--requirement"))
        .map(|rest| rest.trim_start_matches('=').trim());
    let Some(name) = included.filter(|n| !n.is_empty()) else {
        return Ok(vec![line.to_string()]);
    };
    let path = dir.join(name);
    match crate::project_file::read_within(project, &path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect()),
        Err(_) => Err(Error::config(format!(
            "{shown}: its pip: section includes `{line}`, and {} is not a file inside the project; fix the path, relative to {shown}",
            path.display(),
        ))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> anyhow::Result<CondaEnv> {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().canonicalize().unwrap();
        std::fs::write(project.join("extra.txt"), "six==1.16.0\n# note\n\ntoolz\n").unwrap();
        parse(
            &project,
            &project,
            "binder/environment.yml",
            text.as_bytes(),
        )
    }

    #[test]
    fn channels_specs_and_the_pip_section_are_read_as_conda_reads_them() {
        let e = env("name: demo\nchannels:\n  - defaults\n  - nodefaults\n  - http://10.231.0.1:8765\ndependencies:\n  - python=3.12\n  - numpy>=1.26\n  - pip\n  - pip:\n    - tabulate==0.9.0\n    - -r extra.txt\n").unwrap();
        assert_eq!(
            e.channels,
            [
                "https://repo.anaconda.com/pkgs/main",
                "https://repo.anaconda.com/pkgs/r",
                "http://10.231.0.1:8765"
            ]
        );
        assert_eq!(e.specs, ["python=3.12", "numpy>=1.26", "pip"]);
        assert_eq!(e.pip, ["tabulate==0.9.0", "six==1.16.0", "toolz"]);
        let json = String::from_utf8(e.solve_input().to_json()).unwrap();
        assert!(json.contains("\"default_python\": \"3.13\""), "{json}");
    }

    #[test]
    fn no_channel_means_conda_forge_and_no_pip_section_no_file() {
        let e = env("dependencies:\n  - tabulate\n").unwrap();
        assert_eq!(e.channels, ["conda-forge"]);
        assert_eq!(e.pip_requirements(), None);
    }

    #[test]
    fn bad_yaml_an_old_python_and_a_missing_include_are_located_errors() {
        let e = env("dependencies:\n  - numpy\n  bad: [\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("binder/environment.yml:"), "{e}");
        for old in ["python=3.6", "python==3.8.10", "python 3.7"] {
            let e = env(&format!("dependencies:\n  - {old}\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("JupyterLab needs Python 3.9 or later"),
                "{old}: {e}"
            );
        }
        for fine in [
            "python=3.10",
            "python>=3.6",
            "python",
            "pythonnet=3.0",
            "python=3",
        ] {
            assert!(
                env(&format!("dependencies:\n  - {fine}\n")).is_ok(),
                "{fine}"
            );
        }
        let e = env("dependencies:\n  - pip:\n    - -r nope.txt\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("includes `-r nope.txt`"), "{e}");
    }
}
