//! The renewer's answers to the CA's challenges: http-01 on its port 8080 (the host's
//! 80) and tls-alpn-01 on its port 8443 (the host's 443). Each answers only what an
//! order under way put in [`Answers`]; anything else gets a 404 or no certificate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The answers to the challenges of the orders under way.
#[derive(Default)]
pub struct Answered {
    /// http-01: token to key authorization.
    http: HashMap<String, String>,
    /// tls-alpn-01: the server name the CA asks for (for an IP address, its reverse-DNS
    /// name, RFC 8738 section 6) to the challenge's certificate.
    alpn: HashMap<String, Arc<CertifiedKey>>,
}

pub type Answers = Arc<Mutex<Answered>>;

fn lock(answers: &Answers) -> std::sync::MutexGuard<'_, Answered> {
    answers.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn add_http(answers: &Answers, token: &str, key_authorization: &str) {
    lock(answers)
        .http
        .insert(token.to_string(), key_authorization.to_string());
}

/// Makes the tls-alpn-01 certificate for `identifier` (RFC 8737 section 3: self-signed,
/// naming only the identifier, with the key authorization's digest in its
/// acmeIdentifier extension) and answers with it.
pub fn add_alpn(answers: &Answers, identifier: &str, digest: &[u8]) -> anyhow::Result<()> {
    let mut params = rcgen::CertificateParams::new(vec![identifier.to_string()])
        .context("making the tls-alpn-01 certificate")?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate().context("making the tls-alpn-01 key")?;
    let cert = params
        .self_signed(&key)
        .context("signing the tls-alpn-01 certificate")?;
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let signing = rustls::crypto::ring::sign::any_supported_type(&key_der)
        .context("loading the tls-alpn-01 key")?;
    let certified = CertifiedKey::new(vec![cert.der().clone()], signing);
    lock(answers)
        .alpn
        .insert(sni_of(identifier), Arc::new(certified));
    Ok(())
}

/// Forgets every answer: the order they were for is over.
pub fn clear(answers: &Answers) {
    let mut answered = lock(answers);
    answered.http.clear();
    answered.alpn.clear();
}

/// The server name a CA's tls-alpn-01 handshake asks for: a DNS name itself, an IP
/// address's reverse-DNS name (`1.0.231.10.in-addr.arpa`, `...ip6.arpa`).
fn sni_of(identifier: &str) -> String {
    match identifier.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        Ok(IpAddr::V6(v6)) => {
            let mut nibbles: Vec<String> = Vec::with_capacity(32);
            for byte in v6.octets().iter().rev() {
                nibbles.push(format!("{:x}", byte & 0xf));
                nibbles.push(format!("{:x}", byte >> 4));
            }
            format!("{}.ip6.arpa", nibbles.join("."))
        }
        Err(_) => identifier.to_ascii_lowercase(),
    }
}

/// Answers http-01 on `listener` for ever: the key authorization of a known token,
/// 404 for anything else. A request is one GET, read for at most 5 seconds.
pub async fn http01(listener: tokio::net::TcpListener, answers: Answers) {
    loop {
        let Ok((mut socket, peer)) = listener.accept().await else {
            continue;
        };
        let answers = answers.clone();
        tokio::spawn(async move {
            let mut head = vec![0u8; 2048];
            let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut head));
            let Ok(Ok(n)) = read.await else { return };
            let text = String::from_utf8_lossy(&head[..n]);
            let path = text.split_whitespace().nth(1).unwrap_or("");
            let answer = path
                .strip_prefix("/.well-known/acme-challenge/")
                .and_then(|token| lock(&answers).http.get(token).cloned());
            let response = match &answer {
                Some(body) => {
                    println!("rjup-acme: answered the http-01 challenge to {peer}");
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                }
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}

#[derive(Debug)]
struct ByName(Answers);

impl ResolvesServerCert for ByName {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let offers_acme = hello
            .alpn()
            .is_some_and(|mut protocols| protocols.any(|p| p == b"acme-tls/1"));
        let name = hello.server_name()?.to_ascii_lowercase();
        offers_acme
            .then(|| lock(&self.0).alpn.get(&name).cloned())
            .flatten()
    }
}

impl std::fmt::Debug for Answered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} http-01, {} tls-alpn-01 answers",
            self.http.len(),
            self.alpn.len()
        )
    }
}

/// Answers tls-alpn-01 on `listener` for ever: the challenge's certificate to a
/// handshake that offers ALPN `acme-tls/1` and names a known identifier; the CA
/// closes the connection once it has seen the certificate.
pub async fn tls_alpn01(listener: tokio::net::TcpListener, answers: Answers) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = match rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
    {
        Ok(builder) => {
            let mut config = builder
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(ByName(answers)));
            config.alpn_protocols = vec![b"acme-tls/1".to_vec()];
            Arc::new(config)
        }
        Err(e) => {
            println!("rjup-acme: cannot answer tls-alpn-01: {e}");
            return;
        }
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let Ok((socket, peer)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(socket));
            if let Ok(Ok(mut tls)) = handshake.await {
                println!("rjup-acme: answered the tls-alpn-01 challenge to {peer}");
                let _ = tls.shutdown().await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_alpn_01_asks_for_an_address_by_its_reverse_dns_name() {
        assert_eq!(sni_of("10.231.0.1"), "1.0.231.10.in-addr.arpa");
        assert_eq!(
            sni_of("fd31:231::1"),
            "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.3.2.0.1.3.d.f.ip6.arpa"
        );
        assert_eq!(sni_of("Lab.Example.org"), "lab.example.org");
    }

    #[tokio::test]
    async fn http_01_answers_known_tokens_only() {
        let answers = Answers::default();
        add_http(&answers, "tok", "tok.thumb");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(http01(listener, answers.clone()));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        let hit = get("/.well-known/acme-challenge/tok").await;
        assert!(
            hit.starts_with("HTTP/1.1 200") && hit.ends_with("\r\n\r\ntok.thumb"),
            "{hit}"
        );
        assert!(get("/.well-known/acme-challenge/other")
            .await
            .starts_with("HTTP/1.1 404"));
        clear(&answers);
        assert!(get("/.well-known/acme-challenge/tok")
            .await
            .starts_with("HTTP/1.1 404"));
    }
}
