//! HTTPS for labs: a self-signed certificate kept per project (so its fingerprint stays
//! the same across restarts), or the user's own; and a client that trusts exactly the
//! certificate rjup gave the lab, or, for a certificate from an ACME CA that changes at
//! every renewal, the CA's roots and the lab's names, for readiness probes and `rjup
//! check`.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::project_file::FileRef;

/// A certificate and key for the lab, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Tls {
    /// The DER of the first certificate in the PEM.
    pub fn cert_der(&self) -> anyhow::Result<Vec<u8>> {
        match CertificateDer::from_pem_slice(self.cert_pem.as_bytes()) {
            Ok(der) => Ok(der.to_vec()),
            Err(pem::Error::NoItemsFound) => {
                anyhow::bail!("the certificate file has no PEM certificate")
            }
            Err(pem::Error::MissingSectionEnd { .. }) => {
                anyhow::bail!("the PEM certificate is not terminated")
            }
            Err(e @ pem::Error::Base64Decode(_)) => {
                Err(e).context("the PEM certificate is not valid base64")
            }
            Err(e) => Err(e).context("the PEM certificate is not valid"),
        }
    }

    /// SHA-256 of the certificate, as browsers show it: `AB:CD:...`.
    pub fn fingerprint(&self) -> anyhow::Result<String> {
        let digest = Sha256::digest(self.cert_der()?);
        Ok(digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"))
    }
}

/// How long a self-signed certificate is valid: the most macOS and iOS accept for a
/// TLS server certificate, trusted by hand or not. A certificate valid for centuries
/// is one whose key may leak for centuries; `up` renews it well before it ends.
pub const VALID_DAYS: i64 = 825;
/// `up` makes a new certificate once fewer days than this remain on the kept one.
pub const RENEW_BEFORE_DAYS: i64 = 30;
const DAY: i64 = 86_400;

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The day `seconds` since the epoch fall on, as `2028-03-05`.
pub fn day_of(seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map_or_else(|_| seconds.to_string(), |t| t.date().to_string())
}

/// A new self-signed certificate, with a new key, valid for every address and name the
/// lab is reached by, from a day before `now` (clocks differ) for [`VALID_DAYS`]; and
/// when it ends, in seconds since the epoch.
pub fn self_signed(names: &[String], now: i64) -> anyhow::Result<(Tls, i64)> {
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).context("making certificate parameters")?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "rjup lab");
    params.distinguished_name = dn;
    let valid_until = now + VALID_DAYS * DAY;
    let at = |seconds: i64| {
        time::OffsetDateTime::from_unix_timestamp(seconds).context("dating the lab's certificate")
    };
    params.not_before = at(now - DAY)?;
    params.not_after = at(valid_until)?;
    let key = rcgen::KeyPair::generate().context("generating a TLS key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the lab's certificate")?;
    let tls = Tls {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    Ok((tls, valid_until))
}

/// Why `up` makes a new self-signed certificate rather than serving the kept one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// There is none yet (or an account that could run code was cut off).
    First,
    /// The lab is reached at a name the kept one does not cover.
    NewName(String),
    /// The kept one ends in this many days, fewer than [`RENEW_BEFORE_DAYS`]; or ended
    /// that many days ago, when negative.
    Ending { days_left: i64 },
    /// Made by an rjup whose certificates were valid until 4096.
    NoKnownEnd,
}

impl Renewal {
    /// What to tell the user, about a new certificate valid until `valid_until`.
    pub fn describe(&self, names: &[String], valid_until: i64) -> String {
        let until = day_of(valid_until);
        let names = names.join(", ");
        match self {
            Renewal::First => {
                format!("Made a self-signed TLS certificate for {names}, valid until {until}")
            }
            Renewal::NewName(name) => format!(
                "Made a new self-signed TLS certificate, with a new key, for {names} (the kept one did not name {name}), valid until {until}"
            ),
            Renewal::Ending { days_left } if *days_left >= 0 => format!(
                "Renewed the lab's self-signed TLS certificate, with a new key: the kept one ends in {days_left} days; the new one is valid until {until}"
            ),
            Renewal::Ending { days_left } => format!(
                "Renewed the lab's self-signed TLS certificate, with a new key: the kept one ended {} days ago; the new one is valid until {until}",
                -days_left
            ),
            Renewal::NoKnownEnd => format!(
                "Renewed the lab's self-signed TLS certificate, with a new key: the kept one was made valid until the year 4096; the new one is valid until {until}"
            ),
        }
    }
}

/// Whether the kept self-signed certificate (if `kept`, naming `kept_names`, ending at
/// `valid_until`) must give way to a new one for a lab reached at `names`, at `now`.
pub fn renewal(
    kept: bool,
    kept_names: &[String],
    valid_until: Option<i64>,
    names: &[String],
    now: i64,
) -> Option<Renewal> {
    if !kept {
        return Some(Renewal::First);
    }
    // A lab checked by its URL asks for no name: it serves the kept one, whatever its dates.
    if names.is_empty() {
        return None;
    }
    if let Some(missing) = names.iter().find(|n| !kept_names.contains(n)) {
        return Some(Renewal::NewName(missing.clone()));
    }
    let Some(valid_until) = valid_until else {
        return Some(Renewal::NoKnownEnd);
    };
    let left = valid_until - now;
    (left < RENEW_BEFORE_DAYS * DAY).then(|| Renewal::Ending {
        days_left: left.div_euclid(DAY),
    })
}

/// The names a self-signed certificate must cover.
pub fn subject_names(addresses: &[IpAddr], hostname: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
    for fixed in ["127.0.0.1", "::1", "localhost"] {
        names.push(fixed.to_string());
    }
    names.extend(hostname.map(str::to_string));
    names.sort();
    names.dedup();
    names
}

/// Reads the user's certificate and key (from inside `project` when rjup.yaml names
/// them, see [`FileRef::read`]), refusing what Jupyter could not serve.
pub fn from_files(project: &Path, cert: &FileRef, key: &FileRef) -> anyhow::Result<Tls> {
    let read = |file: &FileRef| -> anyhow::Result<String> {
        let unreadable = |why: String| {
            Error::config(format!(
                "{}: cannot read {} ({why}); give the path of a PEM file",
                file.named(),
                file.full_path(project).display()
            ))
        };
        let bytes = file.read(project)?.map_err(|e| unreadable(e.to_string()))?;
        String::from_utf8(bytes).map_err(|_| unreadable("it is not text".into()).into())
    };
    let tls = Tls {
        cert_pem: read(cert)?,
        key_pem: read(key)?,
    };
    if !tls.cert_pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::config(format!(
            "{}: {} is not a PEM certificate",
            cert.named(),
            cert.full_path(project).display()
        ))
        .into());
    }
    if PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).is_err() {
        return Err(Error::config(format!(
            "{}: {} is not a PEM private key",
            key.named(),
            key.full_path(project).display()
        ))
        .into());
    }
    tls.cert_der()?;
    Ok(tls)
}

/// A client configuration that accepts exactly `cert_der` and nothing else.
#[cfg(test)]
pub fn pinned_client(cert_der: Vec<u8>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    client(Trust::Exactly(cert_der))
}

/// What rjup trusts when it reaches a lab over HTTPS.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Exactly this certificate (DER): the one rjup made or was given.
    Exactly(Vec<u8>),
    /// Any certificate that chains to `roots` and names one of `names`: a CA's, which
    /// a renewal replaces while the lab runs. Checked against the names whatever
    /// address rjup connects to (its probe goes to loopback).
    Issued {
        roots: Arc<rustls::RootCertStore>,
        names: Vec<String>,
    },
}

impl Trust {
    /// The lab's own certificate, pinned.
    pub fn pinned(tls: &Tls) -> anyhow::Result<Trust> {
        Ok(Trust::Exactly(tls.cert_der()?))
    }
}

/// A client configuration that trusts what `trust` says, and nothing else.
pub fn client(trust: Trust) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let accept = match trust {
        Trust::Exactly(der) => Accept::Exactly(der),
        Trust::Issued { roots, names } => {
            let chain = rustls::client::WebPkiServerVerifier::builder_with_provider(
                roots,
                provider.clone(),
            )
            .build()
            .context("setting up TLS with the CA's roots")?;
            let names = names
                .iter()
                .filter_map(|n| ServerName::try_from(n.as_str()).ok())
                .map(|n| n.to_owned())
                .collect();
            Accept::Issued { chain, names }
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier { accept, provider }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Whether `chain_pem` (a server certificate and its intermediates) chains to `roots`
/// and names `name`, now: what a browser that trusts those roots would say.
pub fn verify_chain(
    chain_pem: &str,
    roots: Arc<rustls::RootCertStore>,
    name: &str,
) -> anyhow::Result<()> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .context("reading the certificate chain")?;
    let (end_entity, intermediates) = certs
        .split_first()
        .context("the chain has no certificate")?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
        .build()
        .context("setting up TLS with the CA's roots")?;
    let name = ServerName::try_from(name)
        .map_err(|_| anyhow::anyhow!("{name} is not a name a certificate can carry"))?;
    verifier
        .verify_server_cert(end_entity, intermediates, &name, &[], UnixTime::now())
        .map(drop)
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Which server certificate a [`Verifier`] takes; the handshake's signatures are
/// checked either way, so the connection is encrypted to whoever holds the key.
#[derive(Debug)]
enum Accept {
    /// The lab's own certificate, which rjup made or was given.
    Exactly(Vec<u8>),
    /// A chain the verifier takes, for one of the names.
    Issued {
        chain: Arc<rustls::client::WebPkiServerVerifier>,
        names: Vec<ServerName<'static>>,
    },
    /// Any: the docker CLI's `SkipTLSVerify` and `DOCKER_TLS` without verification.
    Any,
}

#[derive(Debug)]
pub struct Verifier {
    accept: Accept,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Verifier {
    pub fn accepting_any(provider: Arc<rustls::crypto::CryptoProvider>) -> Verifier {
        Verifier {
            accept: Accept::Any,
            provider,
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.accept {
            Accept::Any => Ok(ServerCertVerified::assertion()),
            Accept::Issued { chain, names } => {
                let mut last = rustls::Error::General(
                    "the lab's certificate names none of its addresses".into(),
                );
                for name in names {
                    match chain.verify_server_cert(
                        end_entity,
                        intermediates,
                        name,
                        ocsp_response,
                        now,
                    ) {
                        Ok(verified) => return Ok(verified),
                        Err(e) => last = e,
                    }
                }
                Err(last)
            }
            Accept::Exactly(der) if end_entity.as_ref() == der.as_slice() => {
                Ok(ServerCertVerified::assertion())
            }
            Accept::Exactly(_) => Err(rustls::Error::General(
                "the lab presented a certificate other than the one rjup gave it".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_der_decodes_the_first_pem_certificate() {
        let tls = |cert_pem: &str| Tls {
            cert_pem: cert_pem.to_string(),
            key_pem: String::new(),
        };
        let pem = "-----BEGIN CERTIFICATE-----\nAP+ABwk=\n-----END CERTIFICATE-----\n";
        let second = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_eq!(
            tls(&format!("{pem}{second}")).cert_der().unwrap(),
            [0, 255, 128, 7, 9]
        );
        let why = |cert_pem: &str| tls(cert_pem).cert_der().unwrap_err().to_string();
        assert!(why("hello").contains("has no PEM certificate"));
        assert!(why("-----BEGIN CERTIFICATE-----\nAAAA\n").contains("not terminated"));
        assert!(why(&pem.replace("AP+ABwk=", "A!")).contains("not valid base64"));
    }

    #[test]
    fn a_self_signed_certificate_covers_the_names_and_has_a_stable_fingerprint() {
        let names = subject_names(&["10.0.0.5".parse().unwrap()], Some("labhost"));
        assert_eq!(
            names,
            ["10.0.0.5", "127.0.0.1", "::1", "labhost", "localhost"]
        );
        let (tls, _) = self_signed(&names, now()).unwrap();
        assert!(tls.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls.key_pem.contains("PRIVATE KEY"));
        let fp = tls.fingerprint().unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert_eq!(tls.fingerprint().unwrap(), fp);
        assert_ne!(
            self_signed(&names, now()).unwrap().0.fingerprint().unwrap(),
            fp,
            "each new key is new"
        );
    }

    #[test]
    fn a_self_signed_certificate_is_valid_for_825_days_from_yesterday() {
        let now = 1_800_000_000;
        let (tls, valid_until) = self_signed(&["localhost".into()], now).unwrap();
        assert_eq!(valid_until, now + 825 * DAY);
        // The two dates, as the DER holds them (UTCTime until 2050), each the only
        // such string in a certificate rjup makes.
        let der = tls.cert_der().unwrap();
        let text = String::from_utf8_lossy(&der);
        let expected = |t: i64| {
            let d = time::OffsetDateTime::from_unix_timestamp(t).unwrap();
            format!(
                "{:02}{:02}{:02}{:02}{:02}{:02}Z",
                d.year() % 100,
                u8::from(d.month()),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            )
        };
        assert!(text.contains(&expected(now - DAY)), "not before a day ago");
        assert!(text.contains(&expected(now + 825 * DAY)), "825 days on");
    }

    #[test]
    fn the_kept_certificate_is_renewed_a_month_before_it_ends_or_when_it_lacks_a_name() {
        let now = 1_800_000_000;
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let kept = names(&["10.0.0.1", "localhost"]);
        let until = Some(now + 400 * DAY);
        assert_eq!(renewal(false, &[], None, &kept, now), Some(Renewal::First));
        assert_eq!(renewal(true, &kept, until, &kept, now), None);
        assert_eq!(
            renewal(true, &kept, until, &names(&["10.0.0.1"]), now),
            None
        );
        assert_eq!(
            renewal(true, &kept, until, &names(&["10.0.0.2"]), now),
            Some(Renewal::NewName("10.0.0.2".into()))
        );
        assert_eq!(
            renewal(true, &kept, None, &kept, now),
            Some(Renewal::NoKnownEnd),
            "made by an rjup whose certificates ran to 4096"
        );
        let ends_in = |days: i64| renewal(true, &kept, Some(now + days * DAY), &kept, now);
        assert_eq!(ends_in(31), None);
        assert_eq!(ends_in(30), None);
        assert_eq!(ends_in(29), Some(Renewal::Ending { days_left: 29 }));
        assert_eq!(ends_in(0), Some(Renewal::Ending { days_left: 0 }));
        assert_eq!(ends_in(-3), Some(Renewal::Ending { days_left: -3 }));
        assert_eq!(
            renewal(true, &kept, Some(now - DAY), &[], now),
            None,
            "`rjup check --url` trusts what the lab serves"
        );
        let said = Renewal::Ending { days_left: 29 }.describe(&kept, now + 825 * DAY);
        assert!(
            said.contains("ends in 29 days") && said.contains("new key"),
            "{said}"
        );
    }

    #[test]
    fn user_files_must_be_pem() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().canonicalize().unwrap();
        let (tls, _) = self_signed(&["localhost".into()], now()).unwrap();
        std::fs::write(project.join("c.pem"), &tls.cert_pem).unwrap();
        std::fs::write(project.join("k.pem"), &tls.key_pem).unwrap();
        std::fs::write(project.join("junk"), "hello").unwrap();
        let cert = |path: &str| FileRef::in_config(path, "tls.cert", "rjup.yaml:2:9".into());
        let key_file = |path: &str| FileRef::in_config(path, "tls.key", "rjup.yaml:3:8".into());
        assert_eq!(
            from_files(&project, &cert("c.pem"), &key_file("k.pem")).unwrap(),
            tls
        );
        let e = from_files(&project, &cert("junk"), &key_file("k.pem")).unwrap_err();
        assert!(
            e.to_string().starts_with("rjup.yaml:2:9: `tls.cert`: ")
                && e.to_string().contains("not a PEM certificate"),
            "{e}"
        );
        let e = from_files(&project, &cert("c.pem"), &key_file("junk")).unwrap_err();
        assert!(e.to_string().contains("not a PEM private key"));
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        let e = from_files(&project, &cert("nope"), &key_file("k.pem")).unwrap_err();
        assert_eq!(
            crate::error::exit_code(&e),
            crate::error::Code::Config as u8
        );
        assert!(e.to_string().contains("cannot read"), "{e}");
        let from_env = FileRef::from_env(
            &project.join("c.pem").display().to_string(),
            "RJUP_TLS_CERT",
        );
        assert_eq!(
            from_files(&project, &from_env, &key_file("k.pem")).unwrap(),
            tls
        );
    }

    #[test]
    fn a_ca_s_certificate_is_trusted_by_its_roots_for_its_names_only() {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "test root");
        ca.distinguished_name = dn;
        let issuer = rcgen::Issuer::new(ca.clone(), &ca_key);
        let root = ca.self_signed(&ca_key).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["10.231.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root.der().clone()).unwrap();
        let roots = Arc::new(roots);
        verify_chain(&leaf.pem(), roots.clone(), "10.231.0.1").unwrap();
        assert!(verify_chain(&leaf.pem(), roots.clone(), "10.231.0.2").is_err());
        let (other, _) = self_signed(&["10.231.0.1".into()], now()).unwrap();
        let mut others = rustls::RootCertStore::empty();
        others
            .add(CertificateDer::from(other.cert_der().unwrap()))
            .unwrap();
        assert!(verify_chain(&leaf.pem(), Arc::new(others), "10.231.0.1").is_err());
        assert!(client(Trust::Issued {
            roots,
            names: vec!["10.231.0.1".into()]
        })
        .is_ok());
    }
}
