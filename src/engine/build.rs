//! The engine's builds: which builder it offers, and a build with step progress.

use std::collections::HashMap;

use anyhow::Context;
use bollard::models::SystemVersion;
use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use futures_util::StreamExt;

use super::progress::Progress;
use super::{docker_message, engine_error, is_transport, Engine, Flavour};
use crate::error::Error;

/// The build argument whose new value reruns every step under BuildKit (`--no-cache`).
pub const FRESH_ARG: &str = "RJUP_FRESH";

/// How the engine builds images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// BuildKit: parallel stages and `RUN --mount=type=cache`, so package downloads
    /// outlive the layers that used them.
    BuildKit,
    /// buildah behind Podman's API: one step after another, with cache mounts.
    Buildah,
    /// Docker's classic builder: one step after another, no cache mounts.
    Classic,
}

impl Builder {
    /// Podman is told by [`Flavour`], the one place that tells it.
    fn of(flavour: Flavour, version: &SystemVersion, upgradable: bool) -> Builder {
        let podman = flavour.podman;
        let api = version.api_version.as_deref().unwrap_or("0.0");
        let (major, minor) = api.split_once('.').unwrap_or((api, "0"));
        let recent = (
            major.parse::<u32>().unwrap_or(0),
            minor.parse::<u32>().unwrap_or(0),
        ) >= (1, 39);
        match (podman, recent && upgradable) {
            (true, _) => Builder::Buildah,
            (false, true) => Builder::BuildKit,
            (false, false) => Builder::Classic,
        }
    }
}

/// How to build: the engine's own options, as the one who builds decided them.
#[derive(Debug, Default, Clone)]
pub struct BuildOptions {
    /// Build every step anew, ignoring the layer cache (the package caches stay).
    pub no_cache: bool,
    /// Pull a newer base image if there is one.
    pub pull: bool,
    /// The value of [`FRESH_ARG`] under BuildKit: a new one reruns every step.
    pub fresh: Option<String>,
}

/// The host's proxy settings, which builds and one-off containers need to reach package
/// indexes from behind a proxy. Docker keeps these build arguments out of the image.
pub fn proxy_variables() -> HashMap<String, String> {
    [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ]
    .into_iter()
    .filter_map(|k| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (k.to_string(), v))
    })
    .collect()
}

impl Engine {
    /// Which builder this engine offers rjup, asked once per build: BuildKit needs an
    /// engine that runs it (Docker since API 1.39) and a connection that can carry its
    /// session, which rjup's ssh and TLS transports cannot (they do not upgrade
    /// connections). Podman's API builds with buildah, which takes cache mounts too.
    pub async fn builder(&self) -> anyhow::Result<Builder> {
        let _call = call!("version");
        let (scheme, _) = self.endpoint.host.split_once("://").unwrap_or(("", ""));
        let upgradable = scheme == "unix" || (scheme == "tcp" && self.endpoint.tls.is_none());
        let (flavour, version) = tokio::join!(self.flavour(), self.docker.version());
        let version = version.map_err(|e| engine_error(e, "asking the engine for its version"))?;
        Ok(Builder::of(flavour?, &version, upgradable))
    }

    /// Builds `context` into `tag`, reporting steps to `progress`; returns the image id.
    pub async fn build(
        &self,
        tag: &str,
        context: Vec<u8>,
        builder: Builder,
        options: BuildOptions,
        progress: &dyn Progress,
    ) -> anyhow::Result<String> {
        let _call = call!(
            "build {tag} ({builder:?}, {} bytes of context)",
            context.len()
        );
        let mut args = proxy_variables();
        let mut query = BuildImageOptionsBuilder::new()
            .t(tag)
            .rm(true)
            .forcerm(true);
        match builder {
            // BuildKit's `nocache` would drop the package caches with the layers; a new
            // value of an argument every RUN sees reruns them and keeps the caches.
            Builder::BuildKit => {
                if let Some(fresh) = &options.fresh {
                    args.insert(FRESH_ARG.to_string(), fresh.clone());
                }
                let session = session_id()?;
                query = query
                    .version(BuilderVersion::BuilderBuildKit)
                    .session(&session);
            }
            // buildah keeps its cache mounts under `nocache` (checked on Podman 4.3).
            Builder::Buildah | Builder::Classic => query = query.nocache(options.no_cache),
        }
        if options.pull {
            query = query.pull("true");
        }
        let query = query.buildargs(&args).build();
        // What the tag named before, to tell a finished build whose report was cut short.
        let before = self.image_id(tag).await?;
        let steps = match builder {
            Builder::BuildKit => buildkit_steps(&context),
            Builder::Buildah | Builder::Classic => None,
        };
        let mut report = progress.build(tag, context.len(), steps);
        let mut stream =
            self.docker
                .build_image(query, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            let why = match item {
                Ok(info) => match &info.error_detail {
                    Some(detail) => detail.message.clone().unwrap_or_default(),
                    None => {
                        report.update(&info);
                        continue;
                    }
                },
                Err(e) if is_transport(&e) => {
                    drop(report);
                    return self.finished_despite(tag, before, e).await;
                }
                Err(e) => docker_message(&e),
            };
            let failing = report.failure_report();
            drop(report);
            return Err(Error::BuildFailed {
                tag: tag.to_string(),
                step_report: failing,
                reason: why,
            }
            .into());
        }
        drop(report);
        self.image_id(tag).await?.with_context(|| {
            format!("the build of {tag} finished but the engine has no such image")
        })
    }

    /// A build whose report broke off: Docker 20.10 ended a build's response in the
    /// middle of a line just after the last step, in two CI runs (cause unknown). The
    /// tag is the engine's own word: it moves only once the image is whole, so a tag that
    /// now names another image than before is this build, finished. Anything else is the
    /// connection lost, with nothing made.
    async fn finished_despite(
        &self,
        tag: &str,
        before: Option<String>,
        broken: bollard::errors::Error,
    ) -> anyhow::Result<String> {
        let lost = engine_error(broken, &format!("building {tag}"));
        match self.image_id(tag).await {
            Ok(Some(now)) if before.as_ref() != Some(&now) => {
                tracing::debug!(
                    "build {tag}: its report broke off ({lost}), but the engine tagged {now}"
                );
                Ok(now)
            }
            _ => Err(lost),
        }
    }
}

/// How many steps BuildKit numbers (`[3/8] RUN ...`) in the context's Dockerfile, a
/// single stage as rjup writes them: its `FROM` and each `RUN`, `COPY`, `ADD` and
/// `WORKDIR`, as Dockerfile's frontend counts them. Known before the build starts: while
/// another build shares a step with this one (the `FROM` of every lab on one tools
/// image), BuildKit may announce that step before the others.
fn buildkit_steps(context: &[u8]) -> Option<u64> {
    let mut archive = tar::Archive::new(context);
    let mut dockerfile = archive.entries().ok()?.find_map(|entry| {
        let entry = entry.ok()?;
        (entry.path().ok()?.as_os_str() == "Dockerfile").then_some(entry)
    })?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut dockerfile, &mut text).ok()?;
    Some(count_steps(&text))
}

/// [`buildkit_steps`] of a Dockerfile's text.
fn count_steps(dockerfile: &str) -> u64 {
    let mut steps = 0;
    let mut continued = false;
    for line in dockerfile.lines().map(str::trim) {
        // Comment lines are dropped, even inside an instruction continued over lines.
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let starts = !continued;
        continued = line.ends_with('\\');
        if !starts {
            continue;
        }
        let instruction = line.split_whitespace().next().unwrap_or("");
        if ["FROM", "RUN", "COPY", "ADD", "WORKDIR"]
            .iter()
            .any(|i| instruction.eq_ignore_ascii_case(i))
        {
            steps += 1;
        }
    }
    steps
}

/// A BuildKit session's id: random, so two builds at once never share one.
fn session_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("getting random bytes from the operating system: {e}"))?;
    Ok(format!("rjup-{}", hex::encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_counted_as_buildkit_numbers_them() {
        let dockerfile = "# comment\nFROM base\nARG X\nRUN a \\\n# inside\n && b\nENV A=1\nCOPY x /x\nUSER 1\nWORKDIR /w\nCMD [\"x\"]\n";
        assert_eq!(count_steps(dockerfile), 4);
        let lab = crate::environment::dockerfile::DOCKERFILE;
        assert!(count_steps(lab) > 5, "the lab's template has its steps");
    }

    #[test]
    fn builder_follows_the_engine_and_the_connection() {
        let version = |api: &str| SystemVersion {
            api_version: Some(api.into()),
            ..Default::default()
        };
        let docker = Flavour::default();
        let podman = Flavour {
            podman: true,
            ..Flavour::default()
        };
        assert_eq!(
            Builder::of(docker, &version("1.41"), true),
            Builder::BuildKit
        );
        assert_eq!(
            Builder::of(docker, &version("1.41"), false),
            Builder::Classic
        );
        assert_eq!(
            Builder::of(docker, &version("1.38"), true),
            Builder::Classic
        );
        assert_eq!(
            Builder::of(podman, &version("1.41"), true),
            Builder::Buildah
        );
    }
}
