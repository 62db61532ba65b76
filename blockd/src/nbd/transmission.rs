//! The transmission phase of one connection. Requests are read in order
//! and served inline when that needs no waiting (reads from memory or the
//! page cache, writes into the journal); their replies are gathered while
//! more requests are already buffered, then sent in one write. Anything
//! else (flushes, FUA, cache misses, trims, zeroing) runs on a blocking
//! thread, which sends its reply as soon as it completes, so replies may
//! overtake each other (the cookie pairs them). A request that cannot be parsed
//! ends this connection only.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::busy_poll::BusyPoll;
use super::handshake::Session;
use super::proto::{CMD_DISC, EIO, MAX_PAYLOAD};
use super::reply::error;
use super::request::{header_len, Request, MAX_HEADER};
use super::serve::handle;
use super::unsent::{send_now, Unsent};

/// Requests waiting on blocking threads at once per connection.
const MAX_IN_FLIGHT: usize = 64;
/// Gathered replies are sent once this large, even with requests pending.
/// Sequential 1 MiB reads at depth 8 ran about 13 % faster with 4 MiB than
/// with 256 KiB: the client then wakes once for several replies.
pub const SEND_AT: usize = 4 << 20;
/// Capacity the gathering buffer keeps once sent (it is reused, so its
/// pages stay mapped; a larger one is cut back to this).
const KEEP_GATHERED: usize = 2 * SEND_AT;
/// Write payload bytes one connection may hold at once (read, or waiting
/// on blocking threads), within the server's `Limits::payload_bytes`.
const CONNECTION_PAYLOAD: usize = 2 * MAX_PAYLOAD as usize;
/// Capacity a connection's payload buffer keeps between requests (writes
/// up to this long are served inline, so it rarely needs more).
const KEEP_PAYLOAD: usize = 256 * 1024;
/// Capacity the gathering buffer keeps while its client is idle.
const KEEP_IDLE: usize = 256 * 1024;
/// Silence after which a connection's gathering buffer is cut back to
/// `KEEP_IDLE`, so that idle connections do not each hold megabytes.
const IDLE_SHRINK: Duration = Duration::from_secs(1);

/// Waits until the client sends something (nothing is consumed) or one
/// of `stops` is cancelled; if that takes longer than `idle`, cuts `out`
/// (empty) back to `KEEP_IDLE` meanwhile.
async fn wait_shrinking_when_idle<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    out: &mut Vec<u8>,
    idle: Duration,
    stops: [&CancellationToken; 2],
) {
    if out.capacity() <= KEEP_IDLE {
        return;
    }
    // `fill_buf` is cancel-safe: a branch that wins first loses no bytes.
    tokio::select! {
        biased;
        _ = r.fill_buf() => {}
        _ = stops[0].cancelled() => {}
        _ = stops[1].cancelled() => {}
        _ = tokio::time::sleep(idle) => *out = Vec::with_capacity(KEEP_IDLE),
    }
}

/// How long replies still owed are waited for once a connection ends
/// (its client may have stopped reading); then they are dropped.
const END_GRACE: Duration = Duration::from_secs(5);

/// Writes and empties the gathered replies; gives up when one of `stops`
/// is cancelled (a client that stops reading must not hold a stopping
/// connection).
async fn send<W: AsyncWrite + Unpin>(
    writer: &Mutex<W>,
    out: &mut Vec<u8>,
    stops: [&CancellationToken; 2],
) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    tokio::select! {
        sent = async { writer.lock().await.write_all(out).await } => sent?,
        _ = stops[0].cancelled() => return Err(io::Error::other("connection ending")),
        _ = stops[1].cancelled() => return Err(io::Error::other("connection ending")),
    }
    out.clear();
    if out.capacity() > KEEP_GATHERED {
        out.shrink_to(KEEP_GATHERED);
    }
    Ok(())
}

/// What a connection is served with besides its session.
pub struct Serving {
    pub busy_poll: Option<BusyPoll>,
    /// Room for write payloads, shared by all connections (one permit a byte).
    pub payloads: Arc<Semaphore>,
    /// Longest a client may take to send one write's payload.
    pub payload_time: Duration,
    pub shutdown: CancellationToken,
}

/// Takes `n` permits of `sem`; if they are not free, first sends the
/// gathered replies (the client may be waiting on them to go on), then
/// waits. `None` once one of `stops` is cancelled.
async fn take<W: AsyncWrite + Unpin>(
    sem: &Arc<Semaphore>,
    n: u32,
    writer: &Mutex<W>,
    out: &mut Vec<u8>,
    stops: [&CancellationToken; 2],
) -> io::Result<Option<OwnedSemaphorePermit>> {
    if let Ok(p) = sem.clone().try_acquire_many_owned(n) {
        return Ok(Some(p));
    }
    send(writer, out, stops).await?;
    Ok(tokio::select! {
        p = sem.clone().acquire_many_owned(n) => Some(p.expect("never closed")),
        _ = stops[0].cancelled() => None,
        _ = stops[1].cancelled() => None,
    })
}

/// Reads `n` payload bytes into `payload` (emptied first). Sized once:
/// `read_to_end` fills the spare room without zeroing it, and finding the
/// vector full it probes a small stack buffer rather than growing it.
async fn read_payload<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    payload: &mut Vec<u8>,
    n: usize,
) -> io::Result<()> {
    payload.clear();
    payload.reserve_exact(n);
    if r.take(n as u64).read_to_end(payload).await? < n {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

/// Serves requests until the client disconnects or `shutdown`.
pub async fn run<R, W>(
    mut r: BufReader<R>,
    w: W,
    session: Session,
    serving: Serving,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Serving {
        busy_poll,
        payloads,
        payload_time,
        shutdown,
    } = serving;
    let writer = Arc::new(Mutex::new(w));
    let session = Arc::new(session);
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let own_room = Arc::new(Semaphore::new(CONNECTION_PAYLOAD));
    let tracker = TaskTracker::new();
    let revoked = session.export.revoked.clone();
    let hlen = header_len(session.framing);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut payload = Vec::new();
    // Cancelled once the connection has ended and the replies still owed
    // had `END_GRACE` to go out: those left are dropped.
    let gone = CancellationToken::new();
    let stops = [&shutdown, &revoked];
    let result = loop {
        // Checked here too, as a client that keeps requests coming never
        // leaves the select below waiting.
        if shutdown.is_cancelled() {
            break Ok(());
        }
        if revoked.is_cancelled() {
            break Err(io::Error::other("export revoked"));
        }
        let mut buf = [0u8; MAX_HEADER];
        let hdr = &mut buf[..hlen];
        if r.buffer().len() < hlen {
            // Nothing more to serve without waiting: send what is gathered.
            if let Err(e) = send(&writer, &mut out, stops).await {
                break Err(e);
            }
            // Busy polling only when nothing waits on a blocking thread.
            if let Some(poll) = &busy_poll {
                if slots.available_permits() == MAX_IN_FLIGHT {
                    poll.wait();
                }
            }
            wait_shrinking_when_idle(&mut r, &mut out, IDLE_SHRINK, stops).await;
            let read = tokio::select! {
                biased;
                read = r.read_exact(hdr) => read,
                _ = shutdown.cancelled() => break Ok(()),
                _ = revoked.cancelled() => break Err(io::Error::other("export revoked")),
            };
            match read {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break Ok(()),
                Err(e) => break Err(e),
            }
        } else if let Err(e) = r.read_exact(hdr).await {
            break Err(e);
        }
        let Some(req) = Request::parse(hdr, session.framing) else {
            let magic = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
            break Err(io::Error::other(format!("bad request magic {magic:#010x}")));
        };
        if req.kind == CMD_DISC {
            break Ok(());
        }
        if req.payload > u64::from(MAX_PAYLOAD) {
            break Err(io::Error::other("payload larger than advertised"));
        }
        // A write first makes sure of a slot on a blocking thread, then
        // takes room for its payload, this connection's (so one client
        // cannot hold it all) and then the server's: room is never held
        // while waiting for this connection's own replies to drain.
        let n = req.payload as u32;
        let mut slot = None;
        let mut room = None;
        if n > 0 {
            let taken = async {
                let out = &mut out;
                let Some(a) = take(&slots, 1, &writer, out, stops).await? else {
                    return Ok(None);
                };
                let Some(b) = take(&own_room, n, &writer, out, stops).await? else {
                    return Ok(None);
                };
                let Some(c) = take(&payloads, n, &writer, out, stops).await? else {
                    return Ok(None);
                };
                Ok::<_, io::Error>(Some((a, (b, c))))
            };
            match taken.await {
                Ok(Some((a, rooms))) => (slot, room) = (Some(a), Some(rooms)),
                Ok(None) => continue, // stopping: the loop's top says how
                Err(e) => break Err(e),
            }
            // The payload must come in time, and stopping cuts it short.
            let reading =
                tokio::time::timeout(payload_time, read_payload(&mut r, &mut payload, n as usize));
            let read = tokio::select! {
                read = reading => read.unwrap_or_else(|_| Err(io::Error::other("payload too slow"))),
                _ = shutdown.cancelled() => continue,
                _ = revoked.cancelled() => continue,
            };
            if let Err(e) = read {
                break Err(e);
            }
        }
        if handle(&session, &req, &payload, true, &mut out) {
            drop((room, slot));
            if payload.capacity() > KEEP_PAYLOAD {
                payload = Vec::new();
            }
            if out.len() >= SEND_AT {
                if let Err(e) = send(&writer, &mut out, stops).await {
                    break Err(e);
                }
            }
            continue;
        }
        let permit = match slot {
            Some(p) => p,
            None => match take(&slots, 1, &writer, &mut out, stops).await {
                Ok(Some(p)) => p,
                Ok(None) => continue,
                Err(e) => break Err(e),
            },
        };
        let (writer, session, gone) = (writer.clone(), session.clone(), gone.clone());
        let payload = std::mem::take(&mut payload);
        tracker.spawn(async move {
            let framing = session.framing;
            let w = writer.clone();
            // The blocking thread sends what it can of its reply at once,
            // so the connection's thread mostly only reads requests and
            // serves inline; the rest is sent from here (see `unsent`).
            let served = tokio::task::spawn_blocking(move || {
                let mut reply = Vec::new();
                handle(&session, &req, &payload, false, &mut reply);
                drop((payload, room));
                send_now(&w, reply)
            })
            .await;
            let unsent = match served {
                Ok(Ok(unsent)) => unsent,
                Ok(Err(e)) => return tracing::debug!("reply failed: {e}"),
                Err(e) => {
                    tracing::warn!("request failed: {e}");
                    let mut reply = Vec::new();
                    error(&mut reply, framing, &req, EIO, "request failed");
                    Unsent::Whole(reply)
                }
            };
            tokio::select! {
                sent = unsent.finish(&writer) => if let Err(e) = sent {
                    tracing::debug!("reply failed: {e}");
                },
                _ = gone.cancelled() => tracing::debug!("reply dropped: the connection ended"),
            }
            drop(permit);
        });
    };
    tracker.close();
    let ending = async {
        let never = CancellationToken::new();
        let _ = send(&writer, &mut out, [&never, &never]).await;
        tracker.wait().await;
    };
    if tokio::time::timeout(END_GRACE, ending).await.is_err() {
        gone.cancel();
        tracker.wait().await;
    }
    // Ends a TLS session with its close_notify, as the protocol asks.
    let _ = tokio::time::timeout(END_GRACE, async { writer.lock().await.shutdown().await }).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_payload_is_read_whole_into_its_room_or_not_at_all() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut r = BufReader::new(server);
        client.write_all(&[5u8; 3000]).await.unwrap();
        client.write_all(b"next").await.unwrap();
        let mut payload = Vec::new();
        read_payload(&mut r, &mut payload, 3000).await.unwrap();
        assert_eq!(payload, vec![5u8; 3000]);
        assert_eq!(payload.capacity(), 3000, "sized once, never grown");
        let mut next = [0u8; 4];
        r.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"next", "nothing past the payload was taken");
        // A client that goes away mid-payload is an error, not a short write.
        client.write_all(&[1u8; 10]).await.unwrap();
        drop(client);
        let e = read_payload(&mut r, &mut payload, 4096).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[tokio::test]
    async fn an_idle_client_s_gathering_buffer_is_cut_back_and_no_byte_is_lost() {
        let (client, server) = tokio::io::duplex(1024);
        let mut r = BufReader::new(server);
        let never = CancellationToken::new();
        let mut out = Vec::with_capacity(8 << 20);
        wait_shrinking_when_idle(
            &mut r,
            &mut out,
            Duration::from_millis(50),
            [&never, &never],
        )
        .await;
        assert!(
            out.capacity() <= 2 * KEEP_IDLE,
            "cut back: {}",
            out.capacity()
        );
        // A client that sends in time keeps the buffer, and what it sent is
        // still there to read.
        let mut out = Vec::with_capacity(8 << 20);
        let mut client = client;
        client.write_all(b"request").await.unwrap();
        wait_shrinking_when_idle(&mut r, &mut out, Duration::from_secs(30), [&never, &never]).await;
        assert!(out.capacity() >= 8 << 20);
        let mut got = [0u8; 7];
        r.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"request");
        // A stop ends the wait at once.
        let stop = CancellationToken::new();
        stop.cancel();
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            wait_shrinking_when_idle(&mut r, &mut out, Duration::from_secs(30), [&never, &stop]),
        )
        .await;
        assert!(waited.is_ok());
    }
}
