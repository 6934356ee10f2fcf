//! The engine's images: which it has, and pulls with the user's registry login.

use anyhow::Context;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::progress::Progress;
use super::{docker_message, engine_error, is_not_found, is_transport, Engine};
use crate::engine::credentials;
use crate::error::Error;
use crate::image_ref::ImageRef;

impl Engine {
    /// The id of a local image, or `None` if it is not here.
    pub async fn image_id(&self, reference: &str) -> anyhow::Result<Option<String>> {
        let _call = call!("inspect image {reference}");
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(e, &format!("inspecting image {reference}"))),
        }
    }

    /// The image's layers, bottom first, or `None` when there is no such image.
    pub async fn image_layers(&self, reference: &str) -> anyhow::Result<Option<Vec<String>>> {
        let _call = call!("inspect image {reference} for its layers");
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(
                image.root_fs.and_then(|r| r.layers).unwrap_or_default(),
            )),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(e, &format!("inspecting image {reference}"))),
        }
    }

    /// The tags of local images of `repository` (`rjup/acme`), as `repository:tag`.
    pub async fn tags_of(&self, repository: &str) -> anyhow::Result<Vec<String>> {
        let _call = call!("list images of {repository}");
        let filters =
            std::collections::HashMap::from([("reference", vec![repository.to_string()])]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::new()
            .filters(&filters)
            .build();
        let images = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| engine_error(e, &format!("listing the images of {repository}")))?;
        Ok(images.into_iter().flat_map(|i| i.repo_tags).collect())
    }

    /// Untags `reference`, removing the image if nothing else uses it; one a container
    /// still uses stays (best effort: the caller only tidies up).
    pub async fn remove_image(&self, reference: &str) {
        let _call = call!("remove image {reference}");
        let options = bollard::query_parameters::RemoveImageOptionsBuilder::new().build();
        let _ = self
            .docker
            .remove_image(reference, Some(options), None)
            .await;
    }

    /// Pulls an image with per-layer progress; returns its id.
    pub async fn pull(&self, reference: &str, progress: &dyn Progress) -> anyhow::Result<String> {
        let _call = call!("pull {reference}");
        // A reference Docker would refuse fails as a refused pull does.
        let image = reference
            .parse::<ImageRef>()
            .map_err(|e| Error::BadImageRef {
                reference: reference.to_string(),
                reason: e.to_string(),
            })?;
        // A digest names the image by itself, so the engine takes the reference whole.
        let (repository, tag) = match image.digest() {
            Some(_) => (reference, None),
            None => (image.repository(), image.tag()),
        };
        let mut options = CreateImageOptionsBuilder::new().from_image(repository);
        if let Some(tag) = tag {
            options = options.tag(tag);
        }
        let login = registry_login(&image).await?;
        let credentials = login.as_ref().map(credentials::Login::to_docker);
        let mut report = progress.pull(reference);
        let mut stream = self
            .docker
            .create_image(Some(options.build()), None, credentials);
        let failed = |reason: String| pull_failure(reference, &image, login.as_ref(), reason);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| {
                if is_transport(&e) {
                    engine_error(e, "pulling")
                } else {
                    failed(docker_message(&e)).into()
                }
            })?;
            if let Some(detail) = &info.error_detail {
                return Err(failed(detail.message.clone().unwrap_or_default()).into());
            }
            report.update(&info);
        }
        drop(report);
        self.image_id(reference).await?.ok_or_else(|| {
            failed("the engine reported success but has no such image".into()).into()
        })
    }

    /// The base image's registry digest (`python@sha256:...`), for pinning it.
    pub async fn repo_digest(&self, reference: &str) -> anyhow::Result<Option<String>> {
        let _call = call!("inspect image {reference} for its digest");
        let image = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(|e| engine_error(e, &format!("inspecting image {reference}")))?;
        let parsed: ImageRef = reference.parse()?;
        let repository = parsed.repository();
        let digests = image.repo_digests.unwrap_or_default();
        Ok(digests
            .iter()
            .find(|d| {
                d.split('@').next() == Some(repository)
                    || d.split('@').next() == Some(&format!("docker.io/library/{repository}"))
            })
            .or_else(|| digests.first())
            .cloned())
    }
}

/// The user's login for `image`'s registry. Credential helpers may wait on a keychain,
/// so the lookup runs off the runtime's thread, where Ctrl-C is still heard.
pub(super) async fn registry_login(image: &ImageRef) -> anyhow::Result<Option<credentials::Login>> {
    let image = image.clone();
    let login = tokio::task::spawn_blocking(move || credentials::login_for(&image))
        .await
        .context("looking up the registry login")??;
    Ok(login)
}

/// A refused pull: for want of a login, when the registry said so, else as the engine
/// put it.
fn pull_failure(
    reference: &str,
    image: &ImageRef,
    login: Option<&credentials::Login>,
    reason: String,
) -> Error {
    if credentials::is_refused_login(&reason) {
        return Error::RegistryLogin {
            reference: reference.to_string(),
            registry: image.registry().map(str::to_string),
            stored: login.map(|l| l.source.clone()),
            reason,
        };
    }
    Error::PullFailed {
        reference: reference.to_string(),
        reason,
    }
}
