//! `/v3/credentials`: list (`?user_id=`, `?type=`; a user who may not read
//! everything sees only their own), create (an `ec2` one needs a project
//! and a blob with `access`; its id is derived from the access key), show,
//! update (`blob`, `project_id`) and delete.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{object, required, str_field, Request};
use super::response::{self, Resp};
use crate::identity::credentials::{self, Credential, EC2};
use crate::identity::error::{Error, Result};
use crate::identity::model::{new_id, User};
use crate::identity::store::Kind;
use crate::identity::{directory, policy, Identity};

pub async fn route(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => list(id, req).await,
        (&Method::POST, []) => create(id, req).await,
        (&Method::GET | &Method::HEAD, [cid]) => {
            let c = must(id, cid).await?;
            req.authorize(id, "identity:get_credential", |caller| {
                caller.user_id == c.user_id
            })?;
            Ok(response::json(
                StatusCode::OK,
                &json!({"credential": c.to_json(&id.base_url)}),
            ))
        }
        (&Method::PATCH, [cid]) => update(id, req, cid).await,
        (&Method::DELETE, [cid]) => {
            let c = must(id, cid).await?;
            req.authorize(id, "identity:delete_credential", |caller| {
                caller.user_id == c.user_id
            })?;
            id.store.delete(Kind::Credential, cid).await?;
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        _ => super::not_allowed(),
    }
}

async fn must(id: &Identity, cid: &str) -> Result<Credential> {
    directory::must(&id.store, Kind::Credential, "credential", cid).await
}

async fn list(id: &Identity, req: &Request) -> Result<Resp> {
    let caller = req.authorize(id, "identity:list_credentials", |_| true)?;
    let sees_all = policy::allows("identity:list_credentials", &caller, false);
    let all: Vec<Credential> = id.store.list(Kind::Credential, "").await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|c| sees_all || c.user_id == caller.user_id)
        .filter(|c| req.query("user_id").is_none_or(|u| c.user_id == u))
        .filter(|c| req.query("type").is_none_or(|t| c.kind == t))
        .map(|c| c.to_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"credentials": list, "links": response::list_links(&id.base_url, "credentials")}),
    ))
}

async fn create(id: &Identity, req: &Request) -> Result<Resp> {
    let body = req.json()?;
    let c = object(&body, "credential")?;
    let user_id = required(c, "user_id")?.to_string();
    req.authorize(id, "identity:create_credential", |caller| {
        caller.user_id == user_id
    })?;
    let kind = required(c, "type")?.to_string();
    let blob = required_blob(c)?;
    let project_id = str_field(c, "project_id").map(str::to_string);
    let _: User = directory::must(&id.store, Kind::User, "user", &user_id).await?;
    let mut cred = Credential {
        id: new_id(),
        user_id,
        project_id,
        kind,
        blob,
    };
    if cred.kind == EC2 {
        let keys = ec2_blob(&cred)?;
        cred.id = credentials::ec2_id(&keys.access);
    }
    let _guard = id.store.write_lock().await;
    if id
        .store
        .get::<Credential>(Kind::Credential, &cred.id)
        .await?
        .is_some()
    {
        return Err(Error::Conflict { kind: "credential" });
    }
    id.store.put(Kind::Credential, &cred.id, &cred).await?;
    tracing::info!(user = %cred.user_id, credential = %cred.id, kind = %cred.kind, "credential created");
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"credential": cred.to_json(&id.base_url)}),
    ))
}

async fn update(id: &Identity, req: &Request, cid: &str) -> Result<Resp> {
    let body = req.json()?;
    let patch = object(&body, "credential")?;
    let _guard = id.store.write_lock().await;
    let mut c = must(id, cid).await?;
    req.authorize(id, "identity:update_credential", |caller| {
        caller.user_id == c.user_id
    })?;
    if let Some(p) = str_field(patch, "project_id") {
        c.project_id = Some(p.to_string());
    }
    if patch.get("blob").is_some() {
        c.blob = required_blob(patch)?;
    }
    if c.kind == EC2 && credentials::ec2_id(&ec2_blob(&c)?.access) != c.id {
        return Err(Error::BadRequest(
            "The access key of an ec2 credential cannot change.".into(),
        ));
    }
    id.store.put(Kind::Credential, &c.id, &c).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"credential": c.to_json(&id.base_url)}),
    ))
}

/// The `blob` field: a string (as Keystone sends it) or a JSON object.
fn required_blob(c: &Value) -> Result<String> {
    match c.get("blob") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(v @ Value::Object(_)) => Ok(v.to_string()),
        _ => Err(Error::BadRequest("Invalid input for field 'blob'.".into())),
    }
}

/// An ec2 credential's keys; 400 unless the blob has them and a project is set.
fn ec2_blob(c: &Credential) -> Result<credentials::Ec2Keys> {
    if c.project_id.is_none() {
        return Err(Error::BadRequest(
            "An ec2 credential needs a project_id.".into(),
        ));
    }
    c.ec2_keys().ok_or_else(|| {
        Error::BadRequest("The blob of an ec2 credential needs 'access' and 'secret'.".into())
    })
}
