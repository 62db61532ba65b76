//! The image API (Glance v2) over `common::http`: routing, the caller's
//! identity from an identity token, and the rules of who sees and changes
//! which image. Paths are served both at the root (`/v2/...`) and under
//! `/image` (the catalog's unversioned endpoint). One file per resource:
//! `images.rs`, `data.rs` (upload and download), `members.rs`,
//! `versions.rs` (version documents and schemas), `response.rs`.

mod data;
mod images;
mod members;
mod response;
mod versions;

use std::sync::Arc;

use common::policy::Policy;
use common::token::Claims;
use common::token_verifier::{CheckError, RemoteVerifier};
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;

use crate::model::{Image, Member};
use crate::objects::ObjectStore;
use crate::records::Records;
pub use response::Resp;

/// Everything a request needs.
pub struct Service {
    pub records: Records,
    pub objects: Arc<ObjectStore>,
    pub verifier: Arc<RemoteVerifier>,
    pub segment_size: u64,
    pub max_image_size: u64,
    pub policy: Arc<Policy>,
}

/// Who is calling, from their token, and what the policy lets them do.
#[derive(Clone, Debug)]
pub struct Caller {
    pub project: String,
    /// Glance's `context_is_admin`: sees and manages every image.
    pub admin: bool,
    /// `add_image`: may create images (by default `admin` or `member`; a
    /// `reader` may not).
    pub can_write: bool,
    claims: Claims,
    policy: Arc<Policy>,
}

/// The default rules (Glance's names), which `policy_file` may override.
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    ("context_is_admin", "role:admin"),
    ("add_image", "role:admin or role:member"),
    ("modify_image", "role:admin or (role:member and owner)"),
    ("delete_image", "rule:modify_image"),
    ("publicize_image", "role:admin"),
    ("deactivate", "role:admin"),
    ("reactivate", "role:admin"),
    ("add_member", "rule:modify_image"),
    ("delete_member", "rule:modify_image"),
];

impl Caller {
    /// Whether the policy allows `action`; `owner` says whether the image
    /// belongs to the caller's project.
    pub fn may(&self, action: &str, owner: bool) -> bool {
        self.policy.allows(action, &self.claims, owner)
    }

    /// Whether the caller may see `image` (given its membership, if any).
    pub fn can_see(&self, image: &Image, member: Option<&Member>) -> bool {
        self.admin
            || image.owner == self.project
            || image.visibility == "public"
            || image.visibility == "community"
            || (image.visibility == "shared" && member.is_some_and(|m| m.status != "rejected"))
    }

    /// Whether the caller may change `image`.
    pub fn can_change(&self, image: &Image) -> bool {
        self.may("modify_image", image.owner == self.project)
    }
}

async fn caller(service: &Service, req: &Request<Incoming>) -> Result<Caller, Resp> {
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| response::error(StatusCode::UNAUTHORIZED, "This server could not verify that you are authorized to access the document you requested."))?;
    let claims = match service.verifier.check(token).await {
        Ok(c) => c,
        Err(CheckError::Unavailable) => {
            return Err(response::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "identity is not available",
            ))
        }
        Err(CheckError::Refused(_)) => {
            return Err(response::error(
                StatusCode::UNAUTHORIZED,
                "The request you have made requires authentication.",
            ))
        }
    };
    let Some(project) = claims.project_id.clone() else {
        return Err(response::error(
            StatusCode::FORBIDDEN,
            "a project-scoped token is required",
        ));
    };
    let policy = service.policy.clone();
    Ok(Caller {
        project,
        admin: policy.allows("context_is_admin", &claims, false),
        can_write: policy.allows("add_image", &claims, false),
        claims,
        policy,
    })
}

/// Serves one request.
pub async fn handle(service: &Service, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    let path = path.strip_prefix("/image").unwrap_or(&path);
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let method = req.method().clone();
    match segs.as_slice() {
        ["healthcheck"] => return response::text(StatusCode::OK, "OK"),
        [] | ["versions"] if method == Method::GET => {
            return versions::versions(&req, segs.is_empty())
        }
        ["v2"] if method == Method::GET => return versions::versions(&req, false),
        _ => {}
    }
    let caller = match caller(service, &req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match (method, segs.as_slice()) {
        (Method::GET, ["v2", "schemas", which]) => versions::schema(which),
        (Method::GET, ["v2", "images"]) => images::list(service, &caller, req.uri().query()).await,
        (Method::POST, ["v2", "images"]) => images::create(service, &caller, req).await,
        (Method::GET, ["v2", "images", id]) => images::show(service, &caller, id).await,
        (Method::PATCH, ["v2", "images", id]) => images::patch(service, &caller, id, req).await,
        (Method::DELETE, ["v2", "images", id]) => images::delete(service, &caller, id).await,
        (Method::PUT, ["v2", "images", id, "file"]) => {
            data::upload(service, &caller, id, req).await
        }
        (Method::GET, ["v2", "images", id, "file"]) => {
            data::download(service, &caller, id, &req).await
        }
        (Method::PUT, ["v2", "images", id, "tags", tag]) => {
            images::tag(service, &caller, id, tag, true).await
        }
        (Method::DELETE, ["v2", "images", id, "tags", tag]) => {
            images::tag(service, &caller, id, tag, false).await
        }
        (Method::POST, ["v2", "images", id, "actions", action]) => {
            images::action(service, &caller, id, action).await
        }
        (Method::GET, ["v2", "images", id, "members"]) => members::list(service, &caller, id).await,
        (Method::POST, ["v2", "images", id, "members"]) => {
            members::create(service, &caller, id, req).await
        }
        (Method::GET, ["v2", "images", id, "members", member]) => {
            members::show(service, &caller, id, member).await
        }
        (Method::PUT, ["v2", "images", id, "members", member]) => {
            members::update(service, &caller, id, member, req).await
        }
        (Method::DELETE, ["v2", "images", id, "members", member]) => {
            members::delete(service, &caller, id, member).await
        }
        (_, ["v2", ..]) => response::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        _ => response::error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Loads an image the caller may see; 404 otherwise (as Glance: an image
/// one may not see does not exist).
pub async fn visible(service: &Service, caller: &Caller, id: &str) -> Result<Image, Resp> {
    let image = service
        .records
        .get(id)
        .await
        .map_err(response::internal)?
        .ok_or_else(|| not_found(id))?;
    let member = service
        .records
        .get_member(id, &caller.project)
        .await
        .map_err(response::internal)?;
    if caller.can_see(&image, member.as_ref()) {
        Ok(image)
    } else {
        Err(not_found(id))
    }
}

/// Loads an image the caller may change (403 if they only see it).
pub async fn changeable(service: &Service, caller: &Caller, id: &str) -> Result<Image, Resp> {
    let image = visible(service, caller, id).await?;
    if !caller.can_change(&image) {
        return Err(response::error(
            StatusCode::FORBIDDEN,
            "You are not permitted to modify this image.",
        ));
    }
    Ok(image)
}

pub fn not_found(id: &str) -> Resp {
    response::error(
        StatusCode::NOT_FOUND,
        &format!("No image found with ID {id}"),
    )
}
