//! `GET /info`: the cluster's capabilities and constraints, as Swift publishes them.

use http::{Method, Request, StatusCode};
use serde_json::json;

use super::response::{self, Resp};
use super::swift::constraints as c;
use super::App;

/// Answers `/info`.
pub fn handle<B>(req: &Request<B>, app: &App) -> Resp {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return response::error(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    let policies: Vec<_> = app
        .cluster
        .policies()
        .all()
        .iter()
        .map(|p| {
            let mut names = vec![p.name.clone()];
            names.extend(p.aliases.iter().cloned());
            let mut entry = json!({
                "name": p.name,
                "aliases": names.join(", "),
                "policy_type": p.type_name(),
            });
            if p.default {
                entry["default"] = json!(true);
            }
            if let Some(ec) = &p.ec {
                entry["ec_type"] = json!("reed_solomon_erasure");
                entry["ec_num_data_fragments"] = json!(ec.k);
                entry["ec_num_parity_fragments"] = json!(ec.m);
                entry["ec_object_segment_size"] = json!(ec.segment_size);
            }
            entry
        })
        .collect();
    let body = json!({
        "swift": {
            "version": env!("CARGO_PKG_VERSION"),
            "max_file_size": app.cluster.max_object_size,
            "max_meta_name_length": c::MAX_META_NAME_LENGTH,
            "max_meta_value_length": c::MAX_META_VALUE_LENGTH,
            "max_meta_count": c::MAX_META_COUNT,
            "max_meta_overall_size": c::MAX_META_OVERALL_SIZE,
            "max_header_size": c::MAX_HEADER_SIZE,
            "max_object_name_length": c::MAX_OBJECT_NAME_LENGTH,
            "container_listing_limit": c::LISTING_LIMIT,
            "account_listing_limit": c::LISTING_LIMIT,
            "max_account_name_length": c::MAX_ACCOUNT_NAME_LENGTH,
            "max_container_name_length": c::MAX_CONTAINER_NAME_LENGTH,
            "extra_header_count": 0,
            "strict_cors_mode": true,
            "policies": policies,
            "allow_account_management": false,
            "account_autocreate": true,
        },
        "tempauth": {"account_acls": false},
    });
    response::with_body(
        StatusCode::OK,
        "application/json; charset=utf-8",
        body.to_string(),
    )
}
