//! When a lab counts as up: its login page answers. Until then rjup waits, and gives up
//! early, with the lab's last words, when the lab stops.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::Runtime;
use crate::engine::host::LabHost;
use crate::error::Error;
use crate::lab::net;
use crate::lab_client::{self, Target};
use crate::tls::{self, Trust};
use crate::ui::printer::Printer;

pub struct Readiness {
    probe: Target,
    timeout: Duration,
    printer: Printer,
}

/// How often to ask the runtime whether the lab stopped, between probes.
const STOPPED_CHECK: Duration = Duration::from_secs(1);
/// Between probes while a lab starts: the lab counts as up, and `up` returns, within
/// this of its first answer (a probe that finds nothing costs well under a millisecond).
const PROBE_EVERY: Duration = Duration::from_millis(25);
/// Between probes once it has taken longer than `SLOW_AFTER`, as a lab that builds
/// something at start may: ten a second, for as long as the timeout allows.
const SLOW_PROBE_EVERY: Duration = Duration::from_millis(100);
const SLOW_AFTER: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    /// Readiness of a lab that answers at `addr`, probed as rjup itself reaches it:
    /// over HTTPS trusting what `trust` says, when it serves HTTPS.
    pub fn new(
        addr: SocketAddr,
        tls: Option<&Trust>,
        cookie_secret: &str,
        timeout: Duration,
        printer: Printer,
    ) -> anyhow::Result<Readiness> {
        Ok(Readiness {
            probe: probe_target(addr, tls, Some(cookie_secret))?,
            timeout,
            printer,
        })
    }

    /// The same readiness for the lab published on `port` at the same address: the lab
    /// a failed replacement gives way back to may have been published elsewhere.
    pub fn on_port(&self, port: u16) -> Readiness {
        let mut probe = self.probe.clone();
        probe.addr.set_port(port);
        Readiness {
            probe,
            timeout: self.timeout,
            printer: self.printer,
        }
    }

    /// The same readiness for the lab at `ip`: a Swarm lab answers on its node's address.
    pub fn at(&self, ip: IpAddr) -> Readiness {
        let mut probe = self.probe.clone();
        probe.addr.set_ip(ip);
        Readiness {
            probe,
            timeout: self.timeout,
            printer: self.printer,
        }
    }

    /// A lab that refuses rjup's own address (`allow:`, probed from another machine than
    /// the engine's) still answers: it is up, for everyone it admits.
    async fn answers(&self) -> bool {
        match lab_client::get_status(&self.probe, "/login", PROBE_TIMEOUT).await {
            Ok(status) if status.refused => {
                self.printer.warn(format!(
                    "the lab answers on {}, but refuses this machine's address: `allow:` in rjup.yaml does not list it, so `rjup check` from here will fail",
                    self.probe
                ));
                true
            }
            Ok(status) => (200..400).contains(&status.code),
            Err(_) => false,
        }
    }

    /// Waits until the lab `id` serves its login page; on failure shows its last words.
    pub async fn wait<R: Runtime>(&self, runtime: &R, id: &str) -> anyhow::Result<()> {
        if self.answers().await {
            return Ok(());
        }
        let wait = crate::ui::progress::Wait::new("Waiting for the lab to answer", self.printer);
        let started = Instant::now();
        let mut last_check = Instant::now();
        let (failure, fix) = loop {
            if self.answers().await {
                return Ok(());
            }
            if last_check.elapsed() >= STOPPED_CHECK {
                last_check = Instant::now();
                if let Some(why) = runtime.stopped(id).await? {
                    break (
                        why,
                        "fix what its log shows (check `env` and `image` in rjup.yaml) and run `rjup up` again",
                    );
                }
            }
            if started.elapsed() >= self.timeout {
                break (
                    format!(
                        "the lab did not answer on {}/login within {} s",
                        self.probe,
                        self.timeout.as_secs()
                    ),
                    "raise --timeout if it is just slow, or fix what its log shows",
                );
            }
            let pause = if started.elapsed() < SLOW_AFTER {
                PROBE_EVERY
            } else {
                SLOW_PROBE_EVERY
            };
            tokio::time::sleep(pause).await;
        };
        drop(wait);
        let log = runtime.log_tail(id, 25).await;
        let log = log.trim_end();
        // The init in front of the server reports a missing command this way.
        if log.contains(&format!(
            "exec {} failed",
            crate::lab::container::JUPYTER_LAB
        )) {
            return Err(Error::NoJupyter.into());
        }
        Err(Error::NotReady {
            failure,
            fix,
            log: log.to_string(),
        }
        .into())
    }
}

/// Where rjup itself reaches a lab published on `bind:port` of `host`: checked before
/// anything is made, since a lab rjup cannot reach would never count as up.
pub fn lab_address(host: &LabHost, bind: IpAddr, port: u16) -> anyhow::Result<SocketAddr> {
    net::probe_address(host, bind, port).ok_or_else(|| {
        let name = match host {
            LabHost::Remote { name, .. } => name.as_str(),
            LabHost::Local => "this machine",
        };
        Error::config(format!(
            "the Docker engine publishes labs on its host {name}, which has no address on this machine, so rjup could not reach the lab; make {name} resolve here (DNS or /etc/hosts), or name the engine by an address"
        ))
        .into()
    })
}

/// How rjup itself reaches a lab that answers at `addr` (over HTTPS trusting what
/// `trust` says, when it serves HTTPS): its requests carry the key
/// derived from the lab's cookie secret, when rjup has the secret, so that the lab
/// admits them from the engine's gateway ([`lab_client::PROBE_HEADER`]).
pub fn probe_target(
    addr: SocketAddr,
    trust: Option<&Trust>,
    cookie_secret: Option<&str>,
) -> anyhow::Result<Target> {
    Ok(Target {
        addr,
        tls: match trust {
            Some(trust) => Some(tls::client(trust.clone())?),
            None => None,
        },
        probe_key: cookie_secret.map(lab_client::probe_key),
    })
}
