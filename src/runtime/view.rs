//! One lab as `status`, `up --json` and `ls` show it. The JSON field names are a stable
//! interface: the README documents them.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bollard::models::ContainerInspectResponse;
use serde::Serialize;

use crate::acme::moment;
use crate::engine::host::LabHost;
use crate::lab::label;
use crate::lab::net;
use crate::runtime::swarm::placement::Placement;

#[derive(Debug, Serialize)]
pub struct LabView {
    pub name: String,
    /// `running`, `stopped` or `absent`.
    pub state: &'static str,
    pub urls: Vec<String>,
    pub port: Option<u16>,
    pub bind: String,
    pub container: String,
    pub container_id: Option<String>,
    pub image: Option<String>,
    pub image_id: Option<String>,
    pub project: String,
    pub started_at: Option<String>,
    pub uptime_seconds: Option<u64>,
    /// The engine asked: the Docker context's name, or the host.
    pub engine: String,
    /// For a Swarm lab: the node that runs it, and its task's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// `allow:` from rjup.yaml: the networks admitted; empty admits every address.
    pub allow: Vec<String>,
    /// Whether `allow` holds on this engine: false where the lab cannot see clients'
    /// own addresses, so the list cannot tell them apart ([`crate::lab::admission`]).
    pub allow_enforced: bool,
    /// Why it does not, for `status` to say.
    #[serde(skip)]
    pub allow_unenforced: Option<String>,
    /// `collaboration:` from rjup.yaml.
    pub collaboration: bool,
    /// With `tls: acme`: the certificate the engine's renewer keeps for the lab.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateView>,
}

/// A lab's certificate from an ACME CA, as `status` shows it.
#[derive(Debug, Serialize)]
pub struct CertificateView {
    pub names: Vec<String>,
    pub issuer: Option<String>,
    /// When it ends and when the renewer renews it, in seconds since the epoch.
    pub not_after: Option<i64>,
    pub renew_at: Option<i64>,
    /// The last order's failure, while orders fail; with how many failed in a row and
    /// when the next is.
    pub last_error: Option<crate::acme::Failure>,
    pub failures: u32,
    pub retry_at: Option<i64>,
}

impl CertificateView {
    pub fn of(status: &crate::acme::Status) -> CertificateView {
        CertificateView {
            names: status.names.clone(),
            issuer: status.issuer.clone(),
            not_after: status.not_after,
            renew_at: status.renew_at,
            last_error: status.last_error.clone(),
            failures: status.failures,
            retry_at: status.retry_at,
        }
    }

    /// What `status` says, a line each: the certificate, then its renewal.
    pub fn lines(&self) -> (String, String) {
        let certificate = match self.not_after {
            Some(end) => format!(
                "{}, from {}, valid until {}",
                self.names.join(", "),
                self.issuer.as_deref().unwrap_or("the CA"),
                moment(end)
            ),
            None => format!("none yet, for {}", self.names.join(", ")),
        };
        let renewal = match (&self.last_error, self.renew_at) {
            (Some(failure), _) => format!(
                "failing ({} in a row; next try {}): {}",
                self.failures,
                self.retry_at.map_or_else(|| "soon".to_string(), moment),
                failure.message
            ),
            (None, Some(at)) => format!("automatic, from {}", moment(at)),
            (None, None) => "automatic".to_string(),
        };
        (certificate, renewal)
    }
}

impl LabView {
    /// `fallback_port` and `fallback_bind` describe a lab that has no container; `host`
    /// is where its engine publishes it.
    pub fn new(
        host: &LabHost,
        name: &str,
        project: &str,
        container_name: &str,
        container: Option<&ContainerInspectResponse>,
        fallback_port: Option<u16>,
        fallback_bind: IpAddr,
    ) -> LabView {
        let labels = container
            .and_then(|c| c.config.as_ref())
            .and_then(|c| c.labels.clone())
            .unwrap_or_default();
        let docker_state = container.and_then(|c| c.state.clone()).unwrap_or_default();
        let state = match (container, docker_state.running) {
            (None, _) => "absent",
            (Some(_), Some(true)) if docker_state.restarting != Some(true) => "running",
            (Some(_), _) => "stopped",
        };
        let port = labels
            .get(label::PORT)
            .and_then(|p| p.parse().ok())
            .or(fallback_port);
        let bind = labels
            .get(label::BIND)
            .and_then(|b| b.parse().ok())
            .unwrap_or(fallback_bind);
        let scheme = labels.get(label::SCHEME).map_or("http", String::as_str);
        let urls = match (state, port) {
            ("running", Some(port)) => net::urls(scheme, host, bind, port),
            _ => Vec::new(),
        };
        let started_at = docker_state.started_at.filter(|_| state == "running");
        let uptime_seconds = started_at
            .as_deref()
            .and_then(unix_seconds)
            .and_then(|start| {
                let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
                now.checked_sub(u64::try_from(start).ok()?)
            });
        LabView {
            name: name.to_string(),
            state,
            urls,
            port,
            bind: bind.to_string(),
            container: container_name.to_string(),
            container_id: container.and_then(|c| c.id.clone()),
            image: container
                .and_then(|c| c.config.as_ref())
                .and_then(|c| c.image.clone()),
            image_id: container.and_then(|c| c.image.clone()),
            project: project.to_string(),
            started_at,
            uptime_seconds,
            engine: String::new(),
            node: None,
            task: None,
            allow: allow_of(&labels),
            allow_enforced: true,
            allow_unenforced: None,
            collaboration: labels.contains_key(label::COLLABORATION),
            certificate: None,
        }
    }

    /// A Swarm lab: `service` as Swarm keeps it, and where its task is now. It is
    /// running when its task runs; its URL is its node's address.
    pub fn of_service(
        name: &str,
        project: &str,
        service_name: &str,
        service: Option<&bollard::models::Service>,
        placement: &Placement,
    ) -> LabView {
        let labels = service
            .and_then(|s| s.spec.as_ref())
            .and_then(|s| s.labels.clone())
            .unwrap_or_default();
        let state = match (service, placement.state.as_str()) {
            (None, _) => "absent",
            (Some(_), "running") => "running",
            (Some(_), _) => "pending",
        };
        let port = labels.get(label::PORT).and_then(|p| p.parse().ok());
        let scheme = labels.get(label::SCHEME).map_or("http", String::as_str);
        let urls = match (state, port, placement.address) {
            // A node's address is a specific one: exactly its URL.
            ("running", Some(port), Some(address)) => {
                net::urls(scheme, &LabHost::Local, address, port)
            }
            _ => Vec::new(),
        };
        LabView {
            name: name.to_string(),
            state,
            urls,
            port,
            bind: placement
                .address
                .map_or_else(String::new, |a| a.to_string()),
            container: service_name.to_string(),
            container_id: service.and_then(|s| s.id.clone()),
            image: service.and_then(|s| {
                s.spec
                    .as_ref()?
                    .task_template
                    .as_ref()?
                    .container_spec
                    .as_ref()?
                    .image
                    .clone()
            }),
            image_id: labels.get(label::IMAGE).cloned(),
            project: project.to_string(),
            started_at: None,
            uptime_seconds: None,
            engine: String::new(),
            node: placement.node.clone(),
            task: service.map(|_| match &placement.why {
                Some(why) if state != "running" => format!("{}: {why}", placement.state),
                _ => placement.state.clone(),
            }),
            allow: allow_of(&labels),
            allow_enforced: true,
            allow_unenforced: None,
            collaboration: labels.contains_key(label::COLLABORATION),
            certificate: None,
        }
    }

    /// Who a lab that does not exist would admit and whether it would collaborate, as
    /// rjup.yaml asks; an existing lab says so itself, in its labels.
    pub fn sharing(mut self, allow: &[ipnet::IpNet], collaboration: bool) -> LabView {
        if self.state == "absent" {
            self.allow = allow.iter().map(ToString::to_string).collect();
            self.collaboration = collaboration;
        }
        self
    }

    /// Whether its `allow` holds where it is published, judged for the engine's
    /// `delivery` of clients to a lab published on `bind`.
    pub fn admission(mut self, bind: IpAddr, delivery: crate::lab::admission::Delivery) -> LabView {
        self.allow_unenforced =
            crate::lab::admission::unenforceable(bind, !self.allow.is_empty(), delivery);
        self.allow_enforced = self.allow_unenforced.is_none();
        self
    }

    /// What `status` says the lab admits.
    pub fn admits(&self) -> String {
        match &self.allow_unenforced {
            _ if self.allow.is_empty() => "every address".to_string(),
            None => format!(
                "{}, and rjup's own requests (by a key only rjup and the lab know)",
                self.allow.join(", ")
            ),
            Some(why) => format!(
                "rjup's own requests only, not the clients `allow:` lists ({}): {why}",
                self.allow.join(", ")
            ),
        }
    }

    pub fn on_engine(mut self, engine: &str) -> LabView {
        self.engine = engine.to_string();
        self
    }

    pub fn uptime(&self) -> Option<String> {
        self.uptime_seconds.map(human_duration)
    }
}

fn allow_of(labels: &std::collections::HashMap<String, String>) -> Vec<String> {
    labels
        .get(label::ALLOW)
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// Seconds since the epoch of Docker's RFC 3339 timestamps (`2026-11-25T17:40:01.12Z`).
fn unix_seconds(timestamp: &str) -> Option<i64> {
    let parsed =
        time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339);
    parsed.ok().map(time::OffsetDateTime::unix_timestamp)
}

fn human_duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} days {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_timestamps_convert_to_unix_time() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_seconds("2026-11-25T17:40:01.123456789Z"),
            Some(1_795_628_401)
        );
        assert_eq!(unix_seconds("garbage"), None);
    }

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human_duration(5), "5 s");
        assert_eq!(human_duration(3 * 3600 + 120), "3 h 2 min");
        assert_eq!(human_duration(2 * 86_400 + 3600), "2 days 1 h");
    }

    #[test]
    fn an_absent_lab_has_no_urls_but_keeps_its_remembered_port() {
        let v = LabView::new(
            &LabHost::Local,
            "demo",
            "/p/demo",
            "rjup-demo",
            None,
            Some(8890),
            "0.0.0.0".parse().unwrap(),
        );
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["state"], "absent");
        assert_eq!(json["port"], 8890);
        assert_eq!(json["urls"], serde_json::json!([]));
        for key in ["name", "state", "urls", "port", "container", "image"] {
            assert!(json.get(key).is_some(), "status --json lacks {key}");
        }
    }

    #[test]
    fn status_never_says_a_list_holds_where_it_cannot() {
        let docker = crate::lab::admission::Delivery::default();
        let listed = |bind: &str| {
            let mut v = LabView::new(
                &LabHost::Local,
                "demo",
                "/p/demo",
                "rjup-demo",
                None,
                None,
                "0.0.0.0".parse().unwrap(),
            );
            v.allow = vec!["10.0.0.0/8".into()];
            v.admission(bind.parse().unwrap(), docker)
        };
        let holds = listed("0.0.0.0");
        assert!(holds.allow_enforced);
        assert!(holds
            .admits()
            .starts_with("10.0.0.0/8, and rjup's own requests"));
        assert!(!holds.admits().contains("host"), "{}", holds.admits());
        let proxied = listed("::");
        assert!(!proxied.allow_enforced);
        assert_eq!(
            serde_json::to_value(&proxied).unwrap()["allow_enforced"],
            false
        );
        assert!(
            proxied.admits().starts_with(
                "rjup's own requests only, not the clients `allow:` lists (10.0.0.0/8)"
            ),
            "{}",
            proxied.admits()
        );
        let rootless = crate::lab::admission::Delivery {
            rootless: true,
            ..docker
        };
        let mut v = listed("0.0.0.0");
        v = v.admission("0.0.0.0".parse().unwrap(), rootless);
        assert!(!v.allow_enforced && v.admits().contains("rootless"));
        v.allow.clear();
        assert_eq!(
            v.admission("0.0.0.0".parse().unwrap(), rootless).admits(),
            "every address"
        );
    }
}
