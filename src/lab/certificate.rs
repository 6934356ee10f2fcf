//! The certificate a lab serves, if it serves HTTPS: the user's own, or the project's
//! self-signed one, made once and kept so its fingerprint stays the same; and what rjup
//! trusts when it reaches the lab, which for `tls: acme` is the CA's roots.

use std::net::IpAddr;

use crate::config::TlsConfig;
use crate::engine::host::LabHost;
use crate::lab::net;
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::tls::{self, Tls, Trust};
use crate::ui::printer::Printer;

/// The certificate for a lab published on `host` (naming the addresses it is reached
/// at there; with no `host`, the one kept, whatever it names: a lab checked by its URL),
/// that may also be served at `nodes`: a Swarm lab answers on
/// whichever node runs it, and moves to another when its node is lost, so a
/// self-signed certificate names every node (a node that joins later makes a new one).
pub fn for_lab_on(
    spec: &Spec,
    state: &ProjectState,
    host: Option<&LabHost>,
    printer: Printer,
    nodes: &[IpAddr],
) -> anyhow::Result<Option<Tls>> {
    match &spec.tls {
        // Its certificate comes from the engine's renewer ([`crate::lab::acme`]).
        TlsConfig::Off | TlsConfig::Acme(_) => Ok(None),
        TlsConfig::Files { cert, key } => tls::from_files(&spec.dir, cert, key).map(Some),
        TlsConfig::SelfSigned => {
            let names = match host {
                Some(host) => {
                    let mut addresses = net::published_addresses(host, spec.bind);
                    addresses.extend_from_slice(nodes);
                    tls::subject_names(&addresses, net::host_name(host).as_deref())
                }
                // Asking for no name keeps whatever certificate there is.
                None => Vec::new(),
            };
            let (material, made) = state.self_signed_tls(&names)?;
            if let Some((why, valid_until)) = made {
                printer.say(why.describe(&names, valid_until));
            }
            Ok(Some(material))
        }
    }
}

/// What rjup trusts when it reaches the lab published on `host` (and `nodes`): the
/// certificate it gave the lab, or for `tls: acme` any from the CA's roots that names
/// the lab's names (`acme.names`, else the public addresses it is published on).
pub fn trust(
    spec: &Spec,
    state: &ProjectState,
    host: Option<&LabHost>,
    printer: Printer,
    nodes: &[IpAddr],
) -> anyhow::Result<Option<Trust>> {
    if let TlsConfig::Acme(wanted) = &spec.tls {
        let (_, roots) = crate::lab::acme::roots(spec, wanted)?;
        let mut addresses = host.map_or_else(Vec::new, |h| net::published_addresses(h, spec.bind));
        addresses.extend_from_slice(nodes);
        let names = crate::lab::acme::names(wanted, &addresses).unwrap_or_default();
        return Ok(Some(Trust::Issued { roots, names }));
    }
    for_lab_on(spec, state, host, printer, nodes)?
        .map(|tls| Trust::pinned(&tls))
        .transpose()
}
