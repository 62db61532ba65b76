//! Looking things up: domains, projects, users and roles by id or by name
//! (the references a token request or a filter carries), and role
//! assignments by project, user or role. Names are found by scanning a
//! kind's records, which is fine for an appliance's few thousand entries.

use serde_json::Value;

use super::error::{Error, Result};
use super::model::{Assignment, Domain, Project, Role, User};
use super::store::{Kind, Store};

pub async fn domain(store: &Store, id: &str) -> Result<Option<Domain>> {
    Ok(store.get(Kind::Domain, id).await?)
}

/// The domain named by `{"id": ...}` or `{"name": ...}`.
pub async fn domain_ref(store: &Store, r: &Value) -> Result<Option<Domain>> {
    if let Some(id) = r.get("id").and_then(Value::as_str) {
        return domain(store, id).await;
    }
    if let Some(name) = r.get("name").and_then(Value::as_str) {
        let all: Vec<Domain> = store.list(Kind::Domain, "").await?;
        return Ok(all.into_iter().find(|d| d.name == name));
    }
    Ok(None)
}

pub async fn users_named(store: &Store, name: &str, domain_id: Option<&str>) -> Result<Vec<User>> {
    let all: Vec<User> = store.list(Kind::User, "").await?;
    Ok(all
        .into_iter()
        .filter(|u| u.name == name && domain_id.is_none_or(|d| u.domain_id == d))
        .collect())
}

pub async fn projects_named(
    store: &Store,
    name: &str,
    domain_id: Option<&str>,
) -> Result<Vec<Project>> {
    let all: Vec<Project> = store.list(Kind::Project, "").await?;
    Ok(all
        .into_iter()
        .filter(|p| p.name == name && domain_id.is_none_or(|d| p.domain_id == d))
        .collect())
}

pub async fn role_named(store: &Store, name: &str) -> Result<Option<Role>> {
    let all: Vec<Role> = store.list(Kind::Role, "").await?;
    Ok(all.into_iter().find(|r| r.name == name))
}

/// The user named by a token request's `{"id"}` or `{"name", "domain"}`.
pub async fn user_ref(store: &Store, r: &Value) -> Result<Option<User>> {
    if let Some(id) = r.get("id").and_then(Value::as_str) {
        return Ok(store.get(Kind::User, id).await?);
    }
    let Some(name) = r.get("name").and_then(Value::as_str) else {
        return Ok(None);
    };
    let Some(domain) = domain_ref(store, r.get("domain").unwrap_or(&Value::Null)).await? else {
        return Ok(None);
    };
    Ok(users_named(store, name, Some(&domain.id)).await?.pop())
}

/// The project named by a scope's `{"id"}` or `{"name", "domain"}`.
pub async fn project_ref(store: &Store, r: &Value) -> Result<Option<Project>> {
    if let Some(id) = r.get("id").and_then(Value::as_str) {
        return Ok(store.get(Kind::Project, id).await?);
    }
    let Some(name) = r.get("name").and_then(Value::as_str) else {
        return Ok(None);
    };
    let Some(domain) = domain_ref(store, r.get("domain").unwrap_or(&Value::Null)).await? else {
        return Ok(None);
    };
    Ok(projects_named(store, name, Some(&domain.id)).await?.pop())
}

/// Every assignment matching the filters.
pub async fn assignments(
    store: &Store,
    project_id: Option<&str>,
    user_id: Option<&str>,
    role_id: Option<&str>,
) -> Result<Vec<Assignment>> {
    let prefix = match (project_id, user_id) {
        (Some(p), Some(u)) => format!("{p}/{u}/"),
        (Some(p), None) => format!("{p}/"),
        _ => String::new(),
    };
    let all: Vec<Assignment> = store.list(Kind::Assignment, &prefix).await?;
    Ok(all
        .into_iter()
        .filter(|a| project_id.is_none_or(|p| a.project_id == p))
        .filter(|a| user_id.is_none_or(|u| a.user_id == u))
        .filter(|a| role_id.is_none_or(|r| a.role_id == r))
        .collect())
}

/// The projects `user_id` holds any role on, directly or through a group.
pub async fn projects_of(store: &Store, user_id: &str) -> Result<Vec<Project>> {
    let mut ids: Vec<String> = assignments(store, None, Some(user_id), None)
        .await?
        .into_iter()
        .map(|a| a.project_id)
        .collect();
    for g in super::groups::groups_of(store, user_id).await? {
        for a in super::groups::assignments(store, None, Some(&g), None).await? {
            ids.push(a.project_id);
        }
    }
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for id in ids {
        if let Some(p) = store.get::<Project>(Kind::Project, &id).await? {
            out.push(p);
        }
    }
    Ok(out)
}

/// A record by id or 404.
pub async fn must<T: serde::de::DeserializeOwned + Send + 'static>(
    store: &Store,
    kind: Kind,
    what: &'static str,
    id: &str,
) -> Result<T> {
    store
        .get(kind, id)
        .await?
        .ok_or_else(|| Error::not_found(what, id))
}
