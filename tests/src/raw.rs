//! A tiny HTTP/1.1 client over a plain `TcpStream` for the edge cases an
//! ordinary client refuses to produce: it writes exactly the bytes it is given
//! (lying lengths, half bodies, odd methods, thousands of headers) and reads
//! back a status line, headers and a body delimited by `Content-Length`, by
//! chunked framing or by the end of the stream.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How long a raw request may take before the test gives up.
pub const RAW_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest status line plus headers the reader accepts.
const MAX_HEAD: usize = 1024 * 1024;

/// A response as read off the wire.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub reason: String,
    /// Headers in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One client connection.
pub struct RawConn {
    stream: BufReader<TcpStream>,
}

impl RawConn {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(RawConn {
            stream: BufReader::new(stream),
        })
    }

    /// Writes `bytes` exactly as given.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.get_mut().write_all(bytes).await?;
        self.stream.get_mut().flush().await
    }

    /// Closes the sending half (the server sees end of stream).
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream.get_mut().shutdown().await
    }

    /// Reads one response; `head` says it answers a HEAD (no body follows).
    pub async fn read_response(&mut self, head: bool) -> io::Result<RawResponse> {
        match tokio::time::timeout(RAW_TIMEOUT, read_response(&mut self.stream, head)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no response within the raw timeout",
            )),
        }
    }

    /// The underlying stream, for tests that split it.
    pub fn into_inner(self) -> TcpStream {
        self.stream.into_inner()
    }
}

/// Sends `request` on a new connection and reads one response.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> io::Result<RawResponse> {
    let mut conn = RawConn::connect(addr).await?;
    conn.send(request).await?;
    conn.read_response(request.starts_with(b"HEAD ")).await
}

/// Reads one line ending in CRLF (or LF), without the line ending.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, budget: &mut usize) -> io::Result<String> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line).await?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the response head ended",
        ));
    }
    *budget = budget
        .checked_sub(n)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "response head is too large"))?;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a line",
        ));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 line"))
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads one response (skipping interim 1xx answers) from `r`.
pub async fn read_response<R: AsyncBufRead + Unpin>(
    r: &mut R,
    head: bool,
) -> io::Result<RawResponse> {
    let mut budget = MAX_HEAD;
    let (status, reason, headers) = loop {
        let line = read_line(r, &mut budget).await?;
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(bad(format!("bad status line {line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let reason = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let line = read_line(r, &mut budget).await?;
            if line.is_empty() {
                break;
            }
            let (n, v) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        break (status, reason, headers);
    };
    let mut resp = RawResponse {
        status,
        reason,
        headers,
        body: Vec::new(),
    };
    if head || status == 204 || status == 304 {
        return Ok(resp);
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        resp.body = read_chunked(r).await?;
    } else if let Some(len) = resp.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {len:?}")))?;
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body).await?;
    }
    Ok(resp)
}

async fn read_chunked<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        let line = read_line(r, &mut budget).await?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| bad(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            while !read_line(r, &mut budget).await?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).await?;
        if !read_line(r, &mut budget).await?.is_empty() {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

/// Builds a request head: the request line, `Host`, the given headers and
/// the blank line. Callers append the body (if any) themselves.
pub fn request_head(
    method: &str,
    path: &str,
    host: SocketAddr,
    headers: &[(&str, &str)],
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (n, v) in headers {
        out.push_str(n);
        out.push_str(": ");
        out.push_str(v);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Frames `body` as chunked transfer coding with the given chunk sizes
/// (cycled), ending with the zero chunk.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 64);
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_lengths_chunks_and_eof() {
        let wire: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: b\r\n\r\nabc\
            HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\n\r\n\
            HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n\
            HTTP/1.0 500 Oops\r\n\r\ntail";
        let mut r = BufReader::new(wire);
        let a = read_response(&mut r, false).await.expect("first");
        assert_eq!((a.status, a.body.as_slice()), (200, &b"abc"[..]));
        assert_eq!(a.header("x-a"), Some("b"));
        let b = read_response(&mut r, false).await.expect("second");
        assert_eq!((b.status, b.body.as_slice()), (201, &b"hello"[..]));
        let c = read_response(&mut r, true).await.expect("head");
        assert_eq!((c.status, c.body.len()), (200, 0));
        let d = read_response(&mut r, false).await.expect("to eof");
        assert_eq!((d.status, d.reason.as_str()), (500, "Oops"));
        assert_eq!(d.body, b"tail");
        assert!(read_response(&mut r, false).await.is_err());
    }

    #[test]
    fn chunked_framing() {
        assert_eq!(
            chunked(b"hello", &[2]),
            b"2\r\nhe\r\n2\r\nll\r\n1\r\no\r\n0\r\n\r\n"
        );
        assert_eq!(chunked(b"", &[2]), b"0\r\n\r\n");
    }
}
