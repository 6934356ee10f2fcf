//! Files for the lab that are not rjup.yaml's values: those rjup's environment gives
//! from outside the project (a certificate and key, CA certificates), and the CA
//! certificates read for a build.

use std::path::Path;

use crate::config::{Config, TlsConfig};
use crate::environment::binder::{EnvFile, Environment};
use crate::environment::lockfile::Lockfile;
use crate::error::Error;
use crate::project_file::FileRef;

/// The variables that give files for the lab from outside the project, where the lab
/// cannot write (rjup.yaml may name only files inside it: [`crate::project_file`]).
pub const TLS_CERT_VAR: &str = "RJUP_TLS_CERT";
pub const TLS_KEY_VAR: &str = "RJUP_TLS_KEY";
pub const CA_CERTIFICATES_VAR: &str = "RJUP_CA_CERTIFICATES";

/// Files rjup's environment gives (`env` looks a variable up), relative to `cwd` as a
/// shell's paths are: `RJUP_TLS_CERT` with `RJUP_TLS_KEY` win over rjup.yaml's `tls`,
/// and `RJUP_CA_CERTIFICATES` (paths separated by `:`) add to `build.ca_certificates`.
pub(super) fn files_from_env(
    config: &mut Config,
    env: impl Fn(&str) -> Option<String>,
    cwd: &Path,
) -> anyhow::Result<()> {
    let given = |var: &'static str| {
        env(var)
            .filter(|v| !v.trim().is_empty())
            .map(|v| FileRef::from_env(&cwd.join(v.trim()).display().to_string(), var))
    };
    match (given(TLS_CERT_VAR), given(TLS_KEY_VAR)) {
        (Some(cert), Some(key)) => config.tls = TlsConfig::Files { cert, key },
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => {
            return Err(Error::config(format!(
                "{TLS_CERT_VAR} and {TLS_KEY_VAR} go together: set both, to the certificate and to its key, or neither"
            ))
            .into())
        }
    }
    let listed = env(CA_CERTIFICATES_VAR).unwrap_or_default();
    for path in listed.split(':').map(str::trim).filter(|p| !p.is_empty()) {
        let path = cwd.join(path).display().to_string();
        config
            .ca_certificates
            .push(FileRef::from_env(&path, CA_CERTIFICATES_VAR));
    }
    Ok(())
}

/// What build mode reads from the project besides `rjup.yaml`.
#[derive(Debug, Default)]
pub struct ProjectFiles {
    pub environment: Environment,
    pub ca_certificates: Vec<EnvFile>,
    pub lock: Option<Lockfile>,
}

pub(super) fn read_certificates(dir: &Path, files: &[FileRef]) -> anyhow::Result<Vec<EnvFile>> {
    let mut certs = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let path = &file.path;
        let contents = file.read(dir)?.map_err(|e| {
            Error::config(format!(
                "{}: cannot read {path} ({e}); give the path of a PEM certificate",
                file.named()
            ))
        })?;
        if !String::from_utf8_lossy(&contents).contains("-----BEGIN CERTIFICATE-----") {
            return Err(Error::config(format!(
                "{}: {path} is not a PEM certificate; convert it with `openssl x509 -outform pem`",
                file.named()
            ))
            .into());
        }
        let stem = Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem: String = stem
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        // update-ca-certificates only picks up files named *.crt.
        certs.push(EnvFile {
            shown: format!("{i}-{stem}.crt"),
            contents,
        });
    }
    Ok(certs)
}
