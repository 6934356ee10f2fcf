use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;

use crate::cli::LogsArgs;
use crate::engine::endpoint::Endpoint;
use crate::engine::Engine;
use crate::error::Error;
use crate::runtime::container;
use crate::runtime::swarm as service;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: LogsArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let engine = Engine::connect(endpoint).await?;
    let spec = super::find_lab(project, &engine, "logs", printer).await?;
    if spec.swarm.is_some() {
        service::require_manager(&engine).await?;
        let Some(found) = service::existing(&engine, &spec).await? else {
            return Err(Error::NoLabLog {
                name: spec.name.clone(),
            }
            .into());
        };
        let id = found.id.unwrap_or_default();
        return copy(Box::pin(engine.service_logs(&id, args.tail, args.follow))).await;
    }
    let name = spec.container_name();
    if container::existing(&engine, &spec).await?.is_none() {
        return Err(Error::NoLabLog {
            name: spec.name.clone(),
        }
        .into());
    }
    copy(Box::pin(engine.logs(&name, args.tail, args.follow))).await
}

async fn copy(
    mut stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = anyhow::Result<Vec<u8>>> + '_>>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = stream.next().await {
        out.write_all(&chunk?)?;
        out.flush()?;
    }
    Ok(())
}
