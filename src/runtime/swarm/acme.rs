//! The ACME renewer on a Swarm: one *global* service, `rjup-acme`, a task on every
//! node, each holding its own node's port 80 (or 443) in host mode. A lab's job is a
//! Swarm secret (a change is a new secret and a rolling update of the renewer, which
//! keeps nothing in memory); each node's task orders a certificate for its own node's
//! address and writes it into that node's volume `rjup-acme-<lab>`, which the lab's
//! service mounts by name. Wherever Swarm runs or moves the lab, that node's volume
//! holds that node's certificate already: nothing is ordered at move time.
//!
//! The manager cannot read a node's volume, so each task logs every status it writes
//! (`rjup-acme-status <node> <lab> <json>`), and rjup reads them from the service's
//! log, which the manager gathers from every node.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, Limit, Mount, MountType, Service, ServiceSpec, ServiceSpecMode,
    ServiceSpecUpdateConfig, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecSecrets, TaskSpecResources, TaskState,
};
use sha2::{Digest, Sha256};

use crate::acme::{self, Challenge, Status};
use crate::config::Acme;
use crate::engine::{Engine, SwarmNode};
use crate::error::Error;
use crate::lab::acme::{self as lab_acme, AcmeLab};
use crate::settings::Spec;
use crate::ui::printer::Printer;

/// The label each lab's job secret carries: the lab's name.
const JOB_LABEL: &str = "io.rjup.acme-job";
/// The label with the renewer image's id, so a new rjup rolls the renewer.
const IMAGE_LABEL: &str = "io.rjup.acme-image";
/// Where the job secrets are in each task.
const JOBS_DIR: &str = "/run/secrets";
const MEMORY: i64 = 64 << 20;
const PIDS: i64 = 64;
const SECOND: i64 = 1_000_000_000;

/// One lab the renewer serves: its challenge and its job's secret.
#[derive(Debug, Clone, PartialEq)]
struct Served {
    challenge: Challenge,
    secret_name: String,
    secret_id: String,
}

/// Refuses, before anything is built or pushed, a Swarm lab whose renewer no node
/// could pull.
pub fn check(spec: &Spec) -> anyhow::Result<()> {
    if spec
        .swarm
        .as_ref()
        .and_then(|s| s.registry.as_ref())
        .is_none()
    {
        return Err(Error::config(
            "`tls: acme` on a Swarm runs rjup's renewer on every node, from a registry every node can pull from; set `swarm.registry` in rjup.yaml (such as registry.example.org:5000), or use `tls: self-signed`",
        )
        .into());
    }
    Ok(())
}

/// Each node's names: its address, when public or listed in `acme.names`. A Swarm
/// lab may run on any node, so every node needs one.
fn node_names(wanted: &Acme, nodes: &[SwarmNode]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let listed = |a: &IpAddr| {
        wanted
            .names
            .iter()
            .any(|n| n.parse::<IpAddr>().ok() == Some(*a))
    };
    let others: Vec<&String> = wanted
        .names
        .iter()
        .filter(|n| {
            !nodes
                .iter()
                .any(|node| n.parse::<IpAddr>().ok() == Some(node.address))
        })
        .collect();
    if !others.is_empty() {
        let names: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
        return Err(Error::config(format!(
            "`acme.names` lists {}, which no Swarm node advertises; on a Swarm each node's certificate names that node's address (`docker node inspect --format '{{{{.Status.Addr}}}}'`): list the nodes' addresses, or leave `acme.names` out for public ones",
            names.join(", ")
        ))
        .into());
    }
    let mut map = BTreeMap::new();
    let mut missing = Vec::new();
    for node in nodes {
        let ok = if wanted.names.is_empty() {
            lab_acme::is_public(node.address)
        } else {
            listed(&node.address)
        };
        if ok {
            map.insert(node.id.clone(), vec![node.address.to_string()]);
        } else {
            missing.push(node.address.to_string());
        }
    }
    if !missing.is_empty() {
        let why = if wanted.names.is_empty() {
            "are not public addresses, for which a public CA issues nothing"
        } else {
            "are not in `acme.names`"
        };
        return Err(Error::config(format!(
            "`tls: acme` on a Swarm gives every node a certificate for its own address, since the lab may run on any, but the nodes' addresses {} {why}; list every node's address in `acme.names` (with a private CA), or use `tls: self-signed`",
            missing.join(", ")
        ))
        .into());
    }
    Ok(map)
}

/// The renewer's image on every node: built here from this rjup, pushed to
/// `registry`, run by digest. The push is skipped when the renewer runs it already.
async fn image(
    engine: &Engine,
    registry: &str,
    current: Option<&Service>,
    printer: Printer,
) -> anyhow::Result<(String, String)> {
    let (tag, id) = lab_acme::ensure_image(engine, printer).await?;
    if let Some(service) = current {
        let labels = service.spec.as_ref().and_then(|s| s.labels.as_ref());
        if labels.and_then(|l| l.get(IMAGE_LABEL)) == Some(&id) {
            if let Some(reference) = container(service).and_then(|c| c.image.clone()) {
                return Ok((reference, id));
            }
        }
    }
    let target = format!("{registry}/{tag}");
    printer.say(format!("Pushing {target}"));
    let reference = engine.push(&id, &target).await?;
    Ok((reference, id))
}

fn container(service: &Service) -> Option<&TaskSpecContainerSpec> {
    service
        .spec
        .as_ref()?
        .task_template
        .as_ref()?
        .container_spec
        .as_ref()
}

/// The labs the renewer serves now.
fn served(service: &Service) -> BTreeMap<String, Served> {
    let labels = service.spec.as_ref().and_then(|s| s.labels.as_ref());
    let challenges = lab_acme::served(labels);
    let secrets = container(service)
        .and_then(|c| c.secrets.clone())
        .unwrap_or_default();
    secrets
        .into_iter()
        .filter_map(|s| {
            let lab = s.file?.name?.strip_suffix(".json")?.to_string();
            let challenge = *challenges.get(&lab)?;
            Some((
                lab,
                Served {
                    challenge,
                    secret_name: s.secret_name?,
                    secret_id: s.secret_id?,
                },
            ))
        })
        .collect()
}

/// The renewer's service serving `labs`, from `reference`.
fn service_spec(reference: &str, image_id: &str, labs: &BTreeMap<String, Served>) -> ServiceSpec {
    let mut challenges: Vec<Challenge> = labs.values().map(|s| s.challenge).collect();
    challenges.sort();
    challenges.dedup();
    let volume = |source: String, target: String| Mount {
        typ: Some(MountType::VOLUME),
        source: Some(source),
        target: Some(target),
        read_only: Some(false),
        ..Default::default()
    };
    let mut mounts = vec![volume(acme::RENEWER.into(), acme::STATE_DIR.into())];
    mounts.extend(
        labs.keys()
            .map(|lab| volume(acme::lab_volume(lab), format!("{}/{lab}", acme::CERTS_DIR))),
    );
    let secrets = labs
        .iter()
        .map(|(lab, s)| TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(format!("{lab}.json")),
                uid: Some("0".into()),
                gid: Some("0".into()),
                mode: Some(0o400),
            }),
            secret_id: Some(s.secret_id.clone()),
            secret_name: Some(s.secret_name.clone()),
        })
        .collect();
    let container = TaskSpecContainerSpec {
        image: Some(reference.to_string()),
        user: Some("0:0".into()),
        env: Some(vec![
            format!("{}={{{{.Node.ID}}}}", acme::NODE_ENV),
            format!("{}={JOBS_DIR}", acme::JOBS_ENV),
        ]),
        mounts: Some(mounts),
        secrets: Some(secrets),
        read_only: Some(true),
        capability_drop: Some(vec!["ALL".into()]),
        capability_add: Some(vec!["CHOWN".into()]),
        stop_grace_period: Some(5 * SECOND),
        ..Default::default()
    };
    let ports = challenges
        .iter()
        .map(|c| EndpointPortConfig {
            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
            target_port: Some(i64::from(c.container_port())),
            published_port: Some(i64::from(c.host_port())),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect();
    let mut spec = ServiceSpec {
        name: Some(acme::RENEWER.into()),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    memory_bytes: Some(MEMORY),
                    pids: Some(PIDS),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        }),
        // All nodes at once: each task holds its node's port, so the old one must stop
        // first anyway, and it keeps no state but in its volumes; `up` waits for them.
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(0),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&spec).expect("a service spec always serialises"));
    hasher.update(image_id.as_bytes());
    let hash = hex::encode(hasher.finalize());
    let challenges: BTreeMap<&String, Challenge> =
        labs.iter().map(|(lab, s)| (lab, s.challenge)).collect();
    spec.labels = Some(HashMap::from([
        (
            lab_acme::label::LABS.to_string(),
            serde_json::to_string(&challenges).expect("labs always serialise"),
        ),
        (lab_acme::label::CONFIG_HASH.to_string(), hash),
        (IMAGE_LABEL.to_string(), image_id.to_string()),
    ]));
    spec
}

fn config_hash(spec: &ServiceSpec) -> Option<&String> {
    spec.labels.as_ref()?.get(lab_acme::label::CONFIG_HASH)
}

/// Makes the renewer `current` into `spec` (created, or removed with `None`); an
/// unchanged spec (same config hash) leaves it as it is, with no rolling update.
async fn set(
    engine: &Engine,
    current: Option<&Service>,
    spec: Option<ServiceSpec>,
) -> anyhow::Result<()> {
    match (current, spec) {
        (None, None) => Ok(()),
        (None, Some(spec)) => engine.create_service(spec).await.map(|_| ()),
        (Some(service), None) => {
            engine
                .remove_service(service.id.as_deref().unwrap_or_default())
                .await
        }
        (Some(service), Some(spec)) => {
            let now = service.spec.as_ref().and_then(config_hash);
            if now.is_some() && now == config_hash(&spec) {
                return Ok(());
            }
            let id = service.id.as_deref().unwrap_or_default();
            let version = service.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            engine.update_service(id, version, spec).await
        }
    }
}

/// Has every node's renewer give `spec`'s lab a certificate for that node's address,
/// as `wanted` asks, and waits (up to `timeout`) until each node the manager hears from
/// has one. A refusal puts the renewer back as it was.
pub async fn obtain(
    engine: &Engine,
    spec: &Spec,
    wanted: &Acme,
    timeout: Duration,
    printer: Printer,
) -> anyhow::Result<AcmeLab> {
    check(spec)?;
    lab_acme::check_platform(engine).await?;
    let registry = spec
        .swarm
        .as_ref()
        .and_then(|s| s.registry.clone())
        .unwrap_or_default();
    let nodes = engine.nodes().await?;
    let per_node = node_names(wanted, &nodes)?;
    let (pem, roots) = lab_acme::roots(spec, wanted)?;
    let all: Vec<String> = per_node.values().flatten().cloned().collect();
    let mut job = lab_acme::job(spec, wanted, all, pem, spec.owner)?;
    job.nodes = per_node;
    let before = engine.service(acme::RENEWER).await?;
    let (reference, image_id) = image(engine, &registry, before.as_ref(), printer).await?;

    let lab = job.lab.clone();
    let kept = before
        .as_ref()
        .and_then(|b| served(b).remove(&lab))
        .map(|s| s.secret_name);
    let undo = |e: anyhow::Error| async {
        if let Err(why) = restore(engine, before.as_ref()).await {
            tracing::debug!("acme: putting the Swarm renewer back: {why:#}");
        }
        if let Err(why) = prune_jobs_until(engine, &lab, kept.as_deref()).await {
            tracing::debug!("acme: removing the new job's secret: {why:#}");
        }
        e
    };
    let mut current = before.clone();
    let (status, secret_name) = loop {
        let secret_name = match serve(engine, current.as_ref(), &job, &reference, &image_id).await {
            Ok(name) => name,
            Err(e) => return Err(undo(e).await),
        };
        let wait = crate::ui::progress::Wait::new(
            &format!(
                "Waiting for a certificate for each of {} node(s) from {}",
                job.nodes.len(),
                job.directory
            ),
            printer,
        );
        let answered = answer(engine, &job, &nodes, &roots, timeout).await;
        drop(wait);
        match answered {
            Ok(Ok(status)) => break (status, secret_name),
            Ok(Err(untrusted)) if untrusted.replace(&mut job, printer) => {
                current = match engine.service(acme::RENEWER).await {
                    Ok(service) => service,
                    Err(e) => return Err(undo(e).await),
                };
            }
            Ok(Err(untrusted)) => return Err(undo(untrusted.error(wanted).into()).await),
            Err(e) => return Err(undo(e).await),
        }
    };
    prune_jobs(engine, &job.lab, Some(&secret_name)).await;
    Ok(AcmeLab::new(job, status, roots))
}

/// Has the renewer `current` serve `job` (from `reference`, `image_id`), as a new
/// secret and a rolling update, besides the labs it serves already: the secret's name.
async fn serve(
    engine: &Engine,
    current: Option<&Service>,
    job: &acme::Job,
    reference: &str,
    image_id: &str,
) -> anyhow::Result<String> {
    let json = serde_json::to_vec_pretty(job)?;
    let secret_name = format!("{}-job-{}", acme::RENEWER, job.id());
    let labels = HashMap::from([(JOB_LABEL.to_string(), job.lab.clone())]);
    let secret_id = engine.ensure_secret(&secret_name, &json, labels).await?;
    let mut labs = current.map(served).unwrap_or_default();
    labs.insert(
        job.lab.clone(),
        Served {
            challenge: job.challenge,
            secret_name: secret_name.clone(),
            secret_id,
        },
    );
    set(
        engine,
        current,
        Some(service_spec(reference, image_id, &labs)),
    )
    .await?;
    Ok(secret_name)
}

/// Puts the renewer back as `before` was (or removes it, when there was none).
async fn restore(engine: &Engine, before: Option<&Service>) -> anyhow::Result<()> {
    let now = engine.service(acme::RENEWER).await?;
    match (now, before.and_then(|b| b.spec.clone())) {
        (Some(now), Some(spec)) => {
            let id = now.id.as_deref().unwrap_or_default();
            let version = now.version.as_ref().and_then(|v| v.index).unwrap_or(0);
            engine.update_service(id, version, spec).await
        }
        (Some(now), None) => {
            engine
                .remove_service(now.id.as_deref().unwrap_or_default())
                .await
        }
        (None, _) => Ok(()),
    }
}

/// Removes `lab`'s job secrets but `keep`: best effort, since a task still stopping
/// holds its secret a moment, and a secret left behind is removed at the next change.
async fn prune_jobs(engine: &Engine, lab: &str, keep: Option<&str>) {
    let label = format!("{JOB_LABEL}={lab}");
    let Ok(secrets) = engine.secrets(&label).await else {
        return;
    };
    for (id, name) in secrets {
        if Some(name.as_str()) != keep {
            if let Err(e) = engine.remove_secret(&id).await {
                tracing::debug!("acme: keeping the secret {name} for now: {e:#}");
            }
        }
    }
}

/// The statuses the renewer's tasks logged, newest last: (node, lab, status).
async fn logged(engine: &Engine, service: &str) -> Vec<(String, String, Status)> {
    parse_statuses(&engine.service_log_text(service, None).await)
}

fn parse_statuses(log: &str) -> Vec<(String, String, Status)> {
    log.lines()
        .filter_map(|line| {
            let rest = &line[line.find(acme::STATUS_LINE)? + acme::STATUS_LINE.len()..];
            let mut parts = rest.trim_start().splitn(3, ' ');
            let node = parts.next()?.to_string();
            let lab = parts.next()?.to_string();
            let status = serde_json::from_str(parts.next()?).ok()?;
            Some((node, lab, status))
        })
        .collect()
}

/// Waits until every ready node's renewer answered `job` with a certificate that
/// verifies for that node's address; the first refusal, or a task Swarm could not run
/// (its port held, say), ends the wait, and so does a certificate that does not verify
/// (`Ok(Err(..))`: maybe one a node kept from before its CA changed roots).
async fn answer(
    engine: &Engine,
    job: &acme::Job,
    nodes: &[SwarmNode],
    roots: &std::sync::Arc<rustls::RootCertStore>,
    timeout: Duration,
) -> anyhow::Result<Result<Status, lab_acme::Untrusted>> {
    let started = Instant::now();
    let id = job.id();
    let address = |node: &str| {
        nodes
            .iter()
            .find(|n| n.id == node)
            .map_or_else(|| node.to_string(), |n| n.address.to_string())
    };
    let waited: Vec<&SwarmNode> = nodes
        .iter()
        .filter(|n| n.ready && job.nodes.contains_key(&n.id))
        .collect();
    loop {
        let mut latest: BTreeMap<String, Status> = BTreeMap::new();
        for (node, lab, status) in logged(engine, acme::RENEWER).await {
            if lab == job.lab && status.job == id {
                latest.insert(node, status);
            }
        }
        let mut done = Vec::new();
        for node in &waited {
            let Some(status) = latest.get(&node.id) else {
                continue;
            };
            let name = &job.nodes[&node.id][0];
            if status.valid_at(acme::now()) {
                let chain = status.certificate.as_deref();
                let issuer = status.issuer.as_deref();
                if let Some(untrusted) = lab_acme::Untrusted::check(chain, issuer, roots, name) {
                    return Ok(Err(untrusted));
                }
                done.push(status.clone());
            } else if let Some(failure) = &status.last_error {
                return Err(Error::AcmeFailed {
                    directory: job.directory.clone(),
                    names: vec![name.clone()],
                    failure: failure.clone(),
                    challenge: job.challenge,
                }
                .into());
            }
        }
        if done.len() == waited.len() && !done.is_empty() {
            return Ok(Ok(combined(done)));
        }
        if let Some((node, why)) = task_failure(engine, &address).await? {
            // Its node's port held by something else: the engine says so at start.
            if why.contains("already allocated") || why.contains("address already in use") {
                return Err(Error::AcmePortTaken {
                    port: job.challenge.host_port(),
                    holder: format!("something on the Swarm node {node} ({why})"),
                    challenge: job.challenge,
                }
                .into());
            }
            return Err(anyhow::anyhow!(
                "the renewer (the Swarm service {}) cannot run on the node {node}: {why}",
                acme::RENEWER
            ));
        }
        if started.elapsed() >= timeout {
            let missing: Vec<String> = waited
                .iter()
                .filter(|n| !latest.get(&n.id).is_some_and(|s| s.valid_at(acme::now())))
                .map(|n| n.address.to_string())
                .collect();
            return Err(Error::AcmeFailed {
                directory: job.directory.clone(),
                names: missing.clone(),
                failure: acme::Failure {
                    kind: acme::FailureKind::Unreachable,
                    message: format!(
                        "no certificate for the node(s) {} within {} s (raise --timeout if the CA is just slow; `docker service logs {}` shows what the renewer did)",
                        missing.join(", "),
                        timeout.as_secs(),
                        acme::RENEWER
                    ),
                    at: acme::now(),
                },
                challenge: job.challenge,
            }
            .into());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One node's newest task that Swarm rejected or that failed: the node's address and
/// the reason.
async fn task_failure(
    engine: &Engine,
    address: &impl Fn(&str) -> String,
) -> anyhow::Result<Option<(String, String)>> {
    let tasks = engine.tasks(acme::RENEWER).await?;
    let mut seen = Vec::new();
    for task in &tasks {
        let node = task.node_id.clone().unwrap_or_default();
        if seen.contains(&node) {
            continue;
        }
        seen.push(node.clone());
        let status = task.status.as_ref();
        if matches!(
            status.and_then(|s| s.state),
            Some(TaskState::FAILED | TaskState::REJECTED)
        ) {
            let err = status.and_then(|s| s.err.clone()).unwrap_or_default();
            return Ok(Some((address(&node), err)));
        }
    }
    Ok(None)
}

/// The nodes' certificates as one: all their names, the earliest end.
fn combined(statuses: Vec<Status>) -> Status {
    let mut names: Vec<String> = statuses.iter().flat_map(|s| s.names.clone()).collect();
    names.sort();
    names.dedup();
    let end = statuses.iter().filter_map(|s| s.not_after).min();
    let renew = statuses.iter().filter_map(|s| s.renew_at).min();
    let mut status = statuses.into_iter().next().unwrap_or_default();
    status.names = names;
    status.not_after = end;
    status.renew_at = renew;
    status
}

/// Takes `lab` off the renewer (removed with its last lab), and its job's secrets.
/// The nodes' volumes `rjup-acme-<lab>` stay: a manager cannot remove a node's volume.
pub async fn release(engine: &Engine, lab: &str) -> anyhow::Result<()> {
    let Some(service) = engine.service(acme::RENEWER).await? else {
        prune_jobs(engine, lab, None).await;
        return Ok(());
    };
    let mut labs = served(&service);
    if labs.remove(lab).is_some() {
        let spec = match labs.is_empty() {
            true => None,
            false => {
                let image = container(&service)
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let labels = service.spec.as_ref().and_then(|s| s.labels.as_ref());
                let image_id = labels
                    .and_then(|l| l.get(IMAGE_LABEL))
                    .cloned()
                    .unwrap_or_default();
                Some(service_spec(&image, &image_id, &labs))
            }
        };
        set(engine, Some(&service), spec).await?;
    }
    prune_jobs_until(engine, lab, None).await
}

/// [`prune_jobs`], again until they are gone: the tasks that held a secret stop
/// shortly after the renewer's update, and the engine refuses to remove it until then.
async fn prune_jobs_until(engine: &Engine, lab: &str, keep: Option<&str>) -> anyhow::Result<()> {
    let label = format!("{JOB_LABEL}={lab}");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        prune_jobs(engine, lab, keep).await;
        let left = engine.secrets(&label).await?;
        if left.iter().all(|(_, name)| Some(name.as_str()) == keep) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

/// What the renewer on the node at `address` last said about `lab`'s certificate.
pub async fn status(engine: &Engine, lab: &str, address: IpAddr) -> anyhow::Result<Option<Status>> {
    let Some(service) = engine.service(acme::RENEWER).await? else {
        return Ok(None);
    };
    if !served(&service).contains_key(lab) {
        return Ok(None);
    }
    let nodes = engine.nodes().await?;
    let Some(node) = nodes.iter().find(|n| n.address == address) else {
        return Ok(None);
    };
    let id = service.id.clone().unwrap_or_default();
    Ok(logged(engine, &id)
        .await
        .into_iter()
        .filter(|(n, l, _)| *n == node.id && l == lab)
        .map(|(_, _, s)| s)
        .next_back())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, address: &str) -> SwarmNode {
        SwarmNode {
            id: id.into(),
            address: address.parse().unwrap(),
            ready: true,
        }
    }

    #[test]
    fn each_node_gets_its_own_address_and_every_node_needs_one() {
        let nodes = [node("n1", "10.240.0.11"), node("n2", "10.240.0.12")];
        let wanted = Acme {
            names: vec!["10.240.0.11".into(), "10.240.0.12".into()],
            ..Acme::default()
        };
        let map = node_names(&wanted, &nodes).unwrap();
        assert_eq!(map["n2"], ["10.240.0.12"]);
        let one = Acme {
            names: vec!["10.240.0.11".into()],
            ..Acme::default()
        };
        let line = node_names(&one, &nodes).unwrap_err().to_string();
        assert!(
            line.contains("10.240.0.12") && line.contains("tls: self-signed"),
            "{line}"
        );
        let private = node_names(&Acme::default(), &nodes)
            .unwrap_err()
            .to_string();
        assert!(private.contains("not public"), "{private}");
        let dns = Acme {
            names: vec!["lab.example.org".into()],
            ..Acme::default()
        };
        let line = node_names(&dns, &nodes).unwrap_err().to_string();
        assert!(line.contains("lab.example.org"), "{line}");
    }

    #[test]
    fn statuses_are_read_from_the_renewer_s_log_lines() {
        let status = Status {
            job: "abc".into(),
            ..Status::default()
        };
        let log = format!(
            "rjup-acme: starting\nrjup-acme-status n1 demo {}\n",
            serde_json::to_string(&status).unwrap()
        );
        assert_eq!(
            parse_statuses(&log),
            [("n1".to_string(), "demo".to_string(), status)]
        );
    }

    #[test]
    fn the_renewer_runs_on_every_node_holding_its_port_there() {
        let labs = BTreeMap::from([(
            "demo".to_string(),
            Served {
                challenge: Challenge::Http01,
                secret_name: "rjup-acme-job-1".into(),
                secret_id: "s1".into(),
            },
        )]);
        let spec = service_spec("reg/rjup/acme@sha256:1", "sha256:1", &labs);
        assert!(spec.mode.as_ref().unwrap().global.is_some());
        let port = &spec.endpoint_spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(port.published_port, Some(80));
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        let service = Service {
            spec: Some(spec),
            ..Default::default()
        };
        assert_eq!(served(&service), labs);
    }
}
