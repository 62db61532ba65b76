//! Identity's error: domain facts, mapped to Keystone's status codes and
//! JSON bodies in `api/response.rs`.

/// Why an identity request failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad credentials, a bad or missing token: one answer for every cause.
    #[error("the request you have made requires authentication")]
    Unauthorized,
    #[error("you are not authorized to perform the requested action: {action}")]
    Forbidden { action: String },
    #[error("could not find {kind}: {id}")]
    NotFound { kind: &'static str, id: String },
    #[error("conflict occurred attempting to store {kind} - duplicate entry")]
    Conflict { kind: &'static str },
    #[error("{0}")]
    BadRequest(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn not_found(kind: &'static str, id: &str) -> Error {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
