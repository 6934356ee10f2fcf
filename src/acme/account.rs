//! The ACME account's key: one per CA directory and contact address, made on this
//! machine without any network and kept in rjup's state directory (0600), as the
//! password is. Every job carries it to the renewer, which registers it with the CA;
//! the CA finds the account by its key, so there is nothing else to keep.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// Where the key for `directory` and `email` is kept under rjup's state `root`.
fn path(root: &Path, directory: &str, email: Option<&str>) -> PathBuf {
    let mut hasher = Sha256::new();
    hasher.update(directory.as_bytes());
    hasher.update(b"\n");
    hasher.update(email.unwrap_or("").as_bytes());
    let name = format!("account-{}.pem", &hex::encode(hasher.finalize())[..16]);
    root.join("acme").join(name)
}

/// The account key for `directory` and `email`, PKCS#8 PEM: the kept one, or a new one
/// (ECDSA P-256, which every ACME CA takes).
pub fn key(directory: &str, email: Option<&str>) -> anyhow::Result<String> {
    key_in(&crate::state::root()?, directory, email)
}

fn key_in(root: &Path, directory: &str, email: Option<&str>) -> anyhow::Result<String> {
    let path = path(root, directory, email);
    match std::fs::read_to_string(&path) {
        Ok(pem) if pem.contains("PRIVATE KEY") => return Ok(pem),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let dir = path.parent().expect("the key's path has a directory");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let pem = rcgen::KeyPair::generate()
        .context("generating the ACME account's key")?
        .serialize_pem();
    crate::state::write_atomically(&path, pem.as_bytes(), 0o600)?;
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn one_key_per_directory_and_contact_kept_0600() {
        let tmp = tempfile::tempdir().unwrap();
        let key = |directory: &str, email| key_in(tmp.path(), directory, email).unwrap();
        let a = key("https://ca.example/dir", None);
        assert_eq!(key("https://ca.example/dir", None), a, "kept");
        assert_ne!(key("https://ca.example/dir", Some("ada@example.org")), a);
        assert_ne!(key("https://other.example/dir", None), a);
        let file = path(tmp.path(), "https://ca.example/dir", None);
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(a.as_bytes()).unwrap();
        instant_acme::Key::from_pkcs8_der(der).expect("instant-acme takes it");
    }
}
