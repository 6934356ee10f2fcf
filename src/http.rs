//! Just enough HTTP/1.1 to talk to a lab from the outside, as a browser does, without an
//! HTTP client crate: one request per connection, Content-Length or chunked bodies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where a lab answers, and whether over TLS (trusting exactly the lab's certificate).
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    #[cfg(test)]
    pub fn plain(addr: SocketAddr) -> Self {
        Target { addr, tls: None }
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    pub async fn connect(&self) -> std::io::Result<Box<dyn Io>> {
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

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme(), self.addr)
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Sends one request and reads the whole response.
pub async fn request(
    target: &Target,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Response> {
    let exchange = async {
        let addr = target.addr;
        let mut stream = BufReader::new(target.connect().await?);
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rjup\r\nConnection: close\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        stream.get_mut().write_all(head.as_bytes()).await?;
        stream.get_mut().write_all(body).await?;
        read_response(&mut stream, method == "HEAD").await
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Reads a status line and headers; the body too unless `head_only`.
pub async fn read_response<R: tokio::io::AsyncBufRead + Unpin>(
    stream: &mut R,
    head_only: bool,
) -> std::io::Result<Response> {
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    let status = parse_status(line.as_bytes()).ok_or_else(|| invalid("not an HTTP response"))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(invalid("the response ended inside its headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 101 || status == 204 || status == 304 {
        return Ok(response);
    }
    if response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            stream.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                break;
            }
            let start = response.body.len();
            response.body.resize(start + size, 0);
            stream.read_exact(&mut response.body[start..]).await?;
            line.clear();
            stream.read_line(&mut line).await?;
        }
    } else if let Some(length) = response
        .header("Content-Length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        response.body.resize(length, 0);
        stream.read_exact(&mut response.body).await?;
    } else {
        stream.read_to_end(&mut response.body).await?;
    }
    Ok(response)
}

/// The status code of `GET path`, or an error if nothing answered in time.
pub async fn get_status(target: &Target, path: &str, timeout: Duration) -> std::io::Result<u16> {
    request(target, "GET", path, &[], &[], timeout)
        .await
        .map(|r| r.status)
}

fn parse_status(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.trim().parse().ok()
}

/// `%`-encoding for form fields.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_parsed() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 403 Forbidden\r\n"), Some(403));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[test]
    fn form_fields_are_percent_encoded() {
        assert_eq!(
            form_encode(&[("_xsrf", "2|ab"), ("password", "a b&c")]),
            "_xsrf=2%7Cab&password=a+b%26c"
        );
    }

    async fn serve_once(reply: &'static [u8]) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            s.write_all(reply).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn content_length_bodies_and_headers_are_read() {
        let addr = serve_once(b"HTTP/1.1 302 Found\r\nLocation: /lab\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 2\r\n\r\nok").await;
        let r = request(
            &Target::plain(addr),
            "GET",
            "/login",
            &[],
            &[],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(r.header("location"), Some("/lab"));
        assert_eq!(
            r.headers_named("Set-Cookie").collect::<Vec<_>>(),
            ["a=1", "b=2"]
        );
        assert_eq!(r.body, b"ok");
    }

    #[tokio::test]
    async fn chunked_bodies_are_decoded() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").await;
        let r = request(
            &Target::plain(addr),
            "GET",
            "/",
            &[],
            &[],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(r.text(), "abcde");
    }
}
