//! How rjup talks to a lab from outside, as a browser does: HTTP with a cookie jar
//! (reqwest), and a kernel's channels over a WebSocket (tokio-tungstenite). Both go over
//! TLS that trusts exactly the lab's certificate when the lab serves HTTPS, and both are
//! bounded in size and time, so a broken or hostile server gives an error rather than a
//! hang, an exhausted memory or a panic.
//!
//! [`smoke`] is `rjup check`'s test of a lab, made of these requests.

pub mod smoke;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderMap;
use reqwest::{Method, Url};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

/// The most rjup reads of one HTTP body or one WebSocket message. Notebooks carry their
/// outputs (plots, images), so real ones reach tens of MiB; past this the server is
/// broken or hostile, and reading on would only exhaust memory.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// How long a WebSocket close handshake may take before rjup just drops the connection:
/// closing is a courtesy, and a server that ignores it must not stall the check.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The header on a lab's 403 for a client address its `allow:` does not list: the lab
/// answers, but not to this address.
pub const REFUSED_HEADER: &str = "X-Rjup-Refused";

/// The header that marks a request as rjup's own (the readiness probe of `up`, `rjup
/// check`): its value is [`probe_key`] of the lab's cookie secret. The engine's gateway,
/// from which its host, its other containers and every client its userland proxy
/// forwards all arrive, is admitted only with it, and throttled apart.
pub const PROBE_HEADER: &str = "X-Rjup-Probe";

/// The key rjup's own requests carry in [`PROBE_HEADER`]: lowercase hex SHA-256 of
/// `rjup-probe\n` and the lab's cookie secret, as the lab computes it from the file it
/// reads the secret from. It changes with the secret, and tells nothing of it.
pub fn probe_key(cookie_secret: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"rjup-probe\n");
    hasher.update(cookie_secret.as_bytes());
    hex::encode(hasher.finalize())
}

/// Where a lab answers, whether over TLS (trusting exactly the lab's certificate), and
/// the key that marks rjup's requests to it ([`PROBE_HEADER`]), when rjup has one.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub probe_key: Option<String>,
}

impl Target {
    #[cfg(test)]
    pub fn plain(addr: SocketAddr) -> Self {
        Target {
            addr,
            tls: None,
            probe_key: None,
        }
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `path` (with any query) on the lab. The host is the IP itself, so TLS verifies
    /// against an IP server name, the one the pinned verifier expects.
    pub fn url(&self, path: &str) -> Result<Url, Error> {
        let url = format!("{self}{path}");
        Url::parse(&url).map_err(|e| Error::new(&url, Cause::Setup(e.to_string())))
    }

    /// A TCP connection, wrapped in TLS if the lab serves HTTPS.
    async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let Some(config) = &self.tls else {
            return Ok(Box::new(tcp));
        };
        let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
        let stream = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await?;
        Ok(Box::new(stream))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.addr)
    }
}

/// A connection, plain or TLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What went wrong talking to the lab, and during which request.
#[derive(Debug)]
pub struct Error {
    /// `GET http://…/login`, or the WebSocket URL.
    request: String,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Setup(String),
    Http(reqwest::Error),
    TimedOut(Duration),
    TooLarge { announced: Option<u64> },
    WebSocket(tungstenite::Error),
}

impl Error {
    fn new(request: &str, cause: Cause) -> Self {
        Error {
            request: request.to_string(),
            cause,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.request)?;
        let mib = MAX_BODY / (1024 * 1024);
        match &self.cause {
            Cause::Setup(why) => f.write_str(why),
            Cause::Http(e) if e.is_connect() || e.is_body() => f.write_str(&innermost_causes(e)),
            // hyper refused the status line or headers (say, a Content-Length past what
            // any body can be), or the connection ended before them.
            Cause::Http(e) => write!(f, "no valid HTTP answer: {}", innermost_causes(e)),
            Cause::TimedOut(after) => write!(f, "no complete answer within {} s", after.as_secs()),
            Cause::TooLarge { announced: Some(n) } => write!(
                f,
                "the lab announced a {n}-byte answer, more than the {mib} MiB rjup reads"
            ),
            Cause::TooLarge { announced: None } => write!(
                f,
                "the lab's answer grew past {mib} MiB, more than rjup reads; it stopped there"
            ),
            Cause::WebSocket(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// reqwest's own message repeats the URL ("error sending request for url (…)"), which the
/// request name already says; what helps is the chain under it ("Connection refused").
fn innermost_causes(e: &reqwest::Error) -> String {
    let mut causes: Vec<String> = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        let text = cause.to_string();
        // hyper-util's "client error (Connect)" names its own internals, not the problem.
        let noise = text.starts_with("client error (");
        if !noise && !causes.last().is_some_and(|last| last.contains(&text)) {
            causes.push(text);
        }
        next = cause.source();
    }
    if causes.is_empty() {
        return e.to_string();
    }
    causes.join(": ")
}

/// One HTTP answer, its body read whole (up to [`MAX_BODY`]).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// A 403 for this client's address ([`REFUSED_HEADER`]).
    pub refused: bool,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A browser session with one lab: its cookies, and every request bounded by `timeout`.
pub struct Http {
    client: reqwest::Client,
    jar: Arc<Jar>,
    target: Target,
    timeout: Duration,
}

impl Http {
    pub fn new(target: Target, timeout: Duration) -> Result<Http, Error> {
        let jar = Arc::new(Jar::default());
        let setup = |why: String| Error::new(&target.to_string(), Cause::Setup(why));
        let mut headers = HeaderMap::new();
        if let Some(key) = &target.probe_key {
            let value = key
                .parse()
                .map_err(|_| setup("the probe key is not a header value".into()))?;
            headers.insert(PROBE_HEADER, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            // reqwest is built with `rustls-no-provider`: unless it is handed a finished
            // rustls config, it looks for a process-wide crypto provider and panics when
            // there is none. Handing it one always (pinned for HTTPS labs, an inert one for
            // plain HTTP) keeps the choice of ring here, with no global state to install.
            .tls_backend_preconfigured(tls_config(&target)?)
            .cookie_provider(jar.clone())
            // Login answers 302; rjup must see that, not the page it points to.
            .redirect(reqwest::redirect::Policy::none())
            // The lab is on this host or the LAN, addressed by IP, as the old client
            // reached it: an HTTP(S)_PROXY from the environment must not reroute it.
            .no_proxy()
            .user_agent("rjup")
            .build()
            .map_err(|e| setup(innermost_causes(&e)))?;
        Ok(Http {
            client,
            jar,
            target,
            timeout,
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A request on this session, with its timeout; send it with [`Http::send`].
    pub fn request(&self, method: Method, url: Url) -> reqwest::RequestBuilder {
        self.client.request(method, url).timeout(self.timeout)
    }

    /// Sends `request` and reads its whole answer, refusing bodies past [`MAX_BODY`].
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Response, Error> {
        let request = request
            .build()
            .map_err(|e| Error::new("a request", Cause::Setup(innermost_causes(&e))))?;
        let name = format!("{} {}", request.method(), request.url());
        let sent = request
            .body()
            .and_then(|b| b.as_bytes())
            .map_or(0, <[u8]>::len);
        let started = Instant::now();
        let failed = |e: reqwest::Error| {
            let cause = if e.is_timeout() {
                Cause::TimedOut(self.timeout)
            } else {
                Cause::Http(e)
            };
            Error::new(&name, cause)
        };
        let response = self.client.execute(request).await.map_err(failed)?;
        let status = response.status().as_u16();
        let refused = is_refusal(&response);
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_bounded(response).await.map_err(|e| match e {
            Bounded::Failed(e) => failed(e),
            Bounded::TooLarge(announced) => Error::new(&name, Cause::TooLarge { announced }),
        })?;
        tracing::debug!("lab: {name}: {status} ({:.1} ms)", millis(started));
        tracing::trace!("lab: {name}: sent {sent} bytes, read {} bytes", body.len());
        Ok(Response {
            status,
            refused,
            location,
            body,
        })
    }

    /// The value of a cookie the lab set, unquoted as the server will read it back.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.cookie_header()?;
        let header = header.to_str().ok()?;
        header.split(';').find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then(|| v.trim_matches('"').to_string())
        })
    }

    fn cookie_header(&self) -> Option<HeaderValue> {
        let url = self.target.url("/").ok()?;
        let value = self.jar.cookies(&url)?;
        // reqwest and tungstenite may pin different versions of the `http` crate.
        HeaderValue::from_bytes(value.as_bytes()).ok()
    }

    /// Opens a WebSocket at `path`, logged in with this session's cookies.
    pub async fn websocket(&self, path: &str) -> Result<WebSocket, Error> {
        let scheme = if self.target.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        let url = format!("{scheme}://{}{path}", self.target.addr);
        let open = async {
            let mut request = url.as_str().into_client_request()?;
            if let Some(cookies) = self.cookie_header() {
                request.headers_mut().insert("Cookie", cookies);
            }
            if let Some(key) = self.target.probe_key.as_deref() {
                if let Ok(value) = HeaderValue::from_str(key) {
                    request.headers_mut().insert(PROBE_HEADER, value);
                }
            }
            let stream = self.target.connect().await?;
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_BODY))
                .max_frame_size(Some(MAX_BODY));
            let (stream, _) =
                tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
            Ok::<_, tungstenite::Error>(stream)
        };
        let started = Instant::now();
        let opened = tokio::time::timeout(self.timeout, open).await;
        tracing::debug!(
            "lab: WebSocket {url}: {} ({:.1} ms)",
            if matches!(opened, Ok(Ok(_))) {
                "open"
            } else {
                "failed"
            },
            millis(started)
        );
        match opened {
            Ok(Ok(stream)) => Ok(WebSocket { stream, url }),
            Ok(Err(e)) => Err(Error::new(&url, Cause::WebSocket(e))),
            Err(_) => Err(Error::new(&url, Cause::TimedOut(self.timeout))),
        }
    }
}

fn tls_config(target: &Target) -> Result<rustls::ClientConfig, Error> {
    if let Some(config) = &target.tls {
        return Ok(config.as_ref().clone());
    }
    // Never used (plain labs get http:// URLs), but reqwest wants some config.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(&target.to_string(), Cause::Setup(e.to_string())))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    Ok(config)
}

enum Bounded {
    Failed(reqwest::Error),
    /// Past [`MAX_BODY`], with the length the server announced if it did.
    TooLarge(Option<u64>),
}

/// The body, chunk by chunk: neither a Content-Length nor a stream that never ends can
/// make rjup hold more than [`MAX_BODY`].
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, Bounded> {
    if let Some(announced) = response.content_length() {
        if announced > MAX_BODY as u64 {
            return Err(Bounded::TooLarge(Some(announced)));
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Bounded::Failed)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Bounded::TooLarge(None));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn is_refusal(response: &reqwest::Response) -> bool {
    response.status() == reqwest::StatusCode::FORBIDDEN
        && response.headers().contains_key(REFUSED_HEADER)
}

/// How a lab answered a request, without its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    /// A 403 for this client's address ([`REFUSED_HEADER`]).
    pub refused: bool,
}

/// The status of `GET path`, or an error if nothing answered in time.
pub async fn get_status(target: &Target, path: &str, timeout: Duration) -> std::io::Result<Status> {
    let http = Http::new(target.clone(), timeout).map_err(std::io::Error::other)?;
    let url = target.url(path).map_err(std::io::Error::other)?;
    // Only the status matters: the body is left unread, and dropped with the connection.
    let request = http
        .request(Method::GET, url)
        .build()
        .map_err(std::io::Error::other)?;
    let started = Instant::now();
    let answer = http.client.execute(request).await;
    // Waiting for a lab asks many times a second: each try that found nothing is -vv's.
    match &answer {
        Ok(r) => tracing::debug!(
            "lab: GET {target}{path}: {} ({:.1} ms)",
            r.status().as_u16(),
            millis(started)
        ),
        Err(e) => tracing::trace!(
            "lab: GET {target}{path}: {} ({:.1} ms)",
            innermost_causes(e),
            millis(started)
        ),
    }
    match answer {
        Ok(response) => Ok(Status {
            code: response.status().as_u16(),
            refused: is_refusal(&response),
        }),
        Err(e) if e.is_timeout() => Err(std::io::ErrorKind::TimedOut.into()),
        Err(e) => Err(std::io::Error::other(e)),
    }
}

fn millis(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// A kernel's channels: text messages of JSON each way.
pub struct WebSocket {
    stream: WebSocketStream<Box<dyn Io>>,
    url: String,
}

impl WebSocket {
    pub async fn send_text(&mut self, text: String) -> Result<(), Error> {
        self.stream
            .send(Message::text(text))
            .await
            .map_err(|e| Error::new(&self.url, Cause::WebSocket(e)))
    }

    /// The next whole message as text, or `None` once the server has closed. Pings are
    /// answered by tungstenite as it reads.
    pub async fn recv(&mut self) -> Result<Option<String>, Error> {
        loop {
            let message = match self.stream.next().await {
                None => return Ok(None),
                Some(Ok(message)) => message,
                Some(Err(
                    tungstenite::Error::ConnectionClosed
                    | tungstenite::Error::AlreadyClosed
                    | tungstenite::Error::Protocol(
                        tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                    ),
                )) => return Ok(None),
                Some(Err(e)) => return Err(Error::new(&self.url, Cause::WebSocket(e))),
            };
            match message {
                Message::Text(text) => return Ok(Some(text.as_str().to_string())),
                Message::Binary(bytes) => {
                    return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
                }
                Message::Close(_) => return Ok(None),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// Closes cleanly if the server plays along, and gives up quietly if not.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
            if self.stream.close(None).await.is_ok() {
                while let Some(Ok(_)) = self.stream.next().await {}
            }
        })
        .await;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    pub(crate) async fn listen() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        (listener, addr)
    }

    /// One request, head and body, as text with the head's names lowercased.
    pub(crate) async fn read_request<S: AsyncRead + Unpin>(stream: &mut S) -> String {
        let mut reader = BufReader::new(stream);
        let mut request = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return request;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
            request.push_str(if request.is_empty() { &line } else { &lower });
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body).await;
        request + &String::from_utf8_lossy(&body)
    }

    /// Answers every request with `reply(request)`, one connection each, for the test's life.
    pub(crate) async fn serve(reply: impl Fn(&str) -> Vec<u8> + Send + 'static) -> SocketAddr {
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let request = read_request(&mut stream).await;
                let _ = stream.write_all(&reply(&request)).await;
                let _ = stream.shutdown().await;
            }
        });
        addr
    }

    pub(crate) fn reply(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
        let mut text = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
        for header in headers {
            text.push_str(&format!("{header}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        text.into_bytes()
    }

    fn http(addr: SocketAddr, timeout: Duration) -> Http {
        Http::new(Target::plain(addr), timeout).unwrap()
    }

    async fn get(http: &Http, path: &str) -> Result<Response, Error> {
        let url = http.target().url(path).unwrap();
        http.send(http.request(Method::GET, url)).await
    }

    #[tokio::test]
    async fn status_location_body_and_cookies_round_trip() {
        let addr = serve(|request| {
            if request.starts_with("GET /login ") {
                reply(
                    "302 Found",
                    &["Location: /lab", "Set-Cookie: _xsrf=\"2|ab\"; Path=/"],
                    "ok",
                )
            } else {
                reply("200 OK", &[], request)
            }
        })
        .await;
        let http = http(addr, Duration::from_secs(5));
        let r = get(&http, "/login").await.unwrap();
        assert_eq!((r.status, r.location.as_deref()), (302, Some("/lab")));
        assert_eq!(r.text(), "ok");
        assert_eq!(http.cookie("_xsrf").as_deref(), Some("2|ab"));
        let echoed = get(&http, "/echo").await.unwrap().text();
        assert!(echoed.contains("cookie: _xsrf=\"2|ab\""), "{echoed}");
        assert!(echoed.contains("user-agent: rjup"), "{echoed}");
    }

    #[test]
    fn the_probe_key_is_sha256_of_its_prefix_and_the_cookie_secret() {
        // What the lab computes from its cookie secret file, in Python:
        // hashlib.sha256(b"rjup-probe\n" + open(path, "rb").read()).hexdigest()
        assert_eq!(
            probe_key("c00k1e"),
            "c804a22ece10c4a2cd4817e30ce17991e0e2633e0055b9d521d7d718a211cfc0"
        );
        assert_ne!(probe_key("c00k1e"), probe_key("another"));
    }

    #[tokio::test]
    async fn every_request_and_websocket_carries_the_probe_key_when_there_is_one() {
        let addr = serve(|request| reply("200 OK", &[], request)).await;
        let with_key = Target {
            probe_key: Some(probe_key("c00k1e")),
            ..Target::plain(addr)
        };
        let http = Http::new(with_key.clone(), Duration::from_secs(5)).unwrap();
        let echoed = get(&http, "/login").await.unwrap().text();
        assert!(
            echoed.contains(&format!("x-rjup-probe: {}", probe_key("c00k1e"))),
            "{echoed}"
        );
        let status = get_status(&with_key, "/login", Duration::from_secs(5)).await;
        assert_eq!(status.unwrap().code, 200);
        let echoed = get(&http_plain(addr), "/login").await.unwrap().text();
        assert!(!echoed.contains("x-rjup-probe"), "{echoed}");
    }

    fn http_plain(addr: SocketAddr) -> Http {
        http(addr, Duration::from_secs(5))
    }

    #[tokio::test]
    async fn a_huge_content_length_is_an_error_not_a_panic() {
        for length in [u64::MAX, 1 << 40] {
            let addr = serve(move |_| {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\nabc").into_bytes()
            })
            .await;
            let e = get(&http(addr, Duration::from_secs(5)), "/login")
                .await
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("GET http://{addr}/login: ")), "{e}");
            assert!(e.contains("too large") || e.contains("64 MiB"), "{e}");
        }
    }

    /// A chunked body that never ends, at full speed (`pause` zero) or trickling.
    async fn endless(pause: Duration) -> SocketAddr {
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    read_request(&mut stream).await;
                    let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
                    stream.write_all(head.as_bytes()).await?;
                    let chunk = format!("{:x}\r\n{}\r\n", 1 << 20, "x".repeat(1 << 20));
                    loop {
                        stream.write_all(chunk.as_bytes()).await?;
                        tokio::time::sleep(pause).await;
                    }
                    #[allow(unreachable_code)]
                    Ok::<_, std::io::Error>(())
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn an_endless_body_stops_at_the_bound() {
        let addr = endless(Duration::ZERO).await;
        let e = get(
            &http(addr, Duration::from_secs(60)),
            "/api/contents/a.ipynb",
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(e.contains("grew past 64 MiB"), "{e}");
    }

    #[tokio::test]
    async fn a_trickling_body_stops_at_the_timeout() {
        let addr = endless(Duration::from_millis(300)).await;
        let e = get(&http(addr, Duration::from_secs(1)), "/login")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no complete answer within 1 s"), "{e}");
    }

    #[tokio::test]
    async fn get_status_needs_no_body_and_fails_when_nothing_answers() {
        let addr = endless(Duration::ZERO).await;
        let status = get_status(&Target::plain(addr), "/login", Duration::from_secs(5)).await;
        assert_eq!(status.unwrap().code, 200);
        let (listener, addr) = listen().await;
        drop(listener);
        assert!(
            get_status(&Target::plain(addr), "/login", Duration::from_secs(5))
                .await
                .is_err()
        );
        let e = get(&http(addr, Duration::from_secs(5)), "/login")
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("Connection refused"), "{e}");
    }

    /// A TLS server on 127.0.0.1 with a fresh self-signed certificate; and that certificate.
    async fn tls_server() -> (SocketAddr, Vec<u8>) {
        use rustls::pki_types::pem::PemObject;
        let (tls, _) = crate::tls::self_signed(&["127.0.0.1".into()], crate::tls::now()).unwrap();
        let cert = tls.cert_der().unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone().into()], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(mut stream) = acceptor.accept(stream).await else {
                    continue;
                };
                read_request(&mut stream).await;
                let _ = stream.write_all(&reply("200 OK", &[], "secure")).await;
                let _ = stream.shutdown().await;
            }
        });
        (addr, cert)
    }

    #[tokio::test]
    async fn https_trusts_exactly_the_pinned_certificate_at_an_ip() {
        let (addr, cert) = tls_server().await;
        let pinned = |cert: Vec<u8>| Target {
            addr,
            tls: Some(crate::tls::pinned_client(cert).unwrap()),
            probe_key: None,
        };
        let http = Http::new(pinned(cert), Duration::from_secs(5)).unwrap();
        assert_eq!(get(&http, "/login").await.unwrap().text(), "secure");
        let (other, _) = crate::tls::self_signed(&["127.0.0.1".into()], crate::tls::now()).unwrap();
        let http = Http::new(pinned(other.cert_der().unwrap()), Duration::from_secs(5)).unwrap();
        let e = get(&http, "/login").await.unwrap_err().to_string();
        assert!(
            e.contains("a certificate other than the one rjup gave it"),
            "{e}"
        );
    }

    #[tokio::test]
    // The handshake callback's error type is tungstenite's, large or not.
    #[allow(clippy::result_large_err)]
    async fn a_websocket_carries_the_cookies_and_probe_key_answers_pings_and_closes() {
        use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
        let (listener, addr) = listen().await;
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            read_request(&mut stream).await;
            let cookie = reply("200 OK", &["Set-Cookie: login=yes; Path=/; HttpOnly"], "");
            stream.write_all(&cookie).await.unwrap();
            drop(stream);
            let (stream, _) = listener.accept().await.unwrap();
            let (mut seen_cookie, mut seen_probe) = (None, None);
            let mut ws =
                tokio_tungstenite::accept_hdr_async(stream, |r: &Request, ok: Response| {
                    let header = |name| {
                        r.headers()
                            .get(name)
                            .map(|v: &HeaderValue| v.to_str().unwrap().to_string())
                    };
                    seen_cookie = header("cookie");
                    seen_probe = header("x-rjup-probe");
                    Ok(ok)
                })
                .await
                .unwrap();
            ws.send(Message::Ping(vec![7].into())).await.unwrap();
            ws.send(Message::text("hello")).await.unwrap();
            let mut seen = Vec::new();
            while let Some(Ok(message)) = ws.next().await {
                seen.push(message);
            }
            (seen_cookie, seen_probe, seen)
        });
        let target = Target {
            probe_key: Some(probe_key("c00k1e")),
            ..Target::plain(addr)
        };
        let http = Http::new(target, Duration::from_secs(5)).unwrap();
        get(&http, "/login").await.unwrap();
        let mut ws = http.websocket("/api/kernels/k/channels").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().as_deref(), Some("hello"));
        ws.send_text("hi".into()).await.unwrap();
        ws.close().await;
        let (cookie, probe, seen) = server.await.unwrap();
        assert_eq!(cookie.as_deref(), Some("login=yes"));
        assert_eq!(
            probe,
            Some(probe_key("c00k1e")),
            "the probe key, as on HTTP"
        );
        assert_eq!(seen[0], Message::Pong(vec![7].into()));
        assert_eq!(seen[1], Message::text("hi"));
        assert!(matches!(seen[2], Message::Close(_)), "{seen:?}");
    }

    #[tokio::test]
    async fn a_wrong_websocket_accept_is_refused() {
        let addr = serve(|_| {
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBrZXk=\r\n\r\n".to_vec()
        })
        .await;
        let e = http(addr, Duration::from_secs(5))
            .websocket("/api/kernels/k/channels")
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with(&format!("ws://{addr}/api/kernels/k/channels: ")),
            "{e}"
        );
        assert!(e.contains("Sec-WebSocket-Accept"), "{e}");
    }

    #[tokio::test]
    async fn an_oversized_websocket_message_is_refused_unread() {
        let (listener, addr) = listen().await;
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
            // A binary frame announcing a terabyte, then nothing.
            let mut head = vec![0x82, 127];
            head.extend_from_slice(&(1u64 << 40).to_be_bytes());
            ws.get_mut().write_all(&head).await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let mut ws = http(addr, Duration::from_secs(5))
            .websocket("/channels")
            .await
            .unwrap();
        let e = ws.recv().await.unwrap_err().to_string();
        assert!(e.contains("too long") || e.contains("too big"), "{e}");
    }
}
