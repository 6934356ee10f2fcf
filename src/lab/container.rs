//! The lab as a container: what it should look like. As docker compose does, everything the
//! lab sees is hashed into a label, which `converge` compares with what runs.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, Mount, MountType, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use super::{labels, Inputs, PULLED_HOME};
use crate::archive::ROOT;
use crate::config::Gpus;
use crate::jupyter::server_config;
use crate::settings::Spec;

pub const CONTAINER_PORT: &str = "8888/tcp";
/// The lab's command, in a container and in a Swarm service alike.
pub const JUPYTER_LAB: &str = "jupyter-lab";

/// The lab's home in a rootless engine, made afresh for uid 0: a built image's
/// `/home/lab` belongs to a uid that the lab, without capabilities, cannot write as.
const ROOTLESS_HOME: &str = "/root";

/// The container `up` wants, ready to create.
#[derive(Debug, Clone)]
pub struct Desired {
    pub body: ContainerCreateBody,
    /// Copied into the container's `/` before its first start.
    pub files: Vec<u8>,
    /// The accounts file, copied in before every start and whenever it changes; apart
    /// from `files` and the config hash, since the lab re-reads it without a restart.
    pub accounts: Vec<u8>,
    pub config_hash: String,
    pub image_id: String,
    /// Where the lab is published on the engine's host.
    pub bind: std::net::IpAddr,
    pub port: u16,
}

/// The container `up` wants. Hardened by default: no capabilities, no privilege gain,
/// a process limit, an init that reaps dead kernels, and only the project mounted.
pub fn desired(inputs: &Inputs<'_>) -> anyhow::Result<Desired> {
    let spec = inputs.spec;
    // In a rootless engine uid 0 is the user who runs it, while the project owner's uid
    // would be a subordinate id: the project would not be writable and what the lab
    // makes would belong to no one. Uid 0 there is still without capabilities.
    let (owner, home) = if inputs.rootless {
        (ROOT, Some(ROOTLESS_HOME))
    } else {
        (spec.owner, inputs.pulled.then_some(PULLED_HOME))
    };
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // A built image's lab user has PULLED_HOME too (images/lab/Dockerfile).
    env.extend(server_config::environment(home.unwrap_or(PULLED_HOME)));
    if let Some(home) = home {
        env.push(format!("HOME={home}"));
    }
    let body = ContainerCreateBody {
        image: Some(inputs.image_reference.to_string()),
        user: Some(format!("{}:{}", owner.uid, owner.gid)),
        env: Some(env),
        // `jupyter-lab` itself: `jupyter lab` is one more Python start (~60 ms) that
        // only finds and execs it.
        cmd: Some(vec![JUPYTER_LAB.into()]),
        working_dir: Some(server_config::ROOT_DIR.to_string()),
        exposed_ports: Some(vec![CONTAINER_PORT.to_string()]),
        host_config: Some(host_config(spec, inputs)),
        ..Default::default()
    };
    let files = server_config::injected_files(
        inputs.hashed_password,
        inputs.cookie_secret,
        owner,
        home,
        inputs.https(),
        &spec.sharing(),
    )?;

    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&body).expect("a container body always serialises"));
    hasher.update(&files);
    hasher.update(inputs.image_id);
    let config_hash = hex::encode(hasher.finalize());

    let mut body = body;
    body.labels = Some(labels(inputs, &config_hash));
    Ok(Desired {
        body,
        files,
        accounts: server_config::accounts_file(inputs.accounts, owner),
        config_hash,
        image_id: inputs.image_id.to_string(),
        bind: spec.bind,
        port: inputs.host_port,
    })
}

/// How the engine runs the lab: the project mounted (and with `tls: acme` the volume
/// its certificate is renewed in, read-only), the port published, no privileges, and
/// the limits `resources` and `gpus` ask for.
fn host_config(spec: &Spec, inputs: &Inputs<'_>) -> HostConfig {
    let (host_port, podman) = (inputs.host_port, inputs.podman);
    let port_bindings = HashMap::from([(
        CONTAINER_PORT.to_string(),
        Some(vec![PortBinding {
            host_ip: Some(published_ip(spec.bind, !spec.allow.is_empty() && !podman)),
            host_port: Some(host_port.to_string()),
        }]),
    )]);
    HostConfig {
        // A `Mounts` bind, not `Binds`: for a path its host lacks (a remote engine's), the
        // engine refuses instead of making an empty root-owned directory there.
        mounts: Some(
            std::iter::once(Mount {
                typ: Some(MountType::BIND),
                source: Some(spec.dir.display().to_string()),
                target: Some(server_config::ROOT_DIR.to_string()),
                read_only: Some(false),
                ..Default::default()
            })
            .chain(inputs.acme.map(super::acme::lab_mount))
            .collect(),
        ),
        port_bindings: Some(port_bindings),
        restart_policy: Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
            maximum_retry_count: None,
        }),
        // Jupyter runs as an ordinary user and needs no capability at all.
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges:true".into()]),
        pids_limit: Some(i64::from(spec.resources.pids)),
        memory: spec.resources.memory,
        nano_cpus: spec.resources.cpus.map(|c| (c * 1e9) as i64),
        device_requests: spec.gpus.map(|gpus| {
            vec![DeviceRequest {
                driver: Some(String::new()),
                count: Some(match gpus {
                    Gpus::All => -1,
                    Gpus::Count(n) => i64::from(n),
                }),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]
        }),
        init: Some(true),
        ..Default::default()
    }
}

/// The HostIp to publish on. "All IPv4 addresses" is the empty HostIp, which Docker and
/// Podman both take that way, while Podman under netavark never answers on an explicit
/// `0.0.0.0`. The `bind` label and `status` still say `0.0.0.0`.
/// Docker, though, also publishes the empty HostIp on `[::]`, through docker-proxy when
/// the engine has no IPv6 NAT: an IPv6 client then reaches the lab from the container's
/// gateway, where the list cannot tell it from any other ([`crate::lab::admission`]).
/// `ipv4_only` (an allowlist on Docker) therefore publishes on `0.0.0.0` alone.
fn published_ip(bind: IpAddr, ipv4_only: bool) -> String {
    if bind == IpAddr::V4(Ipv4Addr::UNSPECIFIED) && !ipv4_only {
        String::new()
    } else {
        bind.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::label;
    use crate::settings::tests::spec;

    const HASH: &str = "argon2:$argon2id$v=19$m=10240,t=10,p=8$c2FsdA$aGFzaA";

    fn inputs(spec: &Spec) -> Inputs<'_> {
        Inputs {
            spec,
            image_reference: "rjup/demo:0123456789ab",
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

    #[test]
    fn config_hash_changes_with_what_the_lab_sees() {
        let s = spec();
        let base = desired(&inputs(&s)).unwrap().config_hash;
        assert_eq!(
            desired(&inputs(&s)).unwrap().config_hash,
            base,
            "the hash must be stable"
        );
        let mut i = inputs(&s);
        i.host_port = 9000;
        assert_ne!(desired(&i).unwrap().config_hash, base);
        let mut i = inputs(&s);
        i.hashed_password = "argon2:$argon2id$v=19$m=10240,t=10,p=8$b3RoZXI$b3RoZXI";
        assert_ne!(
            desired(&i).unwrap().config_hash,
            base,
            "a new password must recreate the lab"
        );
        let mut s2 = spec();
        s2.env.insert("TZ".into(), "UTC".into());
        assert_ne!(desired(&inputs(&s2)).unwrap().config_hash, base);
        let mut i = inputs(&s);
        i.accounts = b"{\"accounts\": {\"ada\": {}}}";
        assert_eq!(
            desired(&i).unwrap().config_hash,
            base,
            "a new account must not recreate the lab, which would end its kernels"
        );
    }

    #[test]
    fn container_publishes_8888_on_bind_and_port_and_survives_reboots() {
        let s = spec();
        let d = desired(&inputs(&s)).unwrap();
        let hc = d.body.host_config.as_ref().unwrap();
        let binding = &hc.port_bindings.as_ref().unwrap()["8888/tcp"]
            .as_ref()
            .unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some(""), "all addresses");
        assert_eq!(binding.host_port.as_deref(), Some("8888"));
        assert_eq!(
            hc.restart_policy.as_ref().unwrap().name,
            Some(RestartPolicyNameEnum::UNLESS_STOPPED)
        );
        let project = &hc.mounts.as_ref().unwrap()[0];
        assert_eq!(project.typ, Some(MountType::BIND));
        assert_eq!(
            (project.source.as_deref(), project.target.as_deref()),
            (Some("/home/ada/demo"), Some("/project"))
        );
        assert_eq!(project.read_only, Some(false));
        assert_eq!(hc.binds, None, "a Binds entry would make a missing path");
        assert_eq!(d.body.user.as_deref(), Some("1500:1500"));
        let labels = d.body.labels.as_ref().unwrap();
        assert_eq!(labels[label::PROJECT], "/home/ada/demo");
        assert_eq!(labels[label::BIND], "0.0.0.0");
        assert_eq!(labels[label::CONFIG_HASH], d.config_hash);
        assert_eq!(labels[label::IMAGE], "sha256:aaaa");
    }

    #[test]
    fn a_bind_address_other_than_all_is_published_as_given() {
        let mut s = spec();
        s.bind = "10.1.2.3".parse().unwrap();
        let hc = desired(&inputs(&s)).unwrap().body.host_config.unwrap();
        let binding = &hc.port_bindings.as_ref().unwrap()["8888/tcp"]
            .as_ref()
            .unwrap()[0];
        assert_eq!(binding.host_ip.as_deref(), Some("10.1.2.3"));
    }

    #[test]
    fn an_allowlist_on_docker_publishes_on_ipv4_only_and_podman_keeps_the_empty_host_ip() {
        let host_ip = |allow: &str, podman: bool| {
            let mut s = spec();
            s.allow = if allow.is_empty() {
                Vec::new()
            } else {
                vec![allow.parse().unwrap()]
            };
            let mut i = inputs(&s);
            i.podman = podman;
            let hc = desired(&i).unwrap().body.host_config.unwrap();
            hc.port_bindings.unwrap()["8888/tcp"].as_ref().unwrap()[0]
                .host_ip
                .clone()
                .unwrap()
        };
        assert_eq!(host_ip("", false), "");
        assert_eq!(host_ip("10.0.0.0/8", false), "0.0.0.0");
        assert_eq!(host_ip("10.0.0.0/8", true), "");
    }

    #[test]
    fn the_container_is_hardened_by_default() {
        let s = spec();
        let hc = desired(&inputs(&s)).unwrap().body.host_config.unwrap();
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(hc.cap_add, None);
        assert_eq!(
            hc.security_opt,
            Some(vec!["no-new-privileges:true".to_string()])
        );
        assert_eq!(hc.pids_limit, Some(4096));
        assert_eq!(hc.privileged, None);
        let mounts = hc.mounts.unwrap();
        assert_eq!(mounts.len(), 1, "only the project is mounted");
        assert_eq!(mounts[0].source.as_deref(), Some("/home/ada/demo"));
        assert_eq!((hc.binds, hc.volumes_from), (None, None));
        assert_eq!(
            (hc.memory, hc.nano_cpus, hc.device_requests),
            (None, None, None)
        );
    }

    #[test]
    fn in_a_rootless_engine_the_lab_is_uid_0_there_without_capabilities() {
        let s = spec();
        let mut i = inputs(&s);
        i.rootless = true;
        let d = desired(&i).unwrap();
        assert_eq!(d.body.user.as_deref(), Some("0:0"));
        assert!(d
            .body
            .env
            .as_ref()
            .unwrap()
            .contains(&"HOME=/root".to_string()));
        let hc = d.body.host_config.as_ref().unwrap();
        assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(
            hc.security_opt,
            Some(vec!["no-new-privileges:true".to_string()])
        );
        let mut files = tar::Archive::new(d.files.as_slice());
        for entry in files.entries().unwrap() {
            let h = entry.unwrap().header().clone();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
        }
        assert_ne!(d.config_hash, desired(&inputs(&s)).unwrap().config_hash);
    }

    #[test]
    fn resources_and_gpus_become_limits_and_a_device_request() {
        let mut s = spec();
        s.resources.memory = Some(2 << 30);
        s.resources.cpus = Some(1.5);
        s.gpus = Some(Gpus::All);
        let hc = desired(&inputs(&s)).unwrap().body.host_config.unwrap();
        assert_eq!(hc.memory, Some(2 << 30));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        let gpu = &hc.device_requests.unwrap()[0];
        assert_eq!(gpu.count, Some(-1));
        assert_eq!(gpu.capabilities, Some(vec![vec!["gpu".to_string()]]));
    }

    #[test]
    fn the_password_hash_is_in_no_argument_variable_or_label() {
        let s = spec();
        let d = desired(&inputs(&s)).unwrap();
        let visible = serde_json::to_string(&d.body).unwrap();
        assert!(!visible.contains("argon2"), "{visible}");
    }
}
