//! `rjup.yaml`, the project's own settings: read here, as written ([`schema`]), checked
//! key by key ([`validate`]); a file serde cannot read becomes one line that says where
//! and how to fix it ([`diagnostics`]). [`names`] says what a lab may be called, and
//! [`template()`] writes the commented file of `rjup init`.

mod diagnostics;
pub mod names;
mod schema;
mod template;
mod validate;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use crate::error::Error;
use crate::project_file::FileRef;
pub use names::{is_valid_name, sanitize_name};
use schema::ConfigFile;
pub use template::template;

pub const FILE_NAME: &str = "rjup.yaml";

/// Run the lab as a one-replica Docker Swarm service rather than a container.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Swarm {
    /// Where build-mode images are pushed so that every node can pull them.
    pub registry: Option<String>,
    /// Swarm placement constraints, such as `node.labels.gpu==true`.
    pub constraints: Vec<String>,
}

/// How the lab serves HTTP.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum TlsConfig {
    #[default]
    Off,
    /// A certificate rjup makes and keeps per project.
    SelfSigned,
    /// The user's own certificate and key: as rjup.yaml names them, relative to the
    /// project and inside it, or from rjup's environment (`RJUP_TLS_CERT`).
    Files { cert: FileRef, key: FileRef },
    /// A certificate from an ACME CA, renewed by the engine's renewer (`acme:`).
    Acme(Acme),
}

/// Let's Encrypt's production directory: the default CA for `tls: acme`.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `acme:`: where `tls: acme` gets its certificate, and for which names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acme {
    /// The account's contact address, for the CA's notices.
    pub email: Option<String>,
    /// IP addresses and DNS names the certificate names; empty for the host's public
    /// addresses the lab is published on.
    pub names: Vec<String>,
    /// The CA's ACME directory.
    pub directory: String,
    /// A PEM file of a private CA: trusted for its directory's HTTPS and for the
    /// certificates it issues, instead of the public roots.
    pub ca_certificates: Option<FileRef>,
    pub challenge: crate::acme::Challenge,
}

impl Default for Acme {
    fn default() -> Self {
        Acme {
            email: None,
            names: Vec::new(),
            directory: LETS_ENCRYPT.to_string(),
            ca_certificates: None,
            challenge: crate::acme::Challenge::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gpus {
    All,
    Count(u32),
}

/// The validated file, with rjup's defaults not yet applied.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Config {
    pub name: Option<String>,
    pub port: Option<u16>,
    pub bind: Option<IpAddr>,
    pub image: Option<String>,
    pub base: Option<String>,
    pub packages: Vec<String>,
    pub requirements: Option<FileRef>,
    pub apt: Vec<String>,
    pub post_build: Option<FileRef>,
    pub ca_certificates: Vec<FileRef>,
    pub env: BTreeMap<String, String>,
    pub check_notebooks: Vec<String>,
    pub check_timeout: Option<u64>,
    pub tls: TlsConfig,
    /// Bytes.
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids: Option<u32>,
    pub gpus: Option<Gpus>,
    pub swarm: Option<Swarm>,
    /// Client addresses the lab admits; empty admits every address.
    pub allow: Vec<IpNet>,
    /// Real-time collaboration (jupyter-collaboration) in the lab.
    pub collaboration: bool,
}

/// Reads `path`, the rjup.yaml of the project that is its (canonical) directory. A
/// link to a file outside the project is refused: whoever writes in the lab could
/// point it at a file of the owner's whose values (`env:`) the lab would get.
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = read(path)?;
    parse(&text, &path.display().to_string())
}

fn read(path: &Path) -> anyhow::Result<String> {
    let project = path.parent().unwrap_or(Path::new("/"));
    match crate::project_file::read_within(project, path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| Error::config(format!("{} is not UTF-8 text", path.display())).into()),
        Err(crate::project_file::Refused::Io(e)) => {
            Err(Error::config(format!("cannot read {}: {e}", path.display())).into())
        }
        Err(crate::project_file::Refused::Outside(real)) => Err(Error::config(format!(
            "{} is a link to {}, outside the project; rjup reads rjup.yaml only from inside the project, since whoever writes in the lab can put a link there; copy the file into the project instead",
            path.display(),
            real.display()
        ))
        .into()),
    }
}

/// What can still be read from a file that [`load`] refuses: its `name`, if it is a
/// valid one, and whether it asks for `swarm`; defaults for the rest. Enough to find
/// the lab the file made, never enough to make one. `None` when the text is not YAML
/// at all (or cannot be read).
pub fn salvage(path: &Path) -> Option<Config> {
    let text = read(path).ok()?;
    let value: serde_json::Value = serde_saphyr::from_str(&text).ok()?;
    let name = value
        .get("name")
        .and_then(serde_json::Value::as_str)
        .filter(|n| is_valid_name(n))
        .map(str::to_string);
    let swarm = value.get("swarm").map(|_| Swarm::default());
    Some(Config {
        name,
        swarm,
        ..Config::default()
    })
}

/// Parses and validates the text of a config file; `origin` names it in messages.
pub fn parse(text: &str, origin: &str) -> anyhow::Result<Config> {
    let file: ConfigFile = match serde_saphyr::from_str::<Option<ConfigFile>>(text) {
        Ok(file) => file.unwrap_or_default(),
        Err(err) => return Err(diagnostics::describe_parse_error(&err, text, origin).into()),
    };
    validate::validate(file, origin).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        let e = parse(text, "rjup.yaml").unwrap_err();
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        e.to_string()
    }

    #[test]
    fn empty_and_comment_only_files_mean_defaults() {
        assert_eq!(parse("", "rjup.yaml").unwrap(), Config::default());
        assert_eq!(
            parse("# nothing\n", "rjup.yaml").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn every_key_parses() {
        let c = parse(
            "name: my-lab\nport: 9000\nbind: 127.0.0.1\nbuild:\n  base: python:3.12-slim\n  packages: [pandas, 'numpy>=2']\nenv:\n  TZ: UTC\n  N: 3\n",
            "rjup.yaml",
        )
        .unwrap();
        assert_eq!(c.name.as_deref(), Some("my-lab"));
        assert_eq!(c.port, Some(9000));
        assert_eq!(c.bind, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(c.base.as_deref(), Some("python:3.12-slim"));
        assert_eq!(c.packages, ["pandas", "numpy>=2"]);
        assert_eq!(c.env["N"], "3");
    }

    #[test]
    fn unknown_key_names_location_and_suggests_the_right_one() {
        assert_eq!(
            err("name: x\nprot: 8888\n"),
            "rjup.yaml:2:1: unknown key `prot`; did you mean `port`?"
        );
        assert_eq!(
            err("build:\n  pakages: [a]\n"),
            "rjup.yaml:2:3: unknown key `pakages`; did you mean `packages`?"
        );
    }

    #[test]
    fn unknown_key_far_from_any_lists_the_known_ones() {
        let m = err("colour: blue\n");
        assert!(
            m.starts_with("rjup.yaml:1:1: unknown key `colour`; known keys here: name, port"),
            "{m}"
        );
    }

    #[test]
    fn wrong_type_names_the_key_and_what_it_expects() {
        let m = err("port: abc\n");
        assert!(m.starts_with("rjup.yaml:1:7: bad value for `port`"), "{m}");
        assert!(m.contains("a port number from 1 to 65535"), "{m}");
        let m = err("build: 3\n");
        assert!(m.starts_with("rjup.yaml:1:8: bad value for `build`"), "{m}");
    }

    #[test]
    fn out_of_range_values_are_rejected_with_their_location() {
        assert!(err("port: 70000\n").starts_with("rjup.yaml:1:7: bad value for `port`"));
        assert!(err("port: 0\n").starts_with("rjup.yaml:1:7: `port` 0 is out of range"));
        assert!(err("port: -1\n").starts_with("rjup.yaml:1:7: bad value for `port`"));
    }

    #[test]
    fn bad_bind_name_and_image_are_rejected_with_a_fix() {
        assert!(err("bind: localhost\n")
            .contains("`bind` \"localhost\" is not an IP address; use one such as 0.0.0.0"));
        assert!(err("name: My Lab\n").ends_with("; use `mylab`"));
        assert!(err("image: https://example.com/x\n").contains("has a URL scheme"));
        assert!(err("image: Jupyter/Lab\n").contains("must be lowercase"));
        let m = err("image: x\nbuild:\n  base: y\n");
        assert!(
            m.starts_with("rjup.yaml:1:8:") && m.contains("exclude each other"),
            "{m}"
        );
        assert!(
            err("build:\n  packages: ['--index-url=http://evil']\n").starts_with("rjup.yaml:2:")
        );
        assert!(err("env:\n  HOME: /x\n").contains("cannot set HOME"));
        assert!(err("env:\n  1A: x\n").contains("not a variable name"));
    }

    #[test]
    fn build_files_and_apt_packages_are_validated() {
        let c = parse("build:\n  requirements: ./env/r.txt\n  apt: [jq]\n  post_build: s.sh\n  ca_certificates: [/etc/c.pem]\n", "rjup.yaml").unwrap();
        assert_eq!(
            c.requirements,
            Some(FileRef::in_config(
                "env/r.txt",
                "build.requirements",
                "rjup.yaml:2:17".into()
            ))
        );
        assert_eq!(c.apt, ["jq"]);
        assert_eq!(c.post_build.map(|f| f.path).as_deref(), Some("s.sh"));
        assert_eq!(
            c.ca_certificates,
            [FileRef::in_config(
                "/etc/c.pem",
                "build.ca_certificates",
                "rjup.yaml:5:21".into()
            )]
        );
        assert!(err("build:\n  apt: [\"jq; rm -rf /\"]\n").starts_with("rjup.yaml:2:"));
        assert!(err("build:\n  requirements: ../other/r.txt\n").contains("inside the project"));
    }

    #[test]
    fn tls_resources_and_gpus_parse_and_reject_bad_values() {
        let c = parse(
            "tls: self-signed\nresources:\n  memory: 4g\n  cpus: 1.5\n  pids: 512\ngpus: all\n",
            "rjup.yaml",
        )
        .unwrap();
        assert_eq!(c.tls, TlsConfig::SelfSigned);
        assert_eq!(c.memory, Some(4 << 30));
        assert_eq!(c.cpus, Some(1.5));
        assert_eq!(c.pids, Some(512));
        assert_eq!(c.gpus, Some(Gpus::All));
        let c = parse("tls:\n  cert: c.pem\n  key: k.pem\ngpus: 2\n", "rjup.yaml").unwrap();
        assert_eq!(
            c.tls,
            TlsConfig::Files {
                cert: FileRef::in_config("c.pem", "tls.cert", "rjup.yaml:2:9".into()),
                key: FileRef::in_config("k.pem", "tls.key", "rjup.yaml:3:8".into()),
            }
        );
        assert_eq!(c.gpus, Some(Gpus::Count(2)));
        assert!(err("tls: yes-please\n").contains("is not a TLS mode"));
        assert!(
            err("resources:\n  memory: lots\n").starts_with("rjup.yaml:2:11: `resources.memory`")
        );
        assert!(err("resources:\n  memory: 1m\n").contains("at least 64m"));
        assert!(err("resources:\n  cpus: 0\n").contains("out of range"));
        assert!(err("resources:\n  pids: 10\n").contains("at least 64"));
        assert!(err("gpus: some\n").contains("`all` or a number"));
        assert!(err("resources:\n  memroy: 1g\n").contains("did you mean `memory`?"));
    }

    #[test]
    fn check_notebooks_must_be_relative_notebook_paths() {
        let c = parse(
            "check:\n  notebooks: [a.ipynb, ./sub/b.ipynb]\n  timeout: 30\n",
            "rjup.yaml",
        )
        .unwrap();
        assert_eq!(c.check_notebooks, ["a.ipynb", "sub/b.ipynb"]);
        assert_eq!(c.check_timeout, Some(30));
        assert!(err("check:\n  notebooks: [/etc/passwd]\n").starts_with("rjup.yaml:2:"));
        assert!(err("check:\n  notebooks: [../x.ipynb]\n").contains("inside the project"));
        assert!(err("check:\n  timeout: 0\n").contains("at least 1 second"));
    }

    #[test]
    fn allow_takes_addresses_and_networks_of_both_families() {
        let c = parse(
            "allow: [10.0.0.0/8, 192.168.1.23, 'fd00::/8', '::1']\ncollaboration: true\n",
            "rjup.yaml",
        )
        .unwrap();
        let shown: Vec<String> = c.allow.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["10.0.0.0/8", "192.168.1.23/32", "fd00::/8", "::1/128"]
        );
        assert!(c.collaboration);
        assert!(!parse("name: x\n", "rjup.yaml").unwrap().collaboration);
    }

    #[test]
    fn bad_allow_entries_and_collaboration_values_say_where() {
        assert_eq!(
            err("allow:\n  - 10.0.0.0/8\n  - 10.0.0.300/24\n"),
            "rjup.yaml:3:5: `allow` entry \"10.0.0.300/24\" is not an IP address or network; write one such as 192.168.1.23, 10.0.0.0/8 or fd00::/8"
        );
        assert!(err("allow: [10.1.2.3/8]\n")
            .starts_with("rjup.yaml:1:9: `allow` entry \"10.1.2.3/8\" has bits set past its /8 prefix; write the network, 10.0.0.0/8"));
        assert!(err("allow: [10.0.0.0/33]\n").contains("is not an IP address or network"));
        assert!(err("allow: []\n").starts_with("rjup.yaml:1:8: `allow` is an empty list"));
        let m = err("allow: 10.0.0.0/8\n");
        assert!(m.starts_with("rjup.yaml:1:8: bad value for `allow`"), "{m}");
        assert!(
            m.contains("expected a list of addresses and networks"),
            "{m}"
        );
        let m = err("collaboration: sure\n");
        assert!(
            m.starts_with("rjup.yaml:1:16: bad value for `collaboration`"),
            "{m}"
        );
        assert!(m.contains("expected true or false"), "{m}");
    }

    #[test]
    fn a_refused_file_still_gives_its_name_and_whether_it_is_a_swarm_lab() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(FILE_NAME);
        let salvaged = |text: &str| {
            std::fs::write(&file, text).unwrap();
            assert!(load(&file).is_err(), "{text} is refused");
            salvage(&file)
        };
        let c = salvaged("name: my-lab\nprot: 8888\nswarm: {}\n").unwrap();
        assert_eq!(c.name.as_deref(), Some("my-lab"));
        assert_eq!(c.swarm, Some(Swarm::default()));
        let c = salvaged("name: My Lab\nport: abc\n").unwrap();
        assert_eq!(
            (c.name, c.swarm),
            (None, None),
            "an invalid name is no name"
        );
        assert!(salvaged("name: x\nimage: [unclosed\n").is_none());
    }

    #[test]
    fn acme_takes_its_keys_only_with_tls_acme_and_says_where_a_bad_one_is() {
        let c = parse("tls: acme\n", "rjup.yaml").unwrap();
        assert_eq!(c.tls, TlsConfig::Acme(Acme::default()));
        assert_eq!(Acme::default().directory, LETS_ENCRYPT);
        let c = parse(
            "tls: acme\nacme:\n  email: ada@example.org\n  names: [203.0.113.7, 'FD31:0231::1', Lab.Example.org.]\n  directory: https://ca.example/dir\n  ca_certificates: ca.pem\n  challenge: tls-alpn-01\n",
            "rjup.yaml",
        )
        .unwrap();
        let TlsConfig::Acme(acme) = c.tls else {
            panic!("{:?}", c.tls)
        };
        assert_eq!(acme.email.as_deref(), Some("ada@example.org"));
        assert_eq!(
            acme.names,
            ["203.0.113.7", "fd31:231::1", "lab.example.org"]
        );
        assert_eq!(acme.directory, "https://ca.example/dir");
        assert_eq!(
            acme.ca_certificates,
            Some(FileRef::in_config(
                "ca.pem",
                "acme.ca_certificates",
                "rjup.yaml:6:20".into()
            ))
        );
        assert_eq!(acme.challenge, crate::acme::Challenge::TlsAlpn01);
        assert_eq!(
            err("tls: self-signed\nacme:\n  email: a@b.org\n"),
            "rjup.yaml:3:3: `acme` says where `tls: acme` gets its certificate, but `tls` is not `acme`; set `tls: acme`, or remove `acme`"
        );
        let bad = |acme: &str| err(&format!("tls: acme\nacme:\n{acme}"));
        assert!(bad("  email: nobody\n").starts_with("rjup.yaml:3:10: `acme.email`"));
        assert!(bad("  names: ['*.example.org']\n").contains("no wildcards"));
        assert!(bad("  names: [0.0.0.0]\n").contains("`acme.names` entry"));
        assert!(bad("  directory: http://ca.example/dir\n").contains("https:// URL"));
        assert!(bad("  challenge: dns-01\n").contains("`http-01` (port 80) or `tls-alpn-01`"));
        assert!(bad("  ca_certificates: ''\n").contains("`acme.ca_certificates` is empty"));
        assert!(bad("  colour: red\n").contains("unknown key `colour`"));
    }
}
