//! The caller's side of the storage protocol: a device on another host,
//! reached over pooled HTTP/1.1 connections. A host that refuses a
//! connection is skipped for a few seconds (Swift's error suppression), so
//! writes go straight to handoffs instead of waiting on a dead host.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use http::{Method, Request, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot};

use super::wire::{self, tag, Call, WireResult};
use crate::store::device::StoredObject;
use crate::store::record::{ObjectMeta, Placement};
use crate::store::stream::{file_stream, BodyStream};
use crate::store::{DeviceStore, StoreError};
use crate::timestamp::Timestamp;

/// How long a call may take (Swift's node_timeout).
const NODE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a host that refused a connection is skipped.
const SUPPRESSION: Duration = Duration::from_secs(3);

/// The header naming the storage policy of the addressed store (Swift's).
pub const POLICY_HEADER: &str = "x-backend-storage-policy-index";

/// Request body of the storage protocol.
pub type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

/// The HTTP client shared by every remote device.
pub type HttpClient = Client<HttpConnector, ReqBody>;

/// A client with short connect timeouts and no Nagle delay.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(2)));
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// Whether a host recently refused connections.
#[derive(Default)]
pub struct HostHealth {
    down_until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A device served by another storage host.
pub struct RemoteDevice {
    pub id: u32,
    /// The storage policy of the store addressed on that device.
    pub policy: u32,
    /// `ip:port` of the host's storage server.
    pub host: String,
    http: HttpClient,
    health: Arc<HostHealth>,
}

fn io_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(io::Error::other(e.to_string()))
}

fn full(bytes: impl Into<Bytes>) -> ReqBody {
    Full::new(bytes.into())
        .map_err(|n| match n {})
        .boxed_unsync()
}

fn streamed(stream: BodyStream) -> ReqBody {
    StreamBody::new(stream.map(|r| r.map(http_body::Frame::data))).boxed_unsync()
}

impl RemoteDevice {
    pub fn new(
        id: u32,
        policy: u32,
        host: String,
        http: HttpClient,
        health: Arc<HostHealth>,
    ) -> Self {
        RemoteDevice {
            id,
            policy,
            host,
            http,
            health,
        }
    }

    fn check_up(&self) -> Result<(), StoreError> {
        if self.health.down_until_ms.load(Ordering::Relaxed) > now_ms() {
            return Err(io_err(format!(
                "host {} is suppressed after errors",
                self.host
            )));
        }
        Ok(())
    }

    fn note_failure(&self, e: &hyper_util::client::legacy::Error) {
        if e.is_connect() {
            self.health
                .down_until_ms
                .store(now_ms() + SUPPRESSION.as_millis() as u64, Ordering::Relaxed);
        }
    }

    fn request(&self, method: Method, path: &str, body: ReqBody) -> Request<ReqBody> {
        Request::builder()
            .method(method)
            .uri(format!("http://{}/{path}", self.host))
            .header(POLICY_HEADER, self.policy)
            .body(body)
            .expect("valid request")
    }

    /// Sends a request; `timeout` bounds the wait for the response head.
    async fn send(
        &self,
        req: Request<ReqBody>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<Incoming>, StoreError> {
        self.check_up()?;
        let sent = self.http.request(req);
        let result = match timeout {
            Some(t) => tokio::time::timeout(t, sent)
                .await
                .map_err(|_| io_err(format!("host {} timed out", self.host)))?,
            None => sent.await,
        };
        result.map_err(|e| {
            self.note_failure(&e);
            io_err(format!("host {}: {e}", self.host))
        })
    }

    async fn body_of(resp: http::Response<Incoming>) -> Result<Bytes, StoreError> {
        tokio::time::timeout(NODE_TIMEOUT, resp.into_body().collect())
            .await
            .map_err(|_| io_err("response body timed out"))?
            .map(|b| b.to_bytes())
            .map_err(io_err)
    }

    async fn answer<T: DeserializeOwned>(resp: http::Response<Incoming>) -> Result<T, StoreError> {
        let status = resp.status();
        let body = Self::body_of(resp).await?;
        if status != StatusCode::OK {
            return Err(io_err(format!(
                "storage node answered {status}: {}",
                String::from_utf8_lossy(&body)
            )));
        }
        let result: WireResult<T> = serde_json::from_slice(&body).map_err(io_err)?;
        result.map_err(Into::into)
    }

    /// Makes a small call on the device.
    pub async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<T, StoreError> {
        let body = serde_json::to_vec(&call).map_err(io_err)?;
        let req = self.request(Method::POST, &format!("rpc/{}", self.id), full(body));
        let resp = self.send(req, Some(NODE_TIMEOUT)).await?;
        Self::answer(resp).await
    }

    fn object_path(&self, what: &str, part: u32, hash: &[u8; 16]) -> String {
        format!("{what}/{}/{part}/{}", self.id, hex::encode(hash))
    }

    pub async fn get_object(
        &self,
        part: u32,
        hash: [u8; 16],
    ) -> Result<Option<StoredObject>, StoreError> {
        let req = self.request(
            Method::GET,
            &self.object_path("object", part, &hash),
            full(Bytes::new()),
        );
        let resp = self.send(req, Some(NODE_TIMEOUT)).await?;
        match resp.status() {
            StatusCode::NO_CONTENT => Ok(None),
            StatusCode::OK => {
                let (meta, inline) = wire::decode_stored(Self::body_of(resp).await?)?;
                let meta: ObjectMeta = serde_json::from_slice(&meta).map_err(io_err)?;
                let inline =
                    (meta.placement == Placement::Inline && !meta.deleted).then_some(inline);
                Ok(Some(StoredObject { meta, inline }))
            }
            _ => Err(Self::answer::<()>(resp)
                .await
                .err()
                .unwrap_or(StoreError::Corrupt)),
        }
    }

    pub async fn put_object(
        &self,
        part: u32,
        hash: [u8; 16],
        meta: ObjectMeta,
        body: Bytes,
    ) -> Result<Option<ObjectMeta>, StoreError> {
        let meta = serde_json::to_vec(&meta).map_err(io_err)?;
        let req = self.request(
            Method::PUT,
            &self.object_path("object", part, &hash),
            full(wire::encode_stored(&meta, &body)),
        );
        let resp = self.send(req, Some(NODE_TIMEOUT)).await?;
        Self::answer(resp).await
    }

    /// Starts an upload: body pieces go out as data frames as they are sent;
    /// the metadata frame follows on commit. The request is aborted (and the
    /// device discards the file) if the upload is dropped uncommitted.
    pub fn open_upload(
        self: &Arc<Self>,
        part: u32,
        hash: [u8; 16],
        direct: bool,
    ) -> Result<(mpsc::Sender<Bytes>, RemoteUpload), StoreError> {
        self.check_up()?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(4);
        let (meta_tx, meta_rx) = oneshot::channel::<Bytes>();
        let data = async_stream(move |out| async move {
            while let Some(piece) = rx.recv().await {
                if !out
                    .send(Ok(wire::frame_header(tag::DATA, piece.len())))
                    .await
                    || !out.send(Ok(piece)).await
                {
                    return;
                }
            }
            match meta_rx.await {
                Ok(meta) => {
                    if out.send(Ok(wire::frame(tag::META, &meta))).await {
                        out.send(Ok(wire::frame(tag::END, b""))).await;
                    }
                }
                Err(_) => {
                    out.send(Err(io::Error::other("upload abandoned"))).await;
                }
            }
        });
        let path = format!(
            "{}?direct={}",
            self.object_path("upload", part, &hash),
            u8::from(direct)
        );
        let req = self.request(Method::PUT, &path, streamed(data));
        let me = self.clone();
        let response = tokio::spawn(async move {
            let resp = me.send(req, None).await?;
            Self::answer(resp).await
        });
        Ok((tx, RemoteUpload { meta_tx, response }))
    }

    pub async fn read_verified(
        &self,
        part: u32,
        hash: [u8; 16],
        meta: &ObjectMeta,
    ) -> Result<Option<Bytes>, StoreError> {
        let path = format!(
            "{}/{}?size={}&blake3={}",
            self.object_path("verified", part, &hash),
            meta.ts.0,
            meta.size,
            meta.blake3
        );
        let req = self.request(Method::GET, &path, full(Bytes::new()));
        let resp = self.send(req, Some(NODE_TIMEOUT)).await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(Self::body_of(resp).await?)),
            StatusCode::CONFLICT => Ok(None),
            StatusCode::NOT_FOUND => Err(StoreError::NotFound),
            s => Err(io_err(format!("storage node answered {s}"))),
        }
    }

    pub fn stream_file(
        self: &Arc<Self>,
        part: u32,
        hash: [u8; 16],
        ts: Timestamp,
        offset: u64,
        len: u64,
        verify: Option<String>,
    ) -> BodyStream {
        let path = format!(
            "{}/{}?offset={offset}&len={len}&verify={}",
            self.object_path("file", part, &hash),
            ts.0,
            verify.unwrap_or_default()
        );
        let me = self.clone();
        let opened = async move {
            let req = me.request(Method::GET, &path, full(Bytes::new()));
            let resp = me
                .send(req, Some(NODE_TIMEOUT))
                .await
                .map_err(io::Error::other)?;
            if resp.status() != StatusCode::OK {
                return Err(io::Error::other(format!(
                    "storage node answered {}",
                    resp.status()
                )));
            }
            Ok(resp
                .into_body()
                .into_data_stream()
                .map(|r| r.map_err(io::Error::other)))
        };
        Box::pin(futures::TryStreamExt::try_flatten(futures::stream::once(
            opened,
        )))
    }

    /// Pushes a record (and the body of a data-file object) to the device.
    pub async fn apply_replica(
        &self,
        key: &[u8],
        raw: &[u8],
        source: &DeviceStore,
    ) -> Result<u64, StoreError> {
        let head = futures::stream::iter([
            Ok(wire::frame(tag::KEY, key)),
            Ok(wire::frame(tag::RAW, raw)),
        ]);
        let body: BodyStream = match crate::store::scan::replica_body(key, raw)? {
            Some((part, hash, meta)) => {
                let file = file_stream(source.data_path(part, &hash, meta.ts), 0, meta.size, None);
                let frames = file.flat_map(|r| {
                    let items: Vec<io::Result<Bytes>> = match r {
                        Ok(piece) => {
                            vec![Ok(wire::frame_header(tag::DATA, piece.len())), Ok(piece)]
                        }
                        Err(e) => vec![Err(e)],
                    };
                    futures::stream::iter(items)
                });
                Box::pin(
                    head.chain(frames)
                        .chain(futures::stream::iter([Ok(wire::frame(tag::END, b""))])),
                )
            }
            None => Box::pin(head.chain(futures::stream::iter([Ok(wire::frame(tag::END, b""))]))),
        };
        let req = self.request(Method::PUT, &format!("replica/{}", self.id), streamed(body));
        let resp = self.send(req, None).await?;
        Self::answer(resp).await
    }
}

/// The pending end of a remote upload.
pub struct RemoteUpload {
    meta_tx: oneshot::Sender<Bytes>,
    response: tokio::task::JoinHandle<Result<Option<ObjectMeta>, StoreError>>,
}

impl RemoteUpload {
    /// Sends the metadata frame and waits for the device to commit.
    pub async fn commit(self, meta: ObjectMeta) -> Result<Option<ObjectMeta>, StoreError> {
        let json = serde_json::to_vec(&meta).map_err(io_err)?;
        let _ = self.meta_tx.send(Bytes::from(json));
        tokio::time::timeout(NODE_TIMEOUT * 3, self.response)
            .await
            .map_err(|_| io_err("commit timed out"))?
            .map_err(io_err)?
    }
}

/// A stream fed by an async producer through a small channel.
fn async_stream<F, Fut>(produce: F) -> BodyStream
where
    F: FnOnce(Feeder) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(2);
    tokio::spawn(produce(Feeder(tx)));
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

/// The producing end of `async_stream`.
pub struct Feeder(mpsc::Sender<io::Result<Bytes>>);

impl Feeder {
    /// Sends an item; false once the consumer is gone.
    async fn send(&self, item: io::Result<Bytes>) -> bool {
        self.0.send(item).await.is_ok()
    }
}
