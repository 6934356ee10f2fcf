//! Docker image references, `[registry[:port]/]repository[:tag][@sha256:digest]`, parsed
//! in one place so the config check and the engine agree on where the tag starts.

use std::fmt;
use std::str::FromStr;

/// A parsed image reference. It checks Docker's grammar only lightly: enough to catch
/// typos and pasted URLs, and to split off the tag without mistaking a port for one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host and repository path, as written.
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageRef {
    /// The name without tag or digest, registry included: `localhost:5000/lab`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag; `latest` when neither a tag nor a digest is given, as Docker reads it.
    pub fn tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some("latest"),
            (None, Some(_)) => None,
        }
    }

    /// The digest after `@`, such as `sha256:0123...`.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The registry's host[:port] as written, or `None` for Docker Hub, which Docker
    /// also reaches under its own host names.
    pub fn registry(&self) -> Option<&str> {
        match self.repository.split_once('/') {
            Some(("docker.io" | "index.docker.io" | "registry-1.docker.io", _)) => None,
            Some((host, _)) if is_registry_host(host) => Some(host),
            _ => None,
        }
    }
}

/// Whether the first part of a name is a registry host rather than a Docker Hub user:
/// Docker's rule is a dot, a port or `localhost`.
fn is_registry_host(first: &str) -> bool {
    first.contains(['.', ':']) || first == "localhost"
}

impl FromStr for ImageRef {
    type Err = InvalidImageRef;

    fn from_str(reference: &str) -> Result<Self, Self::Err> {
        let bad = |why| {
            Err(InvalidImageRef {
                reference: reference.to_string(),
                why,
            })
        };
        if reference.is_empty() {
            return bad("it is empty");
        }
        if reference.contains("://") {
            return bad("it has a URL scheme");
        }
        if reference.chars().any(char::is_whitespace) {
            return bad("it has spaces");
        }
        let (name, digest) = match reference.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (reference, None),
        };
        // A colon after the last slash starts the tag; one before it is a registry's port.
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &name[last_slash + i + 1..];
                if tag.is_empty() {
                    return bad("the tag after `:` is empty");
                }
                (&name[..last_slash + i], Some(tag))
            }
            None => (name, None),
        };
        // A first part with a dot, a colon or "localhost" is a registry host, which may hold capitals.
        let path = match repository.split_once('/') {
            Some((host, path)) if is_registry_host(host) => path,
            _ => repository,
        };
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return bad("repository names must be lowercase");
        }
        Ok(ImageRef {
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }
}

impl fmt::Display for ImageRef {
    /// The reference as written: a defaulted `latest` is not added.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Why a string is not an image reference, with the form to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidImageRef {
    reference: String,
    why: &'static str,
}

impl fmt::Display for InvalidImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an image reference: {}; write it as repository[:tag] or repository@sha256:digest, such as python:3.13-slim",
            self.reference, self.why
        )
    }
}

impl std::error::Error for InvalidImageRef {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(reference: &str) -> ImageRef {
        reference.parse().unwrap()
    }

    #[test]
    fn references_split_into_repository_and_tag() {
        let split = |reference: &str| {
            let r = parse(reference);
            (r.repository().to_string(), r.tag().map(str::to_string))
        };
        let pair =
            |repository: &str, tag: Option<&str>| (repository.to_string(), tag.map(str::to_string));
        assert_eq!(split("python:3.13-slim"), pair("python", Some("3.13-slim")));
        assert_eq!(
            split("jupyter/minimal-notebook"),
            pair("jupyter/minimal-notebook", Some("latest"))
        );
        assert_eq!(
            split("localhost:5000/lab"),
            pair("localhost:5000/lab", Some("latest"))
        );
        assert_eq!(
            split("localhost:5000/lab:v2"),
            pair("localhost:5000/lab", Some("v2"))
        );
        assert_eq!(split("x@sha256:ab"), pair("x", None));
        assert_eq!(parse("x@sha256:ab").digest(), Some("sha256:ab"));
        assert_eq!(parse("x:1@sha256:ab").tag(), Some("1"));
        assert_eq!(parse("x").digest(), None);
    }

    #[test]
    fn the_registry_is_the_first_part_when_it_is_a_host_and_none_for_docker_hub() {
        let registry = |reference: &str| parse(reference).registry().map(str::to_string);
        assert_eq!(registry("python:3.13-slim"), None);
        assert_eq!(registry("jupyter/minimal-notebook"), None);
        assert_eq!(registry("docker.io/library/python:3"), None);
        assert_eq!(registry("index.docker.io/jupyter/base"), None);
        assert_eq!(
            registry("127.0.0.1:5001/private/python:3.13-slim").as_deref(),
            Some("127.0.0.1:5001")
        );
        assert_eq!(
            registry("Registry.Example.org/team/lab@sha256:ab").as_deref(),
            Some("Registry.Example.org")
        );
        assert_eq!(registry("localhost/lab").as_deref(), Some("localhost"));
    }

    #[test]
    fn references_display_as_written() {
        for reference in [
            "python",
            "python:3.13-slim",
            "Registry.Example.com:5000/team/lab:v1",
            "quay.io/jupyter/base-notebook@sha256:0123abcd",
            "x:1@sha256:ab",
        ] {
            assert_eq!(parse(reference).to_string(), reference);
        }
    }

    #[test]
    fn bad_references_say_why_and_how_to_write_one() {
        let why = |reference: &str| reference.parse::<ImageRef>().unwrap_err().to_string();
        assert_eq!(
            why("Jupyter/Lab"),
            "\"Jupyter/Lab\" is not an image reference: repository names must be lowercase; write it as repository[:tag] or repository@sha256:digest, such as python:3.13-slim"
        );
        assert!(why("").contains("it is empty"));
        assert!(why("https://example.com/x").contains("it has a URL scheme"));
        assert!(why("python 3").contains("it has spaces"));
        assert!(why("python:").contains("the tag after `:` is empty"));
        assert!(why("localhost:5000/Lab").contains("must be lowercase"));
    }
}
