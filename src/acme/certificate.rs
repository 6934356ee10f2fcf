//! What a certificate the CA issued says: the names it covers, who issued it, and when
//! it is valid; and when to renew it.

use std::net::IpAddr;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;

/// The first certificate of a PEM chain, as far as rjup looks at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// IP addresses and DNS names, as its subject alternative names list them.
    pub names: Vec<String>,
    /// Its issuer's distinguished name, as `CN=..., O=...`.
    pub issuer: String,
    pub not_before: i64,
    pub not_after: i64,
}

impl Described {
    /// When to renew it: once less than a third of its life is left. Let's Encrypt's
    /// 160-hour certificates for IP addresses are renewed some 53 hours before they
    /// end, which leaves room for many retries.
    pub fn renew_at(&self) -> i64 {
        self.not_after - (self.not_after - self.not_before) / 3
    }
}

/// Reads the first certificate of `chain_pem`.
pub fn describe(chain_pem: &str) -> anyhow::Result<Described> {
    let der = CertificateDer::from_pem_slice(chain_pem.as_bytes())
        .context("the chain has no PEM certificate")?;
    let (_, cert) =
        x509_parser::parse_x509_certificate(&der).context("the certificate is not valid DER")?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_string()),
                GeneralName::IPAddress(bytes) => {
                    let ip = match bytes.len() {
                        4 => <[u8; 4]>::try_from(*bytes).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*bytes).ok().map(IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    Ok(Described {
        names,
        issuer: cert.issuer().to_string(),
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

/// A name as a certificate carries it: an IP address in its canonical form (so that
/// `fd31:0231::1` and `fd31:231::1` are one name), a DNS name in lowercase.
pub fn canonical_name(name: &str) -> String {
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => name.trim_end_matches('.').to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_s_names_issuer_and_dates_are_read() {
        let mut params = rcgen::CertificateParams::new(vec![
            "10.231.0.1".to_string(),
            "fd31:231::1".to_string(),
            "lab.example.org".to_string(),
        ])
        .unwrap();
        params.not_before = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        params.not_after = time::OffsetDateTime::from_unix_timestamp(1_800_576_000).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "Test CA");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        let d = describe(&pem).unwrap();
        assert_eq!(d.names, ["10.231.0.1", "fd31:231::1", "lab.example.org"]);
        assert_eq!(d.issuer, "CN=Test CA");
        assert_eq!((d.not_before, d.not_after), (1_800_000_000, 1_800_576_000));
        // 160 hours: renewed with 53 h 20 min left.
        assert_eq!(d.not_after - d.renew_at(), 576_000 / 3);
        assert!(describe("no certificate").is_err());
    }

    #[test]
    fn names_are_compared_in_one_form() {
        assert_eq!(canonical_name("fd31:0231:0::1"), "fd31:231::1");
        assert_eq!(canonical_name("Lab.Example.ORG."), "lab.example.org");
    }
}
