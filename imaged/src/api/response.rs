//! Responses of the image API: JSON bodies, streamed bodies, and errors as
//! Glance sends them (a small HTML page naming the status and the reason,
//! which glanceclient and the SDK show).

use std::io;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use serde_json::Value;

use crate::objects::ByteStream;

/// A response of the image API.
pub type Resp = http::Response<UnsyncBoxBody<Bytes, io::Error>>;

fn body(bytes: impl Into<Bytes>) -> UnsyncBoxBody<Bytes, io::Error> {
    Full::new(bytes.into())
        .map_err(|n| match n {})
        .boxed_unsync()
}

pub fn json(status: StatusCode, value: &Value) -> Resp {
    let mut r = http::Response::new(body(value.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

pub fn text(status: StatusCode, text: &'static str) -> Resp {
    let mut r = http::Response::new(body(text));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

pub fn empty(status: StatusCode) -> Resp {
    let mut r = http::Response::new(body(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub fn streamed(status: StatusCode, stream: ByteStream) -> Resp {
    let mut r = http::Response::new(
        StreamBody::new(stream.map(|r| r.map(http_body::Frame::data))).boxed_unsync(),
    );
    *r.status_mut() = status;
    r
}

pub fn error(status: StatusCode, message: &str) -> Resp {
    let reason = status.canonical_reason().unwrap_or("Error");
    let code = status.as_u16();
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let mut r = http::Response::new(body(format!(
        "<html>\n <head>\n  <title>{code} {reason}</title>\n </head>\n <body>\n  <h1>{code} {reason}</h1>\n  {escaped}<br /><br />\n\n\n\n </body>\n</html>"
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    r
}

/// A failure of the service itself (500), logged.
pub fn internal(e: impl std::fmt::Display) -> Resp {
    tracing::warn!("image service error: {e}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server has either erred or is incapable of performing the requested operation.",
    )
}

/// Sets a header that is known to be valid text.
pub fn set(resp: &mut Resp, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}
