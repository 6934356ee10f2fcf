//! `rjup.lock`: the exact environment of a project's lab, so that a rebuild months later
//! gives the same one. It pins the base image by digest and every Python package,
//! JupyterLab and its dependencies included, by version; with `environment.yml`, every
//! conda package too, by the URL of its archive and that archive's sha256.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;

pub const FILE_NAME: &str = "rjup.lock";

#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    /// A hash of the environment files the lock was resolved from.
    pub inputs: String,
    /// The base image, by digest.
    pub base: String,
    /// environment.yml's conda packages: `URL#sha256:HEX`, one per package.
    #[serde(default)]
    pub conda: Vec<String>,
    /// `name==version`, one per package.
    pub packages: Vec<String>,
}

impl Lockfile {
    /// The pins as a requirements file.
    pub fn requirements(&self) -> String {
        let mut text = self.packages.join("\n");
        text.push('\n');
        text
    }

    pub fn render(&self) -> String {
        let quote = |s: &str| serde_json::to_string(s).expect("a string always serialises");
        let mut text = String::from(
            "# rjup.lock: the exact environment of this project's lab, written by `rjup lock`.\n\
             # `rjup up` and `rjup build` install exactly this; `rjup lock --check` says whether\n\
             # it still matches the environment files. Commit it; do not edit it by hand.\n",
        );
        text.push_str(&format!(
            "inputs: {}\nbase: {}\n",
            quote(&self.inputs),
            quote(&self.base)
        ));
        if !self.conda.is_empty() {
            text.push_str("conda:\n");
            for package in &self.conda {
                text.push_str(&format!("  - {}\n", quote(package)));
            }
        }
        text.push_str("packages:\n");
        for package in &self.packages {
            text.push_str(&format!("  - {}\n", quote(package)));
        }
        text
    }
}

/// The project's lock, if it has one.
pub fn load(project: &Path) -> anyhow::Result<Option<Lockfile>> {
    let path = project.join(FILE_NAME);
    // It pins what the image installs: like every file the build reads, from inside
    // the project only ([`crate::project_file`]).
    let text = match crate::project_file::read_within(project, &path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(crate::project_file::Refused::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None)
        }
        Err(crate::project_file::Refused::Io(e)) => {
            return Err(Error::config(format!("cannot read {}: {e}", path.display())).into())
        }
        Err(crate::project_file::Refused::Outside(real)) => {
            return Err(Error::config(format!(
                "{} is a link to {}, outside the project; rjup reads it only from inside the project, since whoever writes in the lab can put a link there; run `rjup lock` to write it anew",
                path.display(),
                real.display()
            ))
            .into())
        }
    };
    serde_saphyr::from_str::<Lockfile>(&text)
        .map(Some)
        .map_err(|e| {
            let at = e
                .location()
                .map_or(String::new(), |l| format!(":{}:{}", l.line(), l.column()));
            Error::config(format!(
                "{}{at}: not a valid lock file ({}); run `rjup lock` to write it anew",
                path.display(),
                e.without_snippet()
            ))
            .into()
        })
}

/// The pins from `uv pip compile` output: `name==version` lines, sorted.
pub fn parse_compiled(output: &str) -> Vec<String> {
    let mut pins: Vec<String> = output
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or("")
                .trim()
                .trim_end_matches('\\')
                .trim()
        })
        .filter(|l| l.contains("==") && !l.starts_with('-'))
        .map(str::to_string)
        .collect();
    pins.sort_by_key(|p| p.to_lowercase());
    pins.dedup();
    pins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_lock_reads_back_the_same() {
        let lock = Lockfile {
            inputs: "sha256:abc".into(),
            base: "python@sha256:0123".into(),
            packages: vec!["jupyterlab==4.4.0".into(), "six==1.16.0".into()],
            conda: Vec::new(),
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), lock.render()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(lock.clone()));
        let lock = Lockfile {
            conda: vec![
                "http://10.231.0.1:8765/noarch/tabulate-0.9.0-pyh_rjup_0.tar.bz2#sha256:6ba4"
                    .into(),
            ],
            ..lock
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), lock.render()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(lock));
    }

    #[test]
    fn no_lock_file_means_no_lock() {
        assert_eq!(load(tempfile::tempdir().unwrap().path()).unwrap(), None);
    }

    #[test]
    fn a_broken_lock_says_where_and_how_to_fix_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "inputs: x\nbase: y\npackage: []\n",
        )
        .unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("rjup.lock:3:1") && e.contains("run `rjup lock`"),
            "{e}"
        );
    }

    #[test]
    fn compiled_output_becomes_sorted_pins() {
        let out = "# This file was autogenerated by uv\nSix==1.16.0\nanyio==4.6.0 \\\n    --hash=sha256:x\n    # via jupyter-server\n\njupyterlab==4.4.0\n";
        assert_eq!(
            parse_compiled(out),
            ["anyio==4.6.0", "jupyterlab==4.4.0", "Six==1.16.0"]
        );
    }
}
