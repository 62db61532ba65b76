//! EC2 credentials: `/v3/users/{id}/credentials/OS-EC2` (create for a
//! project, list, show and delete by access key; a user manages their own,
//! an admin anyone's) and `GET /v3/cairn/ec2-credentials/{access}`, the
//! lookup services make with the shared service secret to check S3
//! signatures: it answers the secret, owner, project and current roles of
//! a usable credential and 404 for anything else.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{str_field, Request};
use super::response::{self, Resp};
use crate::identity::credentials::{self, Credential};
use crate::identity::error::{Error, Result};
use crate::identity::model::{Project, User};
use crate::identity::store::Kind;
use crate::identity::{directory, tokens, Identity};
use common::ec2::{Ec2Grant, Ec2GrantBody, SERVICE_SECRET_HEADER};

/// `/v3/users/{uid}/credentials/OS-EC2[/{access}]`.
pub async fn route(id: &Identity, req: &Request, uid: &str, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => list(id, req, uid).await,
        (&Method::POST, []) => create(id, req, uid).await,
        (&Method::GET | &Method::HEAD, [access]) => {
            req.authorize(id, "identity:ec2_get_credential", |c| c.user_id == uid)?;
            let c = owned(id, uid, access).await?;
            let body = c
                .to_ec2_json(&id.base_url)
                .expect("owned() returns ec2 ones");
            Ok(response::json(StatusCode::OK, &json!({"credential": body})))
        }
        (&Method::DELETE, [access]) => {
            req.authorize(id, "identity:ec2_delete_credential", |c| c.user_id == uid)?;
            let c = owned(id, uid, access).await?;
            id.store.delete(Kind::Credential, &c.id).await?;
            tracing::info!(user = %uid, access = %access, "ec2 credential deleted");
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        _ => super::not_allowed(),
    }
}

/// The ec2 credential `access` of `uid`, or 404.
async fn owned(id: &Identity, uid: &str, access: &str) -> Result<Credential> {
    credentials::ec2_by_access(&id.store, access)
        .await?
        .filter(|c| c.user_id == uid)
        .ok_or_else(|| Error::not_found("credential", access))
}

async fn list(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:ec2_list_credentials", |c| c.user_id == uid)?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    let list: Vec<Value> = credentials::of_user(&id.store, uid)
        .await?
        .iter()
        .filter_map(|c| c.to_ec2_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"credentials": list,
                "links": response::list_links(&id.base_url, &format!("users/{uid}/credentials/OS-EC2"))}),
    ))
}

async fn create(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:ec2_create_credential", |c| c.user_id == uid)?;
    let body = req.json()?;
    let project_id = str_field(&body, "tenant_id")
        .or_else(|| str_field(&body, "project_id"))
        .ok_or_else(|| Error::BadRequest("'tenant_id' is a required property.".into()))?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    let _: Project = directory::must(&id.store, Kind::Project, "project", project_id).await?;
    if tokens::roles_on(&id.store, project_id, uid)
        .await?
        .is_empty()
    {
        return Err(Error::Forbidden {
            action: "identity:ec2_create_credential (the user has no role on the project)".into(),
        });
    }
    let c = Credential::new_ec2(uid, project_id, &credentials::new_ec2_keys());
    id.store.put(Kind::Credential, &c.id, &c).await?;
    tracing::info!(user = %uid, project = %project_id, credential = %c.id, "ec2 credential created");
    let body = c.to_ec2_json(&id.base_url).expect("made as ec2");
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"credential": body}),
    ))
}

/// `GET /v3/cairn/ec2-credentials/{access}` for services.
pub async fn service_lookup(id: &Identity, req: &Request, access: &str) -> Result<Resp> {
    let given = req.header(SERVICE_SECRET_HEADER).unwrap_or("");
    let allowed = id
        .service_secret
        .as_deref()
        .is_some_and(|s| constant_time_eq(s.as_bytes(), given.as_bytes()));
    if !allowed {
        return Err(Error::Unauthorized);
    }
    let missing = || Error::not_found("credential", access);
    let c = credentials::ec2_by_access(&id.store, access)
        .await?
        .ok_or_else(missing)?;
    let keys = c.ec2_keys().ok_or_else(missing)?;
    let project_id = c.project_id.clone().ok_or_else(missing)?;
    let user: User = id
        .store
        .get(Kind::User, &c.user_id)
        .await?
        .filter(|u: &User| u.enabled)
        .ok_or_else(missing)?;
    let _: Project = id
        .store
        .get(Kind::Project, &project_id)
        .await?
        .filter(|p: &Project| p.enabled)
        .ok_or_else(missing)?;
    let roles = tokens::roles_on(&id.store, &project_id, &user.id).await?;
    if roles.is_empty() {
        return Err(missing());
    }
    let grant = Ec2Grant {
        access: keys.access,
        secret: keys.secret,
        user_id: user.id,
        is_admin_project: id.tokens.is_admin_project(&project_id),
        project_id,
        roles: roles.into_iter().map(|r| r.name).collect(),
    };
    let body =
        serde_json::to_value(Ec2GrantBody { credential: grant }).map_err(anyhow::Error::from)?;
    Ok(response::json(StatusCode::OK, &body))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
