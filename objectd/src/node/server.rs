//! The storage host's side of the storage protocol: account, container and
//! object operations on the devices open in this process, served over HTTP
//! to proxies and to the other hosts' replicators and updaters.
//!
//! - `POST /rpc/{dev}`: a JSON `Call`, answered with a JSON result.
//! - `GET|PUT /object/{dev}/{part}/{hash}`: an object's index row (and
//!   inline body); storing an inline version or tombstone.
//! - `PUT /upload/{dev}/{part}/{hash}?direct=0|1`: a data file as frames
//!   (data, then metadata, then end); committed only when all arrived.
//! - `GET /verified/{dev}/{part}/{hash}/{ts}?size&blake3`: a whole small body,
//!   checked (409 and quarantined if corrupt).
//! - `GET /file/{dev}/{part}/{hash}/{ts}?offset&len&verify`: a body range.
//! - `PUT /replica/{dev}`: a replicated record (key, raw, body frames).
//! - `GET /healthcheck`, `GET /recon/{replication,auditor,expirer,updater}`,
//!   `GET /recon/devices` (objects and handoff partitions per device).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Serialize;

use super::wire::{self, tag, Call, FrameReader, WireError, WireResult};
use crate::api::response::{self, Resp};
use crate::daemons::Stats;
use crate::proxy::Cluster;
use crate::store::record::ObjectMeta;
use crate::store::upload::{aligned_buffer, FileUpload};
use crate::store::{DeviceStore, StoreError};
use crate::timestamp::Timestamp;

/// What the storage server needs: the cluster (for its local devices) and
/// the daemons' counters.
pub struct StorageState {
    pub cluster: Arc<Cluster>,
    pub stats: Arc<Stats>,
}

fn json<T: Serialize>(result: Result<T, StoreError>) -> Resp {
    let wire: WireResult<T> = result.map_err(WireError::from);
    match serde_json::to_vec(&wire) {
        Ok(body) => response::with_body(StatusCode::OK, "application/json", body),
        Err(e) => response::with_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            e.to_string(),
        ),
    }
}

fn bad_request(why: &str) -> Resp {
    response::with_body(StatusCode::BAD_REQUEST, "text/plain", why.to_string())
}

fn query(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn parse_hash(s: &str) -> Option<[u8; 16]> {
    hex::decode(s).ok()?.try_into().ok()
}

/// Serves one request of the storage protocol.
pub async fn handle(state: &StorageState, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').collect();
    if segs[0] == "healthcheck" {
        return response::with_body(StatusCode::OK, "text/plain", "OK");
    }
    if segs[0] == "recon" && segs.len() == 2 {
        if segs[1] == "devices" {
            return devices_recon(&state.cluster).await;
        }
        return crate::api::recon(&state.stats, segs[1]);
    }
    let policy = req
        .headers()
        .get(super::client::POLICY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    let Some(dev) = segs
        .get(1)
        .and_then(|d| d.parse::<u32>().ok())
        .and_then(|id| state.cluster.node_in(policy, id))
        .and_then(|n| n.local().cloned())
    else {
        return response::with_body(StatusCode::NOT_FOUND, "text/plain", "no such device here");
    };
    let object_addr = || -> Option<(u32, [u8; 16])> {
        Some((segs.get(2)?.parse().ok()?, parse_hash(segs.get(3)?)?))
    };
    match (req.method().clone(), segs[0]) {
        (Method::POST, "rpc") => rpc(&dev, req).await,
        (Method::GET, "object") => match object_addr() {
            Some((part, hash)) => get_object(&dev, part, hash).await,
            None => bad_request("bad object address"),
        },
        (Method::PUT, "object") => match object_addr() {
            Some((part, hash)) => put_object(&dev, part, hash, req).await,
            None => bad_request("bad object address"),
        },
        (Method::PUT, "upload") => match object_addr() {
            Some((part, hash)) => {
                let direct = query(&req).get("direct").is_some_and(|d| d == "1");
                json(receive_upload(&dev, part, hash, direct, req.into_body()).await)
            }
            None => bad_request("bad object address"),
        },
        (Method::GET, "verified") => {
            let q = query(&req);
            let ts = segs.get(4).and_then(|t| t.parse().ok()).map(Timestamp);
            let size = q.get("size").and_then(|s| s.parse().ok());
            match (object_addr(), ts, size, q.get("blake3")) {
                (Some((part, hash)), Some(ts), Some(size), Some(b3)) => {
                    let meta = ObjectMeta {
                        ts,
                        size,
                        blake3: b3.clone(),
                        ..ObjectMeta::tombstone(String::new(), ts)
                    };
                    match dev.read_verified(part, hash, &meta).await {
                        Ok(Some(body)) => {
                            response::with_body(StatusCode::OK, "application/octet-stream", body)
                        }
                        Ok(None) => response::with_body(
                            StatusCode::CONFLICT,
                            "text/plain",
                            "corrupt; quarantined",
                        ),
                        Err(StoreError::NotFound) => {
                            response::with_body(StatusCode::NOT_FOUND, "text/plain", "")
                        }
                        Err(e) => response::with_body(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "text/plain",
                            e.to_string(),
                        ),
                    }
                }
                _ => bad_request("bad verified read"),
            }
        }
        (Method::GET, "file") => {
            let q = query(&req);
            let ts = segs.get(4).and_then(|t| t.parse().ok()).map(Timestamp);
            let offset = q.get("offset").and_then(|s| s.parse().ok());
            let len = q.get("len").and_then(|s| s.parse().ok());
            match (object_addr(), ts, offset, len) {
                (Some((part, hash)), Some(ts), Some(offset), Some(len)) => {
                    if !dev.file_usable(part, hash, ts, offset + len).await {
                        return response::with_body(StatusCode::NOT_FOUND, "text/plain", "");
                    }
                    let verify = q.get("verify").filter(|v| !v.is_empty()).cloned();
                    let mut r = http::Response::new(response::streamed(
                        dev.stream_file(part, hash, ts, offset, len, verify),
                    ));
                    r.headers_mut()
                        .insert(http::header::CONTENT_LENGTH, len.into());
                    r
                }
                _ => bad_request("bad file read"),
            }
        }
        (Method::PUT, "replica") => json(receive_replica(&dev, req.into_body()).await),
        _ => response::with_body(StatusCode::METHOD_NOT_ALLOWED, "text/plain", ""),
    }
}

/// `GET /recon/devices`: per local device, its live objects, the
/// partitions it holds and how many of those it is not a primary for
/// (handoffs waiting to go home).
async fn devices_recon(cluster: &Cluster) -> Resp {
    let mut out = Vec::new();
    for dev in cluster.devices() {
        let Some(ring) = cluster.ring_of(dev.policy) else {
            continue;
        };
        let (objects, parts) = match (dev.object_count().await, dev.partitions().await) {
            (Ok(o), Ok(p)) => (o, p),
            (Err(e), _) | (_, Err(e)) => return json::<()>(Err(e)),
        };
        let handoffs = parts
            .iter()
            .filter(|p| !ring.primaries(**p).iter().any(|d| d.id == dev.id))
            .count();
        out.push(serde_json::json!({
            "id": dev.id,
            "policy": dev.policy,
            "objects": objects,
            "partitions": parts.len(),
            "handoff_partitions": handoffs,
        }));
    }
    out.sort_by_key(|d| (d["policy"].as_u64(), d["id"].as_u64()));
    response::with_body(
        StatusCode::OK,
        "application/json",
        serde_json::Value::Array(out).to_string(),
    )
}

/// Largest call or inline object body accepted: inline bodies are at most
/// 64 KiB, calls carry a listing query or a record.
const MAX_SMALL_BODY: usize = 4 * 1024 * 1024;

async fn read_all(body: Incoming) -> Result<Bytes, StoreError> {
    http_body_util::Limited::new(body, MAX_SMALL_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| StoreError::Io(io::Error::other(e)))
}

async fn rpc(dev: &DeviceStore, req: Request<Incoming>) -> Resp {
    let body = match read_all(req.into_body()).await {
        Ok(b) => b,
        Err(e) => return bad_request(&e.to_string()),
    };
    let call: Call = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return bad_request(&format!("bad call: {e}")),
    };
    match call {
        Call::PostObject { part, hash, post } => json(dev.post_object(part, hash, post).await),
        Call::FileUsable {
            part,
            hash,
            ts,
            size,
        } => json(Ok(dev.file_usable(part, hash, ts, size).await)),
        Call::Quarantine { part, hash, ts } => json(dev.quarantine_version(part, hash, ts).await),
        Call::ContainerRow {
            part,
            account,
            container,
            object,
            row,
        } => json(
            dev.container_row(part, &account, &container, &object, row)
                .await,
        ),
        Call::ContainerChange {
            part,
            account,
            container,
            change,
        } => json(
            dev.container_change(part, &account, &container, change)
                .await,
        ),
        Call::ContainerInfo {
            part,
            account,
            container,
        } => json(dev.container_info(part, &account, &container).await),
        Call::ListContainer {
            part,
            account,
            container,
            params,
        } => json(dev.list_container(part, &account, &container, params).await),
        Call::AccountRow {
            part,
            account,
            container,
            row,
            durable,
        } => json(
            dev.account_row(part, &account, &container, row, durable)
                .await,
        ),
        Call::AccountPost {
            part,
            account,
            ts,
            headers,
        } => json(dev.account_post(part, &account, ts, headers).await),
        Call::AccountInfo { part, account } => json(dev.account_info(part, &account).await),
        Call::ListAccount {
            part,
            account,
            params,
        } => json(dev.list_account(part, &account, params).await),
        Call::PartitionSummary { part } => json(
            dev.partition_summary(part)
                .await
                .map(|s| wire::summary_to_wire(&s)),
        ),
        Call::RecordPending { update } => json(dev.record_pending(update).await),
    }
}

async fn get_object(dev: &DeviceStore, part: u32, hash: [u8; 16]) -> Resp {
    match dev.get_object(part, hash).await {
        Ok(None) => response::empty(StatusCode::NO_CONTENT),
        Ok(Some(stored)) => match serde_json::to_vec(&stored.meta) {
            Ok(meta) => response::with_body(
                StatusCode::OK,
                "application/octet-stream",
                wire::encode_stored(&meta, stored.inline.as_deref().unwrap_or_default()),
            ),
            Err(e) => json::<()>(Err(StoreError::Io(io::Error::other(e)))),
        },
        Err(e) => {
            let mut r = json::<()>(Err(e));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

async fn put_object(dev: &DeviceStore, part: u32, hash: [u8; 16], req: Request<Incoming>) -> Resp {
    let result = async {
        let (meta, body) = wire::decode_stored(read_all(req.into_body()).await?)?;
        let meta: ObjectMeta = serde_json::from_slice(&meta).map_err(|_| StoreError::Corrupt)?;
        dev.put_object(part, hash, meta, body).await
    }
    .await;
    json(result)
}

/// Reads frames off a request body.
struct Frames {
    body: Incoming,
    reader: FrameReader,
}

impl Frames {
    fn new(body: Incoming) -> Self {
        Frames {
            body,
            reader: FrameReader::default(),
        }
    }

    /// The next frame; `None` when the body ended cleanly between frames.
    async fn next(&mut self) -> Result<Option<(u8, Bytes)>, StoreError> {
        loop {
            if let Some(f) = self.reader.next_frame()? {
                return Ok(Some(f));
            }
            match self.body.frame().await {
                None if self.reader.is_empty() => return Ok(None),
                None => {
                    return Err(StoreError::Io(io::Error::other(
                        "body ended inside a frame",
                    )))
                }
                Some(Err(e)) => return Err(StoreError::Io(io::Error::other(e))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.reader.push(&data);
                    }
                }
            }
        }
    }
}

/// Writes data frames into `upload` on its blocking writer in aligned
/// pieces (so `O_DIRECT` applies); answers the first non-data frame.
async fn receive_body(
    frames: &mut Frames,
    upload: FileUpload,
) -> Result<(FileUpload, Option<(u8, Bytes)>), StoreError> {
    const PIECE: usize = 1024 * 1024;
    let (tx, writer) = upload.into_pipe();
    let mut pending = aligned_buffer(PIECE);
    let next = loop {
        match frames.next().await? {
            Some((tag::DATA, mut data)) => {
                while !data.is_empty() {
                    let take = (PIECE - pending.len()).min(data.len());
                    pending.extend_from_slice(&data.split_to(take));
                    if pending.len() == PIECE {
                        let full = std::mem::replace(&mut pending, aligned_buffer(PIECE));
                        if tx.send(full.freeze()).await.is_err() {
                            break;
                        }
                    }
                }
            }
            other => break other,
        }
    };
    if !pending.is_empty() {
        let _ = tx.send(pending.freeze()).await;
    }
    drop(tx);
    let upload = writer.await.map_err(io::Error::other)??;
    Ok((upload, next))
}

async fn receive_upload(
    dev: &DeviceStore,
    part: u32,
    hash: [u8; 16],
    direct: bool,
    body: Incoming,
) -> Result<Option<ObjectMeta>, StoreError> {
    let mut frames = Frames::new(body);
    let upload = dev.start_upload(direct)?;
    let (upload, next) = receive_body(&mut frames, upload).await?;
    let Some((tag::META, meta)) = next else {
        return Err(StoreError::Io(io::Error::other(
            "upload ended without metadata",
        )));
    };
    if !matches!(frames.next().await?, Some((tag::END, _))) {
        return Err(StoreError::Io(io::Error::other("upload not finished")));
    }
    let meta: ObjectMeta = serde_json::from_slice(&meta).map_err(|_| StoreError::Corrupt)?;
    dev.put_file_object(part, hash, meta, upload).await
}

async fn receive_replica(dev: &DeviceStore, body: Incoming) -> Result<u64, StoreError> {
    let mut frames = Frames::new(body);
    let (Some((tag::KEY, key)), Some((tag::RAW, raw))) =
        (frames.next().await?, frames.next().await?)
    else {
        return Err(StoreError::Corrupt);
    };
    let (upload, end) = match crate::store::scan::replica_body(&key, &raw)? {
        Some(_) => {
            let (upload, next) = receive_body(&mut frames, dev.start_upload(true)?).await?;
            (Some(upload), next)
        }
        None => (None, frames.next().await?),
    };
    if !matches!(end, Some((tag::END, _))) {
        return Err(StoreError::Io(io::Error::other("replica not finished")));
    }
    dev.apply_received(&key, &raw, upload).await
}
