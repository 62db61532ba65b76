//! The HTTP/1.1 accept loop every Cairn API serves with: one task per
//! connection, `TCP_NODELAY`, a header read timeout, graceful shutdown
//! that waits (up to 10 s) for open requests, and connections closed after
//! refusing an `Expect: 100-continue` request whose body was never read.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Marks a response as the connection's last. Used for refusals of
/// `Expect: 100-continue` requests: the handler never read the body, and a
/// client that stopped waiting for `100 Continue` may send it anyway, where
/// it would be taken for the start of the next request.
fn close_after<B>(resp: &mut http::Response<B>) {
    resp.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
}

/// Serves `handler` on `listener` until `shutdown`.
pub async fn serve<H, F, B>(listener: TcpListener, handler: H, shutdown: CancellationToken)
where
    H: Fn(http::Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = http::Response<B>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tracker = TaskTracker::new();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = service_fn(move |req: http::Request<Incoming>| {
            let expects_continue = req
                .headers()
                .get(http::header::EXPECT)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
            let fut = handler(req);
            async move {
                let mut resp = fut.await;
                if expects_continue && !resp.status().is_success() {
                    close_after(&mut resp);
                }
                Ok::<_, Infallible>(resp)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .max_headers(256)
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(60))
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tracker.spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}
