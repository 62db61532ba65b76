//! Responses of the volume API: JSON bodies, and errors in Cinder's shape
//! (`{"itemNotFound": {"code": 404, "message": "..."}}`), mapped from
//! `ApiError` in this one place.

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

/// A handler's answer: status and optional JSON body.
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: StatusCode, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
        }
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply { status, body: None }
    }
}

/// What a request did wrong, or what went wrong serving it.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized,
    Forbidden(String),
    NotFound(String),
    OverLimit(String),
    Unavailable,
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<crate::service::Refused>() {
            Ok(refused) => ApiError::BadRequest(refused.0),
            Err(e) => ApiError::Internal(e),
        }
    }
}

pub type ApiResult = Result<Reply, ApiError>;

impl ApiError {
    pub fn into_reply(self) -> Reply {
        let (status, key, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "badRequest", m),
            ApiError::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "error",
                "The request you have made requires authentication.".to_string(),
            ),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "itemNotFound", m),
            ApiError::OverLimit(m) => (StatusCode::PAYLOAD_TOO_LARGE, "overLimit", m),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceUnavailable",
                "identity cannot be reached".to_string(),
            ),
            ApiError::Internal(e) => {
                tracing::error!("volume API request failed: {e:#}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "computeFault",
                    "The server has either erred or is incapable of performing the requested operation."
                        .to_string(),
                )
            }
        };
        Reply::json(
            status,
            json!({ key: { "code": status.as_u16(), "message": message } }),
        )
    }
}

/// Renders a reply with the microversion header.
pub fn render(reply: Reply, version: &str) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(reply.status)
        .header("OpenStack-API-Version", format!("volume {version}"))
        .header("Vary", "OpenStack-API-Version")
        .header(
            "X-Openstack-Request-Id",
            format!("req-{}", crate::records::new_uuid()),
        );
    let body = match reply.body {
        Some(v) => {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(serde_json::to_vec(&v).expect("JSON values serialize"))
        }
        None => Bytes::new(),
    };
    b.body(Full::new(body)).expect("valid response")
}
