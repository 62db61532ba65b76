//! The NBD server: fixed newstyle handshake with `NO_ZEROES`, option
//! haggling (`handshake.rs`) and the transmission phase (`transmission.rs`):
//! pipelined requests (`request.rs`, compact or extended headers) served
//! by `serve.rs` and answered out of order, with simple, structured or
//! extended replies (`reply.rs`), `base:allocation` block status. Every export name is looked up in
//! `Exports`; `NBD_OPT_LIST` reveals none of them, as export names are
//! capabilities, and removing a name also ends the connections opened
//! with it. `Limits` bound the connections open at once and the time a
//! client may spend before transmission.

pub mod handshake;
pub mod proto;
pub mod reply;
pub mod request;
pub mod serve;
pub mod threads;
pub mod transmission;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};

use crate::device::BlockDevice;
use threads::ConnectionThreads;

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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake: Duration::from_secs(10),
            connections: 512,
        }
    }
}

/// Accepts NBD connections until `shutdown`, within the default limits.
pub async fn serve(listener: TcpListener, exports: Arc<Exports>, shutdown: CancellationToken) {
    serve_with(listener, exports, Limits::default(), shutdown).await
}

/// Accepts NBD connections until `shutdown`; each runs on its own task
/// (on one of the connection threads, `threads.rs`), so a misbehaving
/// client only ever loses its own connection.
pub async fn serve_with(
    listener: TcpListener,
    exports: Arc<Exports>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let threads = match ConnectionThreads::start() {
        Ok(t) => t,
        Err(e) => return warn!("cannot start the NBD connection threads: {e}"),
    };
    let tracker = TaskTracker::new();
    let open = Arc::new(Semaphore::new(limits.connections));
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
        let _ = stream.set_nodelay(true);
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                warn!(%peer, "cannot hand the connection over: {e}");
                continue;
            }
        };
        let exports = exports.clone();
        let shutdown = shutdown.clone();
        threads.spawn(tracker.track_future(async move {
            let _open = permit;
            let stream = match tokio::net::TcpStream::from_std(stream) {
                Ok(s) => s,
                Err(e) => return warn!(%peer, "cannot serve the connection: {e}"),
            };
            let (read, write) = stream.into_split();
            let mut read = tokio::io::BufReader::with_capacity(256 * 1024, read);
            let mut write = tokio::io::BufWriter::new(write);
            let negotiated = tokio::time::timeout(
                limits.handshake,
                handshake::negotiate(&mut read, &mut write, &exports),
            )
            .await;
            match negotiated {
                Ok(Ok(Some(session))) => {
                    debug!(%peer, export = %session.name, framing = ?session.framing, "transmission starts");
                    let write = write.into_inner();
                    if let Err(e) = transmission::run(read, write, session, shutdown).await {
                        debug!(%peer, "connection ended: {e}");
                    }
                }
                Ok(Ok(None)) => debug!(%peer, "client left during the handshake"),
                Ok(Err(e)) => debug!(%peer, "handshake failed: {e}"),
                Err(_) => debug!(%peer, "handshake took too long"),
            }
        }));
    }
    tracker.close();
    tracker.wait().await;
}
