use std::path::Path;

use serde_json::json;

use crate::cli::DownArgs;
use crate::engine::Engine;
use crate::progress::say;
use crate::settings::{self, Overrides};

pub async fn run(project: Option<&Path>, args: DownArgs) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect().await?;
    let name = spec.container_name();
    let removed = match engine.inspect(&name).await? {
        None => {
            say(format!(
                "Lab \"{}\" is not running; nothing to do",
                spec.name
            ));
            false
        }
        Some(container) => {
            super::up::check_owner(&container, &spec)?;
            engine.remove(&name).await?;
            say(format!(
                "Lab \"{}\" is down. Kept: the files in {}, the image and the password",
                spec.name,
                spec.dir.display()
            ));
            true
        }
    };
    if args.json {
        println!(
            "{}",
            json!({"name": spec.name, "container": name, "removed": removed, "state": "absent"})
        );
    }
    Ok(())
}
