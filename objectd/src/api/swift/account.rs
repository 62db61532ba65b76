//! Account requests: GET (container listing), HEAD and POST (metadata).

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;

use super::constraints::{self, Kind};
use super::listing;
use super::{add_stored_headers, proxy_error, Target};
use crate::api::response::{self, Resp};
use crate::api::App;

/// Dispatches an account request.
pub async fn handle(app: &App, method: &Method, t: &Target, req: Request<Incoming>) -> Resp {
    match *method {
        Method::GET | Method::HEAD => get(app, t, &req, *method == Method::HEAD).await,
        Method::POST => post(app, t, &req).await,
        _ => response::method_not_allowed("GET, HEAD, POST"),
    }
}

async fn get(app: &App, t: &Target, req: &Request<Incoming>, head: bool) -> Resp {
    let query = listing::query_pairs(req.uri().query());
    let (params, format) = match listing::params(&query, req.headers()) {
        Ok(p) => p,
        Err((status, msg)) => return response::error(status, &msg),
    };
    let stats = match app.cluster.account_stats(&t.account).await {
        Ok(s) => s,
        Err(e) => return proxy_error(e),
    };
    let mut resp = if head {
        response::with_body(StatusCode::NO_CONTENT, format.content_type(), "")
    } else {
        let entries = match app.cluster.list_account(&t.account, params).await {
            Ok(e) => e,
            Err(e) => return proxy_error(e),
        };
        listing::response(&t.account, &entries, format)
    };
    if head {
        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
    }
    response::set(
        &mut resp,
        "x-account-container-count",
        &stats.containers.to_string(),
    );
    response::set(
        &mut resp,
        "x-account-object-count",
        &stats.objects.to_string(),
    );
    response::set(&mut resp, "x-account-bytes-used", &stats.bytes.to_string());
    for (policy, [containers, objects, bytes]) in &stats.per_policy {
        let prefix = format!("x-account-storage-policy-{}", policy.to_ascii_lowercase());
        for (what, n) in [
            ("container-count", containers),
            ("object-count", objects),
            ("bytes-used", bytes),
        ] {
            response::set(&mut resp, &format!("{prefix}-{what}"), &n.to_string());
        }
    }
    let ts = if stats.info.put_ts.0 == 0 {
        crate::timestamp::Timestamp::now()
    } else {
        stats.info.put_ts
    };
    response::set(&mut resp, "x-timestamp", &ts.to_string());
    response::set(&mut resp, "x-put-timestamp", &ts.to_string());
    response::set(&mut resp, "accept-ranges", "bytes");
    add_stored_headers(&mut resp, &stats.info.headers);
    resp
}

async fn post(app: &App, t: &Target, req: &Request<Incoming>) -> Resp {
    let headers = match constraints::metadata(req.headers(), Kind::Account) {
        Ok(h) => h,
        Err(m) => return response::error(StatusCode::BAD_REQUEST, &m),
    };
    if let Ok(stats) = app.cluster.account_stats(&t.account).await {
        let mut merged = stats.info.headers;
        crate::store::writer::merge_headers(&mut merged, headers.clone());
        if let Err(m) = constraints::check_merged(&merged, Kind::Account) {
            return response::error(StatusCode::BAD_REQUEST, &m);
        }
    }
    match app.cluster.post_account(&t.account, headers).await {
        Ok(()) => response::empty(StatusCode::NO_CONTENT),
        Err(e) => proxy_error(e),
    }
}
