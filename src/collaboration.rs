//! `collaboration: true`: real-time collaboration through jupyter-collaboration, which
//! JupyterLab loads by itself once it is installed. A built lab gets the package; a
//! pulled image must already have it, which is checked before the lab is made.

use crate::engine::Engine;
use crate::error::Error;

/// The PyPI package, installed with the lab's other packages (and pinned by the lock).
pub const PACKAGE: &str = "jupyter-collaboration";

/// Adds the package to a build's packages, unless the user already lists it (perhaps
/// with a version they chose).
pub fn add_package(packages: &mut Vec<String>) {
    let listed = packages.iter().any(|p| {
        let name: String = p
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        name.to_ascii_lowercase().replace(['_', '.'], "-") == PACKAGE
    });
    if !listed {
        packages.push(PACKAGE.to_string());
    }
}

/// Asks the interpreter that runs `jupyter` whether it can import the collaboration
/// server extension: `jupyter_server_ydoc` since jupyter-collaboration 3, the package
/// itself before. Exit 3: no jupyter at all; 4: no extension.
const PROBE: &str = r#"
jupyter=$(command -v jupyter) || exit 3
shebang=$(sed -n '1s/^#![[:space:]]*//p' "$jupyter")
for py in "$shebang" python3 python; do
  [ -n "$py" ] || continue
  $py -c 'import importlib.util as u, sys; sys.exit(0 if any(u.find_spec(m) for m in ("jupyter_server_ydoc", "jupyter_collaboration")) else 4)' 2>/dev/null
  status=$?
  [ $status -eq 0 ] && exit 0
  [ $status -eq 4 ] && exit 4
done
exit 4
"#;

/// Refuses a pulled image without jupyter-collaboration, before any lab is made.
pub async fn ensure_in_image(engine: &Engine, reference: &str) -> anyhow::Result<()> {
    let finished = engine
        .run_once(reference, PROBE, crate::archive::Archive::new().finish())
        .await?;
    match finished.exit_code {
        0 => Ok(()),
        3 => Err(Error::NoJupyter.into()),
        _ => Err(Error::NoCollaboration {
            image: reference.to_string(),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_is_added_once_and_a_users_pin_is_kept() {
        let mut packages = vec!["pandas".to_string()];
        add_package(&mut packages);
        assert_eq!(packages, ["pandas", PACKAGE]);
        add_package(&mut packages);
        assert_eq!(packages.len(), 2);
        let mut pinned = vec!["Jupyter_Collaboration==4.1.0".to_string()];
        add_package(&mut pinned);
        assert_eq!(pinned, ["Jupyter_Collaboration==4.1.0"]);
    }
}
