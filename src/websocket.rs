//! A minimal WebSocket client (RFC 6455), enough to speak to a kernel's channels the way
//! JupyterLab does: text frames of JSON, masked as clients must, with ping answered.

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};

use crate::http::{Io, Target};

pub struct WebSocket {
    stream: BufReader<Box<dyn Io>>,
}

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

fn invalid(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

impl WebSocket {
    /// Opens `path` on `target` with the upgrade handshake; `headers` carry cookies.
    pub async fn connect(
        target: &Target,
        path: &str,
        headers: &[(&str, String)],
    ) -> std::io::Result<WebSocket> {
        let addr = target.addr;
        let key = base64(&crate::state::random_bytes::<16>().map_err(|e| invalid(e.to_string()))?);
        let mut head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rjup\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = BufReader::new(target.connect().await?);
        stream.get_mut().write_all(head.as_bytes()).await?;
        let response = crate::http::read_response(&mut stream, true).await?;
        if response.status != 101 {
            return Err(invalid(format!(
                "the server refused the WebSocket upgrade with HTTP {}",
                response.status
            )));
        }
        Ok(WebSocket { stream })
    }

    pub async fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        self.send(TEXT, text.as_bytes()).await
    }

    async fn send(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        let mask = crate::state::random_bytes::<4>().map_err(|e| invalid(e.to_string()))?;
        let mut frame = encode_frame(opcode, payload, mask);
        frame.shrink_to_fit();
        self.stream.get_mut().write_all(&frame).await
    }

    /// The next whole message as text, or `None` once the server closes.
    pub async fn recv(&mut self) -> std::io::Result<Option<String>> {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            if let Err(e) = self.stream.read_exact(&mut head).await {
                return if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
            let fin = head[0] & 0x80 != 0;
            let opcode = head[0] & 0x0F;
            let masked = head[1] & 0x80 != 0;
            let len = match head[1] & 0x7F {
                126 => u64::from(self.stream.read_u16().await?),
                127 => self.stream.read_u64().await?,
                n => u64::from(n),
            };
            if len > 256 * 1024 * 1024 {
                return Err(invalid(format!(
                    "a {len}-byte WebSocket frame is too large"
                )));
            }
            let mut mask = [0u8; 4];
            if masked {
                self.stream.read_exact(&mut mask).await?;
            }
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload).await?;
            if masked {
                payload
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b ^= mask[i % 4]);
            }
            match opcode {
                PING => self.send(PONG, &payload).await?,
                PONG => {}
                CLOSE => {
                    let _ = self.send(CLOSE, &payload).await;
                    return Ok(None);
                }
                0 | TEXT | BINARY => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(Some(String::from_utf8_lossy(&message).into_owned()));
                    }
                }
                other => return Err(invalid(format!("unknown WebSocket opcode {other}"))),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.send(CLOSE, &1000u16.to_be_bytes()).await;
    }
}

fn encode_frame(opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn client_frames_are_masked_with_the_right_length_encoding() {
        let f = encode_frame(TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
        // RFC 6455 section 5.7: a masked "Hello".
        assert_eq!(
            f,
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        let long = encode_frame(TEXT, &[0u8; 300], [0; 4]);
        assert_eq!(&long[..4], &[0x81, 0x80 | 126, 0x01, 0x2c]);
    }
}
