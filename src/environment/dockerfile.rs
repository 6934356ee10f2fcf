//! The Dockerfiles of `images/lab/`, rendered for one project: only the blocks it needs
//! (`#{{#name}}` ... `#{{/name}}`), and the cache mounts its builder takes. The lab's
//! Dockerfile starts from the tools image, whose own Dockerfile starts from the base.

use super::binder::EnvFile;

pub const DOCKERFILE: &str = include_str!("../../images/lab/Dockerfile");

const TOOLS_DOCKERFILE: &str = include_str!("../../images/lab/tools.Dockerfile");

/// Which optional blocks of the template the project needs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Blocks {
    pub ca: bool,
    pub apt: bool,
    pub conda: bool,
    /// environment.yml's `pip:` section.
    pub pip_section: bool,
    pub locked: bool,
    pub requirements: bool,
    pub pyproject: bool,
    pub uvlock: bool,
    pub packages: bool,
    pub post_build: bool,
    pub start: bool,
    /// postBuild builds JupyterLab extensions, so the image gets Node.js.
    pub node: bool,
    /// The tools image has repo2docker's tools (git, a C compiler, ...), for a project
    /// with postBuild or Python requirements of its own.
    pub build_tools: bool,
    /// For a builder without cache mounts.
    pub classic: bool,
}

impl Blocks {
    fn enabled(&self, name: &str) -> bool {
        match name {
            "ca" => self.ca,
            "apt" => self.apt,
            "conda" => self.conda,
            "venv" => !self.conda,
            "pip_section" => self.pip_section,
            "requirements" => self.requirements,
            "pyproject" => self.pyproject,
            "uvlock" => self.uvlock,
            "packages" => self.packages,
            "post_build" => self.post_build,
            "start" => self.start,
            "node" => self.node,
            "build_tools" => self.build_tools,
            "classic" => self.classic,
            other => panic!("the Dockerfile template has an unknown block {other:?}"),
        }
    }
}

/// Debian's downloads and lists, kept by the engine, in one cache mount: `locked`
/// because apt allows one user at a time, and one, because buildah 1.28 (Podman 4.3)
/// unlocks only the last locked mount of a RUN, so a second one stayed locked and the
/// next apt step of any build hung. apt finds it through APT_CONFIG, a file in the
/// mount, so nothing of it enters the image. Debian images' `docker-clean` would empty
/// the cache after each install.
const CACHE_APT: &str = "--mount=type=cache,id=rjup-apt,target=/var/cache/rjup-apt,sharing=locked \\\n    rm -f /etc/apt/apt.conf.d/docker-clean \\\n && mkdir -p /var/cache/rjup-apt/cache/archives/partial /var/cache/rjup-apt/lists/partial \\\n && export APT_CONFIG=/var/cache/rjup-apt/apt.conf \\\n && printf 'Dir::Cache \"/var/cache/rjup-apt/cache\";\\nDir::State::Lists \"/var/cache/rjup-apt/lists\";\\n' >\"$APT_CONFIG\" \\\n && ";

/// uv's, pip's and py-rattler's downloads, in a place of their own, for the lab user
/// who runs these steps and owns the cache (one per uid: BuildKit and buildah keep a
/// cache made for root apart, or root's, unwritable).
const CACHE_UV: &str = "--mount=type=cache,id=rjup-python-{{UID}},target=/var/cache/rjup,uid={{UID}},gid={{GID}} \\\n    export UV_CACHE_DIR=/var/cache/rjup/uv PIP_CACHE_DIR=/var/cache/rjup/pip RJUP_CONDA_CACHE=/var/cache/rjup/conda && ";

/// A cache in memory for the one step (JupyterLab's), gone when the step ends. Its
/// own directory, which no other step mounts: a tmpfs mount takes the mode of a
/// directory already there (root's 755), and is writable by the lab user (1777) only
/// where there was none.
const TMP_UV: &str =
    "--mount=type=tmpfs,target=/var/cache/rjup-tmp \\\n    export UV_CACHE_DIR=/var/cache/rjup-tmp/uv && ";

/// Whether a postBuild script uses Node.js: JupyterLab extensions are built with it
/// (`jupyter labextension`, `jupyter lab build`, jlpm, npm, yarn, node itself). Any
/// mention counts, comments included: a needless Node.js costs less than a failed build.
pub fn needs_node(post_build: &EnvFile) -> bool {
    let text = String::from_utf8_lossy(&post_build.contents);
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    const NODE_WORDS: &[&str] = &[
        "labextension",
        "jlpm",
        "npm",
        "npx",
        "node",
        "nodejs",
        "yarn",
    ];
    words.iter().any(|w| NODE_WORDS.contains(w))
        || words.windows(2).any(|pair| pair == ["lab", "build"])
}

/// The project's files as the build's errors name them (`rjup: binder/requirements.txt
/// conflicts with ...`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sources {
    pub conda: String,
    pub requirements: String,
    pub pyproject: String,
    pub uv_lock: String,
}

/// `text` as one shell word: single-quoted, and on one line.
fn shell_word(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    format!("'{}'", flat.replace('\'', "'\\''"))
}

/// The lab image's Dockerfile, starting from the tools image `tools` made from `base`.
pub fn render_dockerfile(
    tools: &str,
    base: &str,
    owner: (u32, u32),
    blocks: &Blocks,
    sources: &Sources,
) -> String {
    let (uid, gid) = owner;
    let lab_flags = if blocks.locked { "--no-deps" } else { "" };
    // With rjup.lock, that step installs every pinned package, the project's too:
    // those must come from the kept cache when one of them changes.
    let lab_cache = match (blocks.classic, blocks.locked) {
        (true, _) => "",
        (false, true) => CACHE_UV,
        (false, false) => TMP_UV,
    };
    render(DOCKERFILE, blocks)
        .replace("{{LAB_CACHE}}", lab_cache)
        .replace(
            " {{LAB_FLAGS}}",
            &format!("{}{lab_flags}", if lab_flags.is_empty() { "" } else { " " }),
        )
        .replace("{{TOOLS}}", tools)
        .replace("{{BASE}}", base)
        .replace(
            "{{PREFIX}}",
            if blocks.conda {
                "/srv/conda/envs/notebook"
            } else {
                "/opt/lab"
            },
        )
        .replace(
            "{{PIP_SECTION_SOURCE}}",
            &shell_word(&format!("the pip: section of {}", sources.conda)),
        )
        .replace(
            "{{REQUIREMENTS_SOURCE}}",
            &shell_word(&sources.requirements),
        )
        .replace("{{PYPROJECT_SOURCE}}", &shell_word(&sources.pyproject))
        .replace("{{UVLOCK_SOURCE}}", &shell_word(&sources.uv_lock))
        .replace("{{UID}}", &uid.to_string())
        .replace("{{GID}}", &gid.to_string())
}

/// `template` with only the blocks `blocks` asks for, and the cache fields for its builder.
fn render(template: &str, blocks: &Blocks) -> String {
    let mut out = String::new();
    let mut skipping: Option<String> = None;
    for line in template.lines() {
        if let Some(name) = line.strip_prefix("#{{#").and_then(|l| l.strip_suffix("}}")) {
            if skipping.is_none() && !blocks.enabled(name) {
                skipping = Some(name.to_string());
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("#{{/").and_then(|l| l.strip_suffix("}}")) {
            if skipping.as_deref() == Some(name) {
                skipping = None;
            }
            continue;
        }
        if skipping.is_none() {
            out.push_str(line);
            out.push('\n');
        }
    }
    // `apt-get clean` too: a tools image BuildKit made has no docker-clean to do it.
    let (cache_apt, cache_uv, apt_clean) = if blocks.classic {
        (
            "",
            "",
            " \\\n && apt-get clean && rm -rf /var/lib/apt/lists/*",
        )
    } else {
        (CACHE_APT, CACHE_UV, "")
    };
    out.replace("{{CACHE_APT}}", cache_apt)
        .replace("{{CACHE_UV}}", cache_uv)
        .replace("{{APT_CLEAN}}", apt_clean)
}

/// The tools image's Dockerfile, from `base`.
pub fn render_tools(base: &str, blocks: &Blocks) -> String {
    render(TOOLS_DOCKERFILE, blocks).replace("{{BASE}}", base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_renders_base_owner_and_only_the_blocks_asked_for() {
        let d = render_dockerfile(
            "rjup/tools:abc",
            "python:3.12-slim",
            (1500, 1600),
            &Blocks::default(),
            &Sources::default(),
        );
        assert!(d.starts_with("# The lab image") && d.contains("\nFROM rjup/tools:abc\n"));
        assert!(d.contains("--uid 1500 --gid 1600"));
        assert!(d.contains("USER 1500:1600\n"));
        assert!(!d.contains("{{"), "unrendered field left in:\n{d}");
        assert!(
            !d.contains("/opt/rjup/apt.txt")
                && !d.contains("nodejs")
                && !d.contains("COPY project/postBuild")
                && !d.contains("ENTRYPOINT [")
        );
        assert!(d.contains("uv venv") && d.contains("lab-requirements.txt"));
        let all = Blocks {
            apt: true,
            requirements: true,
            post_build: true,
            start: true,
            ..Blocks::default()
        };
        let d = render_dockerfile("t", "x", (1, 1), &all, &Sources::default());
        assert!(
            d.contains("apt-get install")
                && d.contains("/opt/rjup/postBuild")
                && d.contains("ENTRYPOINT [\"/opt/rjup/start\"]")
        );
    }

    #[test]
    fn buildkit_gets_cache_mounts_and_a_classic_builder_a_plain_dockerfile() {
        let d = render_dockerfile(
            "t",
            "x",
            (1, 1),
            &Blocks {
                apt: true,
                requirements: true,
                ..Blocks::default()
            },
            &Sources::default(),
        );
        // One locked mount per RUN: buildah 1.28 left a second one locked for good.
        for run in d.split("\nRUN ").filter(|r| r.contains("apt-get")) {
            assert_eq!(run.matches("sharing=locked").count(), 1, "{run}");
        }
        assert_eq!(
            d.matches("--mount=type=cache,id=rjup-apt,").count(),
            1,
            "{d}"
        );
        assert_eq!(
            d.matches("--mount=type=cache,id=rjup-python").count(),
            1,
            "only the project's packages use the kept cache:\n{d}"
        );
        assert_eq!(d.matches("--mount=type=tmpfs").count(), 1, "{d}");
        assert!(d.contains("rm -f /etc/apt/apt.conf.d/docker-clean") && !d.contains("UV_NO_CACHE"));
        assert!(
            !d.contains("rm -rf /var/lib/apt/lists"),
            "the lists are the cache:\n{d}"
        );
        let classic = Blocks {
            apt: true,
            requirements: true,
            classic: true,
            ..Blocks::default()
        };
        let c = render_dockerfile("t", "x", (1, 1), &classic, &Sources::default());
        assert!(!c.contains("--mount") && !c.contains("docker-clean"), "{c}");
        assert!(
            c.contains("UV_NO_CACHE=1") && c.matches("rm -rf /var/lib/apt/lists/*").count() == 1
        );
    }

    #[test]
    fn node_comes_only_with_a_post_build_that_uses_it() {
        let uses = |script: &str| {
            needs_node(&EnvFile {
                shown: "postBuild".into(),
                contents: script.as_bytes().to_vec(),
            })
        };
        for yes in [
            "jupyter labextension install @x/y",
            "jlpm install\n",
            "npm ci",
            "node --version",
            "jupyter lab build --minimize=False",
            "cd ext && yarn",
            "# no labextension here\necho hi",
            "apt-get install nodejs",
            "./npm-install.sh",
        ] {
            assert!(uses(yes), "{yes}");
        }
        for no in [
            "pip install nodeenv",
            "wget https://x/y.zip && unzip y.zip",
            "echo nodes",
            "jupyter lab --version",
            "rm -rf node_modules",
        ] {
            assert!(!uses(no), "{no}");
        }
    }

    #[test]
    fn jupyterlab_comes_before_apt_which_comes_before_requirements() {
        let all = Blocks {
            apt: true,
            requirements: true,
            post_build: true,
            ..Blocks::default()
        };
        let d = render_dockerfile("t", "x", (1, 1), &all, &Sources::default());
        let at = |needle: &str| d.find(needle).unwrap_or_else(|| panic!("{needle} missing"));
        assert!(at("lab-requirements.txt") < at("/opt/rjup/apt.txt"));
        assert!(at("/opt/rjup/apt.txt") < at("/opt/rjup/requirements.txt"));
        assert!(at("/opt/rjup/requirements.txt") < at("/opt/rjup/postBuild"));
    }
}
