//! A request as the handlers see it: method, percent-decoded path
//! segments after `/v3`, query pairs, headers and the whole body (at most
//! 1 MiB), plus the caller's token checks.

use bytes::Bytes;
use http::{HeaderMap, Method};
use percent_encoding::percent_decode_str;
use serde_json::Value;

use crate::identity::error::{Error, Result};
use crate::identity::policy;
use crate::identity::tokens::unauthorized;
use crate::identity::Identity;
use common::token::Claims;

/// Largest request body identity reads.
pub const MAX_BODY: usize = 1 << 20;

pub struct Request {
    pub method: Method,
    pub segs: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn new(
        method: Method,
        path: &str,
        query: Option<&str>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Request {
        let segs = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        let query = query
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode_query(k), decode_query(v))
            })
            .collect();
        Request {
            method,
            segs,
            query,
            headers,
            body,
        }
    }

    /// The first value of query parameter `name`, if any.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a query flag is present and not false (`?nocatalog`, `?effective=True`).
    pub fn flag(&self, name: &str) -> bool {
        self.query(name).is_some_and(|v| {
            !matches!(
                v.to_ascii_lowercase().as_str(),
                "false" | "0" | "no" | "none"
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON; 400 if it is not.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body)
            .map_err(|_| Error::BadRequest("The request body is not valid JSON.".into()))
    }

    /// The caller's token claims (`X-Auth-Token`); 401 without a valid one.
    pub fn caller(&self, id: &Identity) -> Result<Claims> {
        let token = self.header("x-auth-token").ok_or(Error::Unauthorized)?;
        id.tokens.check(token).map_err(unauthorized)
    }

    /// The caller, if `action` is allowed to them; `is_owner` says whether
    /// the target is their own.
    pub fn authorize(
        &self,
        id: &Identity,
        action: &str,
        is_owner: impl FnOnce(&Claims) -> bool,
    ) -> Result<Claims> {
        let caller = self.caller(id)?;
        let owner = is_owner(&caller);
        if policy::allows(action, &caller, owner) {
            Ok(caller)
        } else {
            Err(Error::Forbidden {
                action: action.to_string(),
            })
        }
    }
}

fn decode_query(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// A string field of a JSON object, if present and a string.
pub fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

/// A required non-empty string field; 400 otherwise.
pub fn required<'a>(v: &'a Value, name: &str) -> Result<&'a str> {
    str_field(v, name)
        .filter(|s| !s.is_empty() && s.len() <= 255)
        .ok_or_else(|| Error::BadRequest(format!("Invalid input for field '{name}'.")))
}

/// The object under `key` in a request body (`{"project": {...}}`); 400 otherwise.
pub fn object<'a>(body: &'a Value, key: &str) -> Result<&'a Value> {
    body.get(key)
        .filter(|v| v.is_object())
        .ok_or_else(|| Error::BadRequest(format!("'{key}' is a required property.")))
}

/// A boolean field, `default` when absent; 400 if not a boolean.
pub fn bool_field(v: &Value, name: &str, default: bool) -> Result<bool> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Error::BadRequest(format!(
            "Invalid input for field '{name}'."
        ))),
    }
}
