//! Building responses: JSON bodies, empty ones, and Keystone's error body
//! `{"error": {"code", "message", "title"}}` (the one place errors become
//! HTTP). Internal detail is logged, never sent.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use crate::identity::error::Error;

pub type Resp = Response<Full<Bytes>>;

/// A JSON response.
pub fn json(status: StatusCode, body: &Value) -> Resp {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// A response without a body.
pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

/// Keystone's error response for `e`.
pub fn error(e: &Error) -> Resp {
    let (status, message) = match e {
        Error::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "The request you have made requires authentication.".to_string(),
        ),
        Error::Forbidden { action } => (
            StatusCode::FORBIDDEN,
            format!("You are not authorized to perform the requested action: {action}."),
        ),
        Error::NotFound { kind, id } => (
            StatusCode::NOT_FOUND,
            format!("Could not find {kind}: {id}."),
        ),
        Error::Conflict { kind } => (
            StatusCode::CONFLICT,
            format!("Conflict occurred attempting to store {kind} - Duplicate entry."),
        ),
        Error::BadRequest(m) => (StatusCode::BAD_REQUEST, m.clone()),
        Error::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed for the requested URL.".into(),
        ),
        Error::Internal(err) => {
            tracing::error!("identity request failed: {err:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error prevented the server from fulfilling your request.".into(),
            )
        }
    };
    let title = status.canonical_reason().unwrap_or("Error");
    let mut r = json(
        status,
        &json!({"error": {"code": status.as_u16(), "message": message, "title": title}}),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Keystone uri=\"/v3\""),
        );
    }
    r
}

/// The `links` object of a list response.
pub fn list_links(base: &str, collection: &str) -> Value {
    json!({"self": format!("{base}/{collection}"), "previous": null, "next": null})
}
