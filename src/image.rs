//! The lab's image: pulled as is, or built from the template in `images/lab/` and tagged
//! with a hash of everything that goes into it.

use sha2::{Digest, Sha256};

use crate::archive::{Archive, ROOT};
use crate::settings::{ImageSource, Spec};

const DOCKERFILE: &str = include_str!("../images/lab/Dockerfile");
const UV_REQUIREMENTS: &str = include_str!("../images/lab/uv-requirements.txt");
const LAB_REQUIREMENTS: &str = include_str!("../images/lab/lab-requirements.txt");

#[derive(Debug, Clone, PartialEq)]
pub enum ImagePlan {
    /// Use a ready image, pulling it if it is not present.
    Pull { reference: String },
    /// Build `tag` from `context` unless the tag exists.
    Build {
        tag: String,
        base: String,
        context: Vec<u8>,
    },
}

impl ImagePlan {
    /// The name the container is created from.
    pub fn reference(&self) -> &str {
        match self {
            ImagePlan::Pull { reference } => reference,
            ImagePlan::Build { tag, .. } => tag,
        }
    }
}

pub fn plan(spec: &Spec) -> ImagePlan {
    match &spec.image {
        ImageSource::Pull(reference) => ImagePlan::Pull {
            reference: reference.clone(),
        },
        ImageSource::Build { base, packages } => {
            let dockerfile = render_dockerfile(base, spec.owner.uid, spec.owner.gid);
            let mut packages_txt = packages.join("\n");
            if !packages_txt.is_empty() {
                packages_txt.push('\n');
            }
            let files: [(&str, &[u8]); 4] = [
                ("Dockerfile", dockerfile.as_bytes()),
                ("uv-requirements.txt", UV_REQUIREMENTS.as_bytes()),
                ("lab-requirements.txt", LAB_REQUIREMENTS.as_bytes()),
                ("packages.txt", packages_txt.as_bytes()),
            ];
            let mut hasher = Sha256::new();
            let mut archive = Archive::new();
            for (path, contents) in files {
                // Length-prefixed, so moving bytes between files changes the hash.
                hasher.update(format!("{path}\0{}\0", contents.len()));
                hasher.update(contents);
                archive.file(path, contents, 0o644, ROOT);
            }
            let hash = crate::state::hex(&hasher.finalize());
            ImagePlan::Build {
                tag: format!("rjup/{}:{}", spec.name, &hash[..12]),
                base: base.clone(),
                context: archive.finish(),
            }
        }
    }
}

pub fn render_dockerfile(base: &str, uid: u32, gid: u32) -> String {
    DOCKERFILE
        .replace("{{BASE}}", base)
        .replace("{{UID}}", &uid.to_string())
        .replace("{{GID}}", &gid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::spec;

    fn tag(plan: &ImagePlan) -> &str {
        match plan {
            ImagePlan::Build { tag, .. } => tag,
            ImagePlan::Pull { .. } => panic!("expected a build"),
        }
    }

    #[test]
    fn dockerfile_renders_base_and_owner() {
        let d = render_dockerfile("python:3.12-slim", 1500, 1600);
        assert!(d.contains("FROM python:3.12-slim\n"));
        assert!(d.contains("--uid 1500 --gid 1600"));
        assert!(d.contains("USER 1500:1600\n"));
        assert!(!d.contains("{{"), "unrendered field left in:\n{d}");
    }

    #[test]
    fn tag_is_name_and_a_content_hash() {
        let p = plan(&spec());
        let t = tag(&p);
        assert!(t.starts_with("rjup/demo:"), "{t}");
        assert_eq!(t.len(), "rjup/demo:".len() + 12);
        assert_eq!(plan(&spec()), p, "the same spec must give the same plan");
    }

    #[test]
    fn tag_changes_with_packages_base_and_owner_only() {
        let base = tag(&plan(&spec())).to_string();
        let mut s = spec();
        s.image = ImageSource::Build {
            base: "python:3.13-slim".into(),
            packages: vec!["pandas".into()],
        };
        assert_ne!(tag(&plan(&s)), base);
        let mut s = spec();
        s.owner.uid = 4242;
        assert_ne!(tag(&plan(&s)), base);
        let mut s = spec();
        s.port = crate::settings::PortRequest::Fixed(9999);
        s.env.insert("A".into(), "b".into());
        assert_eq!(
            tag(&plan(&s)),
            base,
            "runtime settings must not rebuild the image"
        );
    }

    #[test]
    fn build_context_holds_only_the_template_files() {
        let ImagePlan::Build { context, .. } = plan(&spec()) else {
            panic!()
        };
        let mut names: Vec<String> = tar::Archive::new(context.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "Dockerfile",
                "lab-requirements.txt",
                "packages.txt",
                "uv-requirements.txt"
            ]
        );
        assert!(context.len() < 64 * 1024);
    }
}
