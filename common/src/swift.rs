//! `SwiftClient`: a small client of the object store's Swift API for
//! services that keep their data there (blockd's segments, imaged's image
//! bytes). It logs in with v1.0 auth (`X-Auth-User`/`X-Auth-Key`), keeps
//! the token and storage URL, logs in again on a 401, and pools keep-alive
//! connections. Bodies are whole (`put_object`, `get_range`) or streamed
//! (`put_object_stream`, `get_stream`) for objects too big to hold.
//! `in_account` reaches another account with the same login (what a
//! container ACL there lets this user do).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{Method, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, RwLock};

/// A request body: whole or streamed.
type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A streamed response body.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

fn whole(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|n| match n {}).boxed_unsync()
}

/// Longest wait for one request.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A Swift account reached with v1.0 credentials.
#[derive(Clone)]
pub struct SwiftClient {
    auth_url: String,
    user: String,
    key: String,
    client: Client<HttpConnector, Body>,
    /// Token and storage URL of the current login (shared by the views
    /// of other accounts).
    session: Arc<RwLock<Option<(String, String)>>>,
    /// Another account to act on (`AUTH_x`), instead of the login's own.
    account: Option<String>,
}

/// One object of a container listing.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct Listed {
    pub name: String,
    pub bytes: u64,
}

/// What a request answered.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl SwiftClient {
    /// A client of `auth_url` (`http://host:port/auth/v1.0`) as `user`
    /// (`account:user`) with `key`; nothing is sent yet.
    pub fn new(auth_url: &str, user: &str, key: &str) -> SwiftClient {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build(connector);
        SwiftClient {
            auth_url: auth_url.to_string(),
            user: user.to_string(),
            key: key.to_string(),
            client,
            session: Arc::new(RwLock::new(None)),
            account: None,
        }
    }

    /// The same login acting on `account` (`AUTH_x`): requests go to that
    /// account's storage URL.
    pub fn in_account(&self, account: &str) -> SwiftClient {
        SwiftClient {
            account: Some(account.to_string()),
            ..self.clone()
        }
    }

    /// The storage URL requests go to.
    fn base_url(&self, storage_url: &str) -> String {
        match &self.account {
            None => storage_url.to_string(),
            Some(a) => match storage_url.rsplit_once('/') {
                Some((root, _)) => format!("{root}/{a}"),
                None => storage_url.to_string(),
            },
        }
    }

    async fn login(&self) -> anyhow::Result<(String, String)> {
        let req = http::Request::get(&self.auth_url)
            .header("X-Auth-User", &self.user)
            .header("X-Auth-Key", &self.key)
            .body(whole(Bytes::new()))?;
        let resp = tokio::time::timeout(TIMEOUT, self.client.request(req))
            .await
            .context("object store auth timed out")??;
        anyhow::ensure!(
            resp.status().is_success(),
            "object store auth answered {}",
            resp.status()
        );
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .with_context(|| format!("object store auth sent no {name}"))
        };
        let session = (header("X-Auth-Token")?, header("X-Storage-Url")?);
        *self.session.write().await = Some(session.clone());
        Ok(session)
    }

    async fn session(&self) -> anyhow::Result<(String, String)> {
        if let Some(s) = self.session.read().await.clone() {
            return Ok(s);
        }
        self.login().await
    }

    /// Sends a request with a body made by `body` (once more after a
    /// refused token), answering the response head; waits at most `limit`
    /// for it (a streamed upload is paced by its source instead).
    async fn send(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, String)],
        body: impl Fn() -> Body,
        limit: Option<Duration>,
    ) -> anyhow::Result<http::Response<Incoming>> {
        let mut fresh = false;
        loop {
            let (token, url) = if fresh {
                self.login().await?
            } else {
                self.session().await?
            };
            let mut req = http::Request::builder()
                .method(method.clone())
                .uri(format!("{}{path}", self.base_url(&url)))
                .header("X-Auth-Token", token);
            for (name, value) in headers {
                req = req.header(*name, value);
            }
            let sent = self.client.request(req.body(body())?);
            let resp = match limit {
                Some(limit) => tokio::time::timeout(limit, sent)
                    .await
                    .with_context(|| format!("object store {method} {path} timed out"))??,
                None => sent.await?,
            };
            if resp.status() == StatusCode::UNAUTHORIZED && !fresh {
                fresh = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Sends `method` to `path` under the storage URL (`/container/object`),
    /// logging in again once if the token was refused.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> anyhow::Result<Answer> {
        let answer = async {
            let resp = self
                .send(
                    &method,
                    path,
                    headers,
                    || whole(body.clone()),
                    Some(TIMEOUT),
                )
                .await?;
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok(Answer { status, body })
        };
        tokio::time::timeout(TIMEOUT, answer)
            .await
            .with_context(|| format!("object store {method} {path} timed out"))?
    }

    /// Stores an object from the pieces sent into `pieces` (a chunked PUT).
    /// An error item aborts the request, so the store keeps nothing.
    pub async fn put_object_stream(
        &self,
        container: &str,
        name: &str,
        pieces: mpsc::Receiver<io::Result<Bytes>>,
    ) -> anyhow::Result<()> {
        // A streamed body cannot be sent twice: make sure of the login first.
        self.session().await?;
        let body = std::sync::Mutex::new(Some(pieces));
        let resp = self
            .send(
                &Method::PUT,
                &format!("/{container}/{name}"),
                &[],
                || match body.lock().expect("body lock never poisoned").take() {
                    Some(mut rx) => {
                        let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
                        StreamBody::new(stream.map(|r| r.map(http_body::Frame::data)))
                            .boxed_unsync()
                    }
                    // Sent already (the token was refused meanwhile): a
                    // body that fails, so nothing partial is stored.
                    None => StreamBody::new(futures::stream::once(async {
                        Err(io::Error::other("the upload's body was already sent"))
                    }))
                    .boxed_unsync(),
                },
                None,
            )
            .await?;
        anyhow::ensure!(
            resp.status() == StatusCode::CREATED,
            "PUT {container}/{name} answered {}",
            resp.status()
        );
        Ok(())
    }

    /// Streams bytes `range` (inclusive) of an object, or all of it.
    pub async fn get_stream(
        &self,
        container: &str,
        name: &str,
        range: Option<(u64, u64)>,
    ) -> anyhow::Result<ByteStream> {
        let headers: Vec<(&str, String)> = range
            .iter()
            .map(|(a, b)| ("Range", format!("bytes={a}-{b}")))
            .collect();
        let resp = self
            .send(
                &Method::GET,
                &format!("/{container}/{name}"),
                &headers,
                || whole(Bytes::new()),
                Some(TIMEOUT),
            )
            .await?;
        anyhow::ensure!(
            resp.status().is_success(),
            "GET {container}/{name} answered {}",
            resp.status()
        );
        Ok(Box::pin(
            resp.into_body()
                .into_data_stream()
                .map(|r| r.map_err(io::Error::other)),
        ))
    }

    /// Creates `container` (with storage policy `policy`, if given).
    pub async fn put_container(&self, container: &str, policy: Option<&str>) -> anyhow::Result<()> {
        self.put_container_with(container, policy, &[]).await
    }

    /// Creates `container` (or updates it) with more headers (ACLs,
    /// metadata) beside the storage policy.
    pub async fn put_container_with(
        &self,
        container: &str,
        policy: Option<&str>,
        extra: &[(&str, String)],
    ) -> anyhow::Result<()> {
        let mut headers: Vec<(&str, String)> = policy
            .map(|p| vec![("X-Storage-Policy", p.to_string())])
            .unwrap_or_default();
        headers.extend(extra.iter().cloned());
        let a = self
            .request(
                Method::PUT,
                &format!("/{container}"),
                &headers,
                Bytes::new(),
            )
            .await?;
        anyhow::ensure!(
            a.status.is_success(),
            "PUT container {container} answered {}",
            a.status
        );
        Ok(())
    }

    /// Stores an object.
    pub async fn put_object(&self, container: &str, name: &str, data: Bytes) -> anyhow::Result<()> {
        self.put_object_with(container, name, data, &[]).await
    }

    /// Stores an object, sending `extra` headers too.
    pub async fn put_object_with(
        &self,
        container: &str,
        name: &str,
        data: Bytes,
        extra: &[(&str, String)],
    ) -> anyhow::Result<()> {
        // hyper leaves out `Content-Length: 0`, which a PUT needs.
        let mut headers = vec![("Content-Length", data.len().to_string())];
        headers.extend(extra.iter().cloned());
        let a = self
            .request(Method::PUT, &format!("/{container}/{name}"), &headers, data)
            .await?;
        anyhow::ensure!(
            a.status.is_success(),
            "PUT {container}/{name} answered {}",
            a.status
        );
        Ok(())
    }

    /// Reads `len` bytes of an object from `offset` (fewer at its end).
    pub async fn get_range(
        &self,
        container: &str,
        name: &str,
        offset: u64,
        len: u64,
    ) -> anyhow::Result<Bytes> {
        let range = format!("bytes={}-{}", offset, offset + len - 1);
        let a = self
            .request(
                Method::GET,
                &format!("/{container}/{name}"),
                &[("Range", range)],
                Bytes::new(),
            )
            .await?;
        match a.status {
            StatusCode::PARTIAL_CONTENT => Ok(a.body),
            StatusCode::OK => {
                let start = (offset as usize).min(a.body.len());
                let end = (offset + len).min(a.body.len() as u64) as usize;
                Ok(a.body.slice(start..end))
            }
            s => anyhow::bail!("GET {container}/{name} answered {s}"),
        }
    }

    /// Every object of `container` whose name starts with `prefix`, in
    /// name order (pages of 10 000 followed with `marker`).
    pub async fn list(&self, container: &str, prefix: &str) -> anyhow::Result<Vec<Listed>> {
        self.list_with(container, prefix, &[]).await
    }

    /// As `list`, from every replica of the container's listing
    /// (`X-Newest`): for decisions that must not miss an object that one
    /// replica has not heard of yet.
    pub async fn list_all_replicas(
        &self,
        container: &str,
        prefix: &str,
    ) -> anyhow::Result<Vec<Listed>> {
        self.list_with(container, prefix, &[("X-Newest", "true".into())])
            .await
    }

    async fn list_with(
        &self,
        container: &str,
        prefix: &str,
        headers: &[(&str, String)],
    ) -> anyhow::Result<Vec<Listed>> {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut out: Vec<Listed> = Vec::new();
        loop {
            let marker = out.last().map(|l| enc(&l.name)).unwrap_or_default();
            let path = format!(
                "/{container}?format=json&prefix={}&marker={marker}",
                enc(prefix)
            );
            let a = self
                .request(Method::GET, &path, headers, Bytes::new())
                .await?;
            if a.status == StatusCode::NOT_FOUND {
                return Ok(out);
            }
            anyhow::ensure!(
                a.status.is_success(),
                "GET container {container} answered {}",
                a.status
            );
            if a.status == StatusCode::NO_CONTENT || a.body.is_empty() {
                return Ok(out);
            }
            let page: Vec<Listed> =
                serde_json::from_slice(&a.body).context("decode container listing")?;
            if page.is_empty() {
                return Ok(out);
            }
            out.extend(page);
        }
    }

    /// Deletes an object; one already gone counts as deleted.
    pub async fn delete_object(&self, container: &str, name: &str) -> anyhow::Result<()> {
        let a = self
            .request(
                Method::DELETE,
                &format!("/{container}/{name}"),
                &[],
                Bytes::new(),
            )
            .await?;
        anyhow::ensure!(
            a.status.is_success() || a.status == StatusCode::NOT_FOUND,
            "DELETE {container}/{name} answered {}",
            a.status
        );
        Ok(())
    }
}
