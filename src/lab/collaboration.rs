//! `collaboration: true` with a pulled image: the image must already have
//! jupyter-collaboration (a built lab gets it: [`crate::environment::collaboration`]),
//! which is checked before the lab is made.

use crate::engine::Engine;
use crate::error::Error;

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
