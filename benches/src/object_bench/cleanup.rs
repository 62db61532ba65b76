//! Cleanup: best-effort concurrent deletion of every object the run
//! (maybe) created, then of its containers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode};

use super::{log, Created, Ctx};
use crate::report::ErrorTally;
use crate::swift_client::{BodyMode, ReqBody};

/// Deletes what was created, concurrently, then the containers. Failures
/// (other than 404) are counted and returned, never fatal.
pub(super) async fn cleanup(ctx: &Arc<Ctx>, created: Created) -> u64 {
    log(format!(
        "cleanup: deleting {} objects and {} containers",
        created.objects.len(),
        created.containers.len()
    ));
    let failures = Arc::new(ErrorTally::default());
    let objects = Arc::new(created.objects);
    let next = Arc::new(AtomicUsize::new(0));
    let workers = ctx.cfg.concurrency.min(objects.len());
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (ctx, objects, next, failures) =
                (ctx.clone(), objects.clone(), next.clone(), failures.clone());
            tokio::spawn(async move {
                let mut conn = ctx.conn();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((container, name)) = objects.get(index) else {
                        break;
                    };
                    let target = conn.endpoint().object_target(container, name);
                    match conn
                        .request(
                            Method::DELETE,
                            &target,
                            &[],
                            ReqBody::Empty,
                            BodyMode::Drain,
                        )
                        .await
                    {
                        Ok(reply)
                            if reply.status.is_success()
                                || reply.status == StatusCode::NOT_FOUND => {}
                        Ok(reply) => {
                            failures.record(format!("DELETE {target}: status {}", reply.status))
                        }
                        Err(err) => failures.record(format!("{err:#}")),
                    }
                }
            })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        if let Err(err) = task {
            failures.record(format!("cleanup worker failed: {err}"));
        }
    }

    let mut conn = ctx.conn();
    for container in created.containers.iter().rev() {
        let target = conn.endpoint().container_target(container, None);
        // A just-emptied container may still look non-empty for a moment.
        for attempt in 0..3 {
            match conn
                .request(
                    Method::DELETE,
                    &target,
                    &[],
                    ReqBody::Empty,
                    BodyMode::Drain,
                )
                .await
            {
                Ok(reply) if reply.status.is_success() || reply.status == StatusCode::NOT_FOUND => {
                    break
                }
                Ok(reply) if reply.status == StatusCode::CONFLICT && attempt < 2 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Ok(reply) => {
                    failures.record(format!("DELETE {target}: status {}", reply.status));
                    break;
                }
                Err(err) => {
                    failures.record(format!("{err:#}"));
                    break;
                }
            }
        }
    }
    for sample in failures.samples().iter().take(5) {
        log(format!("cleanup: {sample}"));
    }
    failures.count()
}
