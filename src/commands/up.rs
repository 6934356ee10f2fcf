//! `rjup up`: converge the project's lab on what its files and flags describe.

use std::path::Path;
use std::time::Duration;

use crate::cli::UpArgs;
use crate::converge::{self, Options, Outcome};
use crate::engine::endpoint::Endpoint;
use crate::engine::host::LabHost;
use crate::lab::net;
use crate::password;
use crate::runtime;
use crate::runtime::cleanup::Cleanup;
use crate::settings::{self, Overrides, Spec};
use crate::state::ProjectState;
use crate::ui::printer::Printer;

pub async fn run(
    project: Option<&Path>,
    endpoint: &Endpoint,
    args: UpArgs,
    printer: Printer,
    cleanup: &Cleanup,
) -> anyhow::Result<()> {
    let mut spec = settings::resolve(
        project,
        Overrides {
            port: args.port,
            bind: args.bind,
        },
    )?;
    for warning in &spec.warnings {
        printer.warn(warning);
    }
    let state = ProjectState::for_project(&spec.dir, &spec.name)?;
    let options = Options {
        force_recreate: args.force_recreate || args.rebuild,
        rebuild: args.rebuild,
        timeout: Duration::from_secs(args.timeout),
    };
    let given = password::given(args.password.password_stdin)?;
    let (engine, outcome) = cleanup
        .state_only_on_success(&state, async {
            let hashed = password::for_lab(&state, given, printer)?;
            let engine = super::connect(endpoint).await?;
            super::lock::refresh(&engine, &mut spec, args.lock, printer).await?;
            let outcome =
                converge::converge(&engine, &spec, &state, hashed, &options, printer, cleanup)
                    .await?;
            Ok((engine, outcome))
        })
        .await?;
    if args.json {
        let view = runtime::for_spec(&engine, &spec, printer)
            .view(&state)
            .await?;
        let mut json = serde_json::to_value(&view)?;
        json["action"] = serde_json::Value::from(outcome.action.word());
        json["tls_fingerprint"] = serde_json::Value::from(outcome.fingerprint.clone());
        if let Some(status) = &outcome.certificate {
            json["tls_certificate"] = serde_json::json!({
                "names": status.names,
                "issuer": status.issuer,
                "not_after": status.not_after,
            });
        }
        printer.out(json)?;
        Ok(())
    } else {
        print_urls(&engine.lab_host().await, &spec, &outcome, printer)
    }
}

pub fn print_urls(
    host: &LabHost,
    spec: &Spec,
    outcome: &Outcome,
    printer: Printer,
) -> anyhow::Result<()> {
    printer.out(format!("Lab \"{}\" is up:", spec.name))?;
    // A Swarm lab is reached at the node that runs it.
    let bind = outcome.host.unwrap_or(spec.bind);
    let urls = match &outcome.certificate {
        // Only the names the certificate carries open without a warning.
        // A lab reached at its node (a Swarm's, whose nodes each have a certificate
        // for their own address): that node's.
        Some(status) => match outcome.host.map(|h| h.to_string()) {
            Some(node) if status.names.contains(&node) => {
                crate::lab::acme::urls(&[node], outcome.port)
            }
            _ => crate::lab::acme::urls(&status.names, outcome.port),
        },
        None => net::urls(spec.scheme(), host, bind, outcome.port),
    };
    for url in urls {
        printer.out(format!("  {url}"))?;
    }
    if let Some(status) = &outcome.certificate {
        printer.out(format!(
            "TLS certificate {}",
            crate::lab::acme::describe(status)
        ))?;
    }
    if let Some(fingerprint) = &outcome.fingerprint {
        printer
            .out("TLS certificate SHA-256 fingerprint (compare with what your browser shows):")?;
        printer.out(format!("  {fingerprint}"))?;
    }
    Ok(())
}
