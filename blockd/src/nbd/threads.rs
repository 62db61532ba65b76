//! The threads that run NBD connections: one per core (or as many as a
//! server asks for), each with a
//! single-threaded tokio runtime of its own. A connection lives on one
//! of them (the one with the fewest), so a request is read, served
//! inline and answered by the thread the kernel woke for it, as with a
//! thread-per-connection server, without the work-stealing scheduler
//! waking other workers for each request. Requests that must wait go to
//! that runtime's blocking threads.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

struct Worker {
    handle: Handle,
    connections: Arc<AtomicUsize>,
    /// Dropped to stop the thread.
    _stop: oneshot::Sender<()>,
}

/// A set of connection threads; they stop when it is dropped (once their
/// connections have ended).
pub struct ConnectionThreads {
    workers: Vec<Worker>,
}

impl ConnectionThreads {
    /// Starts `n` threads, or one per available core if `n` is zero.
    pub fn start(n: usize) -> std::io::Result<ConnectionThreads> {
        let cores = || std::thread::available_parallelism().map_or(2, |n| n.get());
        let n = if n == 0 { cores() } else { n };
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let rt = Builder::new_current_thread()
                .enable_all()
                .thread_name(format!("nbd-{i}-blocking"))
                .build()?;
            let handle = rt.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("nbd-{i}"))
                .spawn(move || {
                    rt.block_on(async {
                        let _ = stopped.await;
                    })
                })?;
            workers.push(Worker {
                handle,
                connections: Arc::new(AtomicUsize::new(0)),
                _stop: stop,
            });
        }
        Ok(ConnectionThreads { workers })
    }

    /// Runs the connection `make` returns on the thread with the fewest
    /// connections (`make` is given that thread's connection count); it
    /// is polled there only, so it may register I/O with that thread's
    /// runtime (`TcpStream::from_std`).
    pub fn spawn<F>(&self, make: impl FnOnce(Arc<AtomicUsize>) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let w = self
            .workers
            .iter()
            .min_by_key(|w| w.connections.load(Ordering::Relaxed))
            .expect("at least one thread");
        let count = w.connections.clone();
        count.fetch_add(1, Ordering::Relaxed);
        let connection = make(count.clone());
        w.handle.spawn(async move {
            connection.await;
            count.fetch_sub(1, Ordering::Relaxed);
        });
    }
}
