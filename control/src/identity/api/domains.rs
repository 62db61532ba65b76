//! `/v3/domains`: list (`?name=`) and show. Phase one has the `default`
//! domain only; creating domains comes later.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::Request;
use super::response::{self, Resp};
use crate::identity::error::Result;
use crate::identity::model::{Domain, User};
use crate::identity::store::Kind;
use crate::identity::{directory, Identity};

pub async fn route(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_domains", |_| false)?;
            let all: Vec<Domain> = id.store.list(Kind::Domain, "").await?;
            let list: Vec<Value> = all
                .iter()
                .filter(|d| req.query("name").is_none_or(|n| d.name == n))
                .map(|d| d.to_json(&id.base_url))
                .collect();
            Ok(response::json(
                StatusCode::OK,
                &json!({"domains": list, "links": response::list_links(&id.base_url, "domains")}),
            ))
        }
        (&Method::GET | &Method::HEAD, [did]) => {
            let caller = req.caller(id)?;
            let own = id
                .store
                .get::<User>(Kind::User, &caller.user_id)
                .await?
                .is_some_and(|u| u.domain_id == *did);
            req.authorize(id, "identity:get_domain", |_| own)?;
            let d: Domain = directory::must(&id.store, Kind::Domain, "domain", did).await?;
            Ok(response::json(
                StatusCode::OK,
                &json!({"domain": d.to_json(&id.base_url)}),
            ))
        }
        _ => super::not_allowed(),
    }
}
