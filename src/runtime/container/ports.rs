//! Which host port a lab is published on, and who holds a port that is taken.

use std::net::IpAddr;

use crate::engine::Engine;
use crate::error::{self, Error};
use crate::lab::label;
use crate::lab::net::{self, PortUse};
use crate::settings::{self, PortRequest, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

/// The host port to publish on: the one asked for, else the remembered one, else the
/// first free one from 8888 up.
pub async fn choose(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    ours: Option<u16>,
    printer: Printer,
) -> anyhow::Result<u16> {
    let fixed = match spec.port {
        PortRequest::Fixed(port) => Some(port),
        PortRequest::Auto => None,
    };
    let wanted = match fixed {
        Some(port) => port,
        None => state.port()?.unwrap_or(settings::DEFAULT_PORT),
    };
    let holder = match port_holder(engine, spec.bind, wanted, ours).await? {
        None => return Ok(wanted),
        Some(holder) => holder,
    };
    let free = next_free_port(engine, spec.bind, wanted, ours).await?;
    match (fixed, free) {
        (None, Some(free)) => {
            if wanted != settings::DEFAULT_PORT || state.port()?.is_some() {
                printer.warn(format!(
                    "port {wanted} is taken by {holder}; publishing on {free} instead"
                ));
            }
            Ok(free)
        }
        (_, free) => Err(Error::PortTaken {
            port: wanted,
            bind: spec.bind,
            holder,
            free,
        }
        .into()),
    }
}

async fn next_free_port(
    engine: &Engine,
    bind: IpAddr,
    after: u16,
    ours: Option<u16>,
) -> anyhow::Result<Option<u16>> {
    let start = after.max(settings::DEFAULT_PORT);
    for port in (start..=u16::MAX)
        .chain(settings::DEFAULT_PORT..start)
        .filter(|p| *p != after)
        .take(200)
    {
        if port_holder(engine, bind, port, ours).await?.is_none() {
            return Ok(Some(port));
        }
    }
    Ok(None)
}

/// Who holds `bind:port` on the lab's host, or `None` if rjup may publish there.
pub async fn port_holder(
    engine: &Engine,
    bind: IpAddr,
    port: u16,
    ours: Option<u16>,
) -> anyhow::Result<Option<String>> {
    if ours == Some(port) {
        return Ok(None);
    }
    if let Some(c) = engine.containers_publishing(port).await?.into_iter().next() {
        let labels = c.labels.unwrap_or_default();
        let container = c
            .names
            .unwrap_or_default()
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default();
        return Ok(Some(
            match (labels.get(label::NAME), labels.get(label::PROJECT)) {
                (Some(lab), Some(project)) => format!("the rjup lab \"{lab}\" of {project}"),
                _ => format!("the container {container}"),
            },
        ));
    }
    match net::port_use(&engine.lab_host().await, bind, port).await {
        PortUse::Free => Ok(None),
        PortUse::Taken(holder) => Ok(Some(holder)),
        PortUse::NotLocal => Err(Error::BindNotLocal { bind }.into()),
    }
}

/// When the engine could not publish the port it was given, names a free one instead.
pub async fn taken_late(
    engine: &Engine,
    err: anyhow::Error,
    bind: IpAddr,
    port: u16,
) -> anyhow::Result<()> {
    if !matches!(error::find(&err), Some(Error::PortTakenStarting { .. })) {
        return Err(err);
    }
    let host = engine.lab_host().await;
    let mut free = None;
    for candidate in (port.saturating_add(1)..=u16::MAX)
        .chain(settings::DEFAULT_PORT..port)
        .take(200)
    {
        if net::port_use(&host, bind, candidate).await == PortUse::Free {
            free = Some(candidate);
            break;
        }
    }
    Err(Error::PortTakenLate { port, bind, free }.into())
}
