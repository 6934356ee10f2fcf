//! The lab's image, planned: pulled as is, or built from the template in `images/lab/`
//! ([`super::dockerfile`]) and tagged with a hash of everything that goes into it.

use sha2::{Digest, Sha256};

use super::conda::CondaInput;
use super::dockerfile::{needs_node, render_dockerfile, render_tools, Blocks, Sources};
use crate::archive::{Archive, Owner, ROOT};
use crate::environment::binder::{EnvFile, Environment};
use crate::environment::lockfile::Lockfile;

pub const UV_REQUIREMENTS: &str = include_str!("../../images/lab/uv-requirements.txt");
pub const LAB_REQUIREMENTS: &str = include_str!("../../images/lab/lab-requirements.txt");
/// py-rattler, pinned: its API moves between releases.
pub const CONDA_REQUIREMENTS: &str = include_str!("../../images/lab/conda-requirements.txt");
pub const CONDA_SCRIPT: &str = include_str!("../../images/lab/conda.py");
const LAB_CONSTRAINTS_SCRIPT: &str = include_str!("../../images/lab/lab-constraints.py");
const LAZY_IRI_MODULE: &str = include_str!("../../images/lab/rjup_lazy_iri.py");

#[derive(Debug, Clone, PartialEq)]
pub enum ImageSource {
    Pull(String),
    Build(Box<BuildSpec>),
}

/// Everything that goes into a built image.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSpec {
    /// `build.base`, else `python:X.Y-slim` from runtime.txt, else the default.
    pub base: String,
    pub packages: Vec<String>,
    pub environment: Environment,
    pub ca_certificates: Vec<EnvFile>,
    pub lock: Option<Lockfile>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImagePlan {
    /// Use a ready image, pulling it if it is not present.
    Pull { reference: String },
    /// Build `tag` from `context` unless the tag exists.
    Build {
        tag: String,
        base: String,
        /// The image `context` starts from, built first when it is not there.
        tools: Tools,
        /// With cache mounts, for BuildKit and buildah; the tag is this context's hash.
        context: Vec<u8>,
        /// The same image for Docker's classic builder, without cache mounts.
        classic_context: Vec<u8>,
        /// The project files that went in, for telling the user.
        used: Vec<String>,
        /// The file that chose `base` (runtime.txt), when rjup.yaml did not.
        base_from: Option<String>,
    },
}

/// The tools image (`images/lab/tools.Dockerfile`): the base with uv, and with
/// repo2docker's tools for a project that may need them, shared by every project built
/// on that base that needs the same.
#[derive(Debug, Clone, PartialEq)]
pub struct Tools {
    pub tag: String,
    /// Whether it has repo2docker's tools besides uv.
    pub build_tools: bool,
    pub context: Vec<u8>,
    pub classic_context: Vec<u8>,
}

impl Tools {
    /// What it holds, as the build names it.
    pub fn holds(&self) -> &'static str {
        if self.build_tools {
            "git, wget, curl, unzip, bzip2, gcc, uv"
        } else {
            "uv"
        }
    }
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

/// What to do for the lab `name`, whose server runs as `owner`.
pub fn plan(name: &str, owner: Owner, source: &ImageSource) -> ImagePlan {
    match source {
        ImageSource::Pull(reference) => ImagePlan::Pull {
            reference: reference.clone(),
        },
        ImageSource::Build(build) => plan_build(name, owner, build),
    }
}

fn plan_build(name: &str, owner: Owner, build: &BuildSpec) -> ImagePlan {
    let base = build
        .lock
        .as_ref()
        .map_or(build.base.as_str(), |l| l.base.as_str());
    let blocks = blocks_for(build);
    let tools = plan_tools(base, build, &blocks);
    let files = context_files(build);
    let env = &build.environment;
    let shown = |file: &Option<EnvFile>| file.as_ref().map_or(String::new(), |f| f.shown.clone());
    let sources = Sources {
        conda: shown(&env.conda),
        requirements: shown(&env.requirements),
        pyproject: shown(&env.pyproject),
        uv_lock: shown(&env.uv_lock),
    };
    // Cache mounts change how the image is built, not what is in it: one tag for both.
    let with = |blocks: &Blocks| {
        let dockerfile =
            render_dockerfile(&tools.tag, base, (owner.uid, owner.gid), blocks, &sources);
        let mut files = files.clone();
        files.insert(
            0,
            ("Dockerfile".to_string(), dockerfile.into_bytes(), 0o644),
        );
        hashed_archive(&files)
    };
    let (hash, context) = with(&blocks);
    let (_, classic_context) = with(&Blocks {
        classic: true,
        ..blocks
    });
    ImagePlan::Build {
        tag: format!("rjup/{name}:{}", &hash[..12]),
        base: base.to_string(),
        tools,
        context,
        classic_context,
        used: files_used(build),
        base_from: build.environment.runtime_txt.clone(),
    }
}

/// Which optional blocks of the Dockerfile template `build` needs.
fn blocks_for(build: &BuildSpec) -> Blocks {
    let env = &build.environment;
    let lock = build.lock.as_ref();
    Blocks {
        ca: !build.ca_certificates.is_empty(),
        apt: !env.apt.is_empty(),
        conda: env.conda.is_some(),
        pip_section: lock.is_none() && pip_section(build).is_some(),
        locked: lock.is_some(),
        requirements: lock.is_none() && env.requirements.is_some(),
        pyproject: lock.is_none() && env.pyproject.is_some() && env.uv_lock.is_none(),
        uvlock: lock.is_none() && env.uv_lock.is_some(),
        packages: lock.is_none() && !build.packages.is_empty(),
        post_build: env.post_build.is_some(),
        start: env.start.is_some(),
        node: env.post_build.as_ref().is_some_and(needs_node),
        // What may build from source, clone with git or fetch an archive: postBuild and
        // the project's own Python packages, locked or not. JupyterLab's own are wheels,
        // conda's and apt's packages are built already, and apt.txt can name any tool.
        build_tools: env.post_build.is_some()
            || env.requirements.is_some()
            || env.pyproject.is_some()
            || env.uv_lock.is_some()
            || pip_section(build).is_some()
            || !build.packages.is_empty(),
        classic: false,
    }
}

/// The tools image for `base`: its tag is its context's hash, which the project's
/// Dockerfile names, so a change to the tools rebuilds every project's image.
fn plan_tools(base: &str, build: &BuildSpec, blocks: &Blocks) -> Tools {
    let mut files = vec![(
        "uv-requirements.txt".to_string(),
        UV_REQUIREMENTS.as_bytes().to_vec(),
        0o644,
    )];
    for cert in &build.ca_certificates {
        files.push((format!("ca/{}", cert.shown), cert.contents.clone(), 0o644));
    }
    let with = |blocks: &Blocks| {
        let mut files = files.clone();
        let dockerfile = render_tools(base, blocks);
        files.insert(
            0,
            ("Dockerfile".to_string(), dockerfile.into_bytes(), 0o644),
        );
        hashed_archive(&files)
    };
    let (hash, context) = with(blocks);
    let (_, classic_context) = with(&Blocks {
        classic: true,
        ..*blocks
    });
    Tools {
        tag: format!("rjup/tools:{}", &hash[..12]),
        build_tools: blocks.build_tools,
        context,
        classic_context,
    }
}

/// A file of a build context: its path (a directory's ends with `/`), bytes and mode.
type ContextFile = (String, Vec<u8>, u32);

/// The build context's files but the Dockerfile: a lock replaces the files it pins.
fn context_files(build: &BuildSpec) -> Vec<ContextFile> {
    let env = &build.environment;
    let lock = build.lock.as_ref();
    let mut files: Vec<ContextFile> = Vec::new();
    let mut add = |path: &str, contents: &[u8], mode: u32| {
        files.push((path.to_string(), contents.to_vec(), mode))
    };

    match lock {
        Some(lock) => add(
            "lab-requirements.txt",
            lock.requirements().as_bytes(),
            0o644,
        ),
        None => add("lab-requirements.txt", LAB_REQUIREMENTS.as_bytes(), 0o644),
    }
    add(
        "lab-constraints.py",
        LAB_CONSTRAINTS_SCRIPT.as_bytes(),
        0o644,
    );
    add("rjup_lazy_iri.py", LAZY_IRI_MODULE.as_bytes(), 0o644);
    if !env.apt.is_empty() {
        add(
            "project/apt.txt",
            format!("{}\n", env.apt.join("\n")).as_bytes(),
            0o644,
        );
    }
    if let Some(input) = conda_input(build) {
        add("conda.py", CONDA_SCRIPT.as_bytes(), 0o644);
        add(
            "conda-requirements.txt",
            CONDA_REQUIREMENTS.as_bytes(),
            0o644,
        );
        add("project/conda-env.json", &input.to_json(), 0o644);
    }
    if lock.is_none() {
        if let Some(pip) = pip_section(build) {
            add("project/pip-section.txt", pip.as_bytes(), 0o644);
        }
        if let Some(requirements) = &env.requirements {
            add("project/requirements.txt", &requirements.contents, 0o644);
        }
        if let Some(pyproject) = &env.pyproject {
            add("project/pyproject.toml", &pyproject.contents, 0o644);
        }
        if let Some(uv_lock) = &env.uv_lock {
            add("project/uv.lock", &uv_lock.contents, 0o644);
        }
        if !build.packages.is_empty() {
            add(
                "packages.txt",
                format!("{}\n", build.packages.join("\n")).as_bytes(),
                0o644,
            );
        }
    }
    if let Some(post_build) = &env.post_build {
        add("project/postBuild", &post_build.contents, 0o755);
        add("repository/", &[], 0o755);
        for file in &env.repository.files {
            let path = format!("repository/{}", file.path);
            add(
                &path,
                &file.contents,
                if file.executable { 0o755 } else { 0o644 },
            );
        }
    }
    if let Some(start) = &env.start {
        add("project/start", &start.contents, 0o755);
    }
    files
}

/// What the conda step is given: environment.yml's packages to solve, or rjup.lock's.
fn conda_input(build: &BuildSpec) -> Option<CondaInput> {
    let conda = build.environment.conda_env.as_ref()?;
    Some(match &build.lock {
        Some(lock) => CondaInput::Locked {
            packages: lock.conda.clone(),
        },
        None => conda.solve_input(),
    })
}

/// environment.yml's `pip:` section as a requirements file, if it has one.
pub fn pip_section(build: &BuildSpec) -> Option<String> {
    build.environment.conda_env.as_ref()?.pip_requirements()
}

/// The context as a tar archive, and the hash of its paths and contents that tags it.
fn hashed_archive(files: &[ContextFile]) -> (String, Vec<u8>) {
    let mut hasher = Sha256::new();
    let mut archive = Archive::new();
    for (path, contents, mode) in files {
        // Length-prefixed, so moving bytes between files changes the hash; the mode
        // only where it is not the usual one, so that contexts without such files (the
        // tools image's) keep their tags.
        if *mode == 0o644 {
            hasher.update(format!("{path}\0{}\0", contents.len()));
        } else {
            hasher.update(format!("{path}\0{mode:o}\0{}\0", contents.len()));
        }
        hasher.update(contents);
        if path.ends_with('/') {
            archive.dir(path, *mode, ROOT);
        } else {
            archive.file(path, contents, *mode, ROOT);
        }
    }
    (hex::encode(hasher.finalize()), archive.finish())
}

/// The files the image is built from, as the user knows them, for telling the user.
fn files_used(build: &BuildSpec) -> Vec<String> {
    let mut used = build.environment.used();
    if build.lock.is_some() {
        let pinned = |f: &String| {
            f.ends_with("requirements.txt")
                || f.ends_with("pyproject.toml")
                || f.ends_with("uv.lock")
        };
        let replaced: Vec<String> = used.iter().filter(|f| pinned(f)).cloned().collect();
        used.retain(|f| !pinned(f));
        used.insert(
            0,
            if replaced.is_empty() {
                "rjup.lock".to_string()
            } else {
                format!("rjup.lock (pinning {})", replaced.join(", "))
            },
        );
    }
    used
}

/// The inputs `rjup lock` resolves, hashed: if they change, the lock is stale.
pub fn lock_inputs(build: &BuildSpec) -> String {
    let env: &Environment = &build.environment;
    let mut hasher = Sha256::new();
    let mut add = |name: &str, bytes: &[u8]| {
        hasher.update(format!("{name}\0{}\0", bytes.len()));
        hasher.update(bytes);
    };
    add("base", build.base.as_bytes());
    add("uv", UV_REQUIREMENTS.as_bytes());
    add("lab", LAB_REQUIREMENTS.as_bytes());
    add("packages", build.packages.join("\n").as_bytes());
    for (name, file) in [
        ("requirements", &env.requirements),
        ("pyproject", &env.pyproject),
        ("uvlock", &env.uv_lock),
    ] {
        add(name, file.as_ref().map_or(&[][..], |f| &f.contents));
    }
    // What conda.py is asked to solve, not environment.yml's bytes: its `name:` or a
    // comment changes nothing. Only with one, so other projects' locks keep their hash.
    if let Some(conda) = &env.conda_env {
        add("conda", &conda.solve_input().to_json());
        add("conda-pip", conda.pip.join("\n").as_bytes());
        add("rattler", CONDA_REQUIREMENTS.as_bytes());
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::binder::EnvFile;
    use crate::environment::lockfile::Lockfile;
    use crate::environment::repository::RepoFile;
    use crate::settings::tests::spec;
    use crate::settings::Spec;

    fn plan_of(s: &Spec) -> ImagePlan {
        plan(&s.name, s.owner, &s.image)
    }

    fn tag(plan: &ImagePlan) -> &str {
        match plan {
            ImagePlan::Build { tag, .. } => tag,
            ImagePlan::Pull { .. } => panic!("expected a build"),
        }
    }

    fn build_mut(s: &mut Spec) -> &mut BuildSpec {
        match &mut s.image {
            ImageSource::Build(b) => b,
            ImageSource::Pull(_) => panic!("expected build mode"),
        }
    }

    fn file(shown: &str, text: &str) -> Option<EnvFile> {
        Some(EnvFile {
            shown: shown.into(),
            contents: text.as_bytes().to_vec(),
        })
    }

    fn context_files(plan: &ImagePlan) -> Vec<String> {
        let ImagePlan::Build { context, .. } = plan else {
            panic!()
        };
        let mut names: Vec<String> = tar::Archive::new(context.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        names.sort();
        names
    }

    fn dockerfile(plan: &ImagePlan) -> String {
        let ImagePlan::Build { context, .. } = plan else {
            panic!()
        };
        let mut archive = tar::Archive::new(context.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        text
    }

    fn tools_dockerfile(tools: &Tools, classic: bool) -> String {
        let context = if classic {
            &tools.classic_context
        } else {
            &tools.context
        };
        let mut archive = tar::Archive::new(context.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        text
    }

    fn tools_of(s: &Spec) -> Tools {
        let ImagePlan::Build { tools, .. } = plan_of(s) else {
            panic!("expected a build")
        };
        tools
    }

    #[test]
    fn the_lab_starts_from_a_tools_image_with_uv_and_repo2dockers_tools_only_where_they_may_be_needed(
    ) {
        let bare = spec();
        let lean = tools_of(&bare);
        assert!(lean.tag.starts_with("rjup/tools:"), "{}", lean.tag);
        assert_eq!(lean.holds(), "uv");
        assert!(dockerfile(&plan_of(&bare)).contains(&format!("\nFROM {}\n", lean.tag)));
        for classic in [false, true] {
            let d = tools_dockerfile(&lean, classic);
            assert!(d.contains("\nFROM python:3.13-slim\n"), "{d}");
            assert!(
                d.contains("uv-requirements.txt") && !d.contains("{{"),
                "{d}"
            );
            assert!(!d.contains("apt-get") && !d.contains("--mount"), "{d}");
        }
        // Each of these may build from source, clone or fetch: the tools come with it.
        type Add = fn(&mut BuildSpec);
        let needs: [(&str, Add); 5] = [
            ("postBuild", |b| {
                b.environment.post_build = file("postBuild", "git clone x\n")
            }),
            ("requirements.txt", |b| {
                b.environment.requirements = file("requirements.txt", "pandas\n")
            }),
            ("pyproject.toml", |b| {
                b.environment.pyproject = file("pyproject.toml", "[project]\n")
            }),
            ("build.packages", |b| b.packages = vec!["numpy".into()]),
            ("environment.yml's pip:", |b| {
                let yml = "dependencies:\n  - python\n  - pip:\n    - rich\n";
                b.environment.conda = file("environment.yml", yml);
                let dir = std::path::Path::new("/p");
                let parsed =
                    crate::environment::conda::parse(dir, dir, "environment.yml", yml.as_bytes());
                b.environment.conda_env = Some(parsed.unwrap());
            }),
        ];
        for (what, add) in needs {
            let mut s = spec();
            add(build_mut(&mut s));
            let tools = tools_of(&s);
            assert_ne!(tools.tag, lean.tag, "{what}");
            assert_eq!(
                tools.holds(),
                "git, wget, curl, unzip, bzip2, gcc, uv",
                "{what}"
            );
            for classic in [false, true] {
                let d = tools_dockerfile(&tools, classic);
                for tool in ["git", "wget", "curl", "unzip", "bzip2", "gcc"] {
                    assert!(
                        d.contains(&format!(" {tool} ")),
                        "{what}: {tool} missing:\n{d}"
                    );
                }
                // uv first: this image starts with the lean one's layers.
                assert!(d.find("uv-requirements").unwrap() < d.find("apt-get").unwrap());
                assert_eq!(d.contains("--mount"), !classic, "{d}");
            }
        }
        // apt.txt and conda's packages are built already.
        let mut s = spec();
        build_mut(&mut s).environment.apt = vec!["jq".into()];
        assert_eq!(tools_of(&s).tag, lean.tag);
    }

    #[test]
    fn projects_on_one_base_share_the_tools_and_a_new_base_or_ca_makes_new_ones() {
        let mut s = spec();
        build_mut(&mut s).environment.requirements = file("requirements.txt", "rich\n");
        let shared = tools_of(&s).tag;
        s.name = "other".into();
        s.owner.uid = 4242;
        let b = build_mut(&mut s);
        b.environment.requirements = file("requirements.txt", "pandas\n");
        b.environment.apt = vec!["jq".into()];
        b.environment.post_build = file("postBuild", "jupyter labextension list\n");
        assert_eq!(
            tools_of(&s).tag,
            shared,
            "the tools depend on the base only"
        );
        let mut s = spec();
        build_mut(&mut s).base = "python:3.12-slim".into();
        assert_ne!(tools_of(&s).tag, tools_of(&spec()).tag);
        let mut s = spec();
        build_mut(&mut s).ca_certificates = vec![EnvFile {
            shown: "corp.pem".into(),
            contents: b"-----BEGIN CERTIFICATE-----".to_vec(),
        }];
        let with_ca = tools_of(&s);
        assert_ne!(with_ca.tag, tools_of(&spec()).tag);
        assert!(tools_dockerfile(&with_ca, false).contains("update-ca-certificates"));
    }

    #[test]
    fn both_builders_get_the_same_tag() {
        let mut s = spec();
        build_mut(&mut s).environment.apt = vec!["jq".into()];
        let ImagePlan::Build {
            context,
            classic_context,
            tag,
            ..
        } = plan_of(&s)
        else {
            panic!()
        };
        assert_ne!(context, classic_context);
        assert!(tag.starts_with("rjup/demo:"));
    }

    #[test]
    fn a_post_build_that_uses_node_gets_it_in_the_image() {
        let mut s = spec();
        build_mut(&mut s).environment.post_build =
            file("postBuild", "jupyter labextension develop .\n");
        assert!(dockerfile(&plan_of(&s)).contains("nodejs npm"));
    }

    #[test]
    fn tag_is_name_and_a_content_hash() {
        let p = plan_of(&spec());
        let t = tag(&p);
        assert!(t.starts_with("rjup/demo:"), "{t}");
        assert_eq!(t.len(), "rjup/demo:".len() + 12);
        assert_eq!(plan_of(&spec()), p, "the same spec must give the same plan");
    }

    #[test]
    fn tag_changes_with_what_goes_into_the_image_only() {
        let base = tag(&plan_of(&spec())).to_string();
        let mut s = spec();
        build_mut(&mut s).packages = vec!["pandas".into()];
        assert_ne!(tag(&plan_of(&s)), base);
        let mut s = spec();
        build_mut(&mut s).environment.requirements = file("requirements.txt", "pandas\n");
        let with_req = tag(&plan_of(&s)).to_string();
        assert_ne!(with_req, base);
        build_mut(&mut s).environment.requirements = file("requirements.txt", "pandas==2.2\n");
        assert_ne!(
            tag(&plan_of(&s)),
            with_req,
            "changing requirements.txt rebuilds"
        );
        let mut s = spec();
        s.owner.uid = 4242;
        assert_ne!(tag(&plan_of(&s)), base);
        let mut s = spec();
        s.port = crate::settings::PortRequest::Fixed(9999);
        s.env.insert("A".into(), "b".into());
        assert_eq!(
            tag(&plan_of(&s)),
            base,
            "runtime settings must not rebuild the image"
        );
    }

    /// rjup_lazy_iri.py, with the system's python3 and a stand-in rfc3987_syntax that
    /// counts its imports: nothing at import, the real package at first use, once.
    #[test]
    fn rfc3987_syntax_loads_at_its_first_use_and_answers_as_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let package = tmp.path().join("rfc3987_syntax");
        std::fs::create_dir(&package).unwrap();
        std::fs::write(
            package.join("__init__.py"),
            "from .syntax_helpers import *\n",
        )
        .unwrap();
        std::fs::write(
            package.join("syntax_helpers.py"),
            "import builtins\nbuiltins.LOADS = getattr(builtins, 'LOADS', 0) + 1\nGRAMMAR = 'g'\n\
             def is_valid_syntax(rule, value):\n    return rule == 'iri' and ':' in value\n",
        )
        .unwrap();
        std::fs::write(tmp.path().join("rjup_lazy_iri.py"), LAZY_IRI_MODULE).unwrap();
        let script = "import builtins, rjup_lazy_iri\n\
            from rfc3987_syntax import is_valid_syntax\n\
            assert not hasattr(builtins, 'LOADS'), 'loaded at import'\n\
            assert is_valid_syntax('iri', 'a:b') and not is_valid_syntax('iri', 'ab')\n\
            import rfc3987_syntax, rfc3987_syntax.syntax_helpers\n\
            assert rfc3987_syntax.GRAMMAR == 'g' and builtins.LOADS == 1, builtins.LOADS\n\
            try:\n    rfc3987_syntax.missing\nexcept AttributeError:\n    pass\n\
            else:\n    raise SystemExit('a missing name must raise AttributeError')\n";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .env("PYTHONPATH", tmp.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("this test needs python3 on PATH");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn build_context_holds_only_the_template_and_environment_files() {
        assert_eq!(
            context_files(&plan_of(&spec())),
            [
                "Dockerfile",
                "lab-constraints.py",
                "lab-requirements.txt",
                "rjup_lazy_iri.py"
            ]
        );
        let mut s = spec();
        let b = build_mut(&mut s);
        b.environment.requirements = file("binder/requirements.txt", "six\n");
        b.environment.apt = vec!["jq".into()];
        b.environment.post_build = file("binder/postBuild", "echo hi\n");
        b.environment.repository.files = vec![RepoFile {
            path: "binder/postBuild".into(),
            contents: b"echo hi\n".to_vec(),
            executable: true,
        }];
        assert_eq!(
            context_files(&plan_of(&s)),
            [
                "Dockerfile",
                "lab-constraints.py",
                "lab-requirements.txt",
                "project/apt.txt",
                "project/postBuild",
                "project/requirements.txt",
                "repository/",
                "repository/binder/postBuild",
                "rjup_lazy_iri.py",
            ]
        );
        let ImagePlan::Build { used, context, .. } = plan_of(&s) else {
            panic!()
        };
        assert_eq!(used, ["binder/requirements.txt", "binder/postBuild"]);
        assert!(context.len() < 64 * 1024);
    }

    #[test]
    fn a_lock_pins_the_base_and_replaces_the_requirements() {
        let mut s = spec();
        let b = build_mut(&mut s);
        b.environment.requirements = file("requirements.txt", "six\n");
        b.lock = Some(Lockfile {
            conda: Vec::new(),
            inputs: "sha256:x".into(),
            base: "python@sha256:abc".into(),
            packages: vec!["jupyterlab==4.4.0".into(), "six==1.16.0".into()],
        });
        let p = plan_of(&s);
        let d = dockerfile(&p);
        let tools = tools_dockerfile(&tools_of(&s), false);
        assert!(tools.contains("\nFROM python@sha256:abc\n"), "{tools}");
        assert!(
            d.contains("--no-deps -r /opt/rjup/lab-requirements.txt"),
            "{d}"
        );
        assert!(!d.contains("/opt/rjup/requirements.txt"));
        assert!(!context_files(&p).contains(&"project/requirements.txt".to_string()));
        assert!(
            d.contains("id=rjup-python") && !d.contains("type=tmpfs"),
            "a locked install holds the project's packages: it keeps the cache\n{d}"
        );
    }

    #[test]
    fn lock_inputs_follow_the_python_files_but_not_notebooks_or_apt() {
        let s = spec();
        let ImageSource::Build(b) = &s.image else {
            panic!()
        };
        let before = lock_inputs(b);
        let mut b2 = b.clone();
        b2.environment.apt = vec!["jq".into()];
        assert_eq!(lock_inputs(&b2), before);
        b2.environment.requirements = file("requirements.txt", "six\n");
        assert_ne!(lock_inputs(&b2), before);
    }
}
