use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::InitArgs;
use crate::config;
use crate::error::Error;
use crate::ui::printer::Printer;

pub fn run(project: Option<&Path>, args: InitArgs, printer: Printer) -> anyhow::Result<()> {
    let dir = match project {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_dir().context("finding the current directory")?,
    };
    let name = match args.name {
        Some(name) if config::is_valid_name(&name) => name,
        Some(name) => {
            return Err(Error::config(format!("--name {name:?} must be lowercase letters, digits, `-` and `_`, starting with a letter or digit")).into())
        }
        None => dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().and_then(|n| config::sanitize_name(&n.to_string_lossy())))
            .unwrap_or_else(|| "lab".to_string()),
    };
    let path = dir.join(config::FILE_NAME);
    // create_new: an existing file is the user's, and is never overwritten.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::config(format!(
                "{} already exists; edit it, or move it away to write a fresh one",
                path.display()
            ))
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
    };
    file.write_all(config::template(&name).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    printer.say(format!(
        "Wrote {}; every key is documented in it. Next: `rjup up`",
        path.display()
    ));
    Ok(())
}
