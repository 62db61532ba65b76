//! The upload pipeline of an erasure-coded policy. The body is read once
//! and cut into segments; an encoder thread turns each segment into `k + m`
//! framed fragments (`ec::archive`, each with its own check), MD5 (the
//! ETag) runs on a thread of its own, and fragment `i` streams to
//! the `i`-th primary (or a handoff standing in for it). As with
//! replication, nothing becomes visible until the whole body arrived and
//! matched its length and ETag; the write succeeds when `k + 1` archives
//! are committed. Small bodies are encoded whole and stored inline.

use std::io;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;

use super::put::{self, digest_pipe, next_chunk, BodySpec, BodyStream, Digests, Stored};
use super::{tally, Placement, ProxyError, INLINE_MAX};
use crate::ec::archive::{self, Layout, CHECK_LEN};
use crate::ec::EcScheme;
use crate::node::{Node, Upload};
use crate::store::record::{Fragment, ObjectMeta, Placement as Where};
use crate::store::upload::aligned_buffer;
use crate::store::StoreError;

/// Segments (and their fragments) in flight between the stages.
const PIPELINE_DEPTH: usize = 4;

/// Reads `body` and stores it as fragment archives of `template` on the
/// placement's primaries.
pub async fn store(
    place: &Placement,
    scheme: &Arc<EcScheme>,
    spec: &BodySpec,
    template: ObjectMeta,
    mut body: BodyStream,
) -> Result<Stored, ProxyError> {
    if spec.content_length.is_some_and(|l| l > spec.max_size) {
        return Err(ProxyError::TooLarge);
    }
    let mut head = BytesMut::new();
    let mut big = spec.content_length.is_some_and(|l| l > INLINE_MAX as u64);
    while !big {
        match next_chunk(&mut body).await? {
            None => break,
            Some(chunk) => {
                head.extend_from_slice(&chunk);
                big = head.len() > INLINE_MAX;
            }
        }
    }
    if !big {
        let mut digests = Digests::md5_only();
        digests.update(&head);
        let meta = digests.finish(spec, template)?;
        return store_inline(place, scheme, meta, &head).await;
    }
    store_streamed(place, scheme, spec, template, head.freeze(), body).await
}

/// The metadata of archive `index` of an object described by `logical`.
fn fragment_meta(
    logical: &ObjectMeta,
    scheme: &EcScheme,
    index: usize,
    archive_len: u64,
    placement: Where,
) -> ObjectMeta {
    ObjectMeta {
        size: archive_len,
        // Each fragment carries its own check (see `encoder`).
        blake3: String::new(),
        placement,
        fragment: Some(Fragment {
            index: index as u32,
            object_size: logical.size,
            k: scheme.k as u32,
            m: scheme.m as u32,
            segment_size: scheme.segment_size as u64,
        }),
        ..logical.clone()
    }
}

async fn store_inline(
    place: &Placement,
    scheme: &Arc<EcScheme>,
    meta: ObjectMeta,
    body: &[u8],
) -> Result<Stored, ProxyError> {
    let archives = archive::encode_all(scheme, body)
        .map_err(|e| ProxyError::Store(io::Error::other(e).into()))?;
    let writes: Vec<(ObjectMeta, Bytes)> = archives
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let a = a.freeze();
            (
                fragment_meta(&meta, scheme, i, a.len() as u64, Where::Inline),
                a,
            )
        })
        .collect();
    let results = write_inline(place, writes).await;
    let (nodes, replaced) = tally(results, place.quorum())?.into_iter().unzip();
    Ok(Stored {
        meta,
        nodes,
        replaced,
    })
}

/// Writes inline archive `i` to primary `i`, replacing failed primaries by handoffs.
async fn write_inline(
    place: &Placement,
    writes: Vec<(ObjectMeta, Bytes)>,
) -> Vec<Result<(Node, Option<ObjectMeta>), StoreError>> {
    let first = place
        .nodes
        .iter()
        .zip(&writes)
        .map(|(node, (meta, body))| async move {
            node.put_object(place.part, place.hash, meta.clone(), body.clone())
                .await
                .map(|old| (node.clone(), old))
        });
    let mut results = futures::future::join_all(first).await;
    let mut handoffs = place.handoffs.iter();
    for (r, (meta, body)) in results.iter_mut().zip(&writes) {
        while matches!(r, Err(e) if !matches!(e, StoreError::Conflict)) {
            let Some(node) = handoffs.next() else { break };
            *r = node
                .put_object(place.part, place.hash, meta.clone(), body.clone())
                .await
                .map(|old| (node.clone(), old));
        }
    }
    results
}

/// An upload of one archive.
struct ArchiveUpload {
    index: usize,
    node: Node,
    upload: Upload,
}

/// Opens an upload for archive `i` on primary `i` (a handoff where it
/// cannot). Archives arrive in aligned pieces. Parity archives bypass the
/// page cache; data archives go through it, so fresh objects are read from
/// memory without decoding (as the first replica of a replicated object:
/// the same bytes cached either way).
fn open_archive_uploads(place: &Placement, k: usize) -> Result<Vec<ArchiveUpload>, ProxyError> {
    Ok(put::open_uploads(place, |slot| slot >= k)?
        .into_iter()
        .map(|(index, node, upload)| ArchiveUpload {
            index,
            node,
            upload,
        })
        .collect())
}

/// The encoder stage: segments in, framed fragments out. Archives carry
/// no whole-body BLAKE3: every fragment has its own check, which readers,
/// the auditor and the reconstructor verify.
fn encoder(
    scheme: Arc<EcScheme>,
    mut segments: mpsc::Receiver<Bytes>,
    fragments: mpsc::Sender<Vec<Bytes>>,
) -> tokio::task::JoinHandle<Result<(), ProxyError>> {
    tokio::task::spawn_blocking(move || {
        let mut shards = vec![Vec::new(); scheme.width()];
        while let Some(segment) = segments.blocking_recv() {
            let framed = archive::encode_segment(&scheme, &segment, &mut shards)
                .map_err(|e| ProxyError::Store(io::Error::other(e).into()))?;
            if fragments.blocking_send(framed).is_err() {
                break;
            }
        }
        Ok(())
    })
}

/// Bytes of an archive sent to its device at a time: 4 KiB-aligned pieces
/// the device writes with `O_DIRECT` (only the tail goes through the page
/// cache), as for replicas.
const ARCHIVE_PIECE: usize = 1024 * 1024;

/// One archive's pipe and the bytes gathered for its next piece.
struct ArchivePipe {
    index: usize,
    tx: Option<mpsc::Sender<Bytes>>,
    gathered: BytesMut,
}

fn piece_buffer(segment_fragment: usize) -> BytesMut {
    aligned_buffer(ARCHIVE_PIECE + segment_fragment + CHECK_LEN)
}

/// The fan-out stage: fragment `i` of every segment to archive `i`'s pipe,
/// gathered into aligned pieces. Fails when fewer than a quorum of pipes
/// remain.
fn forwarder(
    senders: Vec<(usize, Option<mpsc::Sender<Bytes>>)>,
    mut fragments: mpsc::Receiver<Vec<Bytes>>,
    quorum: usize,
    fragment_len: usize,
) -> tokio::task::JoinHandle<Result<(), ProxyError>> {
    tokio::spawn(async move {
        let mut pipes: Vec<ArchivePipe> = senders
            .into_iter()
            .map(|(index, tx)| ArchivePipe {
                index,
                tx,
                gathered: piece_buffer(fragment_len),
            })
            .collect();
        let mut done = false;
        while !done {
            let framed = fragments.recv().await;
            done = framed.is_none();
            let mut pieces = Vec::with_capacity(pipes.len());
            for pipe in pipes.iter_mut() {
                if let Some(framed) = &framed {
                    pipe.gathered.extend_from_slice(&framed[pipe.index]);
                }
                let piece = if pipe.gathered.len() >= ARCHIVE_PIECE {
                    let mut full =
                        std::mem::replace(&mut pipe.gathered, piece_buffer(fragment_len));
                    pipe.gathered.extend_from_slice(&full[ARCHIVE_PIECE..]);
                    full.truncate(ARCHIVE_PIECE);
                    Some(full.freeze())
                } else if done && !pipe.gathered.is_empty() {
                    Some(pipe.gathered.split().freeze())
                } else {
                    None
                };
                pieces.push(piece);
            }
            let sends = pipes.iter().zip(pieces).map(|(pipe, piece)| async move {
                match (&pipe.tx, piece) {
                    (Some(tx), Some(piece)) => tx.send(piece).await.is_ok(),
                    (Some(_), None) => true,
                    (None, _) => false,
                }
            });
            let ok = futures::future::join_all(sends).await;
            for (pipe, ok) in pipes.iter_mut().zip(ok) {
                if !ok {
                    pipe.tx = None;
                }
            }
            let live = pipes.iter().filter(|p| p.tx.is_some()).count();
            if live < quorum {
                return Err(ProxyError::Quorum {
                    ok: live,
                    needed: quorum,
                });
            }
        }
        Ok(())
    })
}

async fn store_streamed(
    place: &Placement,
    scheme: &Arc<EcScheme>,
    spec: &BodySpec,
    template: ObjectMeta,
    head: Bytes,
    mut body: BodyStream,
) -> Result<Stored, ProxyError> {
    let mut uploads = open_archive_uploads(place, scheme.k)?;
    let senders = uploads
        .iter_mut()
        .map(|u| (u.index, u.upload.sender.take()))
        .collect();
    let quorum = place.quorum();
    let (seg_tx, seg_rx) = mpsc::channel::<Bytes>(PIPELINE_DEPTH);
    let (frag_tx, frag_rx) = mpsc::channel::<Vec<Bytes>>(PIPELINE_DEPTH);
    let encoding = encoder(scheme.clone(), seg_rx, frag_tx);
    let forwarding = forwarder(
        senders,
        frag_rx,
        quorum,
        scheme.fragment_len(scheme.segment_size),
    );
    let (md5_tx, md5_thread) = digest_pipe(Digests::md5_only());
    let segment_size = scheme.segment_size;
    let mut segment = BytesMut::with_capacity(segment_size);
    let mut len = 0u64;
    let mut first = Some(head);
    let read: Result<(), ProxyError> = async {
        loop {
            let chunk = match first.take() {
                Some(head) => Some(head),
                None => next_chunk(&mut body).await?,
            };
            let Some(chunk) = chunk else { break };
            len += chunk.len() as u64;
            if len > spec.max_size {
                return Err(ProxyError::TooLarge);
            }
            if spec.content_length.is_some_and(|l| len > l) {
                return Err(ProxyError::LengthMismatch);
            }
            let mut data = &chunk[..];
            while !data.is_empty() {
                let take = (segment_size - segment.len()).min(data.len());
                segment.extend_from_slice(&data[..take]);
                data = &data[take..];
                if segment.len() == segment_size {
                    let full =
                        std::mem::replace(&mut segment, BytesMut::with_capacity(segment_size));
                    send_segment(&md5_tx, &seg_tx, full.freeze()).await?;
                }
            }
        }
        if !segment.is_empty() {
            send_segment(&md5_tx, &seg_tx, segment.split().freeze()).await?;
        }
        Ok(())
    }
    .await;
    drop(seg_tx);
    drop(md5_tx);
    let encoded = encoding.await.map_err(join_err)?;
    let forwarded = forwarding.await.map_err(join_err)?;
    forwarded?;
    encoded?;
    read?;
    let digests = md5_thread.await.map_err(join_err)?;
    let logical = digests.finish(spec, template)?;
    let archive_len = Layout::new(scheme, logical.size).archive_len();
    let commits = uploads.into_iter().map(|u| {
        let meta = fragment_meta(&logical, scheme, u.index, archive_len, Where::File);
        async move { u.upload.commit(meta).await.map(|old| (u.node, old)) }
    });
    let results = futures::future::join_all(commits).await;
    let (nodes, replaced) = tally(results, quorum)?.into_iter().unzip();
    Ok(Stored {
        meta: logical,
        nodes,
        replaced,
    })
}

/// Hands a segment to the MD5 thread and the encoder.
async fn send_segment(
    md5: &mpsc::Sender<Bytes>,
    encoder: &mpsc::Sender<Bytes>,
    segment: Bytes,
) -> Result<(), ProxyError> {
    let stopped = || ProxyError::Store(io::Error::other("fragment pipeline stopped").into());
    md5.send(segment.clone()).await.map_err(|_| stopped())?;
    encoder.send(segment).await.map_err(|_| stopped())
}

fn join_err(e: tokio::task::JoinError) -> ProxyError {
    ProxyError::Store(io::Error::other(e).into())
}
