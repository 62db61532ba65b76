//! Building responses: Swift's error bodies, fixed bodies and streamed ones.

use std::io;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};

use crate::proxy::put::BodyStream;

/// The body type of every response.
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// A response.
pub type Resp = Response<Body>;

/// A body held in memory.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body streamed from chunks.
pub fn streamed(stream: BodyStream) -> Body {
    use futures::StreamExt;
    StreamBody::new(stream.map(|r| r.map(http_body::Frame::data))).boxed_unsync()
}

/// A response with a status and an in-memory body.
pub fn with_body(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("text/plain")),
    );
    r
}

/// An empty response (Swift still sends a text/html content type on most).
pub fn empty(status: StatusCode) -> Resp {
    let mut r = with_body(status, "text/html; charset=UTF-8", Bytes::new());
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        r.headers_mut().remove(http::header::CONTENT_TYPE);
    }
    r
}

/// Swift's error response: a short HTML body naming the status.
pub fn error(status: StatusCode, detail: &str) -> Resp {
    let title = status.canonical_reason().unwrap_or("Error");
    let explanation = match status {
        StatusCode::NOT_FOUND => "The resource could not be found.",
        StatusCode::UNAUTHORIZED => "This server could not verify that you are authorized to access the document you requested.",
        StatusCode::FORBIDDEN => "Access was denied to this resource.",
        StatusCode::UNPROCESSABLE_ENTITY => "Unable to process the contained instructions",
        StatusCode::CONFLICT => "There was a conflict when trying to complete your request.",
        StatusCode::PRECONDITION_FAILED => "A precondition for this request was not met.",
        StatusCode::RANGE_NOT_SATISFIABLE => "The Range requested is not available.",
        StatusCode::PAYLOAD_TOO_LARGE => "The body of your request was too large for this server.",
        StatusCode::SERVICE_UNAVAILABLE => "The server is currently unavailable. Please try again at a later time.",
        _ => detail,
    };
    let body = if detail.is_empty() || detail == explanation {
        format!("<html><h1>{title}</h1><p>{explanation}</p></html>")
    } else {
        format!("<html><h1>{title}</h1><p>{detail}</p></html>")
    };
    with_body(status, "text/html; charset=UTF-8", body)
}

/// Sets a header from a string, skipping values that are not valid header text.
pub fn set(resp: &mut Resp, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        resp.headers_mut().insert(n, v);
    }
}

/// 405 with the `Allow` header naming what the resource accepts.
pub fn method_not_allowed(allow: &str) -> Resp {
    let mut r = error(StatusCode::METHOD_NOT_ALLOWED, "");
    set(&mut r, "allow", allow);
    r
}
