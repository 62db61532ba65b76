//! In-memory Swift v1 test server for the `cairn-bench` end-to-end tests:
//! v1.0 auth, container PUT/GET (JSON listing with limit/marker)/DELETE,
//! object PUT (201 + MD5 ETag)/GET/DELETE. Binds 127.0.0.1:0.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use tokio::net::TcpListener;

pub const USER: &str = "test:tester";
pub const KEY: &str = "testing";
const TOKEN: &str = "AUTH_tk_test";
const ACCOUNT_PREFIX: &str = "/v1/AUTH_test/";

/// How the server misbehaves, if at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Fault {
    #[default]
    None,
    /// Object PUTs return a wrong ETag.
    BadEtag,
}

#[derive(Default)]
pub struct State {
    pub containers: Mutex<BTreeMap<String, BTreeMap<String, Bytes>>>,
    pub requests: AtomicU64,
    pub connections: AtomicU64,
    fault: Fault,
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<State>,
}

impl TestServer {
    pub fn auth_url(&self) -> String {
        format!("http://{}/auth/v1.0", self.addr)
    }
}

pub async fn start(fault: Fault) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(State {
        fault,
        ..State::default()
    });
    let accept_state = state.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            accept_state.connections.fetch_add(1, Ordering::Relaxed);
            let state = accept_state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(state.clone(), addr, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    TestServer { addr, state }
}

fn reply(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

async fn handle(
    state: Arc<State>,
    addr: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };

    if path == "/auth/v1.0" {
        if req.method() != Method::GET
            || header("x-auth-user").as_deref() != Some(USER)
            || header("x-auth-key").as_deref() != Some(KEY)
        {
            return Ok(reply(StatusCode::UNAUTHORIZED));
        }
        let mut response = reply(StatusCode::OK);
        let headers = response.headers_mut();
        headers.insert("x-auth-token", TOKEN.parse().unwrap());
        headers.insert("x-storage-token", TOKEN.parse().unwrap());
        headers.insert(
            "x-storage-url",
            format!("http://{addr}/v1/AUTH_test").parse().unwrap(),
        );
        return Ok(response);
    }

    let Some(rest) = path.strip_prefix(ACCOUNT_PREFIX) else {
        return Ok(reply(StatusCode::NOT_FOUND));
    };
    if header("x-auth-token").as_deref() != Some(TOKEN) {
        return Ok(reply(StatusCode::UNAUTHORIZED));
    }
    let (container, object) = match rest.split_once('/') {
        Some((c, o)) => (c.to_string(), Some(o.to_string())),
        None => (rest.to_string(), None),
    };
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::BAD_REQUEST)),
    };

    let mut containers = state.containers.lock().unwrap();
    let response = match (method, object) {
        (Method::PUT, None) => {
            let existed = containers.contains_key(&container);
            containers.entry(container).or_default();
            reply(if existed {
                StatusCode::ACCEPTED
            } else {
                StatusCode::CREATED
            })
        }
        (Method::DELETE, None) => match containers.get(&container) {
            None => reply(StatusCode::NOT_FOUND),
            Some(objects) if !objects.is_empty() => reply(StatusCode::CONFLICT),
            Some(_) => {
                containers.remove(&container);
                reply(StatusCode::NO_CONTENT)
            }
        },
        (Method::GET, None) => {
            let Some(objects) = containers.get(&container) else {
                return Ok(reply(StatusCode::NOT_FOUND));
            };
            if query_param(&query, "format") != Some("json") {
                return Ok(reply(StatusCode::NOT_IMPLEMENTED));
            }
            let limit: usize = query_param(&query, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(10_000)
                .min(10_000);
            let marker = query_param(&query, "marker").unwrap_or("").to_string();
            let entries: Vec<serde_json::Value> = objects
                .iter()
                .filter(|(name, _)| name.as_str() > marker.as_str())
                .take(limit)
                .map(|(name, data)| {
                    serde_json::json!({
                        "name": name,
                        "bytes": data.len(),
                        "hash": hex::encode(Md5::digest(data)),
                        "content_type": "application/octet-stream",
                        "last_modified": "2024-01-01T00:00:00.000000",
                    })
                })
                .collect();
            let mut response = Response::new(Full::new(Bytes::from(
                serde_json::to_vec(&entries).unwrap(),
            )));
            response.headers_mut().insert(
                "content-type",
                "application/json; charset=utf-8".parse().unwrap(),
            );
            response
        }
        (Method::PUT, Some(object)) => {
            let Some(objects) = containers.get_mut(&container) else {
                return Ok(reply(StatusCode::NOT_FOUND));
            };
            let mut etag = hex::encode(Md5::digest(&body));
            if state.fault == Fault::BadEtag {
                etag = "0".repeat(32);
            }
            objects.insert(object, body);
            let mut response = reply(StatusCode::CREATED);
            response.headers_mut().insert("etag", etag.parse().unwrap());
            response
        }
        (Method::GET, Some(object)) => {
            match containers.get(&container).and_then(|c| c.get(&object)) {
                Some(data) => Response::new(Full::new(data.clone())),
                None => reply(StatusCode::NOT_FOUND),
            }
        }
        (Method::DELETE, Some(object)) => {
            match containers
                .get_mut(&container)
                .and_then(|c| c.remove(&object))
            {
                Some(_) => reply(StatusCode::NO_CONTENT),
                None => reply(StatusCode::NOT_FOUND),
            }
        }
        _ => reply(StatusCode::METHOD_NOT_ALLOWED),
    };
    Ok(response)
}
