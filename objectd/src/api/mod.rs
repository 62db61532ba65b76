//! The proxy's HTTP front end: the accept loop (one task per connection,
//! `TCP_NODELAY`, graceful shutdown), transaction ids, and dispatch to the
//! Swift API, its auth endpoint, `/info` and `/healthcheck`, and to the S3
//! API: requests signed with SigV4 and every path the others do not own.

pub mod auth;
pub mod body;
pub mod info;
pub mod keystone;
pub mod response;
pub mod s3;
pub mod swift;

use std::sync::Arc;

use http::{Request, StatusCode};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, Instrument};

use crate::proxy::Cluster;
use auth::TempAuth;
use response::Resp;

/// What every request handler shares.
pub struct App {
    pub cluster: Arc<Cluster>,
    pub auth: TempAuth,
    /// Identity's tokens and EC2 keys, when an identity URL is configured.
    pub keystone: Option<Arc<keystone::KeystoneAuth>>,
    pub s3: s3::S3Config,
    pub stats: Arc<crate::daemons::Stats>,
}

/// Serves the proxy's API on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: CancellationToken) {
    common::http::serve(
        listener,
        move |req| {
            let app = app.clone();
            async move { handle(&app, req).await }
        },
        shutdown,
    )
    .await
}

/// A new transaction id in Swift's form.
fn trans_id() -> String {
    let secs = crate::timestamp::Timestamp::now_secs();
    format!(
        "tx{:021x}-{secs:010x}",
        rand::random::<u128>() & ((1u128 << 84) - 1)
    )
}

async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    let tx = trans_id();
    let span = tracing::debug_span!("request", trans_id = %tx, method = %req.method(), path = %req.uri().path());
    let mut resp = async {
        let path = req.uri().path();
        if is_s3(&req) {
            return s3::handle(app, req).await;
        }
        if path == "/info" {
            return info::handle(&req, app);
        }
        if let Some(which) = path.strip_prefix("/recon/") {
            if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
                return response::method_not_allowed("GET, HEAD");
            }
            return recon(&app.stats, which);
        }
        if path == "/healthcheck" {
            return response::with_body(StatusCode::OK, "text/plain", "OK");
        }
        if path.starts_with("/auth/v1.0")
            || path.starts_with("/v1.0")
            || path.starts_with("/auth/v1/")
        {
            return swift::auth_endpoint(&req, app);
        }
        if path.starts_with("/v1/") {
            return swift::handle(app, req).await;
        }
        s3::handle(app, req).await
    }
    .instrument(span)
    .await;
    response::set(&mut resp, "x-trans-id", &tx);
    response::set(&mut resp, "x-openstack-request-id", &tx);
    debug!(trans_id = %tx, status = resp.status().as_u16(), "request done");
    resp
}

/// Whether a request is signed for S3 (SigV4 header or presigned query);
/// such requests go to S3 whatever their path.
fn is_s3<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().starts_with(b"AWS4-HMAC-SHA256"))
        || req
            .uri()
            .query()
            .is_some_and(|q| q.contains("X-Amz-Algorithm="))
}

/// `GET /recon/{replication,auditor,expirer,updater}`: the daemons'
/// counters (no auth, as Swift's recon; they hold counts only).
pub fn recon(stats: &crate::daemons::Stats, which: &str) -> Resp {
    let body = match which {
        "replication" => stats.replication(),
        "auditor" => stats.auditor(),
        "expirer" => stats.expirer(),
        "updater" => stats.updater(),
        _ => return response::error(StatusCode::NOT_FOUND, ""),
    };
    response::with_body(
        StatusCode::OK,
        "application/json; charset=utf-8",
        body.to_string(),
    )
}
