//! The volume API: a Cinder v3 subset under `/volume/v3/{project_id}`.
//! This module parses a request into a `Route`, checks the caller's token
//! with `common::token_verifier::RemoteVerifier` (the project in the URL
//! must be the token's, unless the caller is a cloud admin; `reader`
//! may only read) and dispatches to one file per resource: `volumes.rs`,
//! `actions.rs` (volume actions), `snapshots.rs`, `attachments.rs`,
//! `misc.rs` (types, quotas, limits, zones). `render.rs` shapes bodies;
//! `reply.rs` maps errors.

mod actions;
mod attachments;
mod misc;
mod render;
mod reply;
mod snapshots;
pub mod versions;
mod volumes;

use std::sync::Arc;

use bytes::Bytes;
use common::token_verifier::{CheckError, RemoteVerifier};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::Value;

use crate::service::BlockService;
use reply::{ApiError, ApiResult, Reply};

/// Largest request body read.
const MAX_BODY: usize = 1 << 20;

/// What the API serves with.
pub struct VolumeApi {
    pub service: Arc<BlockService>,
    pub verifier: Arc<RemoteVerifier>,
}

/// Who is calling, from their token.
pub struct Caller {
    pub user_id: String,
    pub project_id: String,
    /// The project the URL names (the caller's, or any for a cloud admin).
    pub target: String,
    pub can_write: bool,
    pub cloud_admin: bool,
    /// The caller's token (other services are asked on their behalf).
    pub token: String,
}

/// One request, parsed.
pub struct Call {
    pub method: Method,
    /// Path segments after `/volume/v3/{project_id}`.
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub version: (u32, u32),
    pub base: String,
}

impl Call {
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON body's `key` object, or a 400.
    pub fn member(&self, key: &str) -> Result<&serde_json::Map<String, Value>, ApiError> {
        self.body
            .as_ref()
            .and_then(|b| b.get(key))
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("Missing required element '{key}' in request body."))
            })
    }

    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        self.version >= (major, minor)
    }
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_decode(&s.replace('+', " "));
            (dec(k), dec(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Serves one HTTP request.
pub async fn handle(api: Arc<VolumeApi>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let version = versions::negotiate(
        req.headers()
            .get("OpenStack-API-Version")
            .and_then(|v| v.to_str().ok()),
    );
    let version_text = format!("{}.{}", version.0, version.1);
    let reply = match serve(&api, req, version).await {
        Ok(r) => r,
        Err(e) => e.into_reply(),
    };
    reply::render(reply, &version_text)
}

async fn serve(api: &VolumeApi, req: Request<Incoming>, version: (u32, u32)) -> ApiResult {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let base = format!("http://{host}");
    let path: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    if path == ["healthcheck"] {
        return Ok(Reply::empty(StatusCode::OK));
    }
    let rest: &[String] = match path.first().map(String::as_str) {
        Some("volume") => &path[1..],
        _ => &path[..],
    };
    // Discovery: `/volume/`, `/volume/v3/`, `/volume/v3/{pid}` (no token).
    if req.method() == Method::GET && (rest.is_empty() || rest == ["v3"]) {
        return Ok(versions::document(&base));
    }
    if rest.first().map(String::as_str) != Some("v3") || rest.len() < 2 {
        return Err(ApiError::NotFound("Resource could not be found.".into()));
    }
    let project = rest[1].clone();
    let sub: Vec<String> = rest[2..].to_vec();
    let token = req
        .headers()
        .get("X-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if sub.is_empty() && req.method() == Method::GET && token.is_none() {
        return Ok(versions::document(&base));
    }
    let caller = authenticate(api, token.as_deref(), &project).await?;
    if sub.is_empty() {
        return Ok(versions::document(&base));
    }
    let method = req.method().clone();
    let query = parse_query(req.uri().query());
    let body = Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::OverLimit("Request is too large.".into())
            } else {
                ApiError::BadRequest("request body unreadable".into())
            }
        })?
        .to_bytes();
    let body = if body.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::BadRequest(format!("Malformed request body: {e}")))?,
        )
    };
    if method != Method::GET && method != Method::HEAD && !caller.can_write {
        return Err(ApiError::Forbidden(
            "Policy doesn't allow this operation to be performed.".into(),
        ));
    }
    let call = Call {
        method,
        path: sub,
        query,
        body,
        version,
        base: format!("{base}/volume/v3/{project}"),
    };
    dispatch(&api.service, &caller, &call).await
}

async fn authenticate(
    api: &VolumeApi,
    token: Option<&str>,
    project: &str,
) -> Result<Caller, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized)?;
    let claims = api.verifier.check(token).await.map_err(|e| match e {
        CheckError::Unavailable => ApiError::Unavailable,
        CheckError::Refused(why) => {
            tracing::debug!("token refused: {why}");
            ApiError::Unauthorized
        }
    })?;
    let is = |r: &str| claims.roles.iter().any(|x| x == r);
    let cloud_admin = is("admin") && (claims.is_admin_project || claims.system_scope);
    let own = claims.project_id.as_deref() == Some(project);
    if !own && !cloud_admin {
        return Err(ApiError::Forbidden(
            "Policy doesn't allow access to another project.".into(),
        ));
    }
    Ok(Caller {
        user_id: claims.user_id.clone(),
        project_id: claims.project_id.clone().unwrap_or_default(),
        target: project.to_string(),
        can_write: is("admin") || is("member"),
        cloud_admin,
        token: token.to_string(),
    })
}

async fn dispatch(service: &Arc<BlockService>, caller: &Caller, call: &Call) -> ApiResult {
    let p: Vec<&str> = call.path.iter().map(String::as_str).collect();
    match (call.method.as_str(), p.as_slice()) {
        ("GET", ["volumes"]) => volumes::list(service, caller, call, false).await,
        ("GET", ["volumes", "detail"]) => volumes::list(service, caller, call, true).await,
        ("POST", ["volumes"]) => volumes::create(service, caller, call).await,
        ("GET", ["volumes", id]) => volumes::show(service, caller, call, id).await,
        ("PUT", ["volumes", id]) => volumes::update(service, caller, call, id).await,
        ("DELETE", ["volumes", id]) => volumes::delete(service, caller, call, id).await,
        ("POST", ["volumes", id, "action"]) => actions::run(service, caller, call, id).await,
        ("GET", ["snapshots"]) => snapshots::list(service, caller, call, false).await,
        ("GET", ["snapshots", "detail"]) => snapshots::list(service, caller, call, true).await,
        ("POST", ["snapshots"]) => snapshots::create(service, caller, call).await,
        ("GET", ["snapshots", id]) => snapshots::show(service, caller, id).await,
        ("PUT", ["snapshots", id]) => snapshots::update(service, caller, call, id).await,
        ("DELETE", ["snapshots", id]) => snapshots::delete(service, caller, id).await,
        ("POST", ["attachments"]) => attachments::create(service, caller, call).await,
        ("GET", ["attachments"]) | ("GET", ["attachments", "detail"]) => {
            attachments::list(service, caller).await
        }
        ("GET", ["attachments", id]) => attachments::show(service, caller, id).await,
        ("DELETE", ["attachments", id]) => attachments::delete(service, caller, id).await,
        ("POST", ["attachments", id, "action"]) => attachments::complete(service, caller, id).await,
        ("GET", ["types"]) => Ok(misc::types()),
        ("GET", ["types", id]) => misc::volume_type(id),
        ("GET", ["os-quota-sets", pid]) => misc::quotas(service, caller, pid, call).await,
        ("GET", ["os-quota-sets", pid, "defaults"]) => Ok(misc::quota_defaults(pid)),
        ("GET", ["limits"]) => misc::limits(service, caller).await,
        ("GET", ["os-availability-zone"]) => Ok(misc::zones()),
        _ => Err(ApiError::NotFound(
            "The resource could not be found.".into(),
        )),
    }
}
