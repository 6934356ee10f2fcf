use std::io::Write;
use std::path::Path;

use futures_util::StreamExt;

use crate::cli::LogsArgs;
use crate::engine::endpoint::Endpoint;
use crate::engine::LogGap;
use crate::runtime::{self, Log};
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: LogsArgs,
    printer: Printer,
) -> anyhow::Result<()> {
    let engine = super::connect(endpoint).await?;
    let spec = super::find_lab(project, &engine, "logs", printer).await?;
    let lab = runtime::for_spec(&engine, &spec, printer);
    let log = lab.logs(args.tail, args.follow).await?;
    copy(log, printer).await
}

async fn copy(mut log: Log<'_>, printer: Printer) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = log.next().await {
        match chunk {
            Ok(chunk) => {
                out.write_all(&chunk)?;
                out.flush()?;
            }
            Err(e) if e.is::<LogGap>() => printer.warn(e.to_string()),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
