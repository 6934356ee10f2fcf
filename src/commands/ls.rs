use serde_json::json;

use crate::cli::LsArgs;
use crate::engine::endpoint::Endpoint;
use crate::runtime;
use crate::ui::printer::Printer;

pub async fn run(endpoint: &Endpoint, args: LsArgs, printer: Printer) -> anyhow::Result<()> {
    let engine = super::connect(endpoint).await?;
    let mut labs = runtime::list(&engine).await?;
    labs.sort_by(|a, b| a.name.cmp(&b.name).then(a.project.cmp(&b.project)));
    if args.json {
        printer.out(json!({ "engine": engine.name(), "labs": labs }))?;
        return Ok(());
    }
    if labs.is_empty() {
        printer.say(format!(
            "No rjup labs on the engine {}; start one with `rjup up` in a project directory",
            engine.name()
        ));
        return Ok(());
    }
    let width = labs.iter().map(|l| l.name.len()).max().unwrap_or(4).max(4);
    printer.out(format!(
        "{:width$}  {:8}  {:40}  PROJECT",
        "NAME", "STATE", "URL"
    ))?;
    for lab in &labs {
        let url = lab.urls.first().map_or("-", String::as_str);
        printer.out(format!(
            "{:width$}  {:8}  {:40}  {}",
            lab.name, lab.state, url, lab.project
        ))?;
    }
    Ok(())
}
