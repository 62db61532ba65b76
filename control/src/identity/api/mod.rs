//! Identity's HTTP side: the accept loop (HTTP/1.1, graceful shutdown),
//! request ids, and dispatch of Keystone v3 paths to one file per
//! resource. Handlers parse, call the core, render; errors become
//! Keystone's JSON body in `response.rs`.

pub mod application_credentials;
pub mod auth;
pub mod catalog;
pub mod credentials;
pub mod domains;
pub mod ec2;
pub mod groups;
pub mod projects;
pub mod request;
pub mod response;
pub mod role_assignments;
pub mod roles;
pub mod system;
pub mod users;
pub mod versions;

use std::sync::Arc;

use http::{Method, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, Instrument};

use super::error::{Error, Result};
use super::Identity;
use request::Request;
use response::Resp;

/// Serves the API on `listener` until `shutdown`, then waits (up to 10 s)
/// for open requests.
pub async fn serve(listener: TcpListener, id: Arc<Identity>, shutdown: CancellationToken) {
    common::http::serve(
        listener,
        move |req| {
            let id = id.clone();
            async move { handle(&id, req).await }
        },
        shutdown,
    )
    .await
}

async fn handle(id: &Identity, req: http::Request<Incoming>) -> Resp {
    let request_id = format!("req-{}", common::ids::uuid4());
    let span = tracing::debug_span!("identity", %request_id, method = %req.method(), path = %req.uri().path());
    let mut resp = async {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, request::MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return response::error(&Error::BadRequest(
                    "The request body is too large or was cut short.".into(),
                ))
            }
        };
        let req = Request::new(
            parts.method,
            parts.uri.path(),
            parts.uri.query(),
            parts.headers,
            body,
        );
        match dispatch(id, &req).await {
            Ok(r) => r,
            Err(e) => response::error(&e),
        }
    }
    .instrument(span)
    .await;
    if let Ok(v) = http::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("x-openstack-request-id", v);
    }
    debug!(%request_id, status = resp.status().as_u16(), "identity request done");
    resp
}

async fn dispatch(id: &Identity, req: &Request) -> Result<Resp> {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let m = &req.method;
    match segs.as_slice() {
        [] => versions::root(id, m),
        ["healthcheck"] => Ok(response::empty(StatusCode::OK)),
        ["v3"] => versions::v3(id, m),
        ["v3", rest @ ..] => v3(id, req, rest).await,
        _ => Err(Error::not_found("resource", "path")),
    }
}

async fn v3(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    let m = &req.method;
    let get = m == Method::GET || m == Method::HEAD;
    match rest {
        ["auth", "tokens"] => auth::tokens(id, req).await,
        ["auth", "catalog"] if get => auth::catalog(id, req).await,
        ["auth", "projects"] if get => auth::projects(id, req).await,
        ["cairn", "token-verification"] if get => auth::verification(id),
        ["cairn", "ec2-credentials", access] if get => ec2::service_lookup(id, req, access).await,
        ["users", uid, "credentials", "OS-EC2", more @ ..] => ec2::route(id, req, uid, more).await,
        ["users", uid, "application_credentials", more @ ..] => {
            application_credentials::route(id, req, uid, more).await
        }
        ["credentials", ..] => credentials::route(id, req, &rest[1..]).await,
        ["users", uid, "groups"] if get => groups::of_user(id, req, uid).await,
        ["projects", _, "groups", _, "roles", ..] => groups::grants(id, req, rest).await,
        ["groups", ..] => groups::route(id, req, &rest[1..]).await,
        ["system", "users", uid, "roles", more @ ..] => {
            system::user_roles(id, req, uid, more).await
        }
        ["domains", ..] => domains::route(id, req, &rest[1..]).await,
        ["projects", _, "users", _, "roles", ..] => roles::grants(id, req, rest).await,
        ["projects", ..] => projects::route(id, req, &rest[1..]).await,
        ["users", ..] => users::route(id, req, &rest[1..]).await,
        ["roles", ..] => roles::route(id, req, &rest[1..]).await,
        ["role_assignments"] if get => role_assignments::list(id, req).await,
        ["regions", ..] => catalog::regions(id, req, &rest[1..]).await,
        ["services", ..] => catalog::services(id, req, &rest[1..]).await,
        ["endpoints", ..] => catalog::endpoints(id, req, &rest[1..]).await,
        _ => Err(Error::not_found("resource", &rest.join("/"))),
    }
}

/// 405 for a method a resource does not have.
pub fn not_allowed() -> Result<Resp> {
    Err(Error::MethodNotAllowed)
}
