//! The renewer: `rjup acme-renewer`, one container per engine (`rjup-acme`), which
//! keeps every `tls: acme` lab's certificate fresh whether or not anyone runs rjup.
//!
//! It holds the host's port 80 (published to its 8080) and 443 (to its 8443) where a
//! lab asks for that challenge, and answers them itself, so it needs no Docker socket
//! and no capability to listen. Each second it reads the jobs rjup copied into its
//! volume, and for each set of names (labs with the same names share one order):
//! orders a certificate when there is none, when the names changed, or when less than a
//! third of its life is left; on failure keeps the certificate there is and tries again
//! later, sooner than it ends. It then gives each lab its copy, in the lab's volume:
//!
//! - the key, made once per set of names and kept across renewals: Jupyter opens the
//!   certificate and the key separately for every new connection, and a key that
//!   changed between the two opens fails that handshake;
//! - the certificate, written beside and renamed over the old one, so a reader sees one
//!   or the other, never a part;
//! - `status.json`: what rjup (and the lab's log) shows.
//!
//! It runs as root without capabilities but CHOWN, on a read-only root: it cannot read
//! back the files it gave the lab's user, so it keeps its own copies in its volume.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::certificate::{canonical_name, describe};
use super::serve::{self, Answers};
use super::{
    client, now, Challenge, Failure, Job, Status, CERTS_DIR, JOBS_ENV, NODE_ENV, STATE_DIR,
    STATUS_FILE, STATUS_LINE,
};

/// How often the renewer looks at its jobs: a new one gets its certificate within a
/// second or so of rjup copying it in, which `rjup up` waits for.
const TICK: Duration = Duration::from_secs(1);

/// Runs the renewer until the engine stops it.
pub async fn run() -> anyhow::Result<()> {
    let state = PathBuf::from(STATE_DIR);
    for dir in ["jobs", "orders", "labs"] {
        std::fs::create_dir_all(state.join(dir))
            .with_context(|| format!("creating {}", state.join(dir).display()))?;
    }
    let answers = Answers::default();
    for challenge in [Challenge::Http01, Challenge::TlsAlpn01] {
        let listener = listen(challenge.container_port()).await?;
        match challenge {
            Challenge::Http01 => tokio::spawn(serve::http01(listener, answers.clone())),
            Challenge::TlsAlpn01 => tokio::spawn(serve::tls_alpn01(listener, answers.clone())),
        };
    }
    println!(
        "rjup-acme {}: answering http-01 on port {} and tls-alpn-01 on port {}",
        env!("CARGO_PKG_VERSION"),
        Challenge::Http01.container_port(),
        Challenge::TlsAlpn01.container_port()
    );
    // As PID 1 it would ignore the engine's SIGTERM, and every stop would wait for the
    // kill. Its files are written whole or not at all, so it may stop at any point.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // On a Swarm the jobs are secrets, and each node's task orders for its own node.
    let jobs = std::env::var_os(JOBS_ENV).map_or_else(|| state.join("jobs"), PathBuf::from);
    let node = std::env::var(NODE_ENV).ok().filter(|n| !n.is_empty());
    if let Some(node) = &node {
        println!(
            "rjup-acme: on the Swarm node {node}, jobs in {}",
            jobs.display()
        );
    }
    let mut renewer = Renewer {
        state,
        jobs,
        node,
        certs: PathBuf::from(CERTS_DIR),
        written: HashMap::new(),
    };
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            () = async {
                renewer.tick(&answers).await;
                tokio::time::sleep(TICK).await;
            } => {}
        }
    }
}

/// Every address, IPv6 too where the container has it.
async fn listen(port: u16) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(("::", port)).await {
        Ok(listener) => Ok(listener),
        Err(_) => tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .with_context(|| format!("listening on port {port}")),
    }
}

struct Renewer {
    state: PathBuf,
    /// Where rjup put the jobs: the state volume's `jobs`, or a Swarm's secrets.
    jobs: PathBuf,
    /// On a Swarm: this task's node, whose names it orders for and whose statuses it
    /// logs, the manager's only way to read them.
    node: Option<String>,
    certs: PathBuf,
    /// What was last written to each lab's status file, so it is written on change only.
    written: HashMap<String, Status>,
}

/// One set of names: its orders so far.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Orders {
    failures: u32,
    retry_at: i64,
    last_error: Option<Failure>,
    /// The jobs the last order was placed for: a job not among them (a new lab, or a
    /// changed one, that is, someone running `rjup up`) is tried at once.
    attempted: Vec<String>,
    /// When the certificate there is was obtained.
    #[serde(default)]
    obtained_at: i64,
}

/// What the renewer last gave one lab.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Given {
    group: String,
    certificate: String,
    uid: u32,
    gid: u32,
    /// The group before, whose files a lab being replaced may still read.
    previous: Option<String>,
}

impl Renewer {
    /// The jobs of the labs whose volumes are mounted: a lab taken off the renewer
    /// keeps its job file, unread.
    fn jobs(&self) -> Vec<Job> {
        let Ok(entries) = std::fs::read_dir(&self.jobs) else {
            return Vec::new();
        };
        let mut jobs: Vec<Job> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .filter_map(|p| serde_json::from_slice::<Job>(&std::fs::read(&p).ok()?).ok())
            .filter_map(|job| match &self.node {
                Some(node) => job.on_node(node),
                None => Some(job),
            })
            .filter(|job| self.certs.join(&job.lab).is_dir())
            .collect();
        jobs.sort_by(|a, b| a.lab.cmp(&b.lab));
        jobs
    }

    async fn tick(&mut self, answers: &Answers) {
        let mut groups: BTreeMap<String, Vec<Job>> = BTreeMap::new();
        for job in self.jobs() {
            groups.entry(job.group()).or_default().push(job);
        }
        for (group, jobs) in groups {
            if let Err(e) = self.group(&group, &jobs, answers).await {
                let labs: Vec<&str> = jobs.iter().map(|j| j.lab.as_str()).collect();
                println!("rjup-acme: {}: {e:#}", labs.join(", "));
            }
        }
    }

    /// Orders for one set of names when it is due, then gives each of its labs its copy.
    async fn group(&mut self, group: &str, jobs: &[Job], answers: &Answers) -> anyhow::Result<()> {
        let dir = self.state.join("orders").join(group);
        std::fs::create_dir_all(&dir)?;
        let mut orders: Orders = read_json(&dir.join("orders.json")).unwrap_or_default();
        let chain = std::fs::read_to_string(dir.join("cert.pem")).ok();
        let described = chain.as_deref().and_then(|c| describe(c).ok());
        let now = now();
        let mut wanted: Vec<String> = jobs[0].names.iter().map(|n| canonical_name(n)).collect();
        wanted.sort();
        wanted.dedup();
        let replace_before = jobs
            .iter()
            .filter_map(|j| j.replace_obtained_before)
            .max()
            .unwrap_or(0);
        let due = match &described {
            None => true,
            Some(d) => {
                let mut names: Vec<String> = d.names.iter().map(|n| canonical_name(n)).collect();
                names.sort();
                names != wanted || now >= d.renew_at() || orders.obtained_at < replace_before
            }
        };
        let ids: Vec<String> = jobs.iter().map(Job::id).collect();
        let asked = ids.iter().any(|id| !orders.attempted.contains(id));
        if due && (asked || now >= orders.retry_at) {
            let labs: Vec<&str> = jobs.iter().map(|j| j.lab.as_str()).collect();
            let labs = labs.join(", ");
            let key = group_key(&dir)?;
            let started = std::time::Instant::now();
            match client::order(&jobs[0], &key, answers).await {
                Ok(chain) => {
                    let got = describe(&chain).context("reading the certificate the CA sent")?;
                    write_file(&dir.join("cert.pem"), chain.as_bytes(), 0, 0, 0o600)?;
                    println!(
                        "rjup-acme: {labs}: certificate for {} from {}, valid until {} ({:.1} s)",
                        got.names.join(", "),
                        got.issuer,
                        super::moment(got.not_after),
                        started.elapsed().as_secs_f64()
                    );
                    orders = Orders {
                        attempted: ids,
                        obtained_at: now,
                        ..Orders::default()
                    };
                }
                Err(failure) => {
                    orders.failures += 1;
                    let left = described.as_ref().map(|d| d.not_after - now);
                    let wait = backoff(orders.failures, left);
                    orders.retry_at = now + wait;
                    println!(
                        "rjup-acme: {labs}: no certificate (attempt {}, next in {wait} s): {}",
                        orders.failures, failure.message
                    );
                    orders.last_error = Some(failure);
                    orders.attempted = ids;
                }
            }
            write_file(
                &dir.join("orders.json"),
                &serde_json::to_vec(&orders)?,
                0,
                0,
                0o600,
            )?;
        }
        let chain = std::fs::read_to_string(dir.join("cert.pem")).ok();
        for job in jobs {
            self.give(job, &dir, chain.as_deref(), &orders)?;
        }
        Ok(())
    }

    /// Writes into `job`'s lab's volume the group's key and certificate, where they
    /// changed, and its status.
    fn give(
        &mut self,
        job: &Job,
        dir: &Path,
        chain: Option<&str>,
        orders: &Orders,
    ) -> anyhow::Result<()> {
        let lab_dir = self.certs.join(&job.lab);
        let record = self.state.join("labs").join(format!("{}.json", job.lab));
        let before: Given = read_json(&record).unwrap_or_default();
        // The files are named as rjup named them, on every node alike.
        let group = job.stem();
        let (crt, key) = job.files();
        let mut status = Status {
            job: job.id(),
            names: job.names.clone(),
            last_error: orders.last_error.clone(),
            failures: orders.failures,
            retry_at: (orders.failures > 0).then_some(orders.retry_at),
            ..Status::default()
        };
        if let Some(chain) = chain {
            let certificate = hex::encode(Sha256::digest(chain.as_bytes()));
            let owner_changed = before.uid != job.uid || before.gid != job.gid;
            let same_group = before.group == group;
            if !same_group || owner_changed || !lab_dir.join(&key).exists() {
                let key_pem = std::fs::read(dir.join("key.pem"))?;
                write_file(&lab_dir.join(&key), &key_pem, job.uid, job.gid, 0o400)?;
            }
            if !same_group
                || owner_changed
                || before.certificate != certificate
                || !lab_dir.join(&crt).exists()
            {
                write_file(
                    &lab_dir.join(&crt),
                    chain.as_bytes(),
                    job.uid,
                    job.gid,
                    0o444,
                )?;
            }
            let given = Given {
                group: group.clone(),
                certificate,
                uid: job.uid,
                gid: job.gid,
                previous: if same_group {
                    before.previous.clone()
                } else {
                    Some(before.group.clone()).filter(|g| !g.is_empty())
                },
            };
            if given != before {
                write_file(&record, &serde_json::to_vec(&given)?, 0, 0, 0o600)?;
                prune(&lab_dir, &group, given.previous.as_deref());
            }
            if let Ok(d) = describe(chain) {
                status.names = d.names.clone();
                status.issuer = Some(d.issuer.clone());
                status.not_before = Some(d.not_before);
                status.not_after = Some(d.not_after);
                status.renew_at = Some(d.renew_at());
            }
            status.certificate = Some(chain.to_string());
        }
        if self.written.get(&job.lab) != Some(&status) {
            let text = serde_json::to_vec_pretty(&status)?;
            write_file(&lab_dir.join(STATUS_FILE), &text, 0, 0, 0o644)?;
            if let Some(node) = &self.node {
                println!(
                    "{STATUS_LINE} {node} {} {}",
                    job.lab,
                    serde_json::to_string(&status)?
                );
            }
            self.written.insert(job.lab.clone(), status);
        }
        Ok(())
    }
}

/// Removes from a lab's volume the certificates and keys of groups other than its
/// current and previous one.
fn prune(lab_dir: &Path, group: &str, previous: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(lab_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((stem, extension)) = name.rsplit_once('.') else {
            continue;
        };
        let kept = stem == group || Some(stem) == previous;
        if matches!(extension, "crt" | "key") && !kept {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The group's key: made once, kept across its renewals.
fn group_key(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("key.pem");
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return Ok(pem);
    }
    let pem = rcgen::KeyPair::generate()
        .context("making the certificate's key")?
        .serialize_pem();
    write_file(&path, pem.as_bytes(), 0, 0, 0o600)?;
    Ok(pem)
}

/// Seconds until the next try after `failures` in a row: from a minute, doubling, up
/// to an hour; and, while a certificate has `left` seconds to live, at most a quarter
/// of that, so that many tries fit before it ends.
fn backoff(failures: u32, left: Option<i64>) -> i64 {
    let base = (60_i64 << failures.saturating_sub(1).min(6)).min(3600);
    match left {
        Some(left) if left > 0 => base.min((left / 4).max(10)),
        _ => base,
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Writes `contents` beside `path`, gives it to `uid`:`gid` with `mode`, then renames it
/// over `path`: a reader sees the old file or the new one, never a part.
fn write_file(path: &Path, contents: &[u8], uid: u32, gid: u32, mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    // The mode first: once the file is another user's, changing it needs CAP_FOWNER.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
        .with_context(|| format!("giving {} to {uid}:{gid}", path.display()))?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_within_the_certificate_s_remaining_life() {
        assert_eq!(backoff(1, None), 60);
        assert_eq!(backoff(2, None), 120);
        assert_eq!(backoff(20, None), 3600);
        // Let's Encrypt's 160 h, renewed with 53 h left: an hour apart at most.
        assert_eq!(backoff(10, Some(53 * 3600)), 3600);
        // A 90 s test certificate with 30 s left: every 10 s.
        assert_eq!(backoff(1, Some(30)), 10);
        assert_eq!(backoff(3, Some(4000)), 240);
        assert_eq!(backoff(1, Some(-5)), 60, "ended: as without one");
    }

    #[test]
    fn old_groups_files_leave_the_lab_s_volume_but_the_previous_one_s() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["a.crt", "a.key", "b.crt", "b.key", "c.crt", "status.json"] {
            std::fs::write(tmp.path().join(name), "x").unwrap();
        }
        prune(tmp.path(), "b", Some("a"));
        let mut left: Vec<String> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["a.crt", "a.key", "b.crt", "b.key", "status.json"]);
    }

    #[test]
    fn files_are_replaced_whole_with_their_owner_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("lab.crt");
        let (uid, gid) = (nix_ids().0, nix_ids().1);
        write_file(&path, b"one", uid, gid, 0o444).unwrap();
        write_file(&path, b"two", uid, gid, 0o444).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o444);
        assert!(!tmp.path().join("lab.new").exists());
    }

    fn nix_ids() -> (u32, u32) {
        // SAFETY: getuid and getgid have no preconditions.
        unsafe { (libc::getuid(), libc::getgid()) }
    }
}
