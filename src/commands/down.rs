use std::path::Path;

use crate::engine::Engine;
use crate::progress::say;
use crate::settings::{self, Overrides};

pub async fn run(project: Option<&Path>) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect().await?;
    let name = spec.container_name();
    match engine.inspect(&name).await? {
        None => say(format!(
            "Lab \"{}\" is not running; nothing to do",
            spec.name
        )),
        Some(container) => {
            super::up::check_owner(&container, &spec)?;
            engine.remove(&name).await?;
            say(format!(
                "Lab \"{}\" is down. Kept: the files in {}, the image and the password",
                spec.name,
                spec.dir.display()
            ));
        }
    }
    Ok(())
}
