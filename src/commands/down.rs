use std::path::Path;

use serde_json::json;

use crate::cli::DownArgs;
use crate::engine::Engine;
use crate::progress::say;
use crate::settings::{self, Overrides};
use crate::state::ProjectState;

pub async fn run(project: Option<&Path>, args: DownArgs) -> anyhow::Result<()> {
    super::machine_output(args.json);
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect().await?;
    let name = spec.container_name();
    let removed = match engine.inspect(&name).await? {
        None => {
            say(format!(
                "Lab \"{}\" has no container; nothing to stop",
                spec.name
            ));
            false
        }
        Some(container) => {
            super::up::check_owner(&container, &spec)?;
            engine.remove(&name).await?;
            let kept = if args.forget {
                "and the image"
            } else {
                "the image and the password"
            };
            say(format!(
                "Lab \"{}\" is down. Kept: the files in {}, {kept}",
                spec.name,
                spec.dir.display()
            ));
            true
        }
    };
    let forgotten = args.forget && ProjectState::for_project(&spec.dir, &spec.name)?.forget()?;
    if forgotten {
        say("Forgot the stored password hash, cookie secret, port and TLS certificate; the next `rjup up` asks for a new password");
    }
    if args.json {
        println!(
            "{}",
            json!({"name": spec.name, "container": name, "removed": removed, "forgotten": forgotten, "state": "absent"})
        );
    }
    Ok(())
}
