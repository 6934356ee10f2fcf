//! The host port of a Swarm lab: as asked, else the lab's own, else the remembered or
//! default one, passing over ports other labs of the cluster publish (Swarm would leave
//! a lab on a taken port pending where the other lab's node is the only one allowed).

use super::service_label;
use crate::engine::Engine;
use crate::lab::label;
use crate::settings::{PortRequest, Spec, DEFAULT_PORT};
use crate::state::ProjectState;

/// The port for the lab of `spec`, whose service publishes `ours` now, if it runs.
pub async fn choose(
    engine: &Engine,
    spec: &Spec,
    state: &ProjectState,
    ours: Option<u16>,
) -> anyhow::Result<u16> {
    if let Some(port) = settled(&spec.port, ours) {
        return Ok(port);
    }
    let project = spec.dir.display().to_string();
    let taken: Vec<u16> = engine
        .services(label::PROJECT)
        .await?
        .iter()
        .filter(|s| service_label(s, label::PROJECT) != Some(&project))
        .filter_map(|s| service_label(s, label::PORT)?.parse().ok())
        .collect();
    Ok(first_free(state.port()?, &taken))
}

/// The port that needs no look at the cluster: the one asked for, else the lab's own.
fn settled(request: &PortRequest, ours: Option<u16>) -> Option<u16> {
    match request {
        PortRequest::Fixed(port) => Some(*port),
        PortRequest::Auto => ours,
    }
}

/// The remembered port, else the default, or the first after it no other lab takes.
fn first_free(remembered: Option<u16>, taken: &[u16]) -> u16 {
    let mut port = remembered.unwrap_or(DEFAULT_PORT);
    while taken.contains(&port) {
        port = port.checked_add(1).unwrap_or(1024);
    }
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_asked_for_is_taken_as_it_is_and_a_lab_keeps_its_own() {
        assert_eq!(settled(&PortRequest::Fixed(9000), Some(8890)), Some(9000));
        assert_eq!(settled(&PortRequest::Auto, Some(8890)), Some(8890));
        assert_eq!(settled(&PortRequest::Auto, None), None);
    }

    #[test]
    fn ports_other_labs_publish_are_passed_over() {
        assert_eq!(first_free(None, &[]), DEFAULT_PORT);
        assert_eq!(first_free(None, &[8888, 8889, 8891]), 8890);
        assert_eq!(first_free(Some(9000), &[8888]), 9000);
        assert_eq!(first_free(Some(9000), &[9000]), 9001);
        assert_eq!(first_free(Some(u16::MAX), &[u16::MAX]), 1024, "wraps round");
    }
}
