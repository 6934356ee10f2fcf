//! One ACME order (RFC 8555), as the renewer places it: the account from the job's key,
//! an order for the job's names, the challenges answered by [`super::serve`], and the
//! certificate for the group's kept key. Every step has a time limit: an ACME server
//! that never answers must not stop the renewals of every other lab.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use instant_acme::{
    Account, AuthorizationStatus, BodyWrapper, ChallengeType, HttpClient, Identifier, NewOrder,
    OrderStatus, RetryPolicy,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use super::serve::{self, Answers};
use super::{now, Challenge, Failure, FailureKind, Job};

/// How long one request to the CA may take.
const STEP: Duration = Duration::from_secs(30);
/// How long the CA may take to validate every name of an order.
const VALIDATION: Duration = Duration::from_secs(90);

fn failure(kind: FailureKind, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        message: message.into(),
        at: now(),
    }
}

/// The trust for the directory's HTTPS: `ca_pem` (a private CA's certificates) or, with
/// none, the public roots compiled into rjup (the renewer's image has no CA bundle).
pub fn roots(ca_pem: Option<&str>) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                roots.add(cert?)?;
            }
            anyhow::ensure!(!roots.is_empty(), "the CA certificates hold no certificate");
        }
        None => {
            let (added, _) = roots.add_parsable_certificates(
                webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned(),
            );
            anyhow::ensure!(added > 0, "no public root certificate could be read");
        }
    }
    Ok(roots)
}

/// An HTTP client for the directory on rjup's own TLS stack (rustls with ring), trusting
/// [`roots`]. instant-acme's own would install a process-wide crypto provider, which
/// rjup never does.
fn http_client(ca_pem: Option<&str>) -> anyhow::Result<Box<dyn HttpClient>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .build();
    let client: HyperClient<_, BodyWrapper<Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build(https);
    Ok(Box::new(client))
}

/// Runs one step of the order, `what`, within `limit`.
async fn step<T>(
    what: &str,
    limit: Duration,
    work: impl Future<Output = Result<T, instant_acme::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(classify(what, &e)),
        Err(_) => Err(failure(
            FailureKind::Unreachable,
            format!("{what}: no answer from the CA within {} s", limit.as_secs()),
        )),
    }
}

/// What went wrong, told by the problem document the CA sent (RFC 8555 section 6.7) or
/// by the connection's error.
fn classify(what: &str, e: &instant_acme::Error) -> Failure {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    let kind = match e {
        instant_acme::Error::Api(problem) => problem_kind(problem.r#type.as_deref()),
        _ if text.contains("invalid peer certificate") || text.contains("UnknownIssuer") => {
            FailureKind::Untrusted
        }
        // The order is still pending when the retries run out: validation never ended.
        instant_acme::Error::Timeout(_) => FailureKind::Validation,
        instant_acme::Error::Other(_) | instant_acme::Error::Hyper(_) => FailureKind::Unreachable,
        instant_acme::Error::Json(_) => FailureKind::Other,
        _ => FailureKind::Other,
    };
    failure(kind, format!("{what}: {text}"))
}

fn problem_kind(problem: Option<&str>) -> FailureKind {
    let name = problem
        .and_then(|p| p.strip_prefix("urn:ietf:params:acme:error:"))
        .unwrap_or("");
    match name {
        "rateLimited" => FailureKind::RateLimited,
        "connection" | "dns" | "incorrectResponse" | "tls" => FailureKind::Validation,
        "serverInternal" | "badNonce" | "malformed" => FailureKind::Other,
        // externalAccountRequired, rejectedIdentifier, unauthorized, caa, invalidProfile,
        // unsupportedIdentifier, userActionRequired, ...: the CA will not issue this.
        _ => FailureKind::Refused,
    }
}

fn identifier(name: &str) -> Identifier {
    match name.parse::<IpAddr>() {
        Ok(ip) => Identifier::Ip(ip),
        Err(_) => Identifier::Dns(name.to_string()),
    }
}

/// Orders a certificate for `job`'s names, for the key `key_pem`, answering the
/// challenges through `answers`; returns the chain, PEM.
pub async fn order(job: &Job, key_pem: &str, answers: &Answers) -> Result<String, Failure> {
    let result = order_inner(job, key_pem, answers).await;
    serve::clear(answers);
    result
}

async fn order_inner(job: &Job, key_pem: &str, answers: &Answers) -> Result<String, Failure> {
    let local =
        |what: &str, e: anyhow::Error| failure(FailureKind::Other, format!("{what}: {e:#}"));
    let http = http_client(job.ca_certificates.as_deref()).map_err(|e| {
        failure(
            FailureKind::Untrusted,
            format!("reading the CA certificates for the directory: {e:#}"),
        )
    })?;
    let der = PrivatePkcs8KeyDer::from_pem_slice(job.account_key.as_bytes())
        .map_err(|e| local("reading the account key", e.into()))?;
    let key = instant_acme::Key::from_pkcs8_der(der.clone_key())
        .map_err(|e| local("reading the account key", e.into()))?;
    // newAccount is idempotent for a key: this finds the account the CA already has.
    let (account, _) = step(
        &format!("registering the ACME account at {}", job.directory),
        STEP,
        Account::builder_with_http(http).create_from_key((key, der.into()), job.directory.clone()),
    )
    .await?;
    if let Some(email) = &job.email {
        let contact = format!("mailto:{email}");
        step(
            "setting the account's contact",
            STEP,
            account.update_contacts(&[contact.as_str()]),
        )
        .await?;
    }
    let identifiers: Vec<Identifier> = job.names.iter().map(|n| identifier(n)).collect();
    let mut new_order = NewOrder::new(&identifiers);
    // Let's Encrypt issues certificates for IP addresses only under its `shortlived`
    // profile; a CA that offers no profiles gets no profile field at all.
    let any_ip = identifiers.iter().any(|i| matches!(i, Identifier::Ip(_)));
    if any_ip && account.profiles().any(|p| p.name == "shortlived") {
        new_order = new_order.profile("shortlived");
    }
    let mut order = step("placing the order", STEP, account.new_order(&new_order)).await?;

    let kind = match job.challenge {
        Challenge::Http01 => ChallengeType::Http01,
        Challenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
    };
    let mut authorizations = order.authorizations();
    loop {
        let next = tokio::time::timeout(STEP, authorizations.next()).await;
        let authz = match next {
            Err(_) => {
                return Err(failure(
                    FailureKind::Unreachable,
                    "fetching the order's authorizations: no answer within 30 s",
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(classify("fetching an authorization", &e)),
            Ok(Some(Ok(authz))) => authz,
        };
        let mut authz = authz;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(failure(
                    FailureKind::Refused,
                    format!("the authorization for {} is {other:?}", authz.identifier()),
                ))
            }
        }
        let name = authz.identifier().to_string();
        let Some(mut challenge) = authz.challenge(kind.clone()) else {
            return Err(failure(
                FailureKind::Refused,
                format!(
                    "the CA offers no {} challenge for {name}; set acme.challenge to one it offers",
                    job.challenge
                ),
            ));
        };
        let key_authorization = challenge.key_authorization();
        match job.challenge {
            Challenge::Http01 => {
                serve::add_http(answers, &challenge.token, key_authorization.as_str())
            }
            Challenge::TlsAlpn01 => {
                serve::add_alpn(answers, &name, key_authorization.digest().as_ref())
                    .map_err(|e| local("answering tls-alpn-01", e))?
            }
        }
        step(
            &format!("telling the CA the challenge for {name} is ready"),
            STEP,
            challenge.set_ready(),
        )
        .await?;
    }

    let retries = RetryPolicy::new()
        .initial_delay(Duration::from_millis(250))
        .backoff(1.5)
        .timeout(VALIDATION);
    let status = step(
        &format!("waiting for the CA to validate {}", job.names.join(", ")),
        VALIDATION + STEP,
        order.poll_ready(&retries),
    )
    .await?;
    if status != OrderStatus::Ready {
        return Err(validation_failure(&mut order, job).await);
    }

    let key = rcgen::KeyPair::from_pem(key_pem).map_err(|e| local("reading the key", e.into()))?;
    let mut params = rcgen::CertificateParams::new(job.names.clone())
        .map_err(|e| local("making the certificate request", e.into()))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    let csr = params
        .serialize_request(&key)
        .map_err(|e| local("signing the certificate request", e.into()))?;
    step("finalizing the order", STEP, order.finalize_csr(csr.der())).await?;
    step(
        "downloading the certificate",
        STEP * 2,
        order.poll_certificate(&RetryPolicy::new().timeout(STEP)),
    )
    .await
}

/// Why the CA did not validate: each challenge's error, as the CA words it.
async fn validation_failure(order: &mut instant_acme::Order, job: &Job) -> Failure {
    let mut why = Vec::new();
    let mut authorizations = order.authorizations();
    while let Ok(Some(Ok(mut authz))) = tokio::time::timeout(STEP, authorizations.next()).await {
        let Ok(Ok(state)) = tokio::time::timeout(STEP, authz.refresh()).await else {
            continue;
        };
        for challenge in &state.challenges {
            if let Some(problem) = &challenge.error {
                let detail = problem.detail.as_deref().unwrap_or("no detail");
                why.push(format!("{}: {detail}", state.identifier()));
            }
        }
    }
    let port = job.challenge.host_port();
    let why = if why.is_empty() {
        "the CA gave no reason".to_string()
    } else {
        why.join("; ")
    };
    failure(
        FailureKind::Validation,
        format!(
            "the CA could not validate {} with {} on port {port}: {why}",
            job.names.join(", "),
            job.challenge
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_tell_a_refusal_from_a_rate_limit_and_a_failed_validation() {
        let kind = |p: &str| problem_kind(Some(&format!("urn:ietf:params:acme:error:{p}")));
        assert_eq!(kind("externalAccountRequired"), FailureKind::Refused);
        assert_eq!(kind("rejectedIdentifier"), FailureKind::Refused);
        assert_eq!(kind("rateLimited"), FailureKind::RateLimited);
        assert_eq!(kind("connection"), FailureKind::Validation);
        assert_eq!(kind("serverInternal"), FailureKind::Other);
        assert_eq!(problem_kind(None), FailureKind::Refused);
    }

    #[test]
    fn names_become_ip_or_dns_identifiers() {
        assert_eq!(
            identifier("10.0.0.1"),
            Identifier::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(
            identifier("lab.example.org"),
            Identifier::Dns("lab.example.org".into())
        );
    }

    #[test]
    fn the_public_roots_are_compiled_in_and_a_private_ca_replaces_them() {
        assert!(roots(None).unwrap().len() > 50);
        assert!(roots(Some("not a certificate")).is_err());
    }
}
