//! `tls: acme`: certificates from an ACME CA (Let's Encrypt, or a private one), for the
//! lab's bare IP address or its DNS names, renewed without the user.
//!
//! One implementation does all ACME work: the renewer, rjup itself run as
//! `rjup acme-renewer` in a container of its own per engine ([`renewer`]), which holds
//! the host's port 80 (or 443) and answers the CA's challenges there. rjup's side only
//! writes a [`Job`] per lab into the renewer's volume and reads back the lab's
//! [`Status`]; both are here, so that the two sides agree on them. Nothing in this
//! module talks to the engine: the lab layers do ([`crate::lab::acme`]).
//!
//! Where things live: the account key in rjup's state directory ([`account`]), copied
//! with each job; in the renewer's volume ([`STATE_DIR`]) the jobs, one key and
//! certificate per set of names (labs with the same names share one order: Let's
//! Encrypt limits duplicate certificates), and each lab's certificate in the lab's own
//! volume, read-only in the lab at [`LAB_DIR`].

pub mod account;
pub mod certificate;
pub mod client;
pub mod image;
pub mod renewer;
mod serve;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The renewer's container (or Swarm service) and its state volume.
pub const RENEWER: &str = "rjup-acme";
/// Where the renewer keeps its state: jobs, keys, certificates, accounts.
pub const STATE_DIR: &str = "/var/lib/rjup-acme";
/// Where each lab's volume is mounted in the renewer: `/certs/<lab>`.
pub const CERTS_DIR: &str = "/certs";
/// Where the lab's volume is mounted, read-only, in the lab.
pub const LAB_DIR: &str = "/etc/rjup/tls";
/// The renewer's own file in each lab's volume, which the lab reads to log failures.
pub const STATUS_FILE: &str = "status.json";
/// The hidden verb the renewer runs.
pub const VERB: &str = "acme-renewer";
/// On a Swarm: the variable that tells each node's renewer task its node's id.
pub const NODE_ENV: &str = "RJUP_ACME_NODE";
/// On a Swarm: the variable that tells the renewer where its jobs are (secrets).
pub const JOBS_ENV: &str = "RJUP_ACME_JOBS";
/// On a Swarm: what each status line in the renewer's log begins with, then the
/// node's id, the lab and its [`Status`] as JSON.
pub const STATUS_LINE: &str = "rjup-acme-status";

/// The volume that holds one lab's certificate.
pub fn lab_volume(lab: &str) -> String {
    format!("{RENEWER}-{lab}")
}

/// How the CA checks that the address is the host's (RFC 8555 section 8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Challenge {
    /// A file under `http://ADDRESS/.well-known/acme-challenge/`, on port 80.
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// A TLS handshake with ALPN `acme-tls/1` on port 443 (RFC 8737).
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
}

impl Challenge {
    pub fn parse(text: &str) -> Option<Challenge> {
        match text {
            "http-01" => Some(Challenge::Http01),
            "tls-alpn-01" => Some(Challenge::TlsAlpn01),
            _ => None,
        }
    }

    /// The host's port the CA connects to.
    pub fn host_port(self) -> u16 {
        match self {
            Challenge::Http01 => 80,
            Challenge::TlsAlpn01 => 443,
        }
    }

    /// The renewer's own port it is published to: unprivileged, so it needs no
    /// capability to listen.
    pub fn container_port(self) -> u16 {
        match self {
            Challenge::Http01 => 8080,
            Challenge::TlsAlpn01 => 8443,
        }
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Challenge::Http01 => "http-01",
            Challenge::TlsAlpn01 => "tls-alpn-01",
        })
    }
}

/// What rjup asks of the renewer for one lab: `jobs/<lab>.json` in its volume, copied
/// in over the engine's API (never an argument or a variable), root's and 0600.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub lab: String,
    /// The ACME directory's URL.
    pub directory: String,
    /// PEM certificates to trust for the directory's HTTPS (a private CA's), instead of
    /// the public roots.
    #[serde(default)]
    pub ca_certificates: Option<String>,
    /// IP addresses and DNS names, as the certificate names them.
    pub names: Vec<String>,
    pub challenge: Challenge,
    #[serde(default)]
    pub email: Option<String>,
    /// The account's key, PKCS#8 PEM: the renewer registers it (or finds it registered),
    /// so a CA that forgot the account, or a new renewer, needs nothing from rjup.
    pub account_key: String,
    /// Who runs the lab, and must be able to read its key.
    pub uid: u32,
    pub gid: u32,
    /// A certificate the renewer obtained before this (seconds since the epoch) is to
    /// be replaced now: rjup found it untrusted (a test CA restarted with a new root, a
    /// CA that changed its chain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace_obtained_before: Option<i64>,
    /// On a Swarm: each node's names, by node id. Each node's renewer orders for its
    /// own node's names only ([`Job::on_node`]); `names` are then all of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, Vec<String>>,
    /// Set by [`Job::on_node`]: the id and the file stem of the job as rjup made it,
    /// which the status answers and the lab's config names on every node alike.
    #[serde(skip)]
    pub made_as: Option<(String, String)>,
}

impl Job {
    /// What is ordered for this lab: labs with the same names from the same CA share
    /// one order, one key and one certificate.
    pub fn group(&self) -> String {
        group_of(&self.directory, &self.names)
    }

    /// This job, as a short digest: the status the renewer writes names the job it
    /// answers, so rjup can tell an answer to its job from an older one.
    pub fn id(&self) -> String {
        if let Some((id, _)) = &self.made_as {
            return id.clone();
        }
        let json = serde_json::to_vec(self).expect("a job always serialises");
        hex::encode(Sha256::digest(json))[..16].to_string()
    }

    /// The certificate's and key's file names in the lab's volume: named by the group,
    /// so that a lab whose names change is made afresh (its config names the new
    /// files), while a renewal replaces only the certificate under the same name.
    pub fn files(&self) -> (String, String) {
        let stem = self.stem();
        (format!("{stem}.crt"), format!("{stem}.key"))
    }

    /// What the lab's files are named by: the group of the job as rjup made it.
    pub fn stem(&self) -> String {
        match &self.made_as {
            Some((_, stem)) => stem.clone(),
            None => self.group(),
        }
    }

    /// The job as the renewer on node `node` carries it out: for that node's names
    /// only, answering (and naming the lab's files) as the whole job does, so that the
    /// lab finds its files under the same names on whichever node it runs. `None` when
    /// the job has nothing for that node. A job without nodes is the same everywhere.
    pub fn on_node(self, node: &str) -> Option<Job> {
        if self.nodes.is_empty() {
            return Some(self);
        }
        let names = self.nodes.get(node).filter(|n| !n.is_empty())?.clone();
        let made_as = (self.id(), self.group());
        Some(Job {
            names,
            nodes: BTreeMap::new(),
            made_as: Some(made_as),
            ..self
        })
    }
}

/// [`Job::group`] of a directory and names, in any order.
pub fn group_of(directory: &str, names: &[String]) -> String {
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    let mut hasher = Sha256::new();
    hasher.update(directory.as_bytes());
    for name in &names {
        hasher.update(b"\n");
        hasher.update(name.as_bytes());
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

/// Why an order failed, as far as telling the user what to do depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// The CA refused the account or the names (policy, external account binding).
    Refused,
    /// The CA's rate limits.
    RateLimited,
    /// The CA could not reach the challenge on the host's port 80 or 443.
    Validation,
    /// The directory could not be reached, or did not answer in time.
    Unreachable,
    /// The directory's HTTPS certificate is not one rjup trusts.
    Untrusted,
    Other,
}

/// A failed order, as the renewer records it and rjup shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    /// When, in seconds since the epoch.
    pub at: i64,
}

/// What the renewer says about one lab: `status.json` in the lab's volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The [`Job::id`] this answers.
    pub job: String,
    pub names: Vec<String>,
    /// The certificate the lab serves, with its chain (PEM), and what it says.
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub not_before: Option<i64>,
    #[serde(default)]
    pub not_after: Option<i64>,
    /// When the renewer renews it: once less than a third of its life is left.
    #[serde(default)]
    pub renew_at: Option<i64>,
    /// The last order's failure, until an order succeeds.
    #[serde(default)]
    pub last_error: Option<Failure>,
    /// Orders failed in a row.
    #[serde(default)]
    pub failures: u32,
    #[serde(default)]
    pub retry_at: Option<i64>,
}

impl Status {
    /// Whether the lab has a certificate that is still valid at `now`.
    pub fn valid_at(&self, now: i64) -> bool {
        self.certificate.is_some() && self.not_after.is_some_and(|end| end > now)
    }
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A moment as `2026-12-04 10:37 UTC`.
pub fn moment(seconds: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(seconds) {
        Ok(t) => format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute()),
        Err(_) => seconds.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            lab: "demo".into(),
            directory: "https://ca.example/dir".into(),
            ca_certificates: None,
            names: vec!["10.0.0.1".into(), "fd00::1".into()],
            challenge: Challenge::Http01,
            email: None,
            account_key: "KEY".into(),
            uid: 1000,
            gid: 100,
            replace_obtained_before: None,
            nodes: BTreeMap::new(),
            made_as: None,
        }
    }

    #[test]
    fn each_node_orders_for_its_own_address_and_answers_as_the_whole_job() {
        let mut whole = job();
        whole.names = vec!["10.0.0.1".into(), "10.0.0.2".into()];
        whole.nodes = BTreeMap::from([
            ("n1".to_string(), vec!["10.0.0.1".to_string()]),
            ("n2".to_string(), vec!["10.0.0.2".to_string()]),
        ]);
        let one = whole.clone().on_node("n2").unwrap();
        assert_eq!(one.names, ["10.0.0.2"]);
        assert_eq!(one.id(), whole.id());
        assert_eq!(one.files(), whole.files());
        assert_ne!(one.group(), whole.group(), "each node orders its own");
        assert!(whole.clone().on_node("n3").is_none());
        assert_eq!(job().on_node("n1").unwrap(), job());
    }

    #[test]
    fn labs_with_the_same_names_from_the_same_ca_share_one_order() {
        let a = job();
        let mut b = job();
        b.lab = "other".into();
        b.uid = 1500;
        b.names.reverse();
        assert_eq!(a.group(), b.group());
        assert_ne!(a.id(), b.id(), "each lab's job is its own");
        let mut c = job();
        c.directory = "https://other.example/dir".into();
        assert_ne!(a.group(), c.group());
        let mut d = job();
        d.names.pop();
        assert_ne!(a.group(), d.group());
        assert_eq!(a.files().0, format!("{}.crt", a.group()));
    }

    #[test]
    fn challenges_are_named_as_rfc_8555_names_them_and_use_their_ports() {
        assert_eq!(Challenge::parse("tls-alpn-01"), Some(Challenge::TlsAlpn01));
        assert_eq!(Challenge::parse("dns-01"), None);
        assert_eq!(Challenge::Http01.host_port(), 80);
        assert_eq!(Challenge::TlsAlpn01.host_port(), 443);
        assert_eq!(
            serde_json::to_string(&Challenge::TlsAlpn01).unwrap(),
            "\"tls-alpn-01\""
        );
    }
}
