//! The transmission phase. Requests are read in order; each is then served
//! on its own task (device calls on blocking threads) and answered as soon
//! as it completes, so replies may overtake each other (the cookie pairs
//! them). Replies are simple, or structured when negotiated: reads as data
//! and hole chunks, block status for `base:allocation`, and errors with a
//! message. A request that cannot be parsed ends this connection only.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Mutex, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handshake::Session;
use super::proto::*;
use crate::device::{BlockDevice, Extent};

/// Requests served at once per connection.
const MAX_IN_FLIGHT: usize = 64;
/// Reads up to this size run on the connection's worker thread.
const INLINE_READ: u64 = 128 * 1024;

fn multi_thread() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// Most block-status descriptors in one reply.
const MAX_DESCRIPTORS: usize = 512;

/// One parsed request.
#[derive(Clone, Copy, Debug)]
struct Request {
    flags: u16,
    kind: u16,
    cookie: u64,
    offset: u64,
    len: u32,
}

/// How a finished request is answered.
enum Outcome {
    Ok,
    /// Read data (`None` chunks are holes), in order from the request's offset.
    Read(Vec<(Extent, Option<Vec<u8>>)>),
    Status(Vec<Extent>),
    Error(u32, &'static str),
}

type Writer<W> = Arc<Mutex<W>>;

/// Serves requests until the client disconnects or `shutdown`.
pub async fn run<R, W>(
    mut r: R,
    w: W,
    session: Session,
    shutdown: CancellationToken,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let writer = Arc::new(Mutex::new(w));
    let session = Arc::new(session);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let tracker = TaskTracker::new();
    let revoked = session.export.revoked.clone();
    let result = loop {
        let mut hdr = [0u8; 28];
        let read = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            _ = revoked.cancelled() => break Err(io::Error::other("export revoked")),
            read = r.read_exact(&mut hdr) => read,
        };
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
            Err(e) => break Err(e),
        }
        let magic = u32::from_be_bytes(hdr[0..4].try_into().expect("slice of 4"));
        if magic != REQUEST_MAGIC {
            break Err(io::Error::other("bad request magic"));
        }
        let req = Request {
            flags: u16::from_be_bytes([hdr[4], hdr[5]]),
            kind: u16::from_be_bytes([hdr[6], hdr[7]]),
            cookie: u64::from_be_bytes(hdr[8..16].try_into().expect("slice of 8")),
            offset: u64::from_be_bytes(hdr[16..24].try_into().expect("slice of 8")),
            len: u32::from_be_bytes(hdr[24..28].try_into().expect("slice of 4")),
        };
        if req.kind == CMD_DISC {
            break Ok(());
        }
        let payload = if req.kind == CMD_WRITE {
            if req.len > MAX_PAYLOAD {
                break Err(io::Error::other("write payload larger than advertised"));
            }
            let mut buf = vec![0u8; req.len as usize];
            if let Err(e) = r.read_exact(&mut buf).await {
                break Err(e);
            }
            Some(buf)
        } else {
            None
        };
        let permit = slots.clone().acquire_owned().await.expect("never closed");
        let (writer, session) = (writer.clone(), session.clone());
        tracker.spawn(async move {
            let outcome = serve(&session, req, payload).await;
            if let Err(e) = answer(&writer, &session, req, outcome).await {
                tracing::debug!("reply failed: {e}");
            }
            drop(permit);
        });
    };
    tracker.close();
    tracker.wait().await;
    let _ = writer.lock().await.flush().await;
    result
}

fn errno(e: &io::Error) -> u32 {
    match e.kind() {
        io::ErrorKind::StorageFull => ENOSPC,
        io::ErrorKind::Unsupported => ENOTSUP,
        _ => EIO,
    }
}

/// Runs a device call on a blocking thread.
async fn blocking<T: Send + 'static>(
    device: &Arc<dyn BlockDevice>,
    f: impl FnOnce(&dyn BlockDevice) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let device = device.clone();
    tokio::task::spawn_blocking(move || f(device.as_ref()))
        .await
        .map_err(io::Error::other)?
}

async fn serve(session: &Session, req: Request, payload: Option<Vec<u8>>) -> Outcome {
    let export = &session.export;
    let dev = &export.device;
    let (offset, len) = (req.offset, u64::from(req.len));
    let in_range = offset.checked_add(len).is_some_and(|end| end <= dev.size());
    let writes = matches!(req.kind, CMD_WRITE | CMD_TRIM | CMD_WRITE_ZEROES);
    if writes && export.read_only {
        return Outcome::Error(EPERM, "export is read-only");
    }
    if req.kind != CMD_FLUSH && !in_range {
        return Outcome::Error(EINVAL, "request beyond the end of the export");
    }
    let fua = req.flags & CMD_FLAG_FUA != 0;
    let result = match req.kind {
        CMD_READ => {
            if req.len > MAX_PAYLOAD {
                return Outcome::Error(EOVERFLOW, "read larger than advertised");
            }
            let whole = !session.structured || req.flags & CMD_FLAG_DF != 0;
            if len <= INLINE_READ && multi_thread() {
                // Small reads are mostly page-cache hits: a hop to the
                // blocking pool would cost more than the read itself.
                tokio::task::block_in_place(|| read(dev.as_ref(), offset, len, whole))
                    .map(Outcome::Read)
            } else {
                blocking(dev, move |d| read(d, offset, len, whole))
                    .await
                    .map(Outcome::Read)
            }
        }
        CMD_WRITE => {
            let data = payload.unwrap_or_default();
            blocking(dev, move |d| {
                d.write_at(&data, offset)?;
                if fua {
                    d.flush()?;
                }
                Ok(Outcome::Ok)
            })
            .await
        }
        CMD_FLUSH => blocking(dev, |d| d.flush().map(|_| Outcome::Ok)).await,
        CMD_TRIM => {
            blocking(dev, move |d| {
                d.trim(offset, len)?;
                if fua {
                    d.flush()?;
                }
                Ok(Outcome::Ok)
            })
            .await
        }
        CMD_WRITE_ZEROES => {
            let may_punch = req.flags & CMD_FLAG_NO_HOLE == 0;
            blocking(dev, move |d| {
                d.write_zeroes(offset, len, may_punch)?;
                if fua {
                    d.flush()?;
                }
                Ok(Outcome::Ok)
            })
            .await
        }
        CMD_CACHE => Ok(Outcome::Ok),
        CMD_BLOCK_STATUS => {
            if !session.structured || !session.base_allocation {
                return Outcome::Error(EINVAL, "no metadata context negotiated");
            }
            let one = req.flags & CMD_FLAG_REQ_ONE != 0;
            blocking(dev, move |d| {
                let mut ext = d.extents(offset, len)?;
                ext.truncate(if one { 1 } else { MAX_DESCRIPTORS });
                Ok(Outcome::Status(ext))
            })
            .await
        }
        _ => return Outcome::Error(EINVAL, "unknown command"),
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(export = %session.name, "device error: {e}");
        Outcome::Error(errno(&e), "device error")
    })
}

/// Reads a range: whole into one chunk, or as data and hole extents.
fn read(
    d: &dyn BlockDevice,
    offset: u64,
    len: u64,
    whole: bool,
) -> io::Result<Vec<(Extent, Option<Vec<u8>>)>> {
    let extents = if whole {
        vec![Extent { len, hole: false }]
    } else {
        d.extents(offset, len)?
    };
    let mut at = offset;
    let mut out = Vec::with_capacity(extents.len());
    for e in extents {
        let data = if e.hole {
            None
        } else {
            let mut buf = vec![0u8; e.len as usize];
            d.read_at(&mut buf, at)?;
            Some(buf)
        };
        out.push((e, data));
        at += e.len;
    }
    Ok(out)
}

fn chunk_header(flags: u16, kind: u16, cookie: u64, len: usize) -> Vec<u8> {
    let mut h = Vec::with_capacity(20);
    h.extend_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
    h.extend_from_slice(&flags.to_be_bytes());
    h.extend_from_slice(&kind.to_be_bytes());
    h.extend_from_slice(&cookie.to_be_bytes());
    h.extend_from_slice(&(len as u32).to_be_bytes());
    h
}

async fn answer<W: AsyncWrite + Unpin>(
    writer: &Writer<W>,
    session: &Session,
    req: Request,
    outcome: Outcome,
) -> io::Result<()> {
    let mut w = writer.lock().await;
    if !session.structured {
        let (err, data) = match &outcome {
            Outcome::Error(e, _) => (*e, None),
            Outcome::Read(chunks) => (0, Some(chunks)),
            _ => (0, None),
        };
        w.write_all(&SIMPLE_REPLY_MAGIC.to_be_bytes()).await?;
        w.write_all(&err.to_be_bytes()).await?;
        w.write_all(&req.cookie.to_be_bytes()).await?;
        for (e, bytes) in data.into_iter().flatten() {
            match bytes {
                Some(b) => w.write_all(b).await?,
                None => w.write_all(&vec![0u8; e.len as usize]).await?,
            }
        }
        return w.flush().await;
    }
    match outcome {
        Outcome::Ok => {
            w.write_all(&chunk_header(
                REPLY_FLAG_DONE,
                REPLY_TYPE_NONE,
                req.cookie,
                0,
            ))
            .await?;
        }
        Outcome::Error(err, msg) => {
            let hdr = chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_ERROR, req.cookie, 6 + msg.len());
            w.write_all(&hdr).await?;
            w.write_all(&err.to_be_bytes()).await?;
            w.write_all(&(msg.len() as u16).to_be_bytes()).await?;
            w.write_all(msg.as_bytes()).await?;
        }
        Outcome::Read(chunks) => {
            if chunks.is_empty() {
                w.write_all(&chunk_header(
                    REPLY_FLAG_DONE,
                    REPLY_TYPE_NONE,
                    req.cookie,
                    0,
                ))
                .await?;
            }
            let last = chunks.len().saturating_sub(1);
            let mut at = req.offset;
            for (i, (e, bytes)) in chunks.into_iter().enumerate() {
                let flags = if i == last { REPLY_FLAG_DONE } else { 0 };
                match bytes {
                    Some(b) => {
                        let hdr =
                            chunk_header(flags, REPLY_TYPE_OFFSET_DATA, req.cookie, 8 + b.len());
                        w.write_all(&hdr).await?;
                        w.write_all(&at.to_be_bytes()).await?;
                        w.write_all(&b).await?;
                    }
                    None => {
                        let hdr = chunk_header(flags, REPLY_TYPE_OFFSET_HOLE, req.cookie, 12);
                        w.write_all(&hdr).await?;
                        w.write_all(&at.to_be_bytes()).await?;
                        w.write_all(&(e.len as u32).to_be_bytes()).await?;
                    }
                }
                at += e.len;
            }
        }
        Outcome::Status(extents) => {
            let hdr = chunk_header(
                REPLY_FLAG_DONE,
                REPLY_TYPE_BLOCK_STATUS,
                req.cookie,
                4 + 8 * extents.len(),
            );
            w.write_all(&hdr).await?;
            w.write_all(&BASE_ALLOCATION_ID.to_be_bytes()).await?;
            for e in extents {
                let state = if e.hole { STATE_HOLE | STATE_ZERO } else { 0 };
                w.write_all(&(e.len as u32).to_be_bytes()).await?;
                w.write_all(&state.to_be_bytes()).await?;
            }
        }
    }
    w.flush().await
}
