//! A lab's certificate from an ACME CA (`tls: acme`), as far as it is the lab's and
//! not its runtime's: the names it covers, the job the engine's renewer gets for it,
//! how rjup trusts what the lab serves, and the renewer itself (its image and its
//! container) that the runtimes make. The ACME side is [`crate::acme`].

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, PortBinding, RestartPolicy,
    RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::acme::{self, Challenge, Job, Status};
use crate::archive::Owner;
use crate::config::Acme;
use crate::engine::Engine;
use crate::error::Error;
use crate::lab::image::Shown;
use crate::settings::Spec;
use crate::tls::Trust;
use crate::ui::printer::Printer;

/// The labels rjup finds the renewer by and reads what it serves from.
pub mod label {
    /// The labs it serves, and the challenge each asks for, as JSON.
    pub const LABS: &str = "io.rjup.acme-labs";
    pub const CONFIG_HASH: &str = crate::lab::label::CONFIG_HASH;
}

/// The renewer's memory and process limits: it runs one order at a time.
const MEMORY: i64 = 64 << 20;
const PIDS: i64 = 64;

/// A lab's certificate, as the renewer gave it.
#[derive(Debug, Clone)]
pub struct AcmeLab {
    pub job: Job,
    pub status: Status,
    /// What rjup's own probes trust: the CA's roots.
    pub roots: Arc<rustls::RootCertStore>,
    /// Where the lab reads its certificate, its key and the renewer's status: the pair
    /// is named by what was ordered, so that a lab whose names change is made afresh
    /// with the new pair, while a renewal changes no path.
    pub paths: (String, String, String),
}

impl AcmeLab {
    pub fn new(job: Job, status: Status, roots: Arc<rustls::RootCertStore>) -> AcmeLab {
        let (crt, key) = job.files();
        let paths = (
            format!("{}/{crt}", acme::LAB_DIR),
            format!("{}/{key}", acme::LAB_DIR),
            format!("{}/{}", acme::LAB_DIR, acme::STATUS_FILE),
        );
        AcmeLab {
            job,
            status,
            roots,
            paths,
        }
    }

    /// The volume that holds the lab's certificate.
    pub fn volume(&self) -> String {
        acme::lab_volume(&self.job.lab)
    }

    /// What rjup trusts when it reaches the lab: any certificate from the CA's roots
    /// that names one of the lab's names, since every renewal brings a new one.
    pub fn trust(&self) -> Trust {
        Trust::Issued {
            roots: self.roots.clone(),
            names: self.job.names.clone(),
        }
    }
}

/// A lab's certificate in one line: its names, issuer and end.
pub fn describe(status: &Status) -> String {
    let until = status
        .not_after
        .map_or_else(|| "?".to_string(), crate::tls::day_of);
    format!(
        "for {}, from {}, valid until {until}; renewed automatically",
        status.names.join(", "),
        status.issuer.as_deref().unwrap_or("the CA")
    )
}

/// A certificate the renewer gave that does not verify against the roots rjup trusts
/// for the lab. The first time, it may be one the renewer kept from before the CA
/// changed its root (a test CA restarted, a CA that changed its chain): rjup then asks
/// for a new one ([`Job::replace_obtained_before`]). Only a new one that does not
/// verify either is the user's to fix.
#[derive(Debug)]
pub struct Untrusted {
    pub issuer: Option<String>,
    pub name: String,
    pub why: anyhow::Error,
}

impl Untrusted {
    /// `chain`, as the renewer gave it for `name`, unless it verifies against `roots`.
    pub fn check(
        chain: Option<&str>,
        issuer: Option<&str>,
        roots: &Arc<rustls::RootCertStore>,
        name: &str,
    ) -> Option<Untrusted> {
        let chain = chain.unwrap_or_default();
        let why = crate::tls::verify_chain(chain, roots.clone(), name).err()?;
        Some(Untrusted {
            issuer: issuer.map(str::to_string),
            name: name.to_string(),
            why,
        })
    }

    /// Whether to ask for a new certificate (once per `rjup up`), which this says.
    pub fn replace(&self, job: &mut Job, printer: Printer) -> bool {
        if job.replace_obtained_before.is_some() {
            return false;
        }
        printer.say(format!(
            "The certificate the renewer kept for {} does not verify ({:#}); asking for a new one",
            self.name, self.why
        ));
        job.replace_obtained_before = Some(acme::now());
        true
    }

    /// The error once a new certificate does not verify either.
    pub fn error(&self, wanted: &Acme) -> Error {
        let trusted = match &wanted.ca_certificates {
            Some(file) => format!("the certificates in {}", file.named()),
            None => "the public roots".to_string(),
        };
        Error::config(format!(
            "the certificate {} issued for {} does not verify against {trusted} ({:#}); browsers that trust those would refuse it: give the CA's root certificate (the one that signs what it issues) in `acme.ca_certificates`",
            self.issuer.as_deref().unwrap_or("the CA"),
            self.name,
            self.why
        ))
    }
}

/// The URLs a browser opens the lab at on `port`: its certificate's names, the only
/// ones a browser accepts it for.
pub fn urls(names: &[String], port: u16) -> Vec<String> {
    names
        .iter()
        .map(|name| match name.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("https://[{v6}]:{port}/lab"),
            _ => format!("https://{name}:{port}/lab"),
        })
        .collect()
}

/// Whether an address is one the internet reaches: not private, loopback, link-local,
/// shared (CGNAT), documentation, benchmarking or otherwise reserved. Let's Encrypt
/// issues only for such addresses, so only they are names by default.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            // Global unicast is 2000::/3, less documentation (2001:db8::/32).
            (0x2000..0x4000).contains(&first) && !(first == 0x2001 && v6.segments()[1] == 0xdb8)
        }
    }
}

/// The names the certificate covers: `acme.names`, else the public addresses among
/// those the lab is published on (`published`).
pub fn names(wanted: &Acme, published: &[IpAddr]) -> anyhow::Result<Vec<String>> {
    if !wanted.names.is_empty() {
        return Ok(wanted.names.clone());
    }
    let public: Vec<String> = published
        .iter()
        .filter(|ip| is_public(**ip))
        .map(IpAddr::to_string)
        .collect();
    if public.is_empty() {
        let seen: Vec<String> = published.iter().map(IpAddr::to_string).collect();
        let seen = if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        };
        return Err(Error::config(format!(
            "`tls: acme` asks a CA for a certificate for this host's public addresses, but the lab is published on none (its addresses: {seen}), and a public CA issues none for private ones; use `tls: self-signed`, or list the addresses or DNS names browsers use in `acme.names`"
        ))
        .into());
    }
    Ok(public)
}

/// The PEM of `acme.ca_certificates` (read as the user who runs rjup, from inside the
/// project), and the roots rjup trusts for the lab: those, or the public ones.
pub fn roots(
    spec: &Spec,
    wanted: &Acme,
) -> anyhow::Result<(Option<String>, Arc<rustls::RootCertStore>)> {
    let pem = match &wanted.ca_certificates {
        None => None,
        Some(file) => {
            let unreadable = |why: String| {
                Error::config(format!(
                    "{}: cannot read {} ({why}); give the path of a PEM file with the CA's certificates",
                    file.named(),
                    file.full_path(&spec.dir).display()
                ))
            };
            let bytes = file
                .read(&spec.dir)?
                .map_err(|e| unreadable(e.to_string()))?;
            let text = String::from_utf8(bytes).map_err(|_| unreadable("it is not text".into()))?;
            Some(text)
        }
    };
    let roots = acme::client::roots(pem.as_deref()).map_err(|e| {
        Error::config(format!(
            "`acme.ca_certificates`: {e:#}; give a PEM file with the CA's certificates"
        ))
    })?;
    Ok((pem, Arc::new(roots)))
}

/// The job for `spec`'s lab, whose files belong to `owner`.
pub fn job(
    spec: &Spec,
    wanted: &Acme,
    names: Vec<String>,
    ca_certificates: Option<String>,
    owner: Owner,
) -> anyhow::Result<Job> {
    Ok(Job {
        lab: spec.name.clone(),
        directory: wanted.directory.clone(),
        ca_certificates,
        names,
        challenge: wanted.challenge,
        email: wanted.email.clone(),
        account_key: acme::account::key(&wanted.directory, wanted.email.as_deref())?,
        uid: owner.uid,
        gid: owner.gid,
        replace_obtained_before: None,
        nodes: BTreeMap::new(),
        made_as: None,
    })
}

/// Refuses `tls: acme` on an engine that cannot run this executable: the renewer is
/// rjup itself.
pub async fn check_platform(engine: &Engine) -> anyhow::Result<()> {
    let engine_platform = engine.platform().await?;
    match platform_refusal(engine.name(), engine_platform, acme::image::platform()) {
        None => Ok(()),
        Some(refusal) => Err(refusal.into()),
    }
}

/// Why an engine of `engine_platform` cannot run this rjup as its renewer, if it cannot.
fn platform_refusal(
    engine: &str,
    (os, arch): (String, String),
    (own_os, own_arch): (&str, &str),
) -> Option<Error> {
    if os == own_os && arch == own_arch {
        return None;
    }
    Some(Error::config(format!(
        "`tls: acme` renews certificates with rjup itself, run on the engine, but this rjup is built for {own_os}/{own_arch} and the engine {engine} runs {os}/{arch}; run rjup on a {os}/{arch} machine (the engine's host itself, say), or use `tls: self-signed`"
    )))
}

/// The renewer's image on `engine`, built from this executable when it is not there;
/// older renewer images rjup made are removed once nothing uses them.
pub async fn ensure_image(engine: &Engine, printer: Printer) -> anyhow::Result<(String, String)> {
    let image = acme::image::this_process()?;
    if let Some(id) = engine.image_id(&image.tag).await? {
        return Ok((image.tag, id));
    }
    let context = image.context()?;
    let builder = engine.builder().await?;
    let id = engine
        .build(
            &image.tag,
            context,
            builder,
            crate::engine::BuildOptions::default(),
            &Shown::new(printer),
        )
        .await?;
    Ok((image.tag, id))
}

/// Removes the renewer images rjup made but `keep`: each is as big as rjup itself.
pub async fn remove_old_images(engine: &Engine, keep: &str) {
    let Ok(tags) = engine.tags_of("rjup/acme").await else {
        return;
    };
    for tag in tags.iter().filter(|t| *t != keep) {
        engine.remove_image(tag).await;
    }
}

/// The labs a renewer serves, by its label: lab to challenge.
pub fn served(labels: Option<&HashMap<String, String>>) -> BTreeMap<String, Challenge> {
    labels
        .and_then(|l| l.get(label::LABS))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// The renewer container wanted for `labs`, from the image `tag` (`image_id`), and its
/// config hash.
pub fn renewer(
    tag: &str,
    image_id: &str,
    labs: &BTreeMap<String, Challenge>,
) -> (ContainerCreateBody, String) {
    let mut challenges: Vec<Challenge> = labs.values().copied().collect();
    challenges.sort();
    challenges.dedup();
    let port_bindings = challenges
        .iter()
        .map(|c| {
            (
                format!("{}/tcp", c.container_port()),
                Some(vec![PortBinding {
                    host_ip: Some(String::new()),
                    host_port: Some(c.host_port().to_string()),
                }]),
            )
        })
        .collect();
    let mut mounts = vec![volume(acme::RENEWER, acme::STATE_DIR)];
    for lab in labs.keys() {
        mounts.push(volume(
            &acme::lab_volume(lab),
            &format!("{}/{lab}", acme::CERTS_DIR),
        ));
    }
    let body = ContainerCreateBody {
        image: Some(tag.to_string()),
        user: Some("0:0".to_string()),
        exposed_ports: Some(
            [Challenge::Http01, Challenge::TlsAlpn01]
                .iter()
                .map(|c| format!("{}/tcp", c.container_port()))
                .collect(),
        ),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            mounts: Some(mounts),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            // Root without capabilities but CHOWN, to give each lab's user its files; it
            // listens on unprivileged ports and needs no Docker socket.
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: Some(vec!["CHOWN".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            memory: Some(MEMORY),
            pids_limit: Some(PIDS),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(&body).expect("a container body always serialises"));
    hasher.update(image_id.as_bytes());
    let config_hash = hex::encode(hasher.finalize());
    let mut body = body;
    body.labels = Some(HashMap::from([
        (
            label::LABS.to_string(),
            serde_json::to_string(labs).expect("labs always serialise"),
        ),
        (label::CONFIG_HASH.to_string(), config_hash.clone()),
    ]));
    (body, config_hash)
}

fn volume(name: &str, target: &str) -> Mount {
    Mount {
        typ: Some(MountType::VOLUME),
        source: Some(name.to_string()),
        target: Some(target.to_string()),
        read_only: Some(false),
        ..Default::default()
    }
}

/// The lab's certificate volume, as the lab mounts it: read-only.
pub fn lab_mount(lab: &AcmeLab) -> Mount {
    Mount {
        read_only: Some(true),
        ..volume(&lab.volume(), acme::LAB_DIR)
    }
}

/// What the renewer last said about `lab`, if there is a renewer and it said anything.
pub async fn status(engine: &Engine, lab: &str) -> anyhow::Result<Option<Status>> {
    let path = format!("{}/{lab}/{}", acme::CERTS_DIR, acme::STATUS_FILE);
    let Some(bytes) = engine.download(acme::RENEWER, &path).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_of_another_platform_is_refused_naming_both_and_what_to_do() {
        let linux = || ("linux".to_string(), "amd64".to_string());
        assert!(platform_refusal("default", linux(), ("linux", "amd64")).is_none());
        let refusal = platform_refusal("ssh://lab", linux(), ("darwin", "arm64")).unwrap();
        let err = anyhow::Error::from(refusal);
        assert_eq!(crate::error::exit_code(&err), 3);
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line}");
        for says in [
            "built for darwin/arm64",
            "the engine ssh://lab runs linux/amd64",
            "run rjup on a linux/amd64 machine",
            "tls: self-signed",
        ] {
            assert!(line.contains(says), "no {says:?} in {line}");
        }
        let arm = ("linux".to_string(), "arm64".to_string());
        assert!(platform_refusal("default", arm, ("linux", "amd64")).is_some());
    }

    #[test]
    fn only_addresses_the_internet_reaches_are_public() {
        for public in ["203.0.114.1", "8.8.8.8", "2a01:4f8::1", "2600::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "10.231.0.1",
            "192.168.1.2",
            "172.16.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "192.0.2.2",
            "198.51.100.1",
            "203.0.113.9",
            "198.18.0.1",
            "240.0.0.1",
            "fd31:231::1",
            "fe80::1",
            "::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn names_default_to_the_public_addresses_and_without_one_say_what_to_do() {
        let wanted = Acme::default();
        let published: Vec<IpAddr> = vec!["10.0.0.5".parse().unwrap(), "8.8.4.4".parse().unwrap()];
        assert_eq!(names(&wanted, &published).unwrap(), ["8.8.4.4"]);
        let e = names(&wanted, &published[..1]).unwrap_err();
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        let line = e.to_string();
        assert!(
            line.contains("10.0.0.5")
                && line.contains("tls: self-signed")
                && line.contains("acme.names"),
            "{line}"
        );
        let given = Acme {
            names: vec!["10.231.0.1".into()],
            ..Acme::default()
        };
        assert_eq!(names(&given, &[]).unwrap(), ["10.231.0.1"]);
    }

    #[test]
    fn the_renewer_holds_the_ports_its_labs_need_without_privileges() {
        let labs = BTreeMap::from([
            ("a".to_string(), Challenge::Http01),
            ("b".to_string(), Challenge::Http01),
        ]);
        let (body, hash) = renewer("rjup/acme:1", "sha256:1", &labs);
        let hc = body.host_config.as_ref().unwrap();
        let ports = hc.port_bindings.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(
            ports["8080/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("80")
        );
        assert_eq!(hc.cap_add, Some(vec!["CHOWN".to_string()]));
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.binds, None, "no Docker socket, nothing of the host");
        let targets: Vec<&str> = hc
            .mounts
            .as_ref()
            .unwrap()
            .iter()
            .filter_map(|m| m.target.as_deref())
            .collect();
        assert_eq!(targets, ["/var/lib/rjup-acme", "/certs/a", "/certs/b"]);
        assert_eq!(served(body.labels.as_ref()), labs);
        let mut more = labs.clone();
        more.insert("c".into(), Challenge::TlsAlpn01);
        let (body, other) = renewer("rjup/acme:1", "sha256:1", &more);
        assert_ne!(hash, other, "a lab more is another renewer");
        assert_eq!(body.host_config.unwrap().port_bindings.unwrap().len(), 2);
        assert_ne!(
            renewer("rjup/acme:1", "sha256:2", &labs).1,
            hash,
            "a new image too"
        );
    }
}
