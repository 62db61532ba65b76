//! A small HTTP/1.1 client of identity for other services: JSON GETs
//! against identity's base URL (`http://host:port`, a trailing `/v3` is
//! dropped) with a timeout, pooled connections, and 404 as "none".

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;

/// Longest wait for an answer from identity.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read.
const MAX_BODY: usize = 4 << 20;

/// A client of one identity service.
#[derive(Clone)]
pub struct IdentityHttp {
    base: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl IdentityHttp {
    /// A client of identity at `url` (`http://127.0.0.1:5000`, with or
    /// without `/v3`).
    pub fn new(url: &str) -> anyhow::Result<IdentityHttp> {
        let base = url.trim_end_matches('/');
        let base = base.strip_suffix("/v3").unwrap_or(base).to_string();
        anyhow::ensure!(
            base.starts_with("http://"),
            "identity URL {url:?} must be http://host:port"
        );
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(IdentityHttp { base, client })
    }

    /// The base URL (no trailing slash, no `/v3`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET {base}{path}` with `headers`: the JSON body of a 200, `None`
    /// for a 404, an error for anything else.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Option<T>> {
        let mut req = http::Request::get(format!("{}{path}", self.base))
            .header(http::header::ACCEPT, "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Empty::new()).context("build identity request")?;
        let answer = async {
            let resp = self.client.request(req).await?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("read identity answer: {e}"))?
                .to_bytes();
            anyhow::Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(TIMEOUT, answer)
            .await
            .context("identity did not answer in time")??;
        match status {
            http::StatusCode::OK => Ok(Some(
                serde_json::from_slice(&body).context("decode identity answer")?,
            )),
            http::StatusCode::NOT_FOUND => Ok(None),
            s => anyhow::bail!("identity answered {s}"),
        }
    }
}
