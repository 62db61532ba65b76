//! The `nbd` benchmark: drives any NBD export (newstyle, `NBD_OPT_GO`,
//! simple replies) with a minimal pipelined client and reports sequential
//! write/read MiB/s (1 MiB requests, 8 in flight), 4 KiB random-read
//! latency at queue depth 1, random-read IOPS at depth 32 on one
//! connection, and 4 KiB FUA writes per second at depth 1.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, Mutex};

use crate::stats::{percentile, sorted_millis};
use crate::Report;

/// What to measure.
#[derive(Debug, Clone)]
pub struct NbdConfig {
    pub addr: SocketAddr,
    pub export: String,
    /// Bytes of the export the sequential phases cover (at most its size).
    pub span: u64,
    /// Duration of each random-access phase.
    pub duration: Duration,
}

impl NbdConfig {
    /// Parses `nbd://host:port/export`.
    pub fn from_uri(uri: &str, span: u64, duration: Duration) -> Result<Self> {
        let rest = uri
            .strip_prefix("nbd://")
            .context("URI must start with nbd://")?;
        let (host, export) = rest.split_once('/').unwrap_or((rest, ""));
        let addr = if host.contains(':') {
            host.parse()
        } else {
            format!("{host}:10809").parse()
        }
        .with_context(|| format!("bad address {host}"))?;
        Ok(NbdConfig {
            addr,
            export: export.to_string(),
            span,
            duration,
        })
    }
}

type Pending = Arc<Mutex<HashMap<u64, (usize, oneshot::Sender<Result<Vec<u8>>>)>>>;

/// A pipelined NBD client: requests go out under a lock, a reader task
/// pairs replies with requests by cookie.
struct Client {
    writer: Mutex<OwnedWriteHalf>,
    pending: Pending,
    next: std::sync::atomic::AtomicU64,
    size: u64,
}

const READ: u16 = 0;
const WRITE: u16 = 1;
const DISC: u16 = 2;
const FLAG_FUA: u16 = 1;

impl Client {
    async fn connect(addr: SocketAddr, export: &str) -> Result<Arc<Client>> {
        let mut s = TcpStream::connect(addr).await.context("connect")?;
        s.set_nodelay(true)?;
        let mut hello = [0u8; 18];
        s.read_exact(&mut hello).await?;
        ensure!(
            &hello[..16] == b"NBDMAGICIHAVEOPT",
            "not a newstyle NBD server"
        );
        s.write_all(&3u32.to_be_bytes()).await?;
        let mut go = b"IHAVEOPT".to_vec();
        go.extend_from_slice(&7u32.to_be_bytes());
        go.extend_from_slice(&((4 + export.len() + 2) as u32).to_be_bytes());
        go.extend_from_slice(&(export.len() as u32).to_be_bytes());
        go.extend_from_slice(export.as_bytes());
        go.extend_from_slice(&0u16.to_be_bytes());
        s.write_all(&go).await?;
        let mut size = None;
        loop {
            let mut h = [0u8; 20];
            s.read_exact(&mut h).await?;
            let kind = u32::from_be_bytes(h[12..16].try_into()?);
            let len = u32::from_be_bytes(h[16..20].try_into()?) as usize;
            let mut data = vec![0u8; len];
            s.read_exact(&mut data).await?;
            match kind {
                1 => break,
                3 if data.len() >= 12 && data[..2] == [0, 0] => {
                    size = Some(u64::from_be_bytes(data[2..10].try_into()?));
                }
                3 => {}
                other => bail!("export {export:?} refused: reply {other:#x}"),
            }
        }
        let (read, writer) = s.into_split();
        let pending: Pending = Arc::default();
        tokio::spawn(read_replies(read, pending.clone()));
        Ok(Arc::new(Client {
            writer: Mutex::new(writer),
            pending,
            next: 1.into(),
            size: size.context("no export size")?,
        }))
    }

    async fn request(
        &self,
        kind: u16,
        flags: u16,
        offset: u64,
        len: u32,
        data: &[u8],
    ) -> Result<Vec<u8>> {
        let cookie = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let reply_len = if kind == READ { len as usize } else { 0 };
        self.pending.lock().await.insert(cookie, (reply_len, tx));
        let mut req = Vec::with_capacity(28 + data.len());
        req.extend_from_slice(&0x2560_9513u32.to_be_bytes());
        req.extend_from_slice(&flags.to_be_bytes());
        req.extend_from_slice(&kind.to_be_bytes());
        req.extend_from_slice(&cookie.to_be_bytes());
        req.extend_from_slice(&offset.to_be_bytes());
        req.extend_from_slice(&len.to_be_bytes());
        req.extend_from_slice(data);
        self.writer.lock().await.write_all(&req).await?;
        rx.await.context("connection closed")?
    }

    async fn close(&self) {
        let mut req = 0x2560_9513u32.to_be_bytes().to_vec();
        req.extend_from_slice(&0u16.to_be_bytes());
        req.extend_from_slice(&DISC.to_be_bytes());
        req.extend_from_slice(&[0u8; 20]);
        let _ = self.writer.lock().await.write_all(&req).await;
    }
}

async fn read_replies(mut r: OwnedReadHalf, pending: Pending) {
    loop {
        let mut h = [0u8; 16];
        if r.read_exact(&mut h).await.is_err() {
            return;
        }
        let err = u32::from_be_bytes(h[4..8].try_into().expect("4 bytes"));
        let cookie = u64::from_be_bytes(h[8..16].try_into().expect("8 bytes"));
        let Some((len, tx)) = pending.lock().await.remove(&cookie) else {
            return;
        };
        if err != 0 {
            let _ = tx.send(Err(anyhow::anyhow!("server error {err}")));
            continue;
        }
        let mut data = vec![0u8; len];
        if r.read_exact(&mut data).await.is_err() {
            return;
        }
        let _ = tx.send(Ok(data));
    }
}

const SEQ_BLOCK: u64 = 1024 * 1024;
const SEQ_DEPTH: usize = 8;
const SMALL: u32 = 4096;

async fn sequential(c: &Arc<Client>, span: u64, write: bool) -> Result<f64> {
    let block = vec![0x5au8; SEQ_BLOCK as usize];
    let started = Instant::now();
    let offsets: Vec<u64> = (0..span / SEQ_BLOCK).map(|i| i * SEQ_BLOCK).collect();
    for batch in offsets.chunks(SEQ_DEPTH) {
        let ops = batch.iter().map(|&off| {
            let (c, block) = (c.clone(), &block);
            async move {
                if write {
                    c.request(WRITE, 0, off, SEQ_BLOCK as u32, block).await
                } else {
                    c.request(READ, 0, off, SEQ_BLOCK as u32, &[]).await
                }
            }
        });
        for r in futures::future::join_all(ops).await {
            r?;
        }
    }
    Ok(span as f64 / (1024.0 * 1024.0) / started.elapsed().as_secs_f64())
}

fn random_offset(size: u64) -> u64 {
    rand::thread_rng().gen_range(0..size / u64::from(SMALL)) * u64::from(SMALL)
}

/// Random 4 KiB requests at `depth` for `duration`; answers ops/s and latencies.
async fn random(
    c: &Arc<Client>,
    depth: usize,
    duration: Duration,
    fua_write: bool,
) -> Result<(f64, Vec<f64>)> {
    let started = Instant::now();
    let span = c.size;
    let workers = (0..depth).map(|_| {
        let c = c.clone();
        async move {
            let mut lat = Vec::new();
            let data = vec![0xa5u8; SMALL as usize];
            while started.elapsed() < duration {
                let t = Instant::now();
                if fua_write {
                    c.request(WRITE, FLAG_FUA, random_offset(span), SMALL, &data)
                        .await?;
                } else {
                    c.request(READ, 0, random_offset(span), SMALL, &[]).await?;
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }
    });
    let mut all = Vec::new();
    for r in futures::future::join_all(workers).await {
        all.extend(r?);
    }
    let secs = started.elapsed().as_secs_f64();
    Ok((all.len() as f64 / secs, sorted_millis(&all)))
}

/// Runs every phase and pushes the figures.
pub async fn run_nbd(cfg: &NbdConfig, report: &mut Report) -> Result<()> {
    let c = Client::connect(cfg.addr, &cfg.export).await?;
    let span = cfg.span.min(c.size) / SEQ_BLOCK * SEQ_BLOCK;
    ensure!(span > 0, "export smaller than 1 MiB");
    eprintln!(
        "# NBD {} ({} bytes), sequential over {span} bytes",
        cfg.export, c.size
    );
    report.push(
        "nbd.seq_write_mib_per_s",
        sequential(&c, span, true).await?,
        1,
    );
    report.push(
        "nbd.seq_read_mib_per_s",
        sequential(&c, span, false).await?,
        1,
    );
    let (ops, lat) = random(&c, 1, cfg.duration, false).await?;
    report.push("nbd.randread_4k_qd1_ops_per_s", ops, 1);
    let us = |p| percentile(&lat, p).unwrap_or(0.0) * 1e3;
    report.push("nbd.randread_4k_qd1_p50_us", us(50.0), 1);
    report.push("nbd.randread_4k_qd1_p99_us", us(99.0), 1);
    let (ops, _) = random(&c, 32, cfg.duration, false).await?;
    report.push("nbd.randread_4k_qd32_ops_per_s", ops, 1);
    let (ops, _) = random(&c, 1, cfg.duration, true).await?;
    report.push("nbd.write_4k_fua_qd1_ops_per_s", ops, 1);
    c.close().await;
    Ok(())
}
