//! The service catalog a token carries: enabled services with their
//! enabled endpoints, `%(project_id)s` (and `$(project_id)s`,
//! `%(tenant_id)s`) replaced by the token's project. An endpoint that needs
//! a project is left out of an unscoped catalog.

use serde_json::{json, Value};

use super::error::Result;
use super::model::{Endpoint, Service};
use super::store::{Kind, Store};

/// The catalog for a token scoped to `project_id`.
pub async fn build(store: &Store, project_id: Option<&str>) -> Result<Value> {
    let services: Vec<Service> = store.list(Kind::Service, "").await?;
    let endpoints: Vec<Endpoint> = store.list(Kind::Endpoint, "").await?;
    let mut out = Vec::new();
    for s in services.iter().filter(|s| s.enabled) {
        let eps: Vec<Value> = endpoints
            .iter()
            .filter(|e| e.enabled && e.service_id == s.id)
            .filter_map(|e| {
                let url = substitute(&e.url, project_id)?;
                Some(
                    json!({"id": e.id, "interface": e.interface, "region_id": e.region_id,
                            "region": e.region_id, "url": url}),
                )
            })
            .collect();
        out.push(json!({"id": s.id, "type": s.kind, "name": s.name, "endpoints": eps}));
    }
    Ok(Value::Array(out))
}

/// `url` with the project substituted; `None` if it needs one and there is none.
pub fn substitute(url: &str, project_id: Option<&str>) -> Option<String> {
    const HOLES: [&str; 4] = [
        "%(project_id)s",
        "$(project_id)s",
        "%(tenant_id)s",
        "$(tenant_id)s",
    ];
    let mut out = url.to_string();
    for hole in HOLES {
        if out.contains(hole) {
            out = out.replace(hole, project_id?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        let u = "http://h:8080/v1/AUTH_%(project_id)s";
        assert_eq!(
            substitute(u, Some("abc")).as_deref(),
            Some("http://h:8080/v1/AUTH_abc")
        );
        assert_eq!(substitute(u, None), None);
        assert_eq!(
            substitute("http://h/v3", None).as_deref(),
            Some("http://h/v3")
        );
        assert_eq!(
            substitute("http://h/$(tenant_id)s", Some("p")).as_deref(),
            Some("http://h/p")
        );
    }
}
