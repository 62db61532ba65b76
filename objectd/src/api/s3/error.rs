//! S3 errors: the code, status and message of every refusal, the mapping
//! from proxy failures, and the `<Error>` XML body. The one place S3 errors
//! are turned into responses.

use http::StatusCode;

use super::xml::escape;
use crate::api::response::{self, Resp};
use crate::proxy::ProxyError;

/// An S3 error response.
#[derive(Debug, Clone)]
pub struct S3Error {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: String,
}

impl S3Error {
    pub fn new(code: &'static str, status: StatusCode, message: &str) -> S3Error {
        S3Error {
            code,
            status,
            message: message.to_string(),
        }
    }

    pub fn access_denied(message: &str) -> S3Error {
        S3Error::new("AccessDenied", StatusCode::FORBIDDEN, message)
    }

    pub fn signature_mismatch() -> S3Error {
        S3Error::new(
            "SignatureDoesNotMatch",
            StatusCode::FORBIDDEN,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    }

    pub fn invalid_access_key() -> S3Error {
        S3Error::new(
            "InvalidAccessKeyId",
            StatusCode::FORBIDDEN,
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    }

    pub fn authorization_header(message: &str) -> S3Error {
        S3Error::new(
            "AuthorizationHeaderMalformed",
            StatusCode::BAD_REQUEST,
            message,
        )
    }

    pub fn authorization_query(message: &str) -> S3Error {
        S3Error::new(
            "AuthorizationQueryParametersError",
            StatusCode::BAD_REQUEST,
            message,
        )
    }

    pub fn invalid_argument(message: &str) -> S3Error {
        S3Error::new("InvalidArgument", StatusCode::BAD_REQUEST, message)
    }

    pub fn invalid_request(message: &str) -> S3Error {
        S3Error::new("InvalidRequest", StatusCode::BAD_REQUEST, message)
    }

    pub fn malformed_xml() -> S3Error {
        S3Error::new(
            "MalformedXML",
            StatusCode::BAD_REQUEST,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }

    pub fn not_implemented(message: &str) -> S3Error {
        S3Error::new("NotImplemented", StatusCode::NOT_IMPLEMENTED, message)
    }

    pub fn no_such_bucket() -> S3Error {
        S3Error::new(
            "NoSuchBucket",
            StatusCode::NOT_FOUND,
            "The specified bucket does not exist",
        )
    }

    pub fn no_such_key() -> S3Error {
        S3Error::new(
            "NoSuchKey",
            StatusCode::NOT_FOUND,
            "The specified key does not exist.",
        )
    }

    pub fn no_such_upload() -> S3Error {
        S3Error::new(
            "NoSuchUpload",
            StatusCode::NOT_FOUND,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
    }

    pub fn precondition_failed() -> S3Error {
        S3Error::new(
            "PreconditionFailed",
            StatusCode::PRECONDITION_FAILED,
            "At least one of the pre-conditions you specified did not hold",
        )
    }

    pub fn internal() -> S3Error {
        S3Error::new(
            "InternalError",
            StatusCode::INTERNAL_SERVER_ERROR,
            "We encountered an internal error. Please try again.",
        )
    }

    /// Maps a proxy failure; `missing` is the error for `NotFound`.
    pub fn from_proxy(e: ProxyError, missing: fn() -> S3Error) -> S3Error {
        match e {
            ProxyError::NotFound => missing(),
            ProxyError::Conflict => S3Error::new(
                "OperationAborted",
                StatusCode::CONFLICT,
                "A conflicting conditional operation is currently in progress against this resource. Please try again.",
            ),
            ProxyError::NotEmpty => S3Error::new(
                "BucketNotEmpty",
                StatusCode::CONFLICT,
                "The bucket you tried to delete is not empty",
            ),
            ProxyError::PreconditionFailed => S3Error::precondition_failed(),
            ProxyError::EtagMismatch => S3Error::new(
                "BadDigest",
                StatusCode::BAD_REQUEST,
                "The Content-MD5 you specified did not match what we received.",
            ),
            ProxyError::TooLarge => S3Error::new(
                "EntityTooLarge",
                StatusCode::BAD_REQUEST,
                "Your proposed upload exceeds the maximum allowed object size.",
            ),
            ProxyError::LengthMismatch => S3Error::new(
                "IncompleteBody",
                StatusCode::BAD_REQUEST,
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
            ),
            ProxyError::ClientBody(e) if e.kind() == std::io::ErrorKind::TimedOut => S3Error::new(
                "RequestTimeout",
                StatusCode::BAD_REQUEST,
                "Your socket connection to the server was not read from or written to within the timeout period.",
            ),
            ProxyError::ClientBody(_) => S3Error::new(
                "IncompleteBody",
                StatusCode::BAD_REQUEST,
                "The request body ended early or could not be read.",
            ),
            e @ (ProxyError::Quorum { .. } | ProxyError::Store(_)) => {
                tracing::error!("failed to reach storage: {e}");
                S3Error::new(
                    "ServiceUnavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Please reduce your request rate.",
                )
            }
        }
    }

    /// The error response; HEAD answers carry no body.
    pub fn response(&self, resource: &str, request_id: &str, head: bool) -> Resp {
        if head {
            let mut r = response::with_body(self.status, "application/xml", "");
            r.headers_mut().remove(http::header::CONTENT_TYPE);
            return r;
        }
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>",
            self.code,
            escape(&self.message),
            escape(resource),
        );
        response::with_body(self.status, "application/xml", body)
    }
}

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.code,
            self.status.as_u16(),
            self.message
        )
    }
}
