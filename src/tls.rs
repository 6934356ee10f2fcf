//! HTTPS for labs: a self-signed certificate kept per project (so its fingerprint stays
//! the same across restarts), or the user's own; and a client that trusts exactly the
//! certificate rjup gave the lab, for readiness probes and `rjup check`.

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::{fail, Code};

/// A certificate and key for the lab, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Tls {
    /// The DER of the first certificate in the PEM.
    pub fn cert_der(&self) -> anyhow::Result<Vec<u8>> {
        let pem = self.cert_pem.as_str();
        let start = pem
            .find("-----BEGIN CERTIFICATE-----")
            .context("the certificate file has no PEM certificate")?;
        let body_start = start + "-----BEGIN CERTIFICATE-----".len();
        let end = pem[body_start..]
            .find("-----END CERTIFICATE-----")
            .context("the PEM certificate is not terminated")?;
        let b64: String = pem[body_start..body_start + end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        base64_decode(&b64).context("the PEM certificate is not valid base64")
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

/// A new self-signed certificate valid for every address and name the lab is reached by.
pub fn self_signed(names: &[String]) -> anyhow::Result<Tls> {
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).context("making certificate parameters")?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "rjup lab");
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate().context("generating a TLS key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the lab's certificate")?;
    Ok(Tls {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
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

/// Reads the user's certificate and key, refusing what Jupyter could not serve.
pub fn from_files(cert: &std::path::Path, key: &std::path::Path) -> anyhow::Result<Tls> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read_to_string(p).map_err(|e| {
            crate::error::Error::new(
                Code::Config,
                format!(
                    "`tls.{what}`: cannot read {} ({e}); give the path of a PEM file",
                    p.display()
                ),
            )
        })
    };
    let tls = Tls {
        cert_pem: read(cert, "cert")?,
        key_pem: read(key, "key")?,
    };
    if !tls.cert_pem.contains("-----BEGIN CERTIFICATE-----") {
        return fail(
            Code::Config,
            format!("`tls.cert`: {} is not a PEM certificate", cert.display()),
        );
    }
    if !tls.key_pem.contains("PRIVATE KEY-----") {
        return fail(
            Code::Config,
            format!("`tls.key`: {} is not a PEM private key", key.display()),
        );
    }
    tls.cert_der()?;
    Ok(tls)
}

/// A client configuration that accepts exactly `cert_der` and nothing else.
pub fn pinned_client(cert_der: Vec<u8>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { cert_der, provider }))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct Pinned {
    cert_der: Vec<u8>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert_der.as_slice() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the lab presented a certificate other than the one rjup gave it".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let produced = chunk.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..1 + produced]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_what_a_standard_encoder_writes() {
        for sample in [
            &b""[..],
            b"f",
            b"fo",
            b"foo",
            b"foobar",
            &[0, 255, 128, 7, 9],
        ] {
            assert_eq!(
                base64_decode(&base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    sample
                ))
                .unwrap(),
                sample
            );
        }
    }

    #[test]
    fn a_self_signed_certificate_covers_the_names_and_has_a_stable_fingerprint() {
        let names = subject_names(&["10.0.0.5".parse().unwrap()], Some("labhost"));
        assert_eq!(
            names,
            ["10.0.0.5", "127.0.0.1", "::1", "labhost", "localhost"]
        );
        let tls = self_signed(&names).unwrap();
        assert!(tls.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls.key_pem.contains("PRIVATE KEY"));
        let fp = tls.fingerprint().unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert_eq!(tls.fingerprint().unwrap(), fp);
        assert_ne!(
            self_signed(&names).unwrap().fingerprint().unwrap(),
            fp,
            "each new key is new"
        );
    }

    #[test]
    fn user_files_must_be_pem() {
        let dir = tempfile::tempdir().unwrap();
        let tls = self_signed(&["localhost".into()]).unwrap();
        std::fs::write(dir.path().join("c.pem"), &tls.cert_pem).unwrap();
        std::fs::write(dir.path().join("k.pem"), &tls.key_pem).unwrap();
        std::fs::write(dir.path().join("junk"), "hello").unwrap();
        assert_eq!(
            from_files(&dir.path().join("c.pem"), &dir.path().join("k.pem")).unwrap(),
            tls
        );
        let e = from_files(&dir.path().join("junk"), &dir.path().join("k.pem")).unwrap_err();
        assert!(e.to_string().contains("not a PEM certificate"));
        let e = from_files(&dir.path().join("nope"), &dir.path().join("k.pem")).unwrap_err();
        assert_eq!(crate::error::exit_code(&e), Code::Config as u8);
    }
}
