//! Cinder's JSON shapes of volumes, attachments, snapshots and connection
//! information, from the stored records.

use serde_json::{json, Value};

use crate::records::{AttachmentRecord, SnapshotRecord, VolumeRecord};
use crate::service::NbdEndpoint;

/// The one volume type.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";
pub const DEFAULT_TYPE_ID: &str = "5f1d3e4c-0b7a-4c39-9d2e-8a6f0c1b2d3e";
pub const HOST: &str = "cairn@blockd#blockd";

fn link(base: &str, kind: &str, id: &str) -> Value {
    json!([{"rel": "self", "href": format!("{base}/{kind}/{id}")}])
}

/// A volume in brief (`GET /volumes`).
pub fn volume_brief(v: &VolumeRecord, base: &str) -> Value {
    json!({"id": v.id, "name": v.name, "links": link(base, "volumes", &v.id)})
}

/// How an attached volume lists its attachment.
fn volume_attachment(a: &AttachmentRecord) -> Value {
    json!({
        "id": a.volume_id, "attachment_id": a.id, "volume_id": a.volume_id,
        "server_id": a.instance_uuid, "host_name": a.host_name,
        "device": a.mountpoint, "attached_at": a.attached_at,
    })
}

/// A volume in full.
pub fn volume(v: &VolumeRecord, base: &str) -> Value {
    let attachments: Vec<Value> = v
        .attachments
        .iter()
        .filter(|a| a.status == "attached")
        .map(volume_attachment)
        .collect();
    let mut out = json!({
        "id": v.id, "name": v.name, "size": v.size, "status": v.status,
        "description": v.description, "volume_type": v.volume_type,
        "volume_type_id": DEFAULT_TYPE_ID, "availability_zone": "nova",
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false, "multiattach": false, "attachments": attachments,
        "metadata": v.metadata, "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid, "consistencygroup_id": null,
        "created_at": v.created_at, "updated_at": v.updated_at,
        "user_id": v.user_id, "replication_status": null,
        "os-vol-tenant-attr:tenant_id": v.project_id,
        "os-vol-host-attr:host": HOST,
        "os-vol-mig-status-attr:migstat": null, "os-vol-mig-status-attr:name_id": null,
        "group_id": null, "provider_id": null, "service_uuid": null,
        "shared_targets": false, "cluster_name": null, "consumes_quota": true,
        "links": link(base, "volumes", &v.id),
    });
    if let Some(m) = &v.image_metadata {
        out["volume_image_metadata"] = json!(m);
    }
    out
}

/// `connection_info` of an attachment with an open export.
pub fn connection_info(a: &AttachmentRecord, nbd: NbdEndpoint) -> Value {
    json!({
        "driver_volume_type": "nbd",
        "data": {
            "host": nbd.addr.ip().to_string(),
            "port": nbd.addr.port(),
            "export_name": a.export_name,
            "tls": nbd.tls,
            "access_mode": if a.read_only { "ro" } else { "rw" },
            "volume_id": a.volume_id,
        }
    })
}

/// An attachment (`/attachments`).
pub fn attachment(a: &AttachmentRecord, nbd: NbdEndpoint) -> Value {
    let info = match &a.export_name {
        Some(_) => {
            let mut i = connection_info(a, nbd);
            // The attachments API also carries the data at the top level.
            let data = i["data"].clone();
            if let (Some(o), Some(d)) = (i.as_object_mut(), data.as_object()) {
                for (k, v) in d {
                    o.insert(k.clone(), v.clone());
                }
                o.insert("attachment_id".into(), json!(a.id));
            }
            i
        }
        None => json!({}),
    };
    json!({
        "id": a.id, "status": a.status, "instance": a.instance_uuid,
        "volume_id": a.volume_id, "attached_at": a.attached_at, "detached_at": null,
        "attach_mode": if a.read_only { "ro" } else { "rw" },
        "connection_info": info,
    })
}

/// A snapshot in brief.
pub fn snapshot_brief(s: &SnapshotRecord) -> Value {
    json!({"id": s.id, "name": s.name, "volume_id": s.volume_id, "status": s.status,
           "size": s.size, "description": s.description, "created_at": s.created_at,
           "updated_at": s.updated_at, "metadata": s.metadata})
}

/// A snapshot in full.
pub fn snapshot(s: &SnapshotRecord) -> Value {
    json!({
        "id": s.id, "name": s.name, "description": s.description,
        "volume_id": s.volume_id, "size": s.size, "status": s.status,
        "metadata": s.metadata, "created_at": s.created_at, "updated_at": s.updated_at,
        "os-extended-snapshot-attributes:progress": "100%",
        "os-extended-snapshot-attributes:project_id": s.project_id,
        "user_id": s.user_id, "group_snapshot_id": null, "consumes_quota": true,
    })
}
