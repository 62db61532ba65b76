//! The version documents (`GET /image`, `/image/versions`, `/v2`) and the
//! JSON schemas (`/v2/schemas/...`) clients fetch.

use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::response::{self, Resp};

/// The versions document; `multiple` answers 300 (as Glance at its root).
pub fn versions(req: &Request<Incoming>, multiple: bool) -> Resp {
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let prefix = if req.uri().path().starts_with("/image") {
        "/image"
    } else {
        ""
    };
    let href = format!("http://{host}{prefix}/v2/");
    let version = |id: &str, status: &str| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]});
    let body = json!({"versions": [
        version("v2.16", "CURRENT"),
        version("v2.15", "SUPPORTED"),
        version("v2.0", "SUPPORTED"),
    ]});
    let status = if multiple {
        StatusCode::MULTIPLE_CHOICES
    } else {
        StatusCode::OK
    };
    response::json(status, &body)
}

fn image_schema() -> Value {
    let string = json!({"type": ["null", "string"]});
    json!({
        "name": "image",
        "additionalProperties": {"type": "string"},
        "links": [
            {"href": "{self}", "rel": "self"},
            {"href": "{file}", "rel": "enclosure"},
            {"href": "{schema}", "rel": "describedby"}
        ],
        "properties": {
            "id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": string,
            "status": {"type": "string", "readOnly": true, "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"]},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
            "protected": {"type": "boolean"},
            "os_hidden": {"type": "boolean"},
            "checksum": {"type": ["null", "string"], "readOnly": true},
            "os_hash_algo": {"type": ["null", "string"], "readOnly": true},
            "os_hash_value": {"type": ["null", "string"], "readOnly": true},
            "owner": {"type": ["null", "string"]},
            "size": {"type": ["null", "integer"], "readOnly": true},
            "virtual_size": {"type": ["null", "integer"], "readOnly": true},
            "container_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]},
            "disk_format": {"type": ["null", "string"], "enum": [null, "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso"]},
            "created_at": {"type": "string", "readOnly": true},
            "updated_at": {"type": "string", "readOnly": true},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "direct_url": {"type": "string", "readOnly": true},
            "min_ram": {"type": "integer"},
            "min_disk": {"type": "integer"},
            "self": {"type": "string", "readOnly": true},
            "file": {"type": "string", "readOnly": true},
            "schema": {"type": "string", "readOnly": true},
            "locations": {"type": "array", "items": {"type": "object"}}
        }
    })
}

fn member_schema() -> Value {
    json!({
        "name": "member",
        "properties": {
            "created_at": {"type": "string"},
            "image_id": {"type": "string"},
            "member_id": {"type": "string"},
            "schema": {"type": "string", "readOnly": true},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "updated_at": {"type": "string"}
        }
    })
}

/// `GET /v2/schemas/{image,images,member,members}`.
pub fn schema(which: &str) -> Resp {
    let body = match which {
        "image" => image_schema(),
        "images" => json!({
            "name": "images",
            "properties": {
                "images": {"type": "array", "items": image_schema()},
                "schema": {"type": "string"},
                "first": {"type": "string"},
                "next": {"type": "string"}
            },
            "links": [
                {"href": "{first}", "rel": "first"},
                {"href": "{next}", "rel": "next"},
                {"href": "{schema}", "rel": "describedby"}
            ]
        }),
        "member" => member_schema(),
        "members" => json!({
            "name": "members",
            "properties": {"members": {"type": "array", "items": member_schema()}, "schema": {"type": "string"}}
        }),
        _ => return response::error(StatusCode::NOT_FOUND, "no such schema"),
    };
    response::json(StatusCode::OK, &body)
}
