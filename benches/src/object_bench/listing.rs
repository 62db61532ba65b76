//! Listing phase: filling a container with zero-byte objects (untimed)
//! and timing full paginated JSON listings of it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde::Deserialize;

use super::Ctx;
use crate::swift_client::{encode_path, BodyMode, ReqBody};

/// Swift's default cap on entries per listing request.
pub const LISTING_PAGE_MAX: usize = 10_000;

/// Name of the `index`-th object of the listing container.
fn listing_name(index: usize) -> String {
    format!("o{index:08}")
}

/// PUTs `list_count` zero-byte objects concurrently (untimed). Returns the
/// names a PUT was sent for.
pub(super) async fn fill_listing(ctx: &Arc<Ctx>, container: &Arc<str>) -> Vec<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let workers = ctx.cfg.concurrency.min(ctx.cfg.list_count);
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (ctx, container, next) = (ctx.clone(), container.clone(), next.clone());
            tokio::spawn(async move {
                let mut conn = ctx.conn();
                let mut attempted = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= ctx.cfg.list_count {
                        break;
                    }
                    let name = listing_name(index);
                    let target = conn.endpoint().object_target(&container, &name);
                    attempted.push(name);
                    match conn
                        .request(Method::PUT, &target, &[], ReqBody::Empty, BodyMode::Drain)
                        .await
                    {
                        // Swift answers 201, S3 200.
                        Ok(reply) if reply.status.is_success() => {}
                        Ok(reply) => ctx
                            .errors
                            .record(format!("PUT {target}: status {}", reply.status)),
                        Err(err) => ctx.errors.record(format!("{err:#}")),
                    }
                }
                attempted
            })
        })
        .collect();
    let mut names = Vec::new();
    for task in futures::future::join_all(tasks).await {
        match task {
            Ok(part) => names.extend(part),
            Err(err) => ctx
                .errors
                .record(format!("listing fill worker failed: {err}")),
        }
    }
    names
}

#[derive(Deserialize)]
struct ListingEntry {
    name: String,
}

/// Times `list_repeats` full JSON listings of the container (pages of at
/// most [`LISTING_PAGE_MAX`], following `marker`). Only request + body
/// transfer is timed, not JSON parsing. Returns the successful times in ms.
pub(super) async fn time_listings(ctx: &Ctx, container: &str) -> Vec<f64> {
    let expected = ctx.cfg.list_count;
    let limit = expected.clamp(1, LISTING_PAGE_MAX);
    let mut conn = ctx.conn();
    if let Err(err) = conn.connect().await {
        ctx.errors.record(format!("listing connect: {err:#}"));
        return Vec::new();
    }
    let mut times = Vec::new();
    'repeat: for _ in 0..ctx.cfg.list_repeats {
        let mut elapsed = Duration::ZERO;
        let mut total = 0usize;
        let mut marker: Option<String> = None;
        loop {
            let s3 = ctx.session.signer.is_some();
            let mut query = if s3 {
                format!("list-type=2&max-keys={limit}")
            } else {
                format!("format=json&limit={limit}")
            };
            if let Some(marker) = &marker {
                query.push_str(if s3 {
                    "&continuation-token="
                } else {
                    "&marker="
                });
                query.push_str(&encode_path(marker, false));
            }
            let target = conn.endpoint().container_target(container, Some(&query));
            let started = Instant::now();
            let result = conn
                .request(Method::GET, &target, &[], ReqBody::Empty, BodyMode::Collect)
                .await;
            elapsed += started.elapsed();
            let reply = match result {
                // An empty listing may come back as 204 No Content.
                Ok(reply)
                    if reply.status == StatusCode::OK || reply.status == StatusCode::NO_CONTENT =>
                {
                    reply
                }
                Ok(reply) => {
                    ctx.errors
                        .record(format!("GET {target}: status {}", reply.status));
                    continue 'repeat;
                }
                Err(err) => {
                    ctx.errors.record(format!("{err:#}"));
                    continue 'repeat;
                }
            };
            if s3 {
                let (keys, next) = s3_page(&reply.body);
                total += keys;
                marker = next;
                if marker.is_none() || total >= expected {
                    break;
                }
                continue;
            }
            let parsed = if reply.status == StatusCode::NO_CONTENT {
                Ok(Vec::new())
            } else {
                serde_json::from_slice::<Vec<ListingEntry>>(&reply.body)
            };
            let entries = match parsed {
                Ok(entries) => entries,
                Err(err) => {
                    ctx.errors
                        .record(format!("GET {target}: bad JSON listing: {err}"));
                    continue 'repeat;
                }
            };
            total += entries.len();
            let page_len = entries.len();
            marker = entries.into_iter().last().map(|e| e.name);
            if page_len < limit || total >= expected || marker.is_none() {
                break;
            }
        }
        if total != expected {
            ctx.errors.record(format!(
                "listing {container}: {total} entries, expected {expected}"
            ));
        }
        times.push(elapsed.as_secs_f64() * 1e3);
    }
    times
}

/// The number of keys in a `ListBucketResult` page and its
/// `NextContinuationToken`, if truncated.
fn s3_page(body: &[u8]) -> (usize, Option<String>) {
    let text = String::from_utf8_lossy(body);
    let keys = text.matches("<Key>").count();
    let next = text
        .split_once("<NextContinuationToken>")
        .and_then(|(_, rest)| rest.split_once("</NextContinuationToken>"))
        .map(|(token, _)| token.to_string());
    (keys, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_pages() {
        let body = b"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>6162</NextContinuationToken><Contents><Key>a</Key></Contents><Contents><Key>b</Key></Contents></ListBucketResult>";
        assert_eq!(s3_page(body), (2, Some("6162".to_string())));
        assert_eq!(
            s3_page(b"<ListBucketResult><KeyCount>0</KeyCount></ListBucketResult>"),
            (0, None)
        );
    }

    #[test]
    fn listing_names_sort_in_index_order() {
        assert!(listing_name(9) < listing_name(10));
        assert!(listing_name(99_999) < listing_name(100_000));
    }
}
