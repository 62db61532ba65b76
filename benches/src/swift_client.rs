//! Minimal Swift v1 HTTP client on hyper 1: endpoint URL parsing, v1.0
//! auth (`X-Auth-User`/`X-Auth-Key` -> `X-Auth-Token`/`X-Storage-Url`),
//! one keep-alive HTTP/1.1 connection per [`Conn`] (TCP_NODELAY, reopened
//! after errors), and a request body type that streams a shared buffer in
//! chunks without copying it.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, USER_AGENT};
use http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::s3_signer::S3Signer;

/// Chunk size used when streaming large bodies.
pub const STREAM_CHUNK: usize = 1 << 20;

const AGENT: &str = concat!("cairn-bench/", env!("CARGO_PKG_VERSION"));

/// A plain-HTTP endpoint: where to connect and which path prefix to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host to connect to (IPv6 literals without brackets).
    pub host: String,
    pub port: u16,
    /// Value for the `Host` header (`host[:port]` as written in the URL).
    pub authority: String,
    /// Path without trailing slash, e.g. `/v1/AUTH_test` (may be empty).
    pub base_path: String,
    /// The URL's path and query as given, e.g. `/auth/v1.0`.
    pub path_and_query: String,
}

impl Endpoint {
    /// Parses an `http://host[:port]/path` URL. `https` is rejected: the
    /// benchmark speaks plain HTTP only.
    pub fn parse(url: &str) -> Result<Endpoint> {
        let uri: Uri = url
            .trim()
            .parse()
            .with_context(|| format!("invalid URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => bail!("{url}: https is not supported by cairn-bench, use http"),
            _ => bail!("{url}: expected an http:// URL"),
        }
        let authority = uri
            .authority()
            .with_context(|| format!("{url}: URL has no host"))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = authority.port_u16().unwrap_or(80);
        let base_path = uri.path().trim_end_matches('/').to_string();
        let path_and_query = uri
            .path_and_query()
            .map(|pq| pq.as_str().to_string())
            .unwrap_or_else(|| "/".to_string());
        Ok(Endpoint {
            host,
            port,
            authority: authority.as_str().to_string(),
            base_path,
            path_and_query,
        })
    }

    /// Request target for a container, with an optional query string
    /// (without the `?`).
    pub fn container_target(&self, container: &str, query: Option<&str>) -> String {
        let mut target = format!("{}/{}", self.base_path, encode_path(container, false));
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        target
    }

    /// Request target for an object.
    pub fn object_target(&self, container: &str, object: &str) -> String {
        format!(
            "{}/{}/{}",
            self.base_path,
            encode_path(container, false),
            encode_path(object, true)
        )
    }
}

/// Percent-encodes a path segment, leaving RFC 3986 unreserved characters
/// (and `/` when `keep_slash`) as they are.
pub fn encode_path(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        let plain = byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && byte == b'/');
        if plain {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Request body: nothing, one buffer, or one buffer sent as a stream of
/// `chunk`-sized frames (each frame is a zero-copy `Bytes` slice).
#[derive(Debug, Clone)]
pub enum ReqBody {
    Empty,
    Full(Bytes),
    Chunked {
        remaining: Bytes,
        chunk: usize,
    },
    /// `block` sent again and again until `remaining` bytes went (bodies
    /// larger than memory should hold).
    Repeat {
        block: Bytes,
        remaining: u64,
    },
}

impl ReqBody {
    /// Streams `buf` in [`STREAM_CHUNK`] frames.
    pub fn chunked(buf: Bytes) -> ReqBody {
        ReqBody::Chunked {
            remaining: buf,
            chunk: STREAM_CHUNK,
        }
    }

    /// Bytes left to send.
    pub fn len(&self) -> u64 {
        match self {
            ReqBody::Empty => 0,
            ReqBody::Full(b) => b.len() as u64,
            ReqBody::Chunked { remaining, .. } => remaining.len() as u64,
            ReqBody::Repeat { remaining, .. } => *remaining,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = match this {
            ReqBody::Empty => None,
            ReqBody::Full(buf) => {
                let buf = std::mem::take(buf);
                *this = ReqBody::Empty;
                (!buf.is_empty()).then_some(buf)
            }
            ReqBody::Chunked { remaining, chunk } => {
                if remaining.is_empty() {
                    None
                } else {
                    let n = (*chunk).max(1).min(remaining.len());
                    Some(remaining.split_to(n))
                }
            }
            ReqBody::Repeat { block, remaining } => {
                let n = (block.len() as u64).min(*remaining) as usize;
                *remaining -= n as u64;
                (n > 0).then(|| block.slice(..n))
            }
        };
        Poll::Ready(frame.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

/// A completed exchange; the response body has been fully read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// Number of body bytes received.
    pub body_len: u64,
    /// The body, when it was collected (empty when only drained).
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The ETag without surrounding quotes, lowercased.
    pub fn etag(&self) -> Option<String> {
        self.header("etag")
            .map(|v| v.trim().trim_matches('"').to_ascii_lowercase())
    }
}

/// What to do with a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// Read and count it, keeping nothing.
    Drain,
    /// Keep it in [`Reply::body`].
    Collect,
}

/// One keep-alive HTTP/1.1 connection to an endpoint, opened lazily and
/// reopened after any error or timeout.
pub struct Conn {
    endpoint: Arc<Endpoint>,
    token: Option<HeaderValue>,
    /// Signs each request for S3 instead of sending a token.
    signer: Option<Arc<S3Signer>>,
    timeout: Duration,
    sender: Option<SendRequest<ReqBody>>,
}

impl Conn {
    pub fn new(endpoint: Arc<Endpoint>, token: Option<HeaderValue>, timeout: Duration) -> Conn {
        Conn {
            endpoint,
            token,
            signer: None,
            timeout,
            sender: None,
        }
    }

    /// A connection whose requests are signed with SigV4.
    pub fn signed(endpoint: Arc<Endpoint>, signer: Arc<S3Signer>, timeout: Duration) -> Conn {
        Conn {
            signer: Some(signer),
            ..Conn::new(endpoint, None, timeout)
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Opens the TCP connection now (it is otherwise opened on first use).
    pub async fn connect(&mut self) -> Result<()> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.ready_sender())
            .await
            .map_err(|_| anyhow!("connect timed out after {timeout:?}"))??;
        Ok(())
    }

    async fn open(endpoint: &Endpoint) -> Result<SendRequest<ReqBody>> {
        let stream = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .with_context(|| format!("connect to {}", endpoint.authority))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(async move {
            // Errors surface on the request side; nothing to do here.
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn ready_sender(&mut self) -> Result<&mut SendRequest<ReqBody>> {
        let reusable = match self.sender.as_mut() {
            Some(sender) => !sender.is_closed() && sender.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            self.sender = None;
            let mut sender = Conn::open(&self.endpoint).await?;
            sender.ready().await.context("connection not ready")?;
            self.sender = Some(sender);
        }
        self.sender.as_mut().ok_or_else(|| anyhow!("no connection"))
    }

    /// Sends one request and reads the whole response body, within the
    /// connection's timeout. `target` is the origin-form path (and query).
    /// Any failure drops the connection so the next request reconnects.
    pub async fn request(
        &mut self,
        method: Method,
        target: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: ReqBody,
        mode: BodyMode,
    ) -> Result<Reply> {
        let timeout = self.timeout;
        let what = format!("{method} {target}");
        let result = tokio::time::timeout(
            timeout,
            self.request_inner(method, target, headers, body, mode),
        )
        .await;
        match result {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(err)) => {
                self.sender = None;
                Err(err.context(what))
            }
            Err(_) => {
                self.sender = None;
                Err(anyhow!("{what}: timed out after {timeout:?}"))
            }
        }
    }

    async fn request_inner(
        &mut self,
        method: Method,
        target: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: ReqBody,
        mode: BodyMode,
    ) -> Result<Reply> {
        let sends_body = !body.is_empty() || matches!(method, Method::PUT | Method::POST);
        let signature = match &self.signer {
            Some(s) => s.headers(method.as_str(), target, &self.endpoint.authority, &body)?,
            None => Vec::new(),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(target)
            .header(HOST, self.endpoint.authority.as_str())
            .header(USER_AGENT, AGENT);
        if sends_body {
            builder = builder.header(CONTENT_LENGTH, body.len());
        }
        if let Some(token) = &self.token {
            builder = builder.header("x-auth-token", token.clone());
        }
        for (name, value) in headers.iter().chain(&signature) {
            builder = builder.header(name, value);
        }
        let request = builder.body(body).context("building request")?;
        let sender = self.ready_sender().await?;
        let response = sender.send_request(request).await?;
        let (parts, mut incoming) = response.into_parts();
        let (body_len, body) = match mode {
            BodyMode::Drain => (drain(&mut incoming).await?, Bytes::new()),
            BodyMode::Collect => {
                let body = incoming.collect().await?.to_bytes();
                (body.len() as u64, body)
            }
        };
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body_len,
            body,
        })
    }
}

/// Reads a body to its end, returning the number of data bytes.
pub async fn drain(body: &mut Incoming) -> Result<u64> {
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            total += data.len() as u64;
        }
    }
    Ok(total)
}

/// Result of v1.0 authentication.
#[derive(Debug, Clone)]
pub struct Session {
    pub storage_url: String,
    pub storage: Arc<Endpoint>,
    pub token: HeaderValue,
    /// Set for S3 sessions: requests are signed, and `storage` is the
    /// endpoint root, so containers are buckets addressed path-style.
    pub signer: Option<Arc<S3Signer>>,
}

impl Session {
    /// An S3 session at `endpoint_url` (e.g. `http://127.0.0.1:8080`).
    pub fn s3(endpoint_url: &str, signer: S3Signer) -> Result<Session> {
        let storage = Endpoint::parse(endpoint_url).context("AWS_ENDPOINT_URL")?;
        Ok(Session {
            storage_url: endpoint_url.to_string(),
            storage: Arc::new(Endpoint {
                base_path: String::new(),
                ..storage
            }),
            token: HeaderValue::from_static(""),
            signer: Some(Arc::new(signer)),
        })
    }

    /// A new (not yet connected) connection to the storage endpoint that
    /// sends the auth token (or signs, for S3).
    pub fn conn(&self, timeout: Duration) -> Conn {
        match &self.signer {
            Some(signer) => Conn::signed(self.storage.clone(), signer.clone(), timeout),
            None => Conn::new(self.storage.clone(), Some(self.token.clone()), timeout),
        }
    }
}

/// Swift v1.0 auth, as the `swift` CLI does it: `GET $ST_AUTH` with
/// `X-Auth-User` and `X-Auth-Key`; the reply carries `X-Auth-Token` (or
/// `X-Storage-Token`) and `X-Storage-Url`.
pub async fn authenticate(
    auth_url: &str,
    user: &str,
    key: &str,
    timeout: Duration,
) -> Result<Session> {
    let endpoint = Arc::new(Endpoint::parse(auth_url).context("ST_AUTH")?);
    let target = endpoint.path_and_query.clone();
    let mut conn = Conn::new(endpoint, None, timeout);
    let headers = [
        (
            HeaderName::from_static("x-auth-user"),
            HeaderValue::from_str(user).context("ST_USER is not a valid header value")?,
        ),
        (
            HeaderName::from_static("x-auth-key"),
            HeaderValue::from_str(key).context("ST_KEY is not a valid header value")?,
        ),
    ];
    let reply = conn
        .request(
            Method::GET,
            &target,
            &headers,
            ReqBody::Empty,
            BodyMode::Drain,
        )
        .await
        .context("auth request")?;
    if !reply.status.is_success() {
        bail!("auth at {auth_url} failed: {}", reply.status);
    }
    let token = reply
        .headers
        .get("x-auth-token")
        .or_else(|| reply.headers.get("x-storage-token"))
        .cloned()
        .context("auth reply has no X-Auth-Token")?;
    let storage_url = reply
        .header("x-storage-url")
        .context("auth reply has no X-Storage-Url")?
        .to_string();
    let storage = Arc::new(Endpoint::parse(&storage_url).context("X-Storage-Url")?);
    Ok(Session {
        signer: None,
        storage_url,
        storage,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_endpoints() {
        let ep = Endpoint::parse("http://127.0.0.1:8080/v1/AUTH_test/").unwrap();
        assert_eq!(ep.host, "127.0.0.1");
        assert_eq!(ep.port, 8080);
        assert_eq!(ep.authority, "127.0.0.1:8080");
        assert_eq!(ep.base_path, "/v1/AUTH_test");
        assert_eq!(
            ep.object_target("c 1", "a/b c"),
            "/v1/AUTH_test/c%201/a/b%20c"
        );
        assert_eq!(
            ep.container_target("c", Some("format=json")),
            "/v1/AUTH_test/c?format=json"
        );

        let auth = Endpoint::parse("http://[::1]/auth/v1.0").unwrap();
        assert_eq!(auth.host, "::1");
        assert_eq!(auth.port, 80);
        assert_eq!(auth.path_and_query, "/auth/v1.0");

        assert!(Endpoint::parse("https://example.com/auth/v1.0").is_err());
        assert!(Endpoint::parse("not a url").is_err());
    }

    #[test]
    fn encodes_paths() {
        assert_eq!(encode_path("abc-1_2.x~", false), "abc-1_2.x~");
        assert_eq!(encode_path("a/b", false), "a%2Fb");
        assert_eq!(encode_path("a/b", true), "a/b");
        assert_eq!(encode_path("é?", true), "%C3%A9%3F");
    }

    #[test]
    fn chunked_body_slices_without_copy() {
        let buf = Bytes::from(vec![7u8; 2 * STREAM_CHUNK + 10]);
        let mut body = ReqBody::chunked(buf.clone());
        assert_eq!(body.size_hint().exact(), Some(buf.len() as u64));
        let waker = futures::task::noop_waker();
        let mut cx = TaskContext::from_waker(&waker);
        let mut sizes = Vec::new();
        while let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut body).poll_frame(&mut cx) {
            let data = frame.into_data().unwrap();
            // Same allocation as the source buffer: a slice, not a copy.
            assert!(buf.as_ptr_range().contains(&data.as_ptr()));
            sizes.push(data.len());
        }
        assert_eq!(sizes, vec![STREAM_CHUNK, STREAM_CHUNK, 10]);
        assert!(body.is_end_stream());
    }
}
