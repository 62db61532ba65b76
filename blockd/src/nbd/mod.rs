//! The NBD server: fixed newstyle handshake with `NO_ZEROES`, option
//! haggling (`handshake.rs`) and the transmission phase (`transmission.rs`):
//! pipelined requests (`request.rs`, compact or extended headers) served
//! by `serve.rs` and answered out of order, with simple, structured or
//! extended replies (`reply.rs`), `base:allocation` block status. Every export name is looked up in
//! `Exports`; `NBD_OPT_LIST` reveals none of them, as export names are
//! capabilities, and removing a name also ends the connections opened
//! with it. `Limits` bound the connections open at once and the time a
//! client may spend before transmission, and the handshakes in progress,
//! per client and in all (`admission.rs`); TLS (`tls.rs`) is optional.

pub mod admission;
pub mod busy_poll;
pub mod handshake;
pub mod proto;
pub mod reply;
pub mod request;
pub mod serve;
pub mod threads;
pub mod tls;
pub mod transmission;
pub mod unsent;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_openssl::SslStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::device::BlockDevice;
use admission::{Handshakes, Handshaking};
use busy_poll::BusyPoll;
use handshake::{Outcome, Session, TlsState};
use threads::ConnectionThreads;
use tls::Tls;

/// A device served under a name.
#[derive(Clone)]
pub struct Export {
    pub device: Arc<dyn BlockDevice>,
    pub read_only: bool,
    pub description: String,
    /// Cancelled when the name is removed: open connections end too.
    pub revoked: CancellationToken,
}

impl Export {
    /// An export of `device`.
    pub fn new(device: Arc<dyn BlockDevice>, read_only: bool, description: String) -> Export {
        Export {
            device,
            read_only,
            description,
            revoked: CancellationToken::new(),
        }
    }
}

/// The exports a server answers for, by name.
#[derive(Default)]
pub struct Exports {
    by_name: RwLock<HashMap<String, Export>>,
}

impl Exports {
    pub fn insert(&self, name: String, export: Export) {
        self.by_name
            .write()
            .expect("exports lock never poisoned")
            .insert(name, export);
    }

    /// Stops serving a name, to new connections and to those open.
    pub fn remove(&self, name: &str) -> Option<Export> {
        let gone = self
            .by_name
            .write()
            .expect("exports lock never poisoned")
            .remove(name);
        if let Some(e) = &gone {
            e.revoked.cancel();
        }
        gone
    }

    pub fn get(&self, name: &str) -> Option<Export> {
        self.by_name
            .read()
            .expect("exports lock never poisoned")
            .get(name)
            .cloned()
    }
}

/// What one server allows its clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest a client may take from connecting to transmission (as
    /// qemu-nbd's `--handshake-limit`).
    pub handshake: Duration,
    /// Connections open at once; more wait in the listen backlog.
    pub connections: usize,
    /// Handshakes one client (an address, or an IPv6 /64) may have in
    /// progress at once; more connections from it are closed at once.
    pub handshakes_per_address: usize,
    /// Handshakes in progress at once from all clients; past it the
    /// oldest is cut (`admission.rs`).
    pub handshakes: usize,
    /// How long a connection alone on its thread busy-polls its socket
    /// for the next request (`busy_poll.rs`); zero never.
    pub busy_poll: Duration,
    /// Bytes of write payloads all connections together may hold at once
    /// (read, or waiting on a blocking thread); at least `MAX_PAYLOAD`.
    /// A connection waits for room before it reads the next payload.
    pub payload_bytes: usize,
    /// Threads serving connections (`threads.rs`); zero for one per core.
    pub threads: usize,
    /// Longest a client may take to send one write's payload once its
    /// header is in (the default, 30 s for 32 MiB, is about 1 MiB/s);
    /// a slower one is disconnected and gives its room back.
    pub payload_time: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake: Duration::from_secs(10),
            connections: 512,
            handshakes_per_address: 32,
            handshakes: 128,
            busy_poll: Duration::from_micros(30),
            payload_bytes: 512 << 20,
            threads: 0,
            payload_time: Duration::from_secs(30),
        }
    }
}

/// The TCP congestion control NBD connections use unless configured
/// otherwise. NBD runs over short paths (loopback, a LAN to compute
/// hosts), where BBR's pacing held sequential 1 MiB reads on loopback at
/// about 4,000 MiB/s, and CUBIC let them reach 5,800 to 6,100.
pub const DEFAULT_TCP_CONGESTION: &str = "cubic";

/// How a server runs: its limits, optionally TLS, and the congestion
/// control its connections use (`None`: the system's default).
#[derive(Clone)]
pub struct Options {
    pub limits: Limits,
    pub tls: Option<Arc<Tls>>,
    pub tcp_congestion: Option<Arc<str>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            tls: None,
            tcp_congestion: Some(DEFAULT_TCP_CONGESTION.into()),
        }
    }
}

/// Whether this system lets a socket use congestion control `name`.
pub fn tcp_congestion_available(name: &str) -> io::Result<()> {
    let probe = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    probe.set_tcp_congestion(name.as_bytes())
}

/// Accepts NBD connections until `shutdown`; each runs on its own task
/// (on one of the connection threads, `threads.rs`), so a misbehaving
/// client only ever loses its own connection.
pub async fn serve(
    listener: TcpListener,
    exports: Arc<Exports>,
    options: Options,
    shutdown: CancellationToken,
) {
    let threads = match ConnectionThreads::start(options.limits.threads) {
        Ok(t) => t,
        Err(e) => return warn!("cannot start the NBD connection threads: {e}"),
    };
    let tracker = TaskTracker::new();
    let open = Arc::new(Semaphore::new(options.limits.connections));
    let handshakes = Handshakes::default();
    let payloads = Arc::new(Semaphore::new(
        options
            .limits
            .payload_bytes
            .max(proto::MAX_PAYLOAD as usize),
    ));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = open.clone().acquire_owned() => p.expect("never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!("accept failed: {e}");
                    // Out of descriptors, say: let some connections end.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let limits = &options.limits;
        let Some(handshaking) =
            handshakes.start(peer.ip(), limits.handshakes_per_address, limits.handshakes)
        else {
            debug!(%peer, "too many handshakes from this address; closed");
            continue;
        };
        tune(&stream, &options);
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                warn!(%peer, "cannot hand the connection over: {e}");
                continue;
            }
        };
        let (exports, options) = (exports.clone(), options.clone());
        let (payloads, shutdown) = (payloads.clone(), shutdown.clone());
        let tracker = &tracker;
        threads.spawn(move |neighbours| {
            tracker.track_future(async move {
                let _open = permit;
                let stream = match TcpStream::from_std(stream) {
                    Ok(s) => s,
                    Err(e) => return warn!(%peer, "cannot serve the connection: {e}"),
                };
                let busy_poll = (!options.limits.busy_poll.is_zero())
                    .then(|| std::os::fd::AsFd::as_fd(&stream).try_clone_to_owned().ok())
                    .flatten()
                    .map(|socket| BusyPoll {
                        socket,
                        spin: options.limits.busy_poll,
                        neighbours,
                    });
                let serving = transmission::Serving {
                    busy_poll,
                    payloads,
                    payload_time: options.limits.payload_time,
                    shutdown,
                };
                let ended = connection(stream, &exports, &options, handshaking, serving);
                if let Err(e) = ended.await {
                    debug!(%peer, "connection ended: {e}");
                }
            })
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// Sets up an accepted connection's socket: no Nagle delay (replies go
/// out as they are ready), and the configured congestion control.
fn tune(stream: &TcpStream, options: &Options) {
    let _ = stream.set_nodelay(true);
    if let Some(name) = &options.tcp_congestion {
        if let Err(e) = socket2::SockRef::from(stream).set_tcp_congestion(name.as_bytes()) {
            debug!("cannot use congestion control {name}: {e}");
        }
    }
}

/// A negotiated connection, ready for transmission.
enum Negotiated {
    Plain(TcpStream, Session),
    Tls(SslStream<TcpStream>, Session),
}

/// The handshake (within the time limit), then transmission.
async fn connection(
    stream: TcpStream,
    exports: &Exports,
    options: &Options,
    handshaking: Handshaking,
    serving: transmission::Serving,
) -> io::Result<()> {
    let negotiated = tokio::select! {
        n = tokio::time::timeout(
            options.limits.handshake,
            negotiate(stream, exports, options.tls.as_deref()),
        ) => n.map_err(|_| io::Error::other("handshake took too long"))??,
        _ = handshaking.cut() => return Err(io::Error::other("handshake cut for a newer one")),
    };
    drop(handshaking);
    match negotiated {
        None => Ok(()),
        Some(Negotiated::Plain(stream, session)) => {
            debug!(export = %session.name, framing = ?session.framing, "transmission starts");
            let (read, write) = stream.into_split();
            let read = BufReader::with_capacity(READ_BUFFER, read);
            transmission::run(read, write, session, serving).await
        }
        Some(Negotiated::Tls(stream, session)) => {
            debug!(export = %session.name, framing = ?session.framing, "TLS transmission starts");
            let (read, write) = tokio::io::split(stream);
            let read = BufReader::with_capacity(READ_BUFFER, read);
            transmission::run(read, write, session, serving).await
        }
    }
}

/// Bytes read from a connection at a time in transmission.
const READ_BUFFER: usize = 256 * 1024;

/// The stream under `buffered`, which must hold nothing unread (a client
/// waits for each option's reply, so it has not sent anything more).
fn unbuffered<S: tokio::io::AsyncRead>(buffered: BufReader<S>) -> io::Result<S> {
    if !buffered.buffer().is_empty() {
        return Err(io::Error::other("client sent more before the reply"));
    }
    Ok(buffered.into_inner())
}

/// Greets, haggles, and starts TLS if the client asks for it.
async fn negotiate(
    stream: TcpStream,
    exports: &Exports,
    tls: Option<&Tls>,
) -> io::Result<Option<Negotiated>> {
    let mut state = TlsState {
        offered: tls.is_some(),
        required: tls.is_some_and(|t| t.required),
        active: false,
    };
    let mut plain = BufReader::with_capacity(4096, stream);
    let no_zeroes = handshake::greet(&mut plain).await?;
    let tls = match handshake::haggle(&mut plain, exports, no_zeroes, state).await? {
        Outcome::Aborted => return Ok(None),
        Outcome::Session(session) => {
            return Ok(Some(Negotiated::Plain(unbuffered(plain)?, session)))
        }
        Outcome::StartTls => tls.expect("STARTTLS is only accepted with TLS"),
    };
    let secured = tls.accept(unbuffered(plain)?).await?;
    state.active = true;
    let mut secured = BufReader::with_capacity(4096, secured);
    match handshake::haggle(&mut secured, exports, no_zeroes, state).await? {
        Outcome::Session(session) => Ok(Some(Negotiated::Tls(unbuffered(secured)?, session))),
        Outcome::Aborted => Ok(None),
        Outcome::StartTls => Err(io::Error::other("STARTTLS twice")),
    }
}
