//! How bytes reach the engine an [`Endpoint`] names: the local socket and plain `tcp://`
//! through bollard's own clients; `tcp://` with TLS through rustls, and `ssh://` through
//! the user's own `ssh` running `docker system dial-stdio` (as the docker CLI does, so
//! the user's config, agent, known hosts and any port work), each as a bollard custom
//! transport speaking HTTP/1.1 over connections it keeps for the next request.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bollard::errors::Error as DockerError;
use bollard::{BollardRequest, ClientVersion, Docker, API_DEFAULT_VERSION};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::http::{header, HeaderValue, Request, Response, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::task::JoinHandle;

use crate::engine::endpoint::{Endpoint, Tls};
use crate::error::Error;

/// Seconds bollard waits for a response's headers; streams (logs, builds) run longer.
const TIMEOUT: u64 = 120;

/// A client for the endpoint's engine; nothing is sent until the first request.
pub fn docker(endpoint: &Endpoint) -> Result<Docker, Error> {
    docker_speaking(endpoint, API_DEFAULT_VERSION)
}

/// What the engine's `/_ping` says: the API version it speaks, and what it is.
pub struct Ping {
    pub version: ClientVersion,
    /// Its `Server` header (`Docker/20.10.24 (linux)`, `Libpod/4.3.1 (linux)`): another
    /// engine, or another release of it, behind the same address answers differently.
    pub server: Option<String>,
}

/// The API version the engine speaks, from the `Api-Version` header of `/_ping`, as the
/// docker CLI learns it: Podman takes a quarter of a second to answer `/version`, and
/// `/_ping` none. Only for the local socket and plain `tcp://`, where one more
/// connection is free; `None` when it cannot tell, and then `/version` decides.
pub async fn ping(endpoint: &Endpoint) -> Option<Ping> {
    let (scheme, rest) = endpoint.host.split_once("://")?;
    let request = Request::head("/_ping")
        .header(header::HOST, "docker")
        .body(String::new())
        .ok()?;
    let response = match (scheme, &endpoint.tls) {
        ("unix", _) => {
            ping_over(tokio::net::UnixStream::connect(rest).await.ok()?, request).await?
        }
        ("tcp" | "http", None) => {
            let address = with_port(rest.trim_end_matches('/'), 2375);
            ping_over(tokio::net::TcpStream::connect(address).await.ok()?, request).await?
        }
        _ => return None,
    };
    let headers = response.headers();
    let version = headers.get("api-version")?.to_str().ok()?;
    let (major, minor) = version.split_once('.')?;
    let server = ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    };
    Some(Ping {
        version: if server < *API_DEFAULT_VERSION {
            server
        } else {
            *API_DEFAULT_VERSION
        },
        server: headers
            .get(header::SERVER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    })
}

async fn ping_over<I>(io: I, request: Request<String>) -> Option<Response<Incoming>>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .ok()?;
    tokio::spawn(connection);
    sender.send_request(request).await.ok()
}

/// A client for the endpoint's engine that speaks `version` of the API.
pub fn docker_speaking(endpoint: &Endpoint, version: &ClientVersion) -> Result<Docker, Error> {
    let host = endpoint.host.as_str();
    let refused = |reason: String, hint: &str| Error::EngineUnreachable {
        host: endpoint.describe(),
        reason,
        hint: hint.to_string(),
    };
    let (scheme, rest) = host.split_once("://").unwrap_or(("", host));
    let connected = match (scheme, &endpoint.tls) {
        ("unix", _) => Docker::connect_with_unix(host, TIMEOUT, version),
        ("tcp" | "http", None) => Docker::connect_with_http(host, TIMEOUT, version),
        ("tcp" | "https", Some(tls)) => {
            let config = client_config(tls).map_err(|why| refused(why, TLS_FILES_HINT))?;
            let target = with_port(rest.trim_end_matches('/'), 2376);
            return tls_docker(target, config, version).map_err(|why| refused(why, TLS_FILES_HINT));
        }
        ("ssh", _) => {
            let ssh = Arc::new(Ssh::parse(rest).map_err(|why| refused(why, SSH_URL_HINT))?);
            let pool = Arc::new(Pool::default());
            Docker::connect_with_custom_transport(
                move |request| ssh.clone().request(pool.clone(), request),
                Some("http://docker"),
                TIMEOUT,
                version,
            )
        }
        _ => {
            return Err(refused(
                format!("rjup cannot speak `{scheme}://`"),
                "use a unix://, tcp:// or ssh:// address",
            ))
        }
    };
    connected.map_err(|e| unreachable(endpoint, &e))
}

const TLS_FILES_HINT: &str = "give the engine's CA certificate and this client's certificate and key as ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH, or the context's TLS files); rjup never falls back to plain HTTP when TLS was asked for";
const SSH_URL_HINT: &str = "write it as ssh://[USER@]HOST[:PORT]";

/// The engine did not answer: why, and a fix that fits how rjup tried to reach it.
pub fn unreachable(endpoint: &Endpoint, e: &DockerError) -> Error {
    // The root cause ("Connection refused") is at the end of hyper's chain.
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !reason.contains(&text) {
            reason = format!("{reason}: {text}");
        }
        source = cause.source();
    }
    let reason = reason.replace('\n', " ");
    let other = if endpoint.name == endpoint.host {
        "or point DOCKER_HOST at a running engine"
    } else {
        "or choose another engine with --context (`docker context ls`)"
    };
    let host = endpoint.host.as_str();
    let hint = if let Some(rest) = host.strip_prefix("ssh://") {
        let ssh = Ssh::parse(rest).ok();
        let line = ssh.map_or_else(|| "ssh HOST".into(), |s| s.command_line());
        format!("check that `{line} docker version` works without a prompt (a key in ssh-agent or ~/.ssh/config, the host in known_hosts, and the docker CLI on the remote host), {other}")
    } else if host.starts_with("unix://") {
        if reason.contains("ermission denied") {
            "add your user to the `docker` group (`sudo usermod -aG docker $USER`, then log in again)".into()
        } else {
            format!("start it (`sudo systemctl start docker`), {other}")
        }
    } else if endpoint.tls.is_some() {
        format!("check that the engine listens there with TLS and that its certificate is signed by the CA given by {}, {other}", endpoint.tls.as_ref().map_or("", |t| t.asked_by.as_str()))
    } else {
        format!("check that the engine listens there and this machine may reach it, {other}")
    };
    Error::EngineUnreachable {
        host: endpoint.describe(),
        reason,
        hint,
    }
}

fn with_port(authority: &str, default: u16) -> String {
    let has_port = match authority.rsplit_once(':') {
        Some((head, port)) => !head.ends_with(':') && port.parse::<u16>().is_ok(),
        None => false,
    };
    if has_port && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:{default}")
    }
}

/// The body type of bollard's requests, which bollard names only through its request.
trait HasBody {
    type Body;
}

impl<B> HasBody for Request<B> {
    type Body = B;
}

type Sender = SendRequest<<BollardRequest as HasBody>::Body>;

/// Idle connections to the engine, reused as the docker CLI reuses its one: a fresh ssh
/// or TLS handshake per request would cost more than most requests.
#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<Sender>>,
}

impl Pool {
    /// A connection that has finished its last response and may take another.
    fn take(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // A connection still streaming (logs -f) stays until it is ready or closed.
        idle.retain(|sender| !sender.is_closed());
        let ready = idle.iter().position(SendRequest::is_ready)?;
        Some(idle.swap_remove(ready))
    }

    /// Sends the request, and keeps the connection for the next one.
    async fn send(
        &self,
        mut sender: Sender,
        request: BollardRequest,
    ) -> Result<Response<Incoming>, DockerError> {
        sender.ready().await?;
        let response = sender.send_request(origin_form(request)).await?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sender);
        Ok(response)
    }
}

/// HTTP/1.1 over `io`; `keep` lives as long as the connection (the ssh child, which is
/// killed when it drops).
async fn handshake<I, K>(io: I, keep: K) -> Result<Sender, DockerError>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    K: Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
        drop(keep);
    });
    Ok(sender)
}

/// HTTP/1.1 wants the path on the request line and the host in a header; bollard's
/// request carries an absolute URI, which only its pooled clients rewrite.
fn origin_form<B>(mut request: Request<B>) -> Request<B> {
    let authority = request.uri().authority().map(|a| a.to_string());
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    if let Ok(uri) = path.parse::<Uri>() {
        *request.uri_mut() = uri;
    }
    let host = authority.unwrap_or_else(|| "docker".into());
    if let Ok(value) = HeaderValue::from_str(&host) {
        request.headers_mut().insert(header::HOST, value);
    }
    request
}

fn tls_docker(
    target: String,
    config: Arc<rustls::ClientConfig>,
    version: &ClientVersion,
) -> Result<Docker, String> {
    let host = target
        .rsplit_once(':')
        .map_or(target.as_str(), |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let name = ServerName::try_from(host).map_err(|e| format!("{target}: {e}"))?;
    let address = format!("http://{target}");
    let pool = Arc::new(Pool::default());
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let (target, name, config) = (target.clone(), name.clone(), config.clone());
            let pool = pool.clone();
            async move {
                let sender = match pool.take() {
                    Some(sender) => sender,
                    None => {
                        let tcp = tokio::net::TcpStream::connect(&target).await?;
                        let tls = tokio_rustls::TlsConnector::from(config)
                            .connect(name, tcp)
                            .await?;
                        handshake(tls, ()).await?
                    }
                };
                pool.send(sender, request).await
            }
        },
        Some(address),
        TIMEOUT,
        version,
    )
    .map_err(|e| e.to_string())
}

/// A rustls client for the engine: its CA (or, with `SkipTLSVerify`, any certificate)
/// and this client's certificate when there is one. A file that was asked for and cannot
/// be read is an error, never a reason to go on without TLS.
fn client_config(tls: &Tls) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match (&tls.ca, tls.verify) {
        (_, false) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::tls::Verifier::accepting_any(
                provider,
            ))),
        (None, true) => {
            return Err(format!(
                "TLS was asked for by {}, but there is no ca.pem to check the engine against",
                tls.asked_by
            ))
        }
        (Some(ca), true) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in read_certs(ca, tls)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            builder.with_root_certificates(roots)
        }
    };
    let config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let key = std::fs::read(key)
                .map_err(|e| missing(key, tls, &e.to_string()))
                .and_then(|pem| {
                    PrivateKeyDer::from_pem_slice(&pem)
                        .map_err(|e| missing(key, tls, &e.to_string()))
                })?;
            builder
                .with_client_auth_cert(read_certs(cert, tls)?, key)
                .map_err(|e| format!("{}: {e}", cert.display()))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(one), None) | (None, Some(one)) => {
            return Err(missing(
                one,
                tls,
                "a certificate needs its key, and a key its certificate",
            ))
        }
    };
    Ok(Arc::new(config))
}

fn read_certs(path: &std::path::Path, tls: &Tls) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = std::fs::read(path).map_err(|e| missing(path, tls, &e.to_string()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| missing(path, tls, &e.to_string()))?;
    if certs.is_empty() {
        return Err(missing(path, tls, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn missing(path: &std::path::Path, tls: &Tls, why: &str) -> String {
    format!(
        "TLS was asked for by {}, but {} cannot be used: {why}",
        tls.asked_by,
        path.display()
    )
}

/// `ssh://[user@]host[:port]`, reached as the docker CLI reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ssh {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl Ssh {
    fn parse(rest: &str) -> Result<Ssh, String> {
        let authority = rest.split('/').next().unwrap_or_default();
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((user, hostport)) => (Some(user.to_string()), hostport),
            None => (None, authority),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') && !hostport.ends_with(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("`{port}` in ssh://{rest} is not a port"))?;
                (host, Some(port))
            }
            _ => (hostport, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.starts_with('-') {
            return Err(format!("ssh://{rest} names no host"));
        }
        Ok(Ssh {
            user,
            host: host.to_string(),
            port,
        })
    }

    fn arguments(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        args
    }

    /// The ssh command a user can run to see what rjup saw.
    fn command_line(&self) -> String {
        let mut words = vec!["ssh".to_string()];
        words.extend(self.arguments());
        words.push(self.host.clone());
        words.join(" ")
    }

    /// One request, over an idle connection or a fresh `ssh ... docker system
    /// dial-stdio`; a fresh one that fails says what ssh said.
    async fn request(
        self: Arc<Self>,
        pool: Arc<Pool>,
        request: BollardRequest,
    ) -> Result<Response<Incoming>, DockerError> {
        if let Some(sender) = pool.take() {
            return pool.send(sender, request).await;
        }
        let (sender, said) = self.connect().await?;
        match pool.send(sender, request).await {
            Ok(response) => Ok(response),
            Err(e) => Err(ssh_failure(e, said).await),
        }
    }

    /// BatchMode: ssh may not prompt, since without a terminal it would hang.
    async fn connect(&self) -> Result<(Sender, JoinHandle<String>), DockerError> {
        let mut child = tokio::process::Command::new("ssh")
            .args(self.arguments())
            .args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=30", "-T", "--"])
            .arg(&self.host)
            .args(["docker", "system", "dial-stdio"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| std::io::Error::other(format!("cannot run ssh: {e}")))?;
        let (Some(stdin), Some(stdout), Some(mut stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("ssh started without its pipes").into());
        };
        let said = tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = (&mut stderr).take(64 * 1024).read_to_end(&mut text).await;
            String::from_utf8_lossy(&text).into_owned()
        });
        let sender = handshake(tokio::io::join(stdout, stdin), child).await?;
        Ok((sender, said))
    }
}

/// ssh's own reason (its last line on stderr) beats hyper's "connection closed".
async fn ssh_failure(e: DockerError, said: JoinHandle<String>) -> DockerError {
    let text = tokio::time::timeout(Duration::from_secs(5), said)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    match text.lines().map(str::trim).rfind(|l| !l.is_empty()) {
        Some(line) if line.starts_with("ssh:") => std::io::Error::other(line).into(),
        Some(line) => std::io::Error::other(format!("ssh: {line}")).into(),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_urls_keep_their_user_and_port() {
        let ssh = Ssh::parse("me@example.org:2222").unwrap();
        assert_eq!(ssh.arguments(), ["-p", "2222", "-l", "me"]);
        assert_eq!(ssh.host, "example.org");
        assert_eq!(ssh.command_line(), "ssh -p 2222 -l me example.org");
        let plain = Ssh::parse("box").unwrap();
        assert_eq!((plain.user, plain.port), (None, None));
        assert_eq!(Ssh::parse("[::1]:22").unwrap().host, "::1");
        assert!(Ssh::parse("me@").is_err());
        assert!(Ssh::parse("-oProxyCommand=x").is_err());
    }

    #[test]
    fn tcp_addresses_get_the_tls_port_when_they_have_none() {
        assert_eq!(with_port("10.0.0.1", 2376), "10.0.0.1:2376");
        assert_eq!(with_port("10.0.0.1:3000", 2376), "10.0.0.1:3000");
        assert_eq!(with_port("[::1]", 2376), "[::1]:2376");
    }

    #[test]
    fn tls_asked_for_with_missing_files_is_refused_with_the_path() {
        let tls = Tls {
            ca: Some("/nowhere/ca.pem".into()),
            cert: None,
            key: None,
            verify: true,
            asked_by: "DOCKER_TLS_VERIFY".into(),
        };
        let why = client_config(&tls).unwrap_err();
        assert!(
            why.contains("DOCKER_TLS_VERIFY") && why.contains("/nowhere/ca.pem"),
            "{why}"
        );
    }
}
