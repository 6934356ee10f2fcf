//! The certificate a lab serves, if it serves HTTPS: the user's own, or the project's
//! self-signed one, made once and kept so its fingerprint stays the same.

use std::net::IpAddr;

use crate::config::TlsConfig;
use crate::engine::host::LabHost;
use crate::lab::net;
use crate::settings::Spec;
use crate::state::ProjectState;
use crate::tls::{self, Tls};
use crate::ui::printer::Printer;

/// The certificate for a lab published on `host`, naming the addresses it is reached at
/// there; with no `host`, the one kept, whatever it names (a lab checked by its URL).
pub fn for_lab(
    spec: &Spec,
    state: &ProjectState,
    host: Option<&LabHost>,
    printer: Printer,
) -> anyhow::Result<Option<Tls>> {
    for_lab_on(spec, state, host, printer, &[])
}

/// As [`for_lab`], for a lab that may also be served at `nodes`: a Swarm lab answers on
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
        TlsConfig::Off => Ok(None),
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
