//! A minimal HTTP/1.1 client over one keep-alive TCP connection: enough for the platform's JSON API
//! on loopback, and light, so the load generator spends its CPU on signing rather than on HTTP.
//! Bodies must carry `Content-Length` (axum's JSON and problem responses do); chunked bodies are
//! refused rather than guessed at.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

pub struct Conn {
    addr: SocketAddr,
    host: String,
    stream: Option<BufReader<TcpStream>>,
}

pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "HTTP {}: not JSON: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn expect(self, status: u16, what: &str) -> Result<Response> {
        if self.status != status {
            bail!(
                "{what}: HTTP {} (expected {status}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            );
        }
        Ok(self)
    }
}

/// `http://host:port/path…` → (address, path).
pub fn split_url(url: &str) -> Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: not an http:// URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .parse()
        .with_context(|| format!("{url}: the host must be an IP address and port"))?;
    Ok((addr, path.to_owned()))
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            host: addr.to_string(),
            stream: None,
        }
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))
                .with_context(|| format!("cannot connect to {}", self.addr))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, s));
        }
        self.stream.as_mut().context("no connection")
    }

    /// One request; a connection the server closed while idle is reopened once.
    pub fn request(&mut self, method: &str, path: &str, bearer: Option<&str>, body: Option<&[u8]>) -> Result<Response> {
        self.request_typed(method, path, bearer, body, "application/json")
    }

    /// The same with another body type.
    pub fn request_typed(
        &mut self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&[u8]>,
        content_type: &str,
    ) -> Result<Response> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(b) = bearer {
            head.push_str("Authorization: Bearer ");
            head.push_str(b);
            head.push_str("\r\n");
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        if let Some(b) = body {
            wire.extend_from_slice(b);
        }
        let reused = self.stream.is_some();
        match self.exchange(&wire) {
            Ok(r) => Ok(r),
            Err(_) if reused => {
                self.stream = None;
                self.exchange(&wire)
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    fn exchange(&mut self, wire: &[u8]) -> Result<Response> {
        let stream = self.connect()?;
        stream.get_mut().write_all(wire).context("cannot send the request")?;
        let mut line = String::new();
        if stream.read_line(&mut line)? == 0 {
            bail!("the connection was closed before a response");
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("not an HTTP status line: {line:?}"))?;
        let mut length = None;
        let mut close = false;
        loop {
            line.clear();
            if stream.read_line(&mut line)? == 0 {
                bail!("the connection was closed in the headers");
            }
            let h = line.trim_end();
            if h.is_empty() {
                break;
            }
            let Some((name, value)) = h.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().context("bad Content-Length")?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked responses are not supported by this client");
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                close = true;
            }
        }
        let mut body = vec![0; length.unwrap_or(0)];
        stream.read_exact(&mut body).context("cannot read the response body")?;
        if close {
            self.stream = None;
        }
        Ok(Response { status, body })
    }
}
