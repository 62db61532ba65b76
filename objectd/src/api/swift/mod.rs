//! The Swift v1 API: path parsing and validation, authentication and
//! authorization, and dispatch to the account, container and object handlers.

// Helpers here return the response to send as their error; it leaves at once.
#![allow(clippy::result_large_err)]

pub mod account;
pub mod conditional;
pub mod constraints;
pub mod container;
pub mod listing;
pub mod object;
pub mod range;

use http::{HeaderMap, Method, Request, StatusCode};
use hyper::body::Incoming;

use super::auth::{Acl, Identity};
use super::response::{self, Resp};
use super::App;
use crate::proxy::ProxyError;

/// What a request addresses.
pub struct Target {
    pub account: String,
    pub container: Option<String>,
    pub object: Option<String>,
}

/// Answers `GET /auth/v1.0`.
pub fn auth_endpoint<B>(req: &Request<B>, app: &App) -> Resp {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return response::error(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let h = req.headers();
    let user = header(h, "x-auth-user")
        .or_else(|| header(h, "x-storage-user"))
        .unwrap_or_default();
    let key = header(h, "x-auth-key")
        .or_else(|| header(h, "x-storage-pass"))
        .unwrap_or_default();
    let Some((token, ttl, account)) = app.auth.login(user, key) else {
        return response::error(StatusCode::UNAUTHORIZED, "");
    };
    let host = header(h, "host").unwrap_or("127.0.0.1");
    let mut resp = response::with_body(StatusCode::OK, "text/plain; charset=UTF-8", "");
    response::set(&mut resp, "x-auth-token", &token);
    response::set(&mut resp, "x-storage-token", &token);
    response::set(
        &mut resp,
        "x-auth-token-expires",
        &ttl.as_secs().to_string(),
    );
    response::set(
        &mut resp,
        "x-storage-url",
        &format!("http://{host}/v1/{account}"),
    );
    resp
}

/// A header's value as text, if present and valid.
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Parses `/v1/account[/container[/object]]`; the error is the response.
fn parse_target(path: &str) -> Result<Target, Resp> {
    let rest = path.strip_prefix("/v1/").unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(rest).decode_utf8();
    let decoded = match decoded {
        Ok(d) if !d.contains('\0') => d,
        _ => {
            return Err(response::error(
                StatusCode::PRECONDITION_FAILED,
                "Invalid UTF8 or contains NULL",
            ))
        }
    };
    let mut parts = decoded.splitn(3, '/');
    let account = parts.next().unwrap_or_default().to_string();
    let container = parts.next().filter(|c| !c.is_empty()).map(str::to_string);
    let object = parts.next().filter(|o| !o.is_empty()).map(str::to_string);
    if account.is_empty() || account.len() > constraints::MAX_ACCOUNT_NAME_LENGTH {
        return Err(response::error(
            StatusCode::PRECONDITION_FAILED,
            "Invalid path",
        ));
    }
    if container.is_none() && object.is_some() {
        return Err(response::error(
            StatusCode::PRECONDITION_FAILED,
            "Invalid path",
        ));
    }
    if let Some(c) = &container {
        constraints::check_container_name(c)
            .map_err(|m| response::error(StatusCode::BAD_REQUEST, &m))?;
    }
    if let Some(o) = &object {
        constraints::check_object_name(o)
            .map_err(|m| response::error(StatusCode::BAD_REQUEST, &m))?;
    }
    Ok(Target {
        account,
        container,
        object,
    })
}

/// Handles a request under `/v1/`.
pub async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    let target = match parse_target(req.uri().path()) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let token =
        header(req.headers(), "x-auth-token").or_else(|| header(req.headers(), "x-storage-token"));
    let identity = match token {
        Some(t) => match super::keystone::identify_token(app, t).await {
            Ok(id) => Some(id),
            Err(resp) => return resp,
        },
        None => None,
    };
    if let Err(resp) = authorize(app, req.method(), &target, identity.as_ref()).await {
        return resp;
    }
    let method = req.method().clone();
    match (&target.container, &target.object) {
        (None, _) => account::handle(app, &method, &target, req).await,
        (Some(_), None) => container::handle(app, &method, &target, req).await,
        (Some(_), Some(_)) => object::handle(app, &method, &target, req).await,
    }
}

/// Decides whether `who` may do `method` on `target`: owners may do
/// anything, readers of the account may read; others only what a
/// container ACL grants.
pub async fn authorize(
    app: &App,
    method: &Method,
    target: &Target,
    who: Option<&Identity>,
) -> Result<(), Resp> {
    let reading = matches!(*method, Method::GET | Method::HEAD);
    if who.is_some_and(|w| w.owns(&target.account) || (reading && w.reads(&target.account))) {
        return Ok(());
    }
    let denied = || {
        response::error(
            if who.is_some() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            },
            "",
        )
    };
    let Some(container) = &target.container else {
        return Err(denied());
    };
    let writing =
        matches!(*method, Method::PUT | Method::POST | Method::DELETE) || method.as_str() == "COPY";
    if target.object.is_none() && !reading {
        return Err(denied());
    }
    let Ok(info) = app.cluster.container_info(&target.account, container).await else {
        return Err(denied());
    };
    let acl_of = |name: &str| {
        Acl::parse(
            info.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or(""),
        )
    };
    let allowed = if reading {
        let acl = acl_of("x-container-read");
        acl.grants(who) || (acl.any_referrer && (target.object.is_some() || acl.listings))
    } else {
        writing && acl_of("x-container-write").grants(who)
    };
    if allowed {
        Ok(())
    } else {
        Err(denied())
    }
}

/// Maps a proxy failure to Swift's response.
pub fn proxy_error(e: ProxyError) -> Resp {
    match e {
        ProxyError::NotFound => response::error(StatusCode::NOT_FOUND, ""),
        ProxyError::Conflict => response::error(StatusCode::CONFLICT, ""),
        ProxyError::NotEmpty => response::error(
            StatusCode::CONFLICT,
            "There was a conflict when trying to complete your request.",
        ),
        ProxyError::PreconditionFailed => response::error(StatusCode::PRECONDITION_FAILED, ""),
        ProxyError::EtagMismatch => response::error(StatusCode::UNPROCESSABLE_ENTITY, ""),
        ProxyError::TooLarge => response::error(StatusCode::PAYLOAD_TOO_LARGE, ""),
        ProxyError::LengthMismatch => response::error(
            StatusCode::BAD_REQUEST,
            "Body length does not match Content-Length",
        ),
        ProxyError::ClientBody(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            response::error(StatusCode::REQUEST_TIMEOUT, "Request timed out")
        }
        ProxyError::ClientBody(_) => {
            response::error(StatusCode::BAD_REQUEST, "Client disconnected")
        }
        e @ (ProxyError::Quorum { .. } | ProxyError::Store(_)) => {
            tracing::error!("failed to reach storage: {e}");
            response::error(StatusCode::SERVICE_UNAVAILABLE, "")
        }
    }
}

/// System metadata (`x-{object,container}-sysmeta-*`) is never shown to clients.
fn is_sysmeta(name: &str) -> bool {
    name.starts_with("x-object-sysmeta-") || name.starts_with("x-container-sysmeta-")
}

/// Adds stored headers (metadata and the like) to a response.
pub fn add_stored_headers(resp: &mut Resp, headers: &[(String, String)]) {
    for (n, v) in headers.iter().filter(|(n, _)| !is_sysmeta(n)) {
        response::set(resp, n, v);
    }
}
