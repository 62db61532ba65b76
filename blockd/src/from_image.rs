//! Volumes made from images. A raw image's volume is a clone: its map
//! points at the image's own segment objects (shared segments, kept from
//! deletion by a clone marker), so it is ready at once whatever the
//! image's size. Other formats are converted, as Cinder does: the image
//! is downloaded to a scratch file, checked with `qemu-img info` (no
//! backing file, data file or extent other than itself; run under
//! `prlimit` memory and CPU limits), and `qemu-img convert` writes it as
//! raw into the new volume through a private NBD server on loopback
//! (serving that volume alone, never TLS); zeros are
//! skipped, so the volume stays thin. Both are killed if they run too
//! long.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use tokio_util::sync::CancellationToken;

use crate::attaching::export_name;
use crate::images::ImageInfo;
use crate::nbd::{self, Export, Exports};
use crate::records::VolumeRecord;
use crate::service::{blocking, volume_key, BlockService, Source};
use crate::volume::extent::Located;
use crate::volume::rangemap::RangeMap;
use crate::volume::shared::{Marker, SharedObject};

/// How a volume gets an image's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The bytes are the disk: share them.
    Clone,
    /// Convert from this `qemu-img` format.
    Convert(&'static str),
}

/// How an image of `disk_format` becomes a volume, if it can.
pub fn method_for(disk_format: &str) -> Option<Method> {
    Some(match disk_format {
        "raw" | "iso" | "ami" | "ari" | "aki" => Method::Clone,
        "qcow2" => Method::Convert("qcow2"),
        "vmdk" => Method::Convert("vmdk"),
        "vdi" => Method::Convert("vdi"),
        "vhd" => Method::Convert("vpc"),
        "vhdx" => Method::Convert("vhdx"),
        _ => return None,
    })
}

impl BlockService {
    fn images(&self) -> anyhow::Result<&crate::images::Images> {
        self.images
            .as_ref()
            .context("this volume service has no image service")
    }

    /// Makes volume `v` a clone of raw image `image` (available at once).
    pub async fn clone_image(
        &self,
        v: VolumeRecord,
        image: &ImageInfo,
        token: &str,
    ) -> anyhow::Result<VolumeRecord> {
        let cfg = &self.images()?.cfg;
        let marker = Marker {
            account: cfg.account.clone(),
            container: cfg.clone_container.clone(),
            object: format!("{}/{}", image.id, v.id),
        };
        self.segments.store.mark(&marker).await?;
        let made = self.clone_marked(v, image, token, &marker).await;
        // An empty image shares nothing, so nothing would ever remove it.
        if !matches!(made, Ok((_, true))) {
            if let Err(e) = self.segments.store.unmark(&marker).await {
                tracing::warn!(marker = %marker.object, "cannot remove clone marker: {e:#}");
            }
        }
        made.map(|(v, _)| v)
    }

    async fn clone_marked(
        &self,
        v: VolumeRecord,
        image: &ImageInfo,
        token: &str,
        marker: &Marker,
    ) -> anyhow::Result<(VolumeRecord, bool)> {
        let images = self.images()?;
        let cfg = &images.cfg;
        // The marker exists before the image is looked at again: the image
        // service marks an image pending_delete before it looks for
        // markers, so either it sees this one or this sees its deletion.
        let now = images
            .show(token, &image.id)
            .await?
            .context("the image is gone")?;
        anyhow::ensure!(
            now.status == "active" && now.checksum == image.checksum,
            "image {} is no longer active",
            image.id
        );
        let objects = self
            .segments
            .store
            .list_shared(&cfg.account, &cfg.container, &format!("{}/", image.id))
            .await?;
        let total: u64 = objects.iter().map(|(_, n)| n).sum();
        anyhow::ensure!(
            Some(total) == image.size,
            "image {} has {total} bytes stored, not {:?}",
            image.id,
            image.size
        );
        let mut map = RangeMap::new();
        let mut shared = Vec::new();
        let mut at = 0u64;
        for (object, len) in objects.into_iter().filter(|(_, n)| *n > 0) {
            let segment = self.store.allocate_segment();
            map.load(at, len, Located { segment, offset: 0 });
            shared.push((
                segment,
                SharedObject {
                    account: cfg.account.clone(),
                    container: cfg.container.clone(),
                    object,
                    marker: marker.clone(),
                },
            ));
            at += len;
        }
        let shares = !shared.is_empty();
        let v = self.create_volume(v, Source::Shared(map, shared)).await?;
        Ok((v, shares))
    }

    /// Makes volume `v` (status `downloading`) and converts the image
    /// into it in the background; it becomes `available`, or `error`.
    pub async fn convert_image(
        self: &Arc<Self>,
        v: VolumeRecord,
        image: &ImageInfo,
        token: &str,
        format: &'static str,
    ) -> anyhow::Result<VolumeRecord> {
        self.images()?;
        let v = self.make_volume(v, Source::Empty, "downloading").await?;
        let (this, id, image_id, size, token) = (
            self.clone(),
            v.id.clone(),
            image.id.clone(),
            image.size,
            token.to_string(),
        );
        tokio::spawn(async move {
            let scratch = this.scratch.join(format!("{id}.{format}"));
            let done = this
                .convert(&id, &image_id, size, &token, format, &scratch)
                .await;
            let _ = tokio::fs::remove_file(&scratch).await;
            if let Err(e) = &done {
                tracing::warn!(volume = %id, image = %image_id, "image conversion failed: {e:#}");
            }
            let status = if done.is_ok() { "available" } else { "error" };
            if let Err(e) = this.finish_creation(&id, status).await {
                tracing::warn!(volume = %id, "cannot record the volume's status: {e:#}");
            }
        });
        Ok(v)
    }

    /// Sets a volume's status after its creation (unless it was deleted).
    async fn finish_creation(&self, id: &str, status: &str) -> anyhow::Result<()> {
        let _serial = self.changes.lock().await;
        let (s, k) = (self.store.clone(), volume_key(id));
        let Some(mut v) = blocking(move || s.get_json::<VolumeRecord>(&k)).await? else {
            return Ok(());
        };
        v.status = status.into();
        v.updated_at = Some(crate::records::now_text());
        self.put_volume(&v).await
    }

    /// Downloads the image to `scratch`, checks it and writes it raw into
    /// volume `id` (the caller removes `scratch`).
    async fn convert(
        &self,
        id: &str,
        image_id: &str,
        size: Option<u64>,
        token: &str,
        format: &str,
        scratch: &std::path::Path,
    ) -> anyhow::Result<()> {
        let got = self.images()?.download(token, image_id, scratch).await?;
        anyhow::ensure!(
            Some(got) == size,
            "the image download gave {got} bytes, not {size:?}"
        );
        let device = self.device(id)?;
        let needed = checked_virtual_size(format, scratch).await?;
        anyhow::ensure!(
            needed <= crate::device::BlockDevice::size(device.as_ref()),
            "the image's disk ({needed} bytes) is larger than the volume"
        );
        // A private NBD server on loopback, serving only this volume under
        // a name of its own: the public server may require TLS, and the
        // conversion never shows there.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let name = export_name();
        let exports = Arc::new(Exports::default());
        exports.insert(
            name.clone(),
            Export::new(device.clone(), false, format!("volume {id}")),
        );
        let stop = CancellationToken::new();
        let server = tokio::spawn(nbd::serve(
            listener,
            exports.clone(),
            conversion_options(),
            stop.clone(),
        ));
        let target = format!("nbd://{addr}/{name}");
        let scratch_bytes = tokio::fs::metadata(scratch).await?.len();
        let mut convert = tokio::process::Command::new("qemu-img");
        convert.args([
            "convert",
            "-q",
            "-f",
            format,
            "-O",
            "raw",
            "-n",
            "--target-is-zero",
        ]);
        convert.arg(scratch).arg(&target);
        let out = run_bounded(convert, convert_time(scratch_bytes), "qemu-img convert").await;
        exports.remove(&name);
        stop.cancel();
        let _ = server.await;
        let out = out?;
        anyhow::ensure!(
            out.status.success(),
            "qemu-img convert failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }
}

/// The private server of one conversion: it has one client (`qemu-img`,
/// which pipelines over one connection), so one thread, a few
/// connections, and no busy polling, which would spin a core for it.
fn conversion_options() -> nbd::Options {
    let limits = nbd::Limits {
        connections: 4,
        handshakes: 4,
        handshakes_per_address: 4,
        busy_poll: Duration::ZERO,
        payload_bytes: 64 << 20,
        threads: 1,
        ..nbd::Limits::default()
    };
    nbd::Options {
        limits,
        ..nbd::Options::default()
    }
}

/// Address space `qemu-img info` may use.
const INFO_MEMORY: u64 = 1 << 30;
/// CPU time `qemu-img info` may use (and half its wall-clock limit).
const INFO_TIME: Duration = Duration::from_secs(30);

/// How long converting an image file of `bytes` may take: two minutes,
/// plus a second for every 16 MiB (holes in its disk cost next to
/// nothing, so the file's size bounds the work, not the disk's).
fn convert_time(bytes: u64) -> Duration {
    Duration::from_secs(120 + bytes / (16 << 20))
}

/// Runs `cmd` to completion, killing it if it runs longer than `limit`.
async fn run_bounded(
    mut cmd: tokio::process::Command,
    limit: Duration,
    what: &str,
) -> anyhow::Result<std::process::Output> {
    cmd.kill_on_drop(true);
    match tokio::time::timeout(limit, cmd.output()).await {
        Ok(out) => out.with_context(|| format!("run {what}")),
        Err(_) => anyhow::bail!("{what} took longer than {} s", limit.as_secs()),
    }
}

/// The virtual size of the image in `path`, read by `qemu-img info` with
/// its format fixed, refusing images that name other files.
async fn checked_virtual_size(format: &str, path: &std::path::Path) -> anyhow::Result<u64> {
    // As Nova and Cinder do: an image crafted to make `qemu-img info`
    // eat memory or CPU is stopped by the kernel.
    let mut info = tokio::process::Command::new("prlimit");
    info.arg(format!("--as={INFO_MEMORY}"))
        .arg(format!("--cpu={}", INFO_TIME.as_secs()))
        .args(["--", "qemu-img", "info", "--output=json", "-f", format])
        .arg(path);
    let out = run_bounded(info, INFO_TIME * 2, "qemu-img info").await?;
    anyhow::ensure!(
        out.status.success(),
        "qemu-img info refused the image: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let info: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("decode qemu-img info")?;
    anyhow::ensure!(
        info.get("backing-filename").is_none(),
        "the image has a backing file"
    );
    anyhow::ensure!(
        info.pointer("/format-specific/data/data-file").is_none(),
        "the image has an external data file"
    );
    // A vmdk's descriptor may name other files as extents.
    let own = path.to_string_lossy();
    let extents = info
        .pointer("/format-specific/data/extents")
        .and_then(serde_json::Value::as_array);
    for e in extents.into_iter().flatten() {
        let name = e.get("filename").and_then(serde_json::Value::as_str);
        anyhow::ensure!(
            name == Some(own.as_ref()),
            "the image names another file as an extent"
        );
    }
    info.get("virtual-size")
        .and_then(serde_json::Value::as_u64)
        .context("qemu-img info gave no virtual size")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_map_to_methods() {
        assert_eq!(method_for("raw"), Some(Method::Clone));
        assert_eq!(method_for("qcow2"), Some(Method::Convert("qcow2")));
        assert_eq!(method_for("vhd"), Some(Method::Convert("vpc")));
        assert_eq!(method_for("ploop"), None);
    }

    #[tokio::test]
    async fn images_naming_other_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, vec![7u8; 512]).unwrap();
        // A vmdk whose descriptor names a host file as its extent.
        let vmdk = dir.path().join("evil.vmdk");
        let descriptor = format!(
            "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
             createType=\"monolithicFlat\"\nRW 1 FLAT \"{}\" 0\n",
            secret.display()
        );
        std::fs::write(&vmdk, descriptor).unwrap();
        let e = checked_virtual_size("vmdk", &vmdk).await.unwrap_err();
        assert!(format!("{e:#}").contains("another file"), "{e:#}");
        // A qcow2 with a backing file.
        let base = dir.path().join("base.qcow2");
        let child = dir.path().join("child.qcow2");
        for args in [
            vec!["create", "-f", "qcow2", base.to_str().unwrap(), "1M"],
            vec![
                "create",
                "-f",
                "qcow2",
                "-F",
                "qcow2",
                "-b",
                base.to_str().unwrap(),
                child.to_str().unwrap(),
            ],
        ] {
            let ok = std::process::Command::new("qemu-img")
                .args(&args)
                .output()
                .unwrap();
            assert!(ok.status.success(), "{ok:?}");
        }
        let e = checked_virtual_size("qcow2", &child).await.unwrap_err();
        assert!(format!("{e:#}").contains("backing file"), "{e:#}");
        assert_eq!(checked_virtual_size("qcow2", &base).await.unwrap(), 1 << 20);
    }

    #[tokio::test]
    async fn a_tool_that_runs_too_long_is_killed() {
        let started = std::time::Instant::now();
        let mut sleeper = tokio::process::Command::new("sleep");
        sleeper.arg("30");
        let e = run_bounded(sleeper, Duration::from_millis(300), "sleep")
            .await
            .unwrap_err();
        assert!(format!("{e:#}").contains("took longer"), "{e:#}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // Under prlimit, a CPU-bound tool is stopped by the kernel.
        let mut spinner = tokio::process::Command::new("prlimit");
        spinner.args(["--cpu=1", "--", "sh", "-c", "while :; do :; done"]);
        let out = run_bounded(spinner, Duration::from_secs(20), "spin")
            .await
            .unwrap();
        assert!(!out.status.success(), "{out:?}");
    }
}
