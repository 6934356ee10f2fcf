//! The Swarm half of the engine's API: services, their tasks and secrets, the nodes
//! that run them, and pushing an image so that every node can pull it.

use std::collections::HashMap;

use base64::Engine as _;
use bollard::models::{Node, SecretSpec, Service, ServiceSpec, Task};
use bollard::query_parameters::{
    ListSecretsOptionsBuilder, ListServicesOptionsBuilder, ListTasksOptionsBuilder,
    PushImageOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder,
    UpdateServiceOptionsBuilder,
};
use futures_util::{Stream, StreamExt};

use super::images::registry_login;
use super::{docker_message, engine_error, is_not_found, Engine};
use crate::error::Error;
use crate::image_ref::ImageRef;

/// Where this engine stands in a Swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Manager,
    /// A worker, or not in a swarm at all: `state` is Docker's word for it.
    Other {
        state: String,
    },
}

impl Engine {
    pub async fn swarm_role(&self) -> anyhow::Result<Role> {
        let _call = call!("info, for the swarm");
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| engine_error(e, "asking the engine about its swarm"))?;
        let swarm = info.swarm.unwrap_or_default();
        if swarm.control_available == Some(true) {
            return Ok(Role::Manager);
        }
        let state = swarm
            .local_node_state
            .map_or_else(|| "inactive".to_string(), |s| s.to_string());
        Ok(Role::Other {
            state: if state == "active" {
                "a worker".into()
            } else {
                format!("not in a swarm ({state})")
            },
        })
    }

    pub async fn service(&self, name: &str) -> anyhow::Result<Option<Service>> {
        let _call = call!("inspect service {name}");
        match self.docker.inspect_service(name, None).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(e, &format!("inspecting service {name}"))),
        }
    }

    /// Every service carrying `label`: rjup's labs across the cluster.
    pub async fn services(&self, label: &str) -> anyhow::Result<Vec<Service>> {
        let _call = call!("list services with {label}");
        let filters = HashMap::from([("label", vec![label.to_string()])]);
        let options = ListServicesOptionsBuilder::new().filters(&filters).build();
        self.docker
            .list_services(Some(options))
            .await
            .map_err(|e| engine_error(e, "listing services"))
    }

    pub async fn create_service(&self, spec: ServiceSpec) -> anyhow::Result<String> {
        let _call = call!(
            "create service {}",
            spec.name.as_deref().unwrap_or_default()
        );
        let name = spec.name.clone().unwrap_or_default();
        let created = self
            .docker
            .create_service(spec, None)
            .await
            .map_err(|e| engine_error(e, &format!("creating service {name}")))?;
        Ok(created.id.unwrap_or(name))
    }

    /// Updates service `id` from `version`, the one it was read at, so that a change
    /// made meanwhile by someone else is refused rather than overwritten.
    pub async fn update_service(
        &self,
        id: &str,
        version: u64,
        spec: ServiceSpec,
    ) -> anyhow::Result<()> {
        let _call = call!("update service {id} from version {version}");
        let version = i32::try_from(version).unwrap_or(i32::MAX);
        let options = UpdateServiceOptionsBuilder::new().version(version).build();
        self.docker
            .update_service(id, spec, options, None)
            .await
            .map(|_| ())
            .map_err(|e| engine_error(e, "updating the lab's service"))
    }

    pub async fn remove_service(&self, id: &str) -> anyhow::Result<()> {
        let _call = call!("remove service {id}");
        match self.docker.delete_service(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_error(e, "removing the lab's service")),
        }
    }

    /// The service's tasks, newest first.
    pub async fn tasks(&self, service: &str) -> anyhow::Result<Vec<Task>> {
        let _call = call!("list the tasks of service {service}");
        let filters = HashMap::from([("service", vec![service.to_string()])]);
        let options = ListTasksOptionsBuilder::new().filters(&filters).build();
        let mut tasks = self
            .docker
            .list_tasks(Some(options))
            .await
            .map_err(|e| engine_error(e, "listing the lab's tasks"))?;
        tasks.sort_by_key(|t| std::cmp::Reverse(t.version.as_ref().and_then(|v| v.index)));
        Ok(tasks)
    }

    pub async fn node(&self, id: &str) -> anyhow::Result<Option<Node>> {
        let _call = call!("inspect node {id}");
        match self.docker.inspect_node(id).await {
            Ok(n) => Ok(Some(n)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(e, "inspecting a node")),
        }
    }

    /// The addresses the cluster's nodes advertise: where a lab may come to be served.
    pub async fn node_addresses(&self) -> anyhow::Result<Vec<std::net::IpAddr>> {
        Ok(self.nodes().await?.into_iter().map(|n| n.address).collect())
    }

    /// The cluster's nodes with the address each advertises.
    pub async fn nodes(&self) -> anyhow::Result<Vec<SwarmNode>> {
        let _call = call!("list nodes");
        let nodes = self
            .docker
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await
            .map_err(|e| engine_error(e, "listing the swarm's nodes"))?;
        Ok(nodes
            .into_iter()
            .filter_map(|n| {
                let status = n.status?;
                Some(SwarmNode {
                    id: n.id?,
                    address: status.addr?.parse().ok()?,
                    ready: status.state.map(|s| s.to_string()).as_deref() == Some("ready"),
                })
            })
            .collect())
    }

    /// Creates secret `name`, or finds it: names carry a hash of the contents, so one of
    /// the same name already holds them.
    pub async fn ensure_secret(
        &self,
        name: &str,
        contents: &[u8],
        labels: HashMap<String, String>,
    ) -> anyhow::Result<String> {
        let _call = call!("create secret {name}");
        let spec = SecretSpec {
            name: Some(name.to_string()),
            labels: Some(labels),
            data: Some(base64::engine::general_purpose::STANDARD.encode(contents)),
            ..Default::default()
        };
        match self.docker.create_secret(spec).await {
            Ok(created) => Ok(created.id),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                let secret = self
                    .docker
                    .inspect_secret(name)
                    .await
                    .map_err(|e| engine_error(e, &format!("inspecting secret {name}")))?;
                Ok(secret.id.unwrap_or_else(|| name.to_string()))
            }
            Err(e) => Err(engine_error(e, &format!("creating secret {name}"))),
        }
    }

    /// Secrets carrying `label`, as (id, name).
    pub async fn secrets(&self, label: &str) -> anyhow::Result<Vec<(String, String)>> {
        let _call = call!("list secrets with {label}");
        let filters = HashMap::from([("label", vec![label.to_string()])]);
        let options = ListSecretsOptionsBuilder::new().filters(&filters).build();
        let secrets = self
            .docker
            .list_secrets(Some(options))
            .await
            .map_err(|e| engine_error(e, "listing secrets"))?;
        Ok(secrets
            .into_iter()
            .filter_map(|s| Some((s.id?, s.spec?.name?)))
            .collect())
    }

    /// Removes a secret; one still in use by a task that is shutting down is refused
    /// by the engine, and reported to the caller.
    pub async fn remove_secret(&self, id: &str) -> anyhow::Result<()> {
        let _call = call!("remove secret {id}");
        match self.docker.delete_secret(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(engine_error(e, "removing a secret")),
        }
    }

    pub fn service_logs(
        &self,
        id: &str,
        tail: Option<u64>,
        follow: bool,
    ) -> impl Stream<Item = anyhow::Result<Vec<u8>>> + '_ {
        self.docker
            .service_logs(id, Some(super::containers::log_options(tail, follow)))
            .map(super::containers::log_bytes)
    }

    /// A service's log as text, its last `tail` lines or all of it, read for at most 5 s:
    /// a node that is gone never ends its part of the log. What the engine could not
    /// read (a [`LogGap`](super::LogGap)) is left out.
    pub async fn service_log_text(&self, id: &str, tail: Option<u64>) -> String {
        let _call = call!("read the log of service {id}");
        let mut text = Vec::new();
        let mut stream = Box::pin(self.service_logs(id, tail, false));
        let deadline = tokio::time::sleep(std::time::Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                chunk = stream.next() => match chunk {
                    Some(Ok(chunk)) => text.extend_from_slice(&chunk),
                    Some(Err(e)) if e.is::<super::LogGap>() => {}
                    _ => break,
                },
                () = &mut deadline => break,
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    }

    /// The digest the registry holds for `reference`, asked through the engine as
    /// `docker service create` does; `None` when the registry does not say.
    pub async fn registry_digest(&self, reference: &str) -> Option<String> {
        let _call = call!("ask the registry for the digest of {reference}");
        let image: ImageRef = reference.parse().ok()?;
        let login = registry_login(&image).await.ok().flatten();
        let credentials = login
            .as_ref()
            .map(crate::engine::credentials::Login::to_docker);
        let info = self
            .docker
            .inspect_registry_image(reference, credentials)
            .await
            .ok()?;
        info.descriptor.digest
    }

    /// Tags local image `id` as `target` and pushes it, with the user's login for its
    /// registry; returns the digest reference (`registry/repo@sha256:...`) nodes pull.
    pub async fn push(&self, id: &str, target: &str) -> anyhow::Result<String> {
        let _call = call!("push {target}");
        let image: ImageRef = target.parse()?;
        let repository = image.repository().to_string();
        let tag = image.tag().unwrap_or("latest").to_string();
        let options = TagImageOptionsBuilder::new()
            .repo(&repository)
            .tag(&tag)
            .build();
        self.docker
            .tag_image(id, Some(options))
            .await
            .map_err(|e| engine_error(e, &format!("tagging the lab's image as {target}")))?;
        if let Err(err) = self.push_tagged(&image, &repository, &tag, target).await {
            // The tag names a registry that refused it: keep nothing that points there.
            let options = RemoveImageOptionsBuilder::new().noprune(true).build();
            let _ = self.docker.remove_image(target, Some(options), None).await;
            return Err(err);
        }
        let failed = |reason: String| Error::PushFailed {
            reference: target.to_string(),
            reason,
        };
        let digests = self
            .docker
            .inspect_image(id)
            .await
            .map_err(|e| engine_error(e, "inspecting the pushed image"))?
            .repo_digests
            .unwrap_or_default();
        digests
            .into_iter()
            .find(|d| d.split('@').next() == Some(repository.as_str()))
            .ok_or_else(|| failed("the registry gave no digest for it".into()).into())
    }

    /// Pushes the tag `target` made, failing on the registry's first error.
    async fn push_tagged(
        &self,
        image: &ImageRef,
        repository: &str,
        tag: &str,
        target: &str,
    ) -> anyhow::Result<()> {
        let login = registry_login(image).await?;
        let credentials = login
            .as_ref()
            .map(crate::engine::credentials::Login::to_docker);
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut stream = self
            .docker
            .push_image(repository, Some(options), credentials);
        let failed = |reason: String| Error::PushFailed {
            reference: target.to_string(),
            reason,
        };
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| match e {
                e @ bollard::errors::Error::DockerResponseServerError { .. }
                | e @ bollard::errors::Error::DockerStreamError { .. } => {
                    failed(docker_message(&e)).into()
                }
                e => engine_error(e, "pushing the lab's image"),
            })?;
            if let Some(detail) = &info.error_detail {
                return Err(failed(detail.message.clone().unwrap_or_default()).into());
            }
        }
        Ok(())
    }
}

/// A node of the cluster, as `nodes` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmNode {
    pub id: String,
    /// The address it advertises (`Status.Addr`).
    pub address: std::net::IpAddr,
    /// Whether the manager hears from it now.
    pub ready: bool,
}
