//! The image service as the volume service sees it: an image's record
//! and its bytes, asked for with the caller's own token (so a volume can
//! only be made from an image its project may see), over the Glance v2
//! API.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use crate::config::ImagesConfig;

/// Longest wait for an image record.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait between two pieces of a download.
const STALL: Duration = Duration::from_secs(60);

/// What a volume needs to know of an image.
#[derive(Clone, Debug, Deserialize)]
pub struct ImageInfo {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub size: Option<u64>,
    pub virtual_size: Option<u64>,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    #[serde(default)]
    pub min_disk: u64,
    #[serde(default)]
    pub min_ram: u64,
    pub checksum: Option<String>,
}

impl ImageInfo {
    /// The size of the disk the image holds, in bytes.
    pub fn disk_bytes(&self) -> u64 {
        self.virtual_size.or(self.size).unwrap_or(0)
    }

    /// Cinder's `volume_image_metadata` of a volume made from it.
    pub fn volume_metadata(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        };
        put("image_id", Some(self.id.clone()));
        put("image_name", self.name.clone());
        put("checksum", self.checksum.clone());
        put("disk_format", self.disk_format.clone());
        put("container_format", self.container_format.clone());
        put("size", self.size.map(|s| s.to_string()));
        put("min_disk", Some(self.min_disk.to_string()));
        put("min_ram", Some(self.min_ram.to_string()));
        m
    }
}

/// A client of the image API, and where image bytes live.
pub struct Images {
    pub cfg: ImagesConfig,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Images {
    pub fn new(cfg: ImagesConfig) -> Images {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Images { cfg, client }
    }

    async fn get(
        &self,
        path: &str,
        token: &str,
    ) -> anyhow::Result<http::Response<hyper::body::Incoming>> {
        let url = format!("{}{path}", self.cfg.url.trim_end_matches('/'));
        let req = http::Request::get(&url)
            .header("X-Auth-Token", token)
            .body(Empty::new())
            .context("build image request")?;
        tokio::time::timeout(TIMEOUT, self.client.request(req))
            .await
            .context("the image service did not answer in time")?
            .context("the image service cannot be reached")
    }

    /// The image `id` as the token's project sees it; `None` if it is
    /// not there or not visible.
    pub async fn show(&self, token: &str, id: &str) -> anyhow::Result<Option<ImageInfo>> {
        let resp = self.get(&format!("/v2/images/{id}"), token).await?;
        let status = resp.status();
        let body = tokio::time::timeout(TIMEOUT, Limited::new(resp.into_body(), 1 << 20).collect())
            .await
            .context("the image service did not answer in time")?
            .map_err(|e| anyhow::anyhow!("read image record: {e}"))?
            .to_bytes();
        match status {
            StatusCode::OK => Ok(Some(
                serde_json::from_slice(&body).context("decode image record")?,
            )),
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(None),
            s => anyhow::bail!("the image service answered {s}"),
        }
    }

    /// Downloads the image's bytes into `dest`; answers their length.
    pub async fn download(&self, token: &str, id: &str, dest: &Path) -> anyhow::Result<u64> {
        let resp = self.get(&format!("/v2/images/{id}/file"), token).await?;
        anyhow::ensure!(
            resp.status() == StatusCode::OK,
            "image download answered {}",
            resp.status()
        );
        let mut file = tokio::fs::File::create(dest)
            .await
            .with_context(|| format!("create {}", dest.display()))?;
        let mut body = resp.into_body();
        let mut written = 0u64;
        while let Some(frame) = tokio::time::timeout(STALL, body.frame())
            .await
            .context("image download stalled")?
        {
            let frame = frame.context("image download broke off")?;
            if let Ok(data) = frame.into_data() {
                file.write_all(&data).await?;
                written += data.len() as u64;
            }
        }
        file.sync_all().await?;
        Ok(written)
    }
}
