//! Attachments of volumes, without HTTP: who may attach (a volume that is
//! not multiattach has one attachment at most), the NBD export each
//! connected attachment holds, and its revocation when the attachment is
//! dropped or disconnected. Every change runs under the service's record
//! lock, so checking and recording are one step.

use anyhow::Context;

use crate::records::{now_text, AttachmentRecord, VolumeRecord};
use crate::service::{BlockService, Refused};

/// Refuses a new attachment of `v`, which is not multiattach, if it has
/// one already, unless the same server (`instance`) asks again (as when
/// it moves between hosts); in Cinder's words.
pub fn reservable(v: &VolumeRecord, instance: Option<&str>) -> Result<(), Refused> {
    let same_server =
        |x: &AttachmentRecord| instance.is_some() && x.instance_uuid.as_deref() == instance;
    if v.attachments.is_empty() || v.attachments.iter().any(same_server) {
        return Ok(());
    }
    let current = if v.status == "available" {
        "reserved"
    } else {
        v.status.as_str()
    };
    Err(Refused(format!(
        "Invalid volume: Volume {} status must be available or downloading to reserve, \
         but the current status is {current}.",
        v.id
    )))
}

/// A fresh export name: 128 random bits.
pub(crate) fn export_name() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl BlockService {
    /// Adds an attachment to a volume, serving a new export for it when
    /// `connect`; answers the attachment. With `exclusive` (a new
    /// attachment or a reservation), the volume must have no other.
    pub async fn attach(
        &self,
        volume_id: &str,
        mut a: AttachmentRecord,
        connect: bool,
        exclusive: bool,
    ) -> anyhow::Result<AttachmentRecord> {
        let _serial = self.changes.lock().await;
        let mut v = self.volume(volume_id).await?.context("no such volume")?;
        if exclusive {
            reservable(&v, a.instance_uuid.as_deref())?;
        }
        if connect {
            self.open_export(&mut a, volume_id)?;
        }
        v.attachments.retain(|x| x.id != a.id);
        v.attachments.push(a.clone());
        self.save_or_revoke(v, &a).await?;
        Ok(a)
    }

    /// The legacy flow's `os-initialize_connection`: serves a new export
    /// for the attachment `os-reserve` made, or for the one `host` holds
    /// already (a host reconnecting, whose old export is revoked). Without
    /// either, the connection makes a new attachment, which the volume
    /// must have room for as at `os-reserve`; so two hosts never both get
    /// an export of a volume that is not multiattach.
    pub async fn connect_legacy(
        &self,
        volume_id: &str,
        host: Option<String>,
        read_only: bool,
    ) -> anyhow::Result<AttachmentRecord> {
        let _serial = self.changes.lock().await;
        let mut v = self.volume(volume_id).await?.context("no such volume")?;
        let held = v
            .attachments
            .iter()
            .position(|a| a.status == "reserved")
            .or_else(|| {
                let same_host = |a: &AttachmentRecord| host.is_some() && a.host_name == host;
                v.attachments.iter().position(same_host)
            });
        let mut a = match held {
            Some(i) => v.attachments.remove(i),
            None => {
                reservable(&v, None)?;
                AttachmentRecord::new(&v.id, "attaching", read_only)
            }
        };
        if a.status == "reserved" {
            a.status = "attaching".into();
        }
        if host.is_some() {
            a.host_name = host;
        }
        a.read_only = read_only;
        if let Some(old) = a.export_name.take() {
            self.exports.remove(&old);
        }
        self.open_export(&mut a, volume_id)?;
        v.attachments.push(a.clone());
        self.save_or_revoke(v, &a).await?;
        Ok(a)
    }

    /// The legacy flow's `os-attach`: the pending attachment (reserved or
    /// connected), or else the one server `instance` has already, becomes
    /// attached to it. Without either, a new attachment is made, which the
    /// volume must have room for, as at `os-reserve`.
    pub async fn complete_legacy(
        &self,
        volume_id: &str,
        instance: Option<String>,
        mountpoint: Option<String>,
        host: Option<String>,
        read_only: bool,
    ) -> anyhow::Result<()> {
        let _serial = self.changes.lock().await;
        let mut v = self.volume(volume_id).await?.context("no such volume")?;
        let pending = |a: &AttachmentRecord| a.status == "attaching" || a.status == "reserved";
        let same_server = |a: &AttachmentRecord| instance.is_some() && a.instance_uuid == instance;
        let held = v.attachments.iter().position(pending);
        let mut a = match held.or_else(|| v.attachments.iter().position(same_server)) {
            Some(i) => v.attachments.remove(i),
            None => {
                reservable(&v, instance.as_deref())?;
                AttachmentRecord::new(&v.id, "attaching", read_only)
            }
        };
        a.instance_uuid = instance;
        a.mountpoint = mountpoint;
        if host.is_some() {
            a.host_name = host;
        }
        a.status = "attached".into();
        a.attached_at = Some(now_text());
        v.attachments.push(a);
        self.save_attachments(v).await
    }

    /// Changes attachments of a volume with `change` (which answers the
    /// ones to keep); revokes the exports of those dropped or disconnected.
    pub async fn change_attachments(
        &self,
        volume_id: &str,
        change: impl FnOnce(Vec<AttachmentRecord>) -> Vec<AttachmentRecord>,
    ) -> anyhow::Result<VolumeRecord> {
        let _serial = self.changes.lock().await;
        let mut v = self.volume(volume_id).await?.context("no such volume")?;
        let before: Vec<String> = v
            .attachments
            .iter()
            .filter_map(|a| a.export_name.clone())
            .collect();
        v.attachments = change(std::mem::take(&mut v.attachments));
        for name in before {
            if !v
                .attachments
                .iter()
                .any(|a| a.export_name.as_deref() == Some(&name))
            {
                self.exports.remove(&name);
            }
        }
        self.save_attachments(v.clone()).await?;
        Ok(v)
    }

    /// Serves `a`'s volume under a fresh export name, which `a` records.
    fn open_export(&self, a: &mut AttachmentRecord, volume_id: &str) -> anyhow::Result<()> {
        let name = export_name();
        self.serve(&name, &self.device(volume_id)?, a.read_only, volume_id);
        a.export_name = Some(name);
        Ok(())
    }

    /// Stores `v`, which holds the new attachment `a`; if that fails, the
    /// export opened for `a` is revoked, as no record shows it.
    async fn save_or_revoke(&self, v: VolumeRecord, a: &AttachmentRecord) -> anyhow::Result<()> {
        let saved = self.save_attachments(v).await;
        if saved.is_err() {
            if let Some(name) = &a.export_name {
                self.exports.remove(name);
            }
        }
        saved
    }

    /// Stores `v` with its attachments changed: a settled volume is
    /// `in-use` while an attachment is attached, else `available`.
    async fn save_attachments(&self, mut v: VolumeRecord) -> anyhow::Result<()> {
        if v.status == "available" || v.status == "in-use" {
            v.status = if v.in_use() { "in-use" } else { "available" }.into();
        }
        v.updated_at = Some(now_text());
        self.put_volume(&v).await
    }
}
