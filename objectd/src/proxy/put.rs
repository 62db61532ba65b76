//! The object upload pipeline. The body is read once; MD5 (the ETag) and
//! BLAKE3 (the on-disk checksum) are computed as it passes. Bodies that end
//! within `INLINE_MAX` go to every primary's metadata database in one group
//! commit; larger ones are streamed to a temporary data file on every primary
//! at once and committed only after the whole body arrived and matched its
//! declared length and ETag, so a failed upload leaves nothing visible.

use std::io;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use openssl::hash::{Hasher, MessageDigest};

use super::{tally, Placement, ProxyError, INLINE_MAX};
use crate::node::{Node, Upload};
use crate::store::record::{ObjectMeta, Placement as Where};
use crate::store::upload::aligned_buffer;

pub use crate::store::stream::BodyStream;

/// How long the proxy waits for the next chunk of a body (Swift's client_timeout).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What the client declared about the body.
pub struct BodySpec {
    pub content_length: Option<u64>,
    pub expected_etag: Option<String>,
    pub max_size: u64,
    /// Whether one replica is written through the page cache (so that
    /// fresh objects are read from memory); without, all bypass it.
    pub page_cache: bool,
}

/// Running digests and length of a body.
pub(super) struct Digests {
    /// OpenSSL's MD5: about 25 % faster here than the md-5 crate, and MD5 bounds a single PUT.
    md5: Hasher,
    /// The body's BLAKE3 (not needed when the body is stored as fragments).
    blake3: Option<blake3::Hasher>,
    len: u64,
}

impl Digests {
    pub(super) fn new() -> Self {
        Digests {
            md5: Hasher::new(MessageDigest::md5()).expect("OpenSSL provides MD5"),
            blake3: Some(blake3::Hasher::new()),
            len: 0,
        }
    }

    /// MD5 and length only.
    pub(super) fn md5_only() -> Self {
        Digests {
            blake3: None,
            ..Digests::new()
        }
    }

    pub(super) fn update(&mut self, chunk: &[u8]) {
        self.md5.update(chunk).expect("MD5 update cannot fail");
        if let Some(b) = &mut self.blake3 {
            b.update(chunk);
        }
        self.len += chunk.len() as u64;
    }

    /// Checks length and ETag and fills the template's size and digests.
    pub(super) fn finish(
        mut self,
        spec: &BodySpec,
        mut meta: ObjectMeta,
    ) -> Result<ObjectMeta, ProxyError> {
        if spec.content_length.is_some_and(|l| l != self.len) {
            return Err(ProxyError::LengthMismatch);
        }
        let etag = hex::encode(self.md5.finish().expect("MD5 finish cannot fail"));
        if spec
            .expected_etag
            .as_deref()
            .is_some_and(|e| !e.eq_ignore_ascii_case(&etag))
        {
            return Err(ProxyError::EtagMismatch);
        }
        meta.size = self.len;
        meta.etag = etag;
        meta.blake3 = self
            .blake3
            .map(|b| b.finalize().to_hex().to_string())
            .unwrap_or_default();
        Ok(meta)
    }
}

pub(super) async fn next_chunk(body: &mut BodyStream) -> Result<Option<Bytes>, ProxyError> {
    match tokio::time::timeout(CLIENT_TIMEOUT, body.next()).await {
        Err(_) => Err(ProxyError::ClientBody(io::Error::new(
            io::ErrorKind::TimedOut,
            "client timed out",
        ))),
        Ok(None) => Ok(None),
        Ok(Some(Err(e))) => Err(ProxyError::ClientBody(e)),
        Ok(Some(Ok(c))) => Ok(Some(c)),
    }
}

/// What a successful upload stored.
pub struct Stored {
    pub meta: ObjectMeta,
    /// The devices that hold the new version.
    pub nodes: Vec<Node>,
    /// What each of those devices held before (its replaced version).
    pub replaced: Vec<Option<ObjectMeta>>,
}

/// Reads `body` and stores it as `template` on the placement's primaries
/// (handoffs standing in for failed ones).
pub async fn store(
    place: &Placement,
    spec: &BodySpec,
    template: ObjectMeta,
    mut body: BodyStream,
) -> Result<Stored, ProxyError> {
    if spec.content_length.is_some_and(|l| l > spec.max_size) {
        return Err(ProxyError::TooLarge);
    }
    let mut digests = Digests::new();
    let mut head = BytesMut::with_capacity(INLINE_MAX + FAN_OUT_CHUNK);
    let mut big = spec.content_length.is_some_and(|l| l > INLINE_MAX as u64);
    while !big {
        match next_chunk(&mut body).await? {
            None => break,
            Some(chunk) => {
                digests.update(&chunk);
                head.extend_from_slice(&chunk);
                big = head.len() > INLINE_MAX;
            }
        }
    }
    if !big {
        let mut meta = digests.finish(spec, template)?;
        meta.placement = Where::Inline;
        let body = head.freeze();
        let results = write_inline(place, &meta, &body).await;
        let (nodes, replaced) = tally(results, place.quorum())?.into_iter().unzip();
        return Ok(Stored {
            meta,
            nodes,
            replaced,
        });
    }
    // The first replica goes through the page cache, so fresh objects are
    // read from memory; the others bypass it (see store::upload).
    let mut uploads: Vec<(Node, Upload)> =
        open_uploads(place, |slot| slot > 0 || !spec.page_cache)?
            .into_iter()
            .map(|(_, node, upload)| (node, upload))
            .collect();
    let mut senders: Vec<_> = uploads.iter_mut().map(|(_, u)| u.sender.take()).collect();
    // Digests run on a blocking thread of their own, beside the file writers,
    // so MD5 (the slowest step) neither blocks the runtime nor the fan-out.
    let (hash_tx, hash_thread) = digest_pipe(Digests::new());
    let quorum = place.quorum();
    let mut len = 0u64;
    let mut pending = aligned_buffer(FAN_OUT_CHUNK);
    let mut first = Some(head.freeze());
    loop {
        let chunk = match first.take() {
            Some(head) => Some(head),
            None => next_chunk(&mut body).await?,
        };
        let Some(chunk) = chunk else {
            if !pending.is_empty() {
                send_piece(&hash_tx, &mut senders, pending.freeze(), quorum).await?;
            }
            break;
        };
        len += chunk.len() as u64;
        if len > spec.max_size {
            return Err(ProxyError::TooLarge);
        }
        if spec.content_length.is_some_and(|l| len > l) {
            return Err(ProxyError::LengthMismatch);
        }
        // Coalesce into aligned 1 MiB pieces: each pipe wakes once per MiB and
        // the file writers can use O_DIRECT.
        let mut data = &chunk[..];
        while !data.is_empty() {
            let take = (FAN_OUT_CHUNK - pending.len()).min(data.len());
            pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if pending.len() == FAN_OUT_CHUNK {
                let piece = std::mem::replace(&mut pending, aligned_buffer(FAN_OUT_CHUNK)).freeze();
                send_piece(&hash_tx, &mut senders, piece, quorum).await?;
            }
        }
    }
    drop(hash_tx);
    let digests = hash_thread
        .await
        .map_err(|e| ProxyError::Store(io::Error::other(e).into()))?;
    let mut meta = digests.finish(spec, template)?;
    meta.placement = Where::File;
    drop(senders);
    let commits = uploads.into_iter().map(|(node, upload)| {
        let meta = meta.clone();
        async move { upload.commit(meta).await.map(|old| (node, old)) }
    });
    let results = futures::future::join_all(commits).await;
    let (nodes, replaced) = tally(results, place.quorum())?.into_iter().unzip();
    Ok(Stored {
        meta,
        nodes,
        replaced,
    })
}

/// Size of the pieces a large body is fanned out in.
const FAN_OUT_CHUNK: usize = 1024 * 1024;

/// Sends one piece to the digest thread and every live file pipe.
async fn send_piece(
    hash_tx: &tokio::sync::mpsc::Sender<Bytes>,
    senders: &mut [Option<tokio::sync::mpsc::Sender<Bytes>>],
    piece: Bytes,
    quorum: usize,
) -> Result<(), ProxyError> {
    if hash_tx.send(piece.clone()).await.is_err() {
        return Err(ProxyError::Store(
            io::Error::other("digest thread stopped").into(),
        ));
    }
    feed(senders, piece, quorum).await
}

/// Moves the digests to a blocking thread fed by a channel.
pub(super) fn digest_pipe(
    mut digests: Digests,
) -> (
    tokio::sync::mpsc::Sender<Bytes>,
    tokio::task::JoinHandle<Digests>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let handle = tokio::task::spawn_blocking(move || {
        while let Some(piece) = rx.blocking_recv() {
            digests.update(&piece);
        }
        digests
    });
    (tx, handle)
}

/// Writes an inline object to every primary, replacing failed ones by
/// handoffs; answers the device that took each replica and what it replaced.
async fn write_inline(
    place: &Placement,
    meta: &ObjectMeta,
    body: &Bytes,
) -> Vec<Result<(Node, Option<ObjectMeta>), crate::store::StoreError>> {
    let writes = place.nodes.iter().map(|node| async move {
        node.put_object(place.part, place.hash, meta.clone(), body.clone())
            .await
            .map(|old| (node.clone(), old))
    });
    let mut results = futures::future::join_all(writes).await;
    let mut handoffs = place.handoffs.iter();
    for r in results.iter_mut() {
        while matches!(r, Err(e) if !matches!(e, crate::store::StoreError::Conflict)) {
            let Some(node) = handoffs.next() else { break };
            *r = node
                .put_object(place.part, place.hash, meta.clone(), body.clone())
                .await
                .map(|old| (node.clone(), old));
        }
    }
    results
}

/// Opens an upload for every primary slot (on a handoff where the primary
/// cannot take it); `direct(slot)` says whether that slot's upload bypasses
/// the page cache. Answers (slot, device, upload); fails below quorum.
pub(super) fn open_uploads(
    place: &Placement,
    direct: impl Fn(usize) -> bool,
) -> Result<Vec<(usize, Node, Upload)>, ProxyError> {
    let mut uploads = Vec::new();
    let mut handoffs = place.handoffs.iter();
    for (slot, node) in place.nodes.iter().enumerate() {
        let mut candidate = Some(node);
        while let Some(n) = candidate {
            match n.open_upload(place.part, place.hash, direct(slot)) {
                Ok(upload) => {
                    uploads.push((slot, n.clone(), upload));
                    break;
                }
                Err(e) => {
                    tracing::warn!(device = n.id(), slot, "cannot start upload: {e}");
                    candidate = handoffs.next();
                }
            }
        }
    }
    if uploads.len() < place.quorum() {
        return Err(ProxyError::Quorum {
            ok: uploads.len(),
            needed: place.quorum(),
        });
    }
    Ok(uploads)
}

/// Sends a chunk to every live pipe; a pipe whose writer failed is dropped.
pub(super) async fn feed(
    senders: &mut [Option<tokio::sync::mpsc::Sender<Bytes>>],
    chunk: Bytes,
    quorum: usize,
) -> Result<(), ProxyError> {
    let sends = senders.iter().map(|s| {
        let chunk = chunk.clone();
        async move {
            match s {
                Some(tx) => tx.send(chunk).await.is_ok(),
                None => false,
            }
        }
    });
    let ok = futures::future::join_all(sends).await;
    for (s, ok) in senders.iter_mut().zip(&ok) {
        if !ok {
            *s = None;
        }
    }
    let live = senders.iter().filter(|s| s.is_some()).count();
    if live < quorum {
        return Err(ProxyError::Quorum {
            ok: live,
            needed: quorum,
        });
    }
    Ok(())
}
