use std::net::{IpAddr, Ipv4Addr};

use serde_json::json;

use crate::cli::LsArgs;
use crate::engine::endpoint::Endpoint;
use crate::engine::{Engine, Role};
use crate::lab::label;
use crate::runtime::swarm as service;
use crate::runtime::view::LabView;
use crate::ui::printer::Printer;

pub async fn run(endpoint: &Endpoint, args: LsArgs, printer: Printer) -> anyhow::Result<()> {
    let engine = Engine::connect(endpoint).await?;
    let host = engine.lab_host().await;
    let mut labs = Vec::new();
    for container in engine.labs(label::PROJECT).await? {
        let labels = container
            .config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let name = labels.get(label::NAME).cloned().unwrap_or_default();
        let project = labels.get(label::PROJECT).cloned().unwrap_or_default();
        let container_name = container
            .name
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        let view = LabView::new(
            &host,
            &name,
            &project,
            &container_name,
            Some(&container),
            None,
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        );
        let bind = view
            .bind
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let delivery = crate::lab::admission::delivery(&engine, bind, false).await?;
        labs.push(view.admission(bind, delivery).on_engine(engine.name()));
    }
    // On a Swarm manager, the cluster's labs too: services, wherever their tasks run.
    if engine.swarm_role().await? == Role::Manager {
        for found in engine.services(label::PROJECT).await? {
            let id = found.id.clone().unwrap_or_default();
            let placement = service::placement(&engine, &id).await?;
            let get = |key| {
                service::service_label(&found, key)
                    .cloned()
                    .unwrap_or_default()
            };
            let service_name = found
                .spec
                .as_ref()
                .and_then(|s| s.name.clone())
                .unwrap_or_default();
            let bind = get(label::BIND)
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let delivery = crate::lab::admission::delivery(&engine, bind, true).await?;
            labs.push(
                LabView::of_service(
                    &get(label::NAME),
                    &get(label::PROJECT),
                    &service_name,
                    Some(&found),
                    &placement,
                )
                .admission(bind, delivery)
                .on_engine(engine.name()),
            );
        }
    }
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
