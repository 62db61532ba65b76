//! `/v3/auth/*`: issuing tokens (password, token and application_credential
//! methods; project scope by id or by name and domain, domain and system
//! scope; unscoped), validating them (`GET`/`HEAD`
//! with `X-Subject-Token`), revoking them (`DELETE`), the caller's catalog
//! and projects; and `/v3/cairn/token-verification`, the public key and
//! revocation list services poll.
//!
//! Every failed login answers the same 401, whatever the cause (unknown
//! user, wrong password, locked-out user, disabled user, bad scope); an
//! unknown user costs an argon2 check like a known one.

use http::{HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use super::request::Request;
use super::response::{self, Resp};
use crate::identity::app_credentials::{self, AppCredential};
use crate::identity::error::{Error, Result};
use crate::identity::model::{Domain, Project, Role, User};
use crate::identity::store::Kind;
use crate::identity::{
    catalog as catalog_core, directory, domain_roles, password, system, tokens, Identity,
};
use common::token::{iso8601, Claims};

pub async fn tokens(id: &Identity, req: &Request) -> Result<Resp> {
    match req.method {
        Method::POST => issue(id, req).await,
        Method::GET | Method::HEAD => validate(id, req).await,
        Method::DELETE => revoke(id, req).await,
        _ => super::not_allowed(),
    }
}

async fn issue(id: &Identity, req: &Request) -> Result<Resp> {
    let body = req.json()?;
    let auth = body.get("auth").ok_or_else(|| bad("auth"))?;
    let identity = auth.get("identity").ok_or_else(|| bad("identity"))?;
    let methods: Vec<&str> = identity
        .get("methods")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if methods.contains(&"application_credential") {
        let r = identity
            .get("application_credential")
            .ok_or_else(|| bad("application_credential"))?;
        return application_credential_token(id, req, r).await;
    }
    let (user, how) = if methods.contains(&"password") {
        let u = identity
            .pointer("/password/user")
            .ok_or_else(|| bad("password.user"))?;
        let how = tokens::Issue {
            methods: vec!["password".to_string()],
            ..Default::default()
        };
        (password_login(id, u).await?, how)
    } else if methods.contains(&"token") {
        let t = identity
            .pointer("/token/id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("token.id"))?;
        let old = id.tokens.check(t).map_err(tokens::unauthorized)?;
        if old.application_credential_id.is_some() {
            // Keystone does not rescope tokens made from application credentials.
            return Err(Error::Forbidden {
                action: "identity:rescope_application_credential_token".into(),
            });
        }
        let user = live_user(id, &old.user_id).await?;
        let mut m = old.methods.clone();
        if !m.iter().any(|x| x == "token") {
            m.push("token".into());
        }
        let how = tokens::Issue {
            methods: m,
            cap_ms: Some(old.expires_at_ms),
            ..Default::default()
        };
        (user, how)
    } else {
        return Err(Error::Unauthorized);
    };
    let system = auth.get("scope").and_then(|s| s.get("system")).is_some();
    if system {
        let roles = system::roles_of(&id.store, &user.id).await?;
        if roles.is_empty() {
            return Err(Error::Unauthorized);
        }
        let how = tokens::Issue { system, ..how };
        let (token, claims) = id.tokens.issue(&user, None, &roles, how);
        return issued(id, req, &token, &claims, &user, None, &roles).await;
    }
    if let Some(d) = auth.get("scope").and_then(|s| s.get("domain")) {
        let domain = directory::domain_ref(&id.store, d)
            .await?
            .filter(|d| d.enabled)
            .ok_or(Error::Unauthorized)?;
        let roles = domain_roles::roles_on(&id.store, &domain.id, &user.id).await?;
        if roles.is_empty() {
            return Err(Error::Unauthorized);
        }
        let how = tokens::Issue {
            domain_id: Some(domain.id),
            ..how
        };
        let (token, claims) = id.tokens.issue(&user, None, &roles, how);
        return issued(id, req, &token, &claims, &user, None, &roles).await;
    }
    let project = match auth.get("scope") {
        None => default_project(id, &user).await?,
        Some(Value::String(s)) if s == "unscoped" => None,
        Some(scope) => match scope.get("project") {
            Some(p) => Some(
                directory::project_ref(&id.store, p)
                    .await?
                    .ok_or(Error::Unauthorized)?,
            ),
            None => {
                return Err(Error::BadRequest(
                    "Only project, domain and system scope and unscoped tokens are supported."
                        .into(),
                ))
            }
        },
    };
    let roles = match &project {
        Some(p) => {
            let roles = tokens::roles_on(&id.store, &p.id, &user.id).await?;
            if roles.is_empty() || !p.enabled {
                return Err(Error::Unauthorized);
            }
            roles
        }
        None => Vec::new(),
    };
    let (token, claims) = id.tokens.issue(&user, project.as_ref(), &roles, how);
    issued(id, req, &token, &claims, &user, project.as_ref(), &roles).await
}

/// A token from an application credential: scoped to its project with
/// its roles, ending no later than it does.
async fn application_credential_token(id: &Identity, req: &Request, r: &Value) -> Result<Resp> {
    let login = app_credentials::login(&id.store, r, common::token::now_ms()).await?;
    let how = tokens::Issue {
        methods: vec!["application_credential".into()],
        cap_ms: login.credential.expires_at_ms,
        application_credential_id: Some(login.credential.id.clone()),
        ..Default::default()
    };
    let (token, claims) = id
        .tokens
        .issue(&login.user, Some(&login.project), &login.roles, how);
    issued(
        id,
        req,
        &token,
        &claims,
        &login.user,
        Some(&login.project),
        &login.roles,
    )
    .await
}

/// The 201 answer to a token request, `X-Subject-Token` set.
async fn issued(
    id: &Identity,
    req: &Request,
    token: &str,
    claims: &Claims,
    user: &User,
    project: Option<&Project>,
    roles: &[Role],
) -> Result<Resp> {
    let body = token_body(id, claims, user, project, roles, !req.flag("nocatalog")).await?;
    let mut resp = response::json(StatusCode::CREATED, &body);
    resp.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_str(token).map_err(anyhow::Error::from)?,
    );
    Ok(resp)
}

fn bad(field: &str) -> Error {
    Error::BadRequest(format!("'{field}' is a required property."))
}

/// The user whose password is given; 401 for every kind of failure,
/// including a user locked out after too many failures (whose password is
/// still checked, so the answer takes as long).
async fn password_login(id: &Identity, u: &Value) -> Result<User> {
    let given = u
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let user = directory::user_ref(&id.store, u).await?;
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::decoy().to_string());
    let ok = tokio::task::spawn_blocking(move || password::verify(&given, &phc))
        .await
        .map_err(anyhow::Error::from)?;
    let Some(user) = user else {
        return Err(Error::Unauthorized);
    };
    if id.lockout.is_locked(&user.id) {
        return Err(Error::Unauthorized);
    }
    if !ok {
        if id.lockout.failed(&user.id) {
            tracing::warn!(user = %user.id, "user locked out after repeated failed logins");
        }
        return Err(Error::Unauthorized);
    }
    id.lockout.succeeded(&user.id);
    if user.enabled && user_domain_enabled(id, &user).await? {
        Ok(user)
    } else {
        Err(Error::Unauthorized)
    }
}

async fn user_domain_enabled(id: &Identity, user: &User) -> Result<bool> {
    Ok(directory::domain(&id.store, &user.domain_id)
        .await?
        .is_some_and(|d| d.enabled))
}

/// The user of a token, still existing and enabled; 401 otherwise.
async fn live_user(id: &Identity, user_id: &str) -> Result<User> {
    match id.store.get::<User>(Kind::User, user_id).await? {
        Some(u) if u.enabled => Ok(u),
        _ => Err(Error::Unauthorized),
    }
}

/// Keystone scopes a request without scope to the user's default project
/// when the user holds a role there.
async fn default_project(id: &Identity, user: &User) -> Result<Option<Project>> {
    let Some(pid) = &user.default_project_id else {
        return Ok(None);
    };
    let Some(p) = id.store.get::<Project>(Kind::Project, pid).await? else {
        return Ok(None);
    };
    let has_role = !tokens::roles_on(&id.store, &p.id, &user.id)
        .await?
        .is_empty();
    Ok(Some(p).filter(|p| has_role && p.enabled))
}

async fn domain_json(id: &Identity, domain_id: &str) -> Result<Value> {
    let name = directory::domain(&id.store, domain_id)
        .await?
        .map(|d: Domain| d.name)
        .unwrap_or_default();
    Ok(json!({"id": domain_id, "name": name}))
}

/// The `{"token": ...}` body.
async fn token_body(
    id: &Identity,
    c: &Claims,
    user: &User,
    project: Option<&Project>,
    roles: &[Role],
    with_catalog: bool,
) -> Result<Value> {
    let mut t = json!({
        "methods": c.methods,
        "user": {"id": user.id, "name": user.name,
                 "domain": domain_json(id, &user.domain_id).await?,
                 "password_expires_at": null},
        "audit_ids": [c.audit_id_text()],
        "expires_at": iso8601(c.expires_at_ms),
        "issued_at": iso8601(c.issued_at_ms),
    });
    if let Some(p) = project {
        t["project"] = json!({"id": p.id, "name": p.name,
                              "domain": domain_json(id, &p.domain_id).await?});
        t["is_domain"] = json!(false);
        t["roles"] = roles
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect();
        t["is_admin_project"] = json!(c.is_admin_project);
        if with_catalog {
            t["catalog"] = catalog_core::build(&id.store, Some(&p.id)).await?;
        }
    }
    if let Some(d) = &c.domain_id {
        t["domain"] = domain_json(id, d).await?;
    }
    if c.system_scope || c.domain_id.is_some() {
        if c.system_scope {
            t["system"] = json!({"all": true});
        }
        t["roles"] = roles
            .iter()
            .map(|r| json!({"id": r.id, "name": r.name}))
            .collect();
        if with_catalog {
            t["catalog"] = catalog_core::build(&id.store, None).await?;
        }
    }
    if let Some(app_id) = &c.application_credential_id {
        let found: Option<AppCredential> = id
            .store
            .get(Kind::AppCredential, &format!("{}/{app_id}", c.user_id))
            .await?;
        t["application_credential"] = json!({"id": app_id,
            "name": found.as_ref().map(|a| a.name.clone()),
            "restricted": !found.is_some_and(|a| a.unrestricted)});
    }
    Ok(json!({ "token": t }))
}

/// The subject token's claims, or 404 if it does not verify; the caller
/// must be allowed `action` (their own token always is).
async fn subject(id: &Identity, req: &Request, action: &str) -> Result<Claims> {
    let token = req.header("x-subject-token").unwrap_or("").to_string();
    let subject = id.tokens.check(&token);
    req.authorize(id, action, |caller| {
        subject.as_ref().is_ok_and(|s| s.user_id == caller.user_id)
    })?;
    subject.map_err(|_| Error::not_found("token", "the subject token"))
}

async fn validate(id: &Identity, req: &Request) -> Result<Resp> {
    let c = subject(id, req, "identity:validate_token").await?;
    let user = id
        .store
        .get::<User>(Kind::User, &c.user_id)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(|| Error::not_found("token", "the subject token"))?;
    let project = match &c.project_id {
        Some(p) => Some(
            id.store
                .get::<Project>(Kind::Project, p)
                .await?
                .ok_or_else(|| Error::not_found("token", "the subject token"))?,
        ),
        None => None,
    };
    let mut roles = Vec::new();
    for name in &c.roles {
        if let Some(r) = directory::role_named(&id.store, name).await? {
            roles.push(r);
        }
    }
    let body = token_body(
        id,
        &c,
        &user,
        project.as_ref(),
        &roles,
        !req.flag("nocatalog"),
    )
    .await?;
    let mut resp = if req.method == Method::HEAD {
        response::empty(StatusCode::OK)
    } else {
        response::json(StatusCode::OK, &body)
    };
    if let Some(v) = req.headers.get("x-subject-token") {
        resp.headers_mut().insert("x-subject-token", v.clone());
    }
    Ok(resp)
}

async fn revoke(id: &Identity, req: &Request) -> Result<Resp> {
    let c = subject(id, req, "identity:revoke_token").await?;
    id.tokens.revoke_token(&id.store, &c).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

/// `GET /v3/auth/catalog`: the catalog of the caller's (project-scoped) token.
pub async fn catalog(id: &Identity, req: &Request) -> Result<Resp> {
    let c = req.caller(id)?;
    let Some(project) = &c.project_id else {
        return Err(Error::Forbidden {
            action: "identity:get_auth_catalog (a project-scoped token is required)".into(),
        });
    };
    let cat = catalog_core::build(&id.store, Some(project)).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({"catalog": cat, "links": response::list_links(&id.base_url, "auth/catalog")}),
    ))
}

/// `GET /v3/auth/projects`: the projects the caller may scope to.
pub async fn projects(id: &Identity, req: &Request) -> Result<Resp> {
    let c = req.caller(id)?;
    let list: Vec<Value> = directory::projects_of(&id.store, &c.user_id)
        .await?
        .iter()
        .filter(|p| p.enabled)
        .map(|p| p.to_json(&id.base_url))
        .collect();
    Ok(response::json(
        StatusCode::OK,
        &json!({"projects": list, "links": response::list_links(&id.base_url, "auth/projects")}),
    ))
}

/// `GET /v3/cairn/token-verification`: the public key and revocations.
/// It holds nothing secret and needs no token, so any service can poll it.
pub fn verification(id: &Identity) -> Result<Resp> {
    let doc = serde_json::to_value(id.tokens.document()).map_err(anyhow::Error::from)?;
    Ok(response::json(StatusCode::OK, &doc))
}
