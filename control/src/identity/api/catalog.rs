//! `/v3/regions`, `/v3/services` and `/v3/endpoints`: list (with
//! Keystone's filters), create, show and delete. Only admin writes.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::request::{bool_field, object, required, str_field, Request};
use super::response::{self, Resp};
use crate::identity::error::{Error, Result};
use crate::identity::model::{new_id, Endpoint, Region, Service};
use crate::identity::store::Kind;
use crate::identity::{directory, Identity};

fn listing(id: &Identity, key: &str, items: Vec<Value>) -> Resp {
    response::json(
        StatusCode::OK,
        &json!({key: items, "links": response::list_links(&id.base_url, key)}),
    )
}

fn one(status: StatusCode, key: &str, item: Value) -> Resp {
    response::json(status, &json!({ key: item }))
}

async fn remove(
    id: &Identity,
    req: &Request,
    kind: Kind,
    what: &'static str,
    action: &str,
    key: &str,
) -> Result<Resp> {
    req.authorize(id, action, |_| false)?;
    let _guard = id.store.write_lock().await;
    if id.store.get::<Value>(kind, key).await?.is_none() {
        return Err(Error::not_found(what, key));
    }
    id.store.delete(kind, key).await?;
    Ok(response::empty(StatusCode::NO_CONTENT))
}

pub async fn regions(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_regions", |_| false)?;
            let all: Vec<Region> = id.store.list(Kind::Region, "").await?;
            Ok(listing(
                id,
                "regions",
                all.iter().map(|r| r.to_json(&id.base_url)).collect(),
            ))
        }
        (&Method::POST, []) => {
            req.authorize(id, "identity:create_region", |_| false)?;
            let body = req.json()?;
            let r = object(&body, "region")?;
            let region = Region {
                id: str_field(r, "id")
                    .map(str::to_string)
                    .unwrap_or_else(new_id),
                description: str_field(r, "description").unwrap_or("").to_string(),
                parent_region_id: str_field(r, "parent_region_id").map(str::to_string),
            };
            let _guard = id.store.write_lock().await;
            if id
                .store
                .get::<Region>(Kind::Region, &region.id)
                .await?
                .is_some()
            {
                return Err(Error::Conflict { kind: "region" });
            }
            id.store.put(Kind::Region, &region.id, &region).await?;
            Ok(one(
                StatusCode::CREATED,
                "region",
                region.to_json(&id.base_url),
            ))
        }
        (&Method::GET | &Method::HEAD, [rid]) => {
            req.authorize(id, "identity:get_region", |_| false)?;
            let r: Region = directory::must(&id.store, Kind::Region, "region", rid).await?;
            Ok(one(StatusCode::OK, "region", r.to_json(&id.base_url)))
        }
        (&Method::DELETE, [rid]) => {
            remove(
                id,
                req,
                Kind::Region,
                "region",
                "identity:delete_region",
                rid,
            )
            .await
        }
        _ => super::not_allowed(),
    }
}

pub async fn services(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_services", |_| false)?;
            let all: Vec<Service> = id.store.list(Kind::Service, "").await?;
            let items = all
                .iter()
                .filter(|s| req.query("type").is_none_or(|t| s.kind == t))
                .filter(|s| req.query("name").is_none_or(|n| s.name == n))
                .map(|s| s.to_json(&id.base_url))
                .collect();
            Ok(listing(id, "services", items))
        }
        (&Method::POST, []) => {
            req.authorize(id, "identity:create_service", |_| false)?;
            let body = req.json()?;
            let s = object(&body, "service")?;
            let service = Service {
                id: new_id(),
                kind: required(s, "type")?.to_string(),
                name: str_field(s, "name").unwrap_or("").to_string(),
                description: str_field(s, "description").unwrap_or("").to_string(),
                enabled: bool_field(s, "enabled", true)?,
            };
            id.store.put(Kind::Service, &service.id, &service).await?;
            Ok(one(
                StatusCode::CREATED,
                "service",
                service.to_json(&id.base_url),
            ))
        }
        (&Method::GET | &Method::HEAD, [sid]) => {
            req.authorize(id, "identity:get_service", |_| false)?;
            let s: Service = directory::must(&id.store, Kind::Service, "service", sid).await?;
            Ok(one(StatusCode::OK, "service", s.to_json(&id.base_url)))
        }
        (&Method::DELETE, [sid]) => {
            let resp = remove(
                id,
                req,
                Kind::Service,
                "service",
                "identity:delete_service",
                sid,
            )
            .await?;
            // A service's endpoints go with it.
            let eps: Vec<Endpoint> = id.store.list(Kind::Endpoint, "").await?;
            for e in eps.iter().filter(|e| e.service_id == *sid) {
                id.store.delete(Kind::Endpoint, &e.id).await?;
            }
            Ok(resp)
        }
        _ => super::not_allowed(),
    }
}

pub async fn endpoints(id: &Identity, req: &Request, rest: &[&str]) -> Result<Resp> {
    match (&req.method, rest) {
        (&Method::GET | &Method::HEAD, []) => {
            req.authorize(id, "identity:list_endpoints", |_| false)?;
            let all: Vec<Endpoint> = id.store.list(Kind::Endpoint, "").await?;
            let items = all
                .iter()
                .filter(|e| req.query("service_id").is_none_or(|s| e.service_id == s))
                .filter(|e| req.query("interface").is_none_or(|i| e.interface == i))
                .filter(|e| {
                    req.query("region_id")
                        .is_none_or(|r| e.region_id.as_deref() == Some(r))
                })
                .map(|e| e.to_json(&id.base_url))
                .collect();
            Ok(listing(id, "endpoints", items))
        }
        (&Method::POST, []) => {
            req.authorize(id, "identity:create_endpoint", |_| false)?;
            let body = req.json()?;
            let e = object(&body, "endpoint")?;
            let interface = required(e, "interface")?;
            if !matches!(interface, "public" | "internal" | "admin") {
                return Err(Error::BadRequest(format!(
                    "Invalid input for field 'interface': '{interface}' is not one of public, internal, admin."
                )));
            }
            let service_id = required(e, "service_id")?;
            let _: Service = directory::must(&id.store, Kind::Service, "service", service_id)
                .await
                .map_err(|_| Error::BadRequest(format!("Could not find service: {service_id}.")))?;
            let endpoint = Endpoint {
                id: new_id(),
                service_id: service_id.to_string(),
                interface: interface.to_string(),
                region_id: str_field(e, "region_id")
                    .or_else(|| str_field(e, "region"))
                    .map(str::to_string),
                url: required(e, "url")?.to_string(),
                enabled: bool_field(e, "enabled", true)?,
            };
            id.store
                .put(Kind::Endpoint, &endpoint.id, &endpoint)
                .await?;
            Ok(one(
                StatusCode::CREATED,
                "endpoint",
                endpoint.to_json(&id.base_url),
            ))
        }
        (&Method::GET | &Method::HEAD, [eid]) => {
            req.authorize(id, "identity:get_endpoint", |_| false)?;
            let e: Endpoint = directory::must(&id.store, Kind::Endpoint, "endpoint", eid).await?;
            Ok(one(StatusCode::OK, "endpoint", e.to_json(&id.base_url)))
        }
        (&Method::DELETE, [eid]) => {
            remove(
                id,
                req,
                Kind::Endpoint,
                "endpoint",
                "identity:delete_endpoint",
                eid,
            )
            .await
        }
        _ => super::not_allowed(),
    }
}
