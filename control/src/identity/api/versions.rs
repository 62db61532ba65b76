//! Version discovery as keystoneauth expects it: `GET /` answers 300 with
//! `{"versions": {"values": [v3]}}`, `GET /v3` answers 200 with
//! `{"version": v3}`; neither needs a token.

use http::{Method, StatusCode};
use serde_json::{json, Value};

use super::response::{self, Resp};
use crate::identity::error::Result;
use crate::identity::Identity;

fn v3_doc(id: &Identity) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/", id.base_url)}],
        "media-types": [{"base": "application/json",
                          "type": "application/vnd.openstack.identity-v3+json"}]
    })
}

pub fn root(id: &Identity, m: &Method) -> Result<Resp> {
    if m != Method::GET && m != Method::HEAD {
        return super::not_allowed();
    }
    Ok(response::json(
        StatusCode::MULTIPLE_CHOICES,
        &json!({"versions": {"values": [v3_doc(id)]}}),
    ))
}

pub fn v3(id: &Identity, m: &Method) -> Result<Resp> {
    if m != Method::GET && m != Method::HEAD {
        return super::not_allowed();
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({"version": v3_doc(id)}),
    ))
}
