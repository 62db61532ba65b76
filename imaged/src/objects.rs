//! Image bytes in the object store: a small Swift v1 client (v1.0 auth as
//! the service's own user, pooled keep-alive connections) that streams
//! segment objects in (chunked PUT) and out (GET, with ranges), and
//! deletes them.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, StreamBody};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, RwLock};

use crate::Config;

/// A stream of body bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

/// A login is used this long before the next request logs in again.
const SESSION_LIFE: Duration = Duration::from_secs(3600);

struct Session {
    storage_url: String,
    token: String,
    at: Instant,
}

/// The service's container in the object store.
pub struct ObjectStore {
    http: Client<HttpConnector, ReqBody>,
    auth_url: String,
    user: String,
    key: String,
    container: String,
    policy: Option<String>,
    session: RwLock<Option<Session>>,
    container_ready: AtomicBool,
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn empty() -> ReqBody {
    Empty::new().map_err(|n| match n {}).boxed_unsync()
}

impl ObjectStore {
    pub fn new(cfg: &Config) -> anyhow::Result<ObjectStore> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        Ok(ObjectStore {
            http: Client::builder(TokioExecutor::new()).build(connector),
            auth_url: cfg.object_auth_url.clone(),
            user: cfg.object_user.clone(),
            key: cfg.object_key.clone(),
            container: cfg.container.clone(),
            policy: cfg.storage_policy.clone(),
            session: RwLock::new(None),
            container_ready: AtomicBool::new(false),
        })
    }

    /// (storage URL, token), logging in when there is none, it is old, or `renew`.
    async fn session(&self, renew: bool) -> io::Result<(String, String)> {
        if !renew {
            if let Some(s) = &*self.session.read().await {
                if s.at.elapsed() < SESSION_LIFE {
                    return Ok((s.storage_url.clone(), s.token.clone()));
                }
            }
        }
        let mut slot = self.session.write().await;
        let req = Request::get(&self.auth_url)
            .header("x-auth-user", &self.user)
            .header("x-auth-key", &self.key)
            .body(empty())
            .map_err(err)?;
        let resp = self.http.request(req).await.map_err(err)?;
        if !resp.status().is_success() {
            return Err(err(format!(
                "object store login answered {}",
                resp.status()
            )));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .ok_or_else(|| err(format!("object store login lacks {name}")))
        };
        let session = Session {
            storage_url: header("x-storage-url")?,
            token: header("x-auth-token")?,
            at: Instant::now(),
        };
        let out = (session.storage_url.clone(), session.token.clone());
        *slot = Some(session);
        Ok(out)
    }

    fn url(&self, base: &str, object: Option<&str>) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        match object {
            Some(o) => format!("{base}/{}/{}", enc(&self.container), enc(o)),
            None => format!("{base}/{}", enc(&self.container)),
        }
    }

    /// Sends a bodiless request, logging in again once on 401.
    async fn simple(
        &self,
        method: Method,
        object: Option<&str>,
        headers: &[(&str, String)],
    ) -> io::Result<http::Response<hyper::body::Incoming>> {
        for renew in [false, true] {
            let (base, token) = self.session(renew).await?;
            let mut req = Request::builder()
                .method(method.clone())
                .uri(self.url(&base, object))
                .header("x-auth-token", token);
            for (n, v) in headers {
                req = req.header(*n, v);
            }
            let resp = self
                .http
                .request(req.body(empty()).map_err(err)?)
                .await
                .map_err(err)?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
        }
        Err(err("object store refused the service's login"))
    }

    /// Creates the container (with the configured policy) once.
    pub async fn ensure_container(&self) -> io::Result<()> {
        if self.container_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        let headers: Vec<(&str, String)> = self
            .policy
            .iter()
            .map(|p| ("x-storage-policy", p.clone()))
            .collect();
        let resp = self.simple(Method::PUT, None, &headers).await?;
        if !resp.status().is_success() && resp.status() != StatusCode::CONFLICT {
            return Err(err(format!(
                "creating the image container answered {}",
                resp.status()
            )));
        }
        self.container_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stores an object from the pieces sent into `body` (a chunked PUT);
    /// fails, storing nothing, if the sender is dropped with an error
    /// marker or the store refuses.
    pub async fn put(
        &self,
        object: &str,
        body: mpsc::Receiver<io::Result<Bytes>>,
    ) -> io::Result<()> {
        self.ensure_container().await?;
        let (base, token) = self.session(false).await?;
        let stream = tokio_stream_from(body).map(|r| r.map(http_body::Frame::data));
        let req = Request::put(self.url(&base, Some(object)))
            .header("x-auth-token", token)
            .header("content-type", "application/octet-stream")
            .body(StreamBody::new(stream).boxed_unsync())
            .map_err(err)?;
        let resp = self.http.request(req).await.map_err(err)?;
        if resp.status() != StatusCode::CREATED {
            return Err(err(format!("storing {object} answered {}", resp.status())));
        }
        Ok(())
    }

    /// Streams bytes `range` (inclusive) of an object, or all of it.
    pub async fn get(&self, object: &str, range: Option<(u64, u64)>) -> io::Result<ByteStream> {
        let headers: Vec<(&str, String)> = range
            .iter()
            .map(|(a, b)| ("range", format!("bytes={a}-{b}")))
            .collect();
        let resp = self.simple(Method::GET, Some(object), &headers).await?;
        if !resp.status().is_success() {
            return Err(err(format!("reading {object} answered {}", resp.status())));
        }
        Ok(Box::pin(
            resp.into_body().into_data_stream().map(|r| r.map_err(err)),
        ))
    }

    /// Deletes an object (gone already is fine).
    pub async fn delete(&self, object: &str) -> io::Result<()> {
        let resp = self.simple(Method::DELETE, Some(object), &[]).await?;
        if resp.status().is_success() || resp.status() == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(err(format!("deleting {object} answered {}", resp.status())))
        }
    }
}

/// A receiver as a stream.
fn tokio_stream_from(
    mut rx: mpsc::Receiver<io::Result<Bytes>>,
) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
