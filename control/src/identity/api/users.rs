//! `/v3/users`: list (`?name=`, `?domain_id=`), create (with a password,
//! hashed with argon2), show, update (disabling or a new password revokes
//! the user's tokens), delete (with the user's credentials and application
//! credentials and group memberships), and `/v3/users/{id}/projects`. A user may
//! read themselves and their projects.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{bool_field, object, required, str_field, Request};
use super::response::{self, Resp};
use crate::identity::error::{Error, Result};
use crate::identity::model::{new_id, Project, User, DEFAULT_DOMAIN_ID};
use crate::identity::store::Kind;
use crate::identity::{
    app_credentials, credentials, directory, domain_roles, groups, password, system, Identity,
};

pub async fn route(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => list(id, req).await,
        (&Method::POST, []) => create(id, req).await,
        (&Method::GET | &Method::HEAD, [uid]) => show(id, req, uid).await,
        (&Method::PATCH, [uid]) => update(id, req, uid).await,
        (&Method::DELETE, [uid]) => delete(id, req, uid).await,
        (&Method::GET | &Method::HEAD, [uid, "projects"]) => projects(id, req, uid).await,
        _ => super::not_allowed(),
    }
}

async fn hash(pw: &str) -> Result<String> {
    let pw = pw.to_string();
    Ok(tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(anyhow::Error::from)??)
}

async fn list(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:list_users", |_| false)?;
    let all: Vec<User> = id.store.list(Kind::User, "").await?;
    let list: Vec<Value> = all
        .iter()
        .filter(|u| req.query("name").is_none_or(|n| u.name == n))
        .filter(|u| req.query("domain_id").is_none_or(|d| u.domain_id == d))
        .map(|u| u.to_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"users": list, "links": response::list_links(&id.base_url, "users")}),
    ))
}

async fn create(id: &Identity, req: &Request) -> Result<Resp> {
    req.authorize(id, "identity:create_user", |_| false)?;
    let body = req.json()?;
    let u = object(&body, "user")?;
    let domain_id = str_field(u, "domain_id").unwrap_or(DEFAULT_DOMAIN_ID);
    let password_hash = match str_field(u, "password") {
        Some(pw) => Some(hash(pw).await?),
        None => None,
    };
    let user = User {
        id: new_id(),
        name: required(u, "name")?.to_string(),
        domain_id: domain_id.to_string(),
        enabled: bool_field(u, "enabled", true)?,
        password_hash,
        default_project_id: str_field(u, "default_project_id").map(str::to_string),
        description: str_field(u, "description").unwrap_or("").to_string(),
        email: str_field(u, "email").map(str::to_string),
    };
    let _guard = id.store.write_lock().await;
    if directory::domain(&id.store, domain_id).await?.is_none() {
        return Err(Error::BadRequest(format!(
            "Could not find domain: {domain_id}."
        )));
    }
    if let Some(p) = &user.default_project_id {
        if id.store.get::<Project>(Kind::Project, p).await?.is_none() {
            return Err(Error::BadRequest(format!("Could not find project: {p}.")));
        }
    }
    if !directory::users_named(&id.store, &user.name, Some(domain_id))
        .await?
        .is_empty()
    {
        return Err(Error::Conflict { kind: "user" });
    }
    id.store.put(Kind::User, &user.id, &user).await?;
    tracing::info!(user = %user.id, name = %user.name, "user created");
    Ok(response::json(
        StatusCode::CREATED,
        &json!({"user": user.to_json(&id.base_url)}),
    ))
}

async fn show(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:get_user", |c| c.user_id == uid)?;
    let u: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"user": u.to_json(&id.base_url)}),
    ))
}

async fn update(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:update_user", |_| false)?;
    let body = req.json()?;
    let patch = object(&body, "user")?;
    let new_hash = match str_field(patch, "password") {
        Some(pw) => Some(hash(pw).await?),
        None => None,
    };
    let _guard = id.store.write_lock().await;
    let mut u: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    if let Some(name) = str_field(patch, "name") {
        if name != u.name
            && !directory::users_named(&id.store, name, Some(&u.domain_id))
                .await?
                .is_empty()
        {
            return Err(Error::Conflict { kind: "user" });
        }
        u.name = required(patch, "name")?.to_string();
    }
    if let Some(p) = str_field(patch, "default_project_id") {
        u.default_project_id = Some(p.to_string());
    }
    if let Some(d) = str_field(patch, "description") {
        u.description = d.to_string();
    }
    if let Some(e) = str_field(patch, "email") {
        u.email = Some(e.to_string());
    }
    let was_enabled = u.enabled;
    u.enabled = bool_field(patch, "enabled", u.enabled)?;
    let revoke = (was_enabled && !u.enabled) || new_hash.is_some();
    if new_hash.is_some() {
        u.password_hash = new_hash;
    }
    id.store.put(Kind::User, &u.id, &u).await?;
    drop(_guard);
    if revoke {
        id.tokens.revoke_user(&id.store, &u.id).await?;
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"user": u.to_json(&id.base_url)}),
    ))
}

async fn delete(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:delete_user", |_| false)?;
    let _guard = id.store.write_lock().await;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    for a in directory::assignments(&id.store, None, Some(uid), None).await? {
        id.store.delete(Kind::Assignment, &a.key()).await?;
    }
    for c in credentials::of_user(&id.store, uid).await? {
        id.store.delete(Kind::Credential, &c.id).await?;
    }
    for a in app_credentials::of_user(&id.store, uid).await? {
        id.store.delete(Kind::AppCredential, &a.key()).await?;
    }
    for a in system::assignments(&id.store, Some(uid), None).await? {
        id.store.delete(Kind::SystemAssignment, &a.key()).await?;
    }
    for a in domain_roles::assignments(&id.store, None, Some(uid), None).await? {
        id.store.delete(Kind::DomainAssignment, &a.key()).await?;
    }
    for gid in groups::groups_of(&id.store, uid).await? {
        let m = groups::Membership {
            group_id: gid,
            user_id: uid.to_string(),
        };
        id.store.delete(Kind::Membership, &m.key()).await?;
    }
    id.store.delete(Kind::User, uid).await?;
    drop(_guard);
    id.tokens.revoke_user(&id.store, uid).await?;
    tracing::info!(user = %uid, "user deleted");
    Ok(response::empty(StatusCode::NO_CONTENT))
}

async fn projects(id: &Identity, req: &Request, uid: &str) -> Result<Resp> {
    req.authorize(id, "identity:list_user_projects", |c| c.user_id == uid)?;
    let _: User = directory::must(&id.store, Kind::User, "user", uid).await?;
    let list: Vec<Value> = directory::projects_of(&id.store, uid)
        .await?
        .iter()
        .map(|p| p.to_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"projects": list,
                "links": response::list_links(&id.base_url, &format!("users/{uid}/projects"))}),
    ))
}
