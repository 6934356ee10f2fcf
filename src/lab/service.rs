//! The lab as a Swarm service: what it should look like. The same inputs as the lab
//! container ([`super::container`]), the same labels and the same config-hash comparison; what
//! differs is how the config reaches the lab (Swarm secrets, not a copy into the
//! container) and where it runs (a node Swarm picks, within `swarm.constraints`).

use std::collections::HashMap;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, Limit, Mount, MountTmpfsOptions, MountType, ServiceSpec, ServiceSpecMode,
    ServiceSpecModeReplicated, ServiceSpecRollbackConfig, ServiceSpecRollbackConfigOrderEnum,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum,
    ServiceSpecUpdateConfigOrderEnum, TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile,
    TaskSpecContainerSpecSecrets, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};
use sha2::{Digest, Sha256};

use super::{label, labels, Inputs, PULLED_HOME};
use crate::jupyter::server_config;
use crate::settings::Spec;

/// Swarm names (services, secrets) are DNS labels: at most 63 characters.
const NAME_LIMIT: usize = 63;
/// Seconds, in the nanoseconds Swarm counts in.
const SECOND: i64 = 1_000_000_000;

/// One Swarm secret the lab reads as a file.
#[derive(Debug, Clone)]
pub struct Secret {
    /// `rjup-<kind>-<hash>`: a hash of what it holds, since secrets cannot change.
    pub name: String,
    pub contents: Vec<u8>,
}

/// The service `up` wants, and the secrets it mounts, which must exist first.
#[derive(Debug, Clone)]
pub struct Desired {
    pub spec: ServiceSpec,
    pub secrets: Vec<Secret>,
    /// Labels each secret carries, so `down` finds them.
    pub secret_labels: HashMap<String, String>,
    pub config_hash: String,
    pub image_id: String,
}

/// The service's name: the container's, shortened with a hash when too long for Swarm.
pub fn service_name(spec: &Spec) -> String {
    let name = spec.container_name();
    if name.len() <= NAME_LIMIT {
        return name;
    }
    let hash = hex::encode(Sha256::digest(name.as_bytes()));
    format!("{}-{}", &name[..NAME_LIMIT - 9], &hash[..8])
}

/// The service `up` wants. `inputs.image_reference` is what every node pulls: the
/// pushed image by digest in build mode, `image:` in pull mode.
pub fn desired(inputs: &Inputs<'_>) -> anyhow::Result<Desired> {
    let spec = inputs.spec;
    let project = spec.dir.display().to_string();
    let secrets = secrets(inputs, &project)?;
    let container = container(inputs, &project, &secrets);
    let mut service = ServiceSpec {
        name: Some(service_name(spec)),
        task_template: Some(task(spec, container)),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        update_config: Some(update_config()),
        rollback_config: Some(ServiceSpecRollbackConfig {
            parallelism: Some(1),
            order: Some(ServiceSpecRollbackConfigOrderEnum::STOP_FIRST),
            ..Default::default()
        }),
        endpoint_spec: Some(endpoint(inputs.host_port)),
        ..Default::default()
    };
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&service).expect("a service spec always serialises"));
    hasher.update(inputs.image_id);
    let config_hash = hex::encode(hasher.finalize());
    service.labels = Some(labels(inputs, &config_hash));
    Ok(Desired {
        spec: service,
        secrets: secrets.into_iter().map(|(s, _)| s).collect(),
        secret_labels: HashMap::from([
            (label::PROJECT.to_string(), project),
            (label::NAME.to_string(), spec.name.clone()),
        ]),
        config_hash,
        image_id: inputs.image_id.to_string(),
    })
}

/// The lab's config as secrets, each with the path the lab reads it at. Each is named
/// by a hash of the project, its path and what it holds: secrets cannot change.
fn secrets(inputs: &Inputs<'_>, project: &str) -> anyhow::Result<Vec<(Secret, String)>> {
    let files = server_config::config_files(
        inputs.hashed_password,
        inputs.cookie_secret,
        false,
        inputs.https(),
        &inputs.spec.sharing(),
        // Secrets cannot change: new accounts are a new secret and a service update.
        Some(inputs.accounts),
    )?;
    Ok(files
        .into_iter()
        .map(|file| {
            let mut hasher = Sha256::new();
            hasher.update(project.as_bytes());
            hasher.update(file.path.as_bytes());
            hasher.update(&file.contents);
            let hash = hex::encode(hasher.finalize());
            let secret = Secret {
                name: format!("rjup-{}-{}", file.kind, &hash[..24]),
                contents: file.contents,
            };
            (secret, file.path)
        })
        .collect())
}

/// The lab's container in the task: the project mounted, the config as `secrets`,
/// as the project's owner, without capabilities.
fn container(
    inputs: &Inputs<'_>,
    project: &str,
    secrets: &[(Secret, String)],
) -> TaskSpecContainerSpec {
    let spec = inputs.spec;
    let owner = spec.owner;
    let home = inputs.pulled.then_some(PULLED_HOME);
    let references = secrets
        .iter()
        .map(|(secret, path)| TaskSpecContainerSpecSecrets {
            secret_name: Some(secret.name.clone()),
            // Filled in from the created secret's id before the service is made.
            secret_id: None,
            // Root's, readable by the lab's group: the lab cannot change its config.
            file: Some(TaskSpecContainerSpecFile {
                name: Some(path.clone()),
                uid: Some(server_config::config_owner(owner).uid.to_string()),
                gid: Some(server_config::config_owner(owner).gid.to_string()),
                mode: Some(server_config::CONFIG_FILE_MODE),
            }),
        })
        .collect();
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    env.extend(server_config::environment(home.unwrap_or(PULLED_HOME)));
    let mut mounts = vec![Mount {
        target: Some(server_config::ROOT_DIR.to_string()),
        source: Some(project.to_string()),
        typ: Some(MountType::BIND),
        ..Default::default()
    }];
    if let Some(home) = home {
        env.push(format!("HOME={home}"));
        // Nothing can be copied into a service's container, so the home a pulled image
        // lacks for the lab's uid is a tmpfs, private to the container.
        mounts.push(Mount {
            target: Some(home.to_string()),
            typ: Some(MountType::TMPFS),
            tmpfs_options: Some(MountTmpfsOptions {
                mode: Some(0o1777),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    // `tls: acme`: the node's own volume, which the renewer's task there fills with
    // that node's certificate, so the lab finds one on whichever node it runs.
    mounts.extend(inputs.acme.map(super::acme::lab_mount));
    TaskSpecContainerSpec {
        image: Some(inputs.image_reference.to_string()),
        user: Some(format!("{}:{}", owner.uid, owner.gid)),
        env: Some(env),
        // Arguments, as a container's command: the image's entrypoint (a Binder
        // `start`, an image's own) runs first, as it does for a container.
        args: Some(vec![super::container::JUPYTER_LAB.into()]),
        dir: Some(server_config::ROOT_DIR.to_string()),
        mounts: Some(mounts),
        secrets: Some(references),
        init: Some(true),
        // Jupyter runs as an ordinary user and needs no capability at all.
        capability_drop: Some(vec!["ALL".into()]),
        stop_grace_period: Some(10 * SECOND),
        ..Default::default()
    }
}

/// Where and how the lab's one task runs: the limits `resources` asks for, restarted
/// whatever ends it, on a node `swarm.constraints` allows.
fn task(spec: &Spec, container: TaskSpecContainerSpec) -> TaskSpec {
    let constraints = spec
        .swarm
        .as_ref()
        .map(|s| s.constraints.clone())
        .unwrap_or_default();
    TaskSpec {
        container_spec: Some(container),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                nano_cpus: spec.resources.cpus.map(|c| (c * 1e9) as i64),
                memory_bytes: spec.resources.memory,
                pids: Some(i64::from(spec.resources.pids)),
            }),
            ..Default::default()
        }),
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
            delay: Some(SECOND),
            ..Default::default()
        }),
        placement: Some(TaskSpecPlacement {
            constraints: Some(constraints),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One host port on one node: the old task must stop before the new one can bind it,
/// and a new task that fails goes back to the one before.
fn update_config() -> ServiceSpecUpdateConfig {
    ServiceSpecUpdateConfig {
        parallelism: Some(1),
        failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
        monitor: Some(5 * SECOND),
        order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
        ..Default::default()
    }
}

/// Host mode: the routing mesh needs IPVS, and the URL should name the node that runs
/// the lab, not any node.
fn endpoint(port: u16) -> EndpointSpec {
    EndpointSpec {
        ports: Some(vec![EndpointPortConfig {
            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
            target_port: Some(i64::from(server_config::PORT)),
            published_port: Some(i64::from(port)),
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Swarm;
    use crate::settings::tests::spec;

    const HASH: &str = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA";

    fn inputs(spec: &Spec) -> Inputs<'_> {
        Inputs {
            spec,
            image_reference: "10.0.0.1:5000/rjup/demo@sha256:abc",
            image_id: "sha256:aaaa",
            pulled: false,
            host_port: 8888,
            hashed_password: HASH,
            cookie_secret: "c00k1e",
            tls: None,
            acme: None,
            accounts: b"{}",
            rootless: false,
            podman: false,
        }
    }

    fn swarm_spec() -> Spec {
        let mut s = spec();
        s.swarm = Some(Swarm {
            registry: Some("10.0.0.1:5000".into()),
            constraints: vec!["node.role==worker".into()],
        });
        s
    }

    #[test]
    fn the_hash_is_in_secrets_only_never_in_the_service() {
        let s = swarm_spec();
        let d = desired(&inputs(&s)).unwrap();
        let visible = serde_json::to_string(&d.spec).unwrap();
        assert!(!visible.contains("argon2"), "{visible}");
        assert!(!visible.contains("c00k1e"), "{visible}");
        let settings = &d.secrets[1];
        assert!(String::from_utf8_lossy(&settings.contents).contains(HASH));
        assert!(settings.name.starts_with("rjup-settings-"));
        assert!(d.secrets.iter().all(|s| s.name.len() <= NAME_LIMIT));
        let container = d.spec.task_template.as_ref().unwrap();
        let refs = container.container_spec.as_ref().unwrap().secrets.as_ref();
        let file = refs.unwrap()[0].file.as_ref().unwrap();
        assert_eq!(
            file.name.as_deref(),
            Some("/etc/rjup/jupyter/jupyter_server_config.py")
        );
        assert_eq!(
            (file.uid.as_deref(), file.gid.as_deref(), file.mode),
            (Some("0"), Some("1500"), Some(0o440))
        );
    }

    #[test]
    fn a_new_password_is_a_new_secret_and_a_new_config_hash() {
        let s = swarm_spec();
        let before = desired(&inputs(&s)).unwrap();
        assert_eq!(
            desired(&inputs(&s)).unwrap().config_hash,
            before.config_hash
        );
        let mut i = inputs(&s);
        i.hashed_password = "argon2:$argon2id$v=19$m=10240,t=10,p=8$b3RoZXI$b3RoZXI";
        let after = desired(&i).unwrap();
        assert_eq!(after.secrets[0].name, before.secrets[0].name, "same config");
        assert_ne!(
            after.secrets[1].name, before.secrets[1].name,
            "new settings"
        );
        assert_eq!(after.secrets[2].name, before.secrets[2].name, "same cookie");
        assert_ne!(after.config_hash, before.config_hash);
    }

    #[test]
    fn one_hardened_replica_on_a_host_port_where_the_constraints_allow() {
        let s = swarm_spec();
        let d = desired(&inputs(&s)).unwrap();
        let spec = &d.spec;
        let replicas = spec.mode.as_ref().unwrap().replicated.as_ref().unwrap();
        assert_eq!(replicas.replicas, Some(1));
        let port = &spec.endpoint_spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(port.published_port, Some(8888));
        let task = spec.task_template.as_ref().unwrap();
        let c = task.container_spec.as_ref().unwrap();
        assert_eq!(c.capability_drop, Some(vec!["ALL".to_string()]));
        assert_eq!((c.init, c.user.as_deref()), (Some(true), Some("1500:1500")));
        let limits = task.resources.as_ref().unwrap().limits.as_ref().unwrap();
        assert_eq!(limits.pids, Some(4096));
        let placement = task.placement.as_ref().unwrap();
        assert_eq!(
            placement.constraints,
            Some(vec!["node.role==worker".to_string()])
        );
        let update = spec.update_config.as_ref().unwrap();
        assert_eq!(
            update.order,
            Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST)
        );
        assert_eq!(
            update.failure_action,
            Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK)
        );
        let labels = spec.labels.as_ref().unwrap();
        assert_eq!(labels[label::CONFIG_HASH], d.config_hash);
        assert_eq!(labels[label::PROJECT], "/home/ada/demo");
    }

    #[test]
    fn long_names_are_shortened_to_what_swarm_takes() {
        let mut s = spec();
        s.name = "a".repeat(70);
        let name = service_name(&s);
        assert_eq!(name.len(), NAME_LIMIT);
        assert!(name.starts_with("rjup-aaa"));
    }
}
