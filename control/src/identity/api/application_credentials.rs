//! `/v3/users/{id}/application_credentials[/{id}]`: create (from a
//! project-scoped token of the user itself, for that project, with a
//! subset of the token's roles, an optional expiry and an optional secret;
//! the secret is answered once), list (`?name=`), show and delete (which
//! revokes the tokens made from it). A token made from a restricted
//! application credential may not make another.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{object, required, str_field, Request};
use super::response::{self, Resp};
use crate::identity::app_credentials::{self, AppCredential};
use crate::identity::error::{Error, Result};
use crate::identity::model::{new_id, Role, User};
use crate::identity::store::Kind;
use crate::identity::{directory, password, Identity};
use common::token::{now_ms, parse_iso8601, Claims};

pub async fn route(id: &Identity, req: &Request, uid: &str, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => list(id, req, uid).await,
        (&Method::POST, []) => create(id, req, uid).await,
        (&Method::GET | &Method::HEAD, [aid]) => {
            req.authorize(id, "identity:get_application_credential", |c| {
                c.user_id == uid
            })?;
            let a = must(id, uid, aid).await?;
            let roles = app_credentials::roles_of(&id.store, &a.role_ids).await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({"application_credential": a.to_json(&id.base_url, &roles)}),
            ))
        }
        (&Method::DELETE, [aid]) => {
            let caller = req.authorize(id, "identity:delete_application_credential", |c| {
                c.user_id == uid
            })?;
            refuse_restricted(&caller, "identity:delete_application_credential")?;
            let a = must(id, uid, aid).await?;
            id.store.delete(Kind::AppCredential, &a.key()).await?;
            id.tokens
                .revoke_application_credential(&id.store, &a.id)
                .await?;
            tracing::info!(user = %uid, application_credential = %a.id, "application credential deleted");
            Ok(response::empty(StatusCode::NO_CONTENT))
        }
        _ => super::not_allowed(),
    }
}

async fn must(id: &Identity, uid: &str, aid: &str) -> Result<AppCredential> {
    id.store
        .get(Kind::AppCredential, &format!("{uid}/{aid}"))
        .await?
        .ok_or_else(|| Error::not_found("application credential", aid))
}

/// 403 for a token made from a restricted application credential.
fn refuse_restricted(caller: &Claims, action: &str) -> Result<()> {
    if caller.application_credential_id.is_some() {
        return Err(Error::Forbidden {
            action: format!("{action} (with a token from an application credential)"),
        });
    }
    Ok(())
}

async fn list(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:list_application_credentials", |c| {
        c.user_id == uid
    })?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    let mut list = Vec::new();
    for a in app_credentials::of_user(&id.store, uid).await? {
        if req.query("name").is_some_and(|n| a.name != n) {
            continue;
        }
        let roles = app_credentials::roles_of(&id.store, &a.role_ids).await?;
        list.push(a.to_json(&id.base_url, &roles));
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"application_credentials": list,
                "links": response::list_links(&id.base_url,
                    &format!("users/{uid}/application_credentials"))}),
    ))
}

async fn create(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    let caller = req.authorize(id, "identity:create_application_credential", |c| {
        c.user_id == uid
    })?;
    refuse_restricted(&caller, "identity:create_application_credential")?;
    let Some(project_id) = caller.project_id.clone() else {
        return Err(Error::Forbidden {
            action: "identity:create_application_credential (a project-scoped token is required)"
                .into(),
        });
    };
    let body = req.json()?;
    let a = object(&body, "application_credential")?;
    let name = required(a, "name")?.to_string();
    let roles = requested_roles(id, a, &caller).await?;
    let expires_at_ms = match a.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            parse_iso8601(s)
                .ok_or_else(|| Error::BadRequest("Invalid input for field 'expires_at'.".into()))?,
        ),
        Some(_) => {
            return Err(Error::BadRequest(
                "Invalid input for field 'expires_at'.".into(),
            ))
        }
    };
    if expires_at_ms.is_some_and(|e| e <= now_ms()) {
        return Err(Error::BadRequest(
            "The application credential would already have expired.".into(),
        ));
    }
    let secret = match str_field(a, "secret").filter(|s| !s.is_empty()) {
        Some(s) => s.to_string(),
        None => app_credentials::new_secret(),
    };
    let phc = {
        let s = secret.clone();
        tokio::task::spawn_blocking(move || password::hash(&s))
            .await
            .map_err(anyhow::Error::from)??
    };
    let cred = AppCredential {
        id: new_id(),
        name,
        user_id: uid.to_string(),
        project_id,
        description: str_field(a, "description").map(str::to_string),
        secret_hash: phc,
        role_ids: roles.iter().map(|r| r.id.clone()).collect(),
        expires_at_ms,
        unrestricted: a
            .get("unrestricted")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    };
    let _guard = id.store.write_lock().await;
    if app_credentials::of_user(&id.store, uid)
        .await?
        .iter()
        .any(|x| x.name == cred.name)
    {
        return Err(Error::Conflict {
            kind: "application credential",
        });
    }
    id.store
        .put(Kind::AppCredential, &cred.key(), &cred)
        .await?;
    tracing::info!(user = %uid, application_credential = %cred.id, "application credential created");
    let mut body = cred.to_json(&id.base_url, &roles);
    body["secret"] = json!(secret);
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"application_credential": body}),
    ))
}

/// The roles asked for (`[{"id"}]` or `[{"name"}]`), all of them held by
/// the caller's token; the token's roles when none are asked for.
async fn requested_roles(id: &Identity, a: &Value, caller: &Claims) -> Result<Vec<Role>> {
    let asked: Vec<Value> = match a.get("roles") {
        Some(Value::Array(list)) if !list.is_empty() => list.clone(),
        _ => caller.roles.iter().map(|n| json!({"name": n})).collect(),
    };
    let all: Vec<Role> = id.store.list(Kind::Role, "").await?;
    let mut out: Vec<Role> = Vec::new();
    for r in &asked {
        let found = all.iter().find(|role| {
            r.get("id").and_then(Value::as_str) == Some(role.id.as_str())
                || r.get("name").and_then(Value::as_str) == Some(role.name.as_str())
        });
        let role = found
            .filter(|role| caller.has_role(&role.name))
            .ok_or_else(|| {
                Error::BadRequest(
                    "An application credential may only hold roles the user holds.".into(),
                )
            })?;
        if !out.iter().any(|x| x.id == role.id) {
            out.push(role.clone());
        }
    }
    Ok(out)
}
