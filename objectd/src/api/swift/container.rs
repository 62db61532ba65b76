//! Container requests: PUT, GET (object listing), HEAD, POST, DELETE.

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;

use super::constraints::{self, Kind};
use super::listing;
use super::{add_stored_headers, header, proxy_error, Target};
use crate::api::response::{self, Resp};
use crate::api::App;
use crate::proxy::container::Created;

/// Dispatches a container request.
pub async fn handle(app: &App, method: &Method, t: &Target, req: Request<Incoming>) -> Resp {
    let container = t
        .container
        .as_deref()
        .expect("container requests name a container");
    match *method {
        Method::GET | Method::HEAD => {
            get(app, &t.account, container, &req, *method == Method::HEAD).await
        }
        Method::PUT => put(app, &t.account, container, &req).await,
        Method::POST => post(app, &t.account, container, &req).await,
        Method::DELETE => match app.cluster.delete_container(&t.account, container).await {
            Ok(()) => response::empty(StatusCode::NO_CONTENT),
            Err(e) => proxy_error(e),
        },
        _ => response::method_not_allowed("DELETE, GET, HEAD, POST, PUT"),
    }
}

async fn put(app: &App, account: &str, container: &str, req: &Request<Incoming>) -> Resp {
    let headers = match constraints::metadata(req.headers(), Kind::Container) {
        Ok(h) => h,
        Err(m) => return response::error(StatusCode::BAD_REQUEST, &m),
    };
    let policy = match header(req.headers(), "x-storage-policy") {
        None => None,
        Some(name) => match app.cluster.policies().by_name(name) {
            Some(p) => Some(p.index),
            None => {
                return response::error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid X-Storage-Policy {name:?}"),
                )
            }
        },
    };
    match app
        .cluster
        .put_container(account, container, headers, policy)
        .await
    {
        Ok(Created::New) => response::empty(StatusCode::CREATED),
        Ok(Created::Existing) => response::empty(StatusCode::ACCEPTED),
        Err(crate::proxy::ProxyError::Conflict) => response::error(
            StatusCode::CONFLICT,
            "Container already exists with a different storage policy",
        ),
        Err(e) => proxy_error(e),
    }
}

async fn post(app: &App, account: &str, container: &str, req: &Request<Incoming>) -> Resp {
    let headers = match constraints::metadata(req.headers(), Kind::Container) {
        Ok(h) => h,
        Err(m) => return response::error(StatusCode::BAD_REQUEST, &m),
    };
    match app.cluster.container_info(account, container).await {
        Ok(info) => {
            let mut merged = info.headers;
            crate::store::writer::merge_headers(&mut merged, headers.clone());
            if let Err(m) = constraints::check_merged(&merged, Kind::Container) {
                return response::error(StatusCode::BAD_REQUEST, &m);
            }
        }
        Err(e) => return proxy_error(e),
    }
    match app
        .cluster
        .post_container(account, container, headers)
        .await
    {
        Ok(()) => response::empty(StatusCode::NO_CONTENT),
        Err(e) => proxy_error(e),
    }
}

async fn get(
    app: &App,
    account: &str,
    container: &str,
    req: &Request<Incoming>,
    head: bool,
) -> Resp {
    let query = listing::query_pairs(req.uri().query());
    let (params, format) = match listing::params(&query, req.headers()) {
        Ok(p) => p,
        Err((status, msg)) => return response::error(status, &msg),
    };
    let info = match app.cluster.container_info(account, container).await {
        Ok(i) => i,
        Err(e) => return proxy_error(e),
    };
    let mut resp = if head {
        let mut r = response::with_body(StatusCode::NO_CONTENT, format.content_type(), "");
        r.headers_mut().remove(http::header::CONTENT_LENGTH);
        r
    } else {
        // X-Newest asks every replica (Swift takes the newest one's; the
        // union of all of them is what a listing converges to).
        let newest = req
            .headers()
            .get("x-newest")
            .and_then(|v| v.to_str().ok())
            .is_some_and(listing::true_value);
        let listed = if newest {
            app.cluster
                .list_container_all_replicas(account, container, params)
                .await
        } else {
            app.cluster.list_container(account, container, params).await
        };
        let entries = match listed {
            Ok(e) => e,
            Err(e) => return proxy_error(e),
        };
        listing::response(container, &entries, format)
    };
    response::set(
        &mut resp,
        "x-container-object-count",
        &info.object_count.to_string(),
    );
    response::set(
        &mut resp,
        "x-container-bytes-used",
        &info.bytes_used.to_string(),
    );
    response::set(&mut resp, "x-timestamp", &info.put_ts.to_string());
    response::set(&mut resp, "x-put-timestamp", &info.put_ts.to_string());
    response::set(
        &mut resp,
        "last-modified",
        &info.put_ts.max(info.meta_ts).http_date(),
    );
    let index = app.cluster.policy_index(&info.policy);
    let policy = app
        .cluster
        .policies()
        .get(index)
        .map_or(info.policy.as_str(), |p| p.name.as_str());
    response::set(&mut resp, "x-storage-policy", policy);
    response::set(&mut resp, "accept-ranges", "bytes");
    add_stored_headers(&mut resp, &info.headers);
    resp
}
