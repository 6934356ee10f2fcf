use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;

use crate::cli::LogsArgs;
use crate::converge::container;
use crate::endpoint::Endpoint;
use crate::engine::Engine;
use crate::error::Error;
use crate::settings::{self, Overrides};

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: LogsArgs,
) -> anyhow::Result<()> {
    let spec = settings::resolve(project, Overrides::default())?;
    let engine = Engine::connect(endpoint).await?;
    let name = spec.container_name();
    if container::existing(&engine, &spec).await?.is_none() {
        return Err(Error::NoLabLog {
            name: spec.name.clone(),
        }
        .into());
    }
    let mut stream = Box::pin(engine.logs(&name, args.tail, args.follow));
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?)?;
        out.flush()?;
    }
    Ok(())
}
