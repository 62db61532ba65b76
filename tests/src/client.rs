//! An ordinary HTTP client for well-formed requests (hyper, one connection
//! per request) and `Swift`, a small authenticated client of one account's
//! storage URL with helpers for the requests tests make most.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// How long an ordinary request may take before the test gives up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A whole response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    /// A header as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header parsed as an integer; panics if missing or not a number.
    pub fn header_u64(&self, name: &str) -> u64 {
        let v = self
            .header(name)
            .unwrap_or_else(|| panic!("response has no {name}: {self:?}"));
        v.parse()
            .unwrap_or_else(|_| panic!("{name} is not an integer: {v:?}"))
    }

    /// The ETag without quotes.
    pub fn etag(&self) -> Option<&str> {
        self.header("etag").map(|e| e.trim_matches('"'))
    }

    /// Panics unless the response carries a Swift transaction id.
    pub fn assert_trans_id(&self) {
        let tx = self
            .header("x-trans-id")
            .unwrap_or_else(|| panic!("response without X-Trans-Id: {self:?}"));
        assert!(tx.starts_with("tx"), "odd X-Trans-Id {tx:?}");
    }
}

/// Sends one request on a new connection and reads the whole response.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> anyhow::Result<Response> {
    let fut = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => bail!("no response from {addr} within {REQUEST_TIMEOUT:?}"),
    }
}

/// Builds a request to `addr` with a `Host` header and, for a method that
/// usually carries a body, an explicit `Content-Length` (unless the caller
/// set one or asked for chunked coding).
pub fn build(
    addr: SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Request<Full<Bytes>> {
    let mut b = Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", addr.to_string());
    let mut has_length = false;
    for (n, v) in headers {
        has_length |=
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding");
        b = b.header(*n, *v);
    }
    if !has_length && (!body.is_empty() || matches!(method, "PUT" | "POST")) {
        b = b.header("content-length", body.len().to_string());
    }
    b.body(Full::new(body))
        .unwrap_or_else(|e| panic!("cannot build {method} {path_and_query}: {e}"))
}

/// One entry of a JSON container listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub bytes: u64,
    pub hash: String,
}

/// An authenticated client of one storage URL.
#[derive(Clone, Debug)]
pub struct Swift {
    addr: SocketAddr,
    /// The storage URL's path, e.g. `/v1/AUTH_admin`.
    base: String,
    token: String,
}

impl Swift {
    /// A client for `storage_url` (as `X-Storage-Url` gives it) using `token`.
    pub fn new(storage_url: &str, token: &str) -> anyhow::Result<Self> {
        let rest = storage_url
            .strip_prefix("http://")
            .with_context(|| format!("storage URL {storage_url:?} is not http"))?;
        let (host, path) = rest.split_once('/').context("storage URL without a path")?;
        Ok(Swift {
            addr: host
                .parse()
                .with_context(|| format!("storage URL host {host:?}"))?,
            base: format!("/{path}"),
            token: token.to_string(),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The auth token.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The full request path of `rel` (`""`, `"/c"`, `"/c/o?x=y"`).
    pub fn path(&self, rel: &str) -> String {
        format!("{}{rel}", self.base)
    }

    /// Sends an authenticated request; `rel` is relative to the storage URL
    /// and is used verbatim (escape it yourself). Panics on transport errors.
    pub async fn request(
        &self,
        method: &str,
        rel: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Response {
        let mut all = vec![("x-auth-token", self.token.as_str())];
        all.extend_from_slice(headers);
        let req = build(self.addr, method, &self.path(rel), &all, body.into());
        send(self.addr, req)
            .await
            .unwrap_or_else(|e| panic!("{method} {rel}: {e:#}"))
    }

    pub async fn get(&self, rel: &str) -> Response {
        self.request("GET", rel, &[], Bytes::new()).await
    }

    pub async fn head(&self, rel: &str) -> Response {
        self.request("HEAD", rel, &[], Bytes::new()).await
    }

    pub async fn put(&self, rel: &str, body: impl Into<Bytes>) -> Response {
        self.request("PUT", rel, &[], body).await
    }

    pub async fn delete(&self, rel: &str) -> Response {
        self.request("DELETE", rel, &[], Bytes::new()).await
    }

    /// Creates a container, panicking unless the answer is 201 or 202.
    pub async fn create_container(&self, name: &str) {
        let r = self.put(&format!("/{name}"), Bytes::new()).await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::ACCEPTED,
            "PUT container {name}: {r:?}"
        );
    }

    /// Stores an object, panicking unless the answer is 201 with the body's MD5 as ETag.
    pub async fn put_object(&self, container: &str, name: &str, body: &[u8]) {
        let r = self
            .put(
                &format!("/{container}/{name}"),
                Bytes::copy_from_slice(body),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "PUT {container}/{name}: {r:?}"
        );
        assert_eq!(r.etag(), Some(crate::md5_hex(body).as_str()), "PUT {name}");
    }

    /// The JSON listing of a container (all of it, up to 10 000 entries).
    pub async fn list(&self, container: &str) -> Vec<Listed> {
        let r = self.get(&format!("/{container}?format=json")).await;
        assert_eq!(r.status, StatusCode::OK, "listing {container}: {r:?}");
        let v: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("listing of {container} is not JSON ({e}): {r:?}"));
        v.as_array()
            .unwrap_or_else(|| panic!("listing of {container} is not an array: {v}"))
            .iter()
            .map(|e| Listed {
                name: e["name"].as_str().expect("name").to_string(),
                bytes: e["bytes"].as_u64().expect("bytes"),
                hash: e["hash"].as_str().expect("hash").to_string(),
            })
            .collect()
    }

    /// The names in a container listing.
    pub async fn list_names(&self, container: &str) -> Vec<String> {
        self.list(container)
            .await
            .into_iter()
            .map(|e| e.name)
            .collect()
    }

    /// The container names of the account (JSON listing).
    pub async fn containers(&self) -> Vec<String> {
        let r = self.get("?format=json").await;
        assert_eq!(r.status, StatusCode::OK, "account listing: {r:?}");
        let v: serde_json::Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("account listing is not JSON ({e}): {r:?}"));
        v.as_array()
            .unwrap_or_else(|| panic!("account listing is not an array: {v}"))
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_string())
            .collect()
    }
}

/// Logs in with v1.0 auth; returns (token, storage URL).
pub async fn login(
    addr: SocketAddr,
    auth_path: &str,
    user: &str,
    key: &str,
) -> anyhow::Result<(String, String)> {
    let req = build(
        addr,
        "GET",
        auth_path,
        &[("x-auth-user", user), ("x-auth-key", key)],
        Bytes::new(),
    );
    let r = send(addr, req).await?;
    if r.status != StatusCode::OK {
        bail!("login as {user} answered {}", r.status);
    }
    let token = r.header("x-auth-token").context("no X-Auth-Token")?;
    let url = r.header("x-storage-url").context("no X-Storage-Url")?;
    Ok((token.to_string(), url.to_string()))
}

/// The daemons' counters at `/recon/{which}` (no auth), as JSON.
pub async fn recon(addr: SocketAddr, which: &str) -> serde_json::Value {
    let req = build(addr, "GET", &format!("/recon/{which}"), &[], Bytes::new());
    let r = send(addr, req).await.expect("GET /recon");
    assert_eq!(r.status, StatusCode::OK, "GET /recon/{which}");
    serde_json::from_slice(&r.body).expect("recon answers JSON")
}
