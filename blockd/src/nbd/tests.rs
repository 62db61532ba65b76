//! The server in-process: an export removed while a client keeps requests
//! coming still ends that connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::proto::*;
use super::{serve, Export, Exports};
use crate::device::FileDevice;

/// Handshake to transmission with `GO` for `name` (simple replies).
async fn go(addr: std::net::SocketAddr, name: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello).await.unwrap();
    s.write_all(&3u32.to_be_bytes()).await.unwrap();
    let mut opt = IHAVEOPT.to_be_bytes().to_vec();
    opt.extend_from_slice(&OPT_GO.to_be_bytes());
    opt.extend_from_slice(&(6 + name.len() as u32).to_be_bytes());
    opt.extend_from_slice(&(name.len() as u32).to_be_bytes());
    opt.extend_from_slice(name.as_bytes());
    opt.extend_from_slice(&0u16.to_be_bytes());
    s.write_all(&opt).await.unwrap();
    loop {
        let mut h = [0u8; 20];
        s.read_exact(&mut h).await.unwrap();
        let kind = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
        let mut data = vec![0u8; len as usize];
        s.read_exact(&mut data).await.unwrap();
        if kind == REP_ACK {
            return s;
        }
        assert_eq!(kind, REP_INFO);
    }
}

/// A server of `exports` on an ephemeral loopback port; answers its
/// address, what stops it, and its task.
async fn start(
    exports: Arc<Exports>,
    options: super::Options,
) -> (
    std::net::SocketAddr,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, exports, options, shutdown.clone()));
    (addr, shutdown, server)
}

/// Exports holding `v`, a file device of `size` bytes in `dir`.
fn one_export(dir: &std::path::Path, size: u64) -> Arc<Exports> {
    let device = FileDevice::open(&dir.join("v"), size).unwrap();
    let exports = Arc::new(Exports::default());
    exports.insert(
        "v".into(),
        Export::new(Arc::new(device), false, String::new()),
    );
    exports
}

/// Options with these limits, without busy polling or TLS.
fn limited(
    handshake: Duration,
    connections: usize,
    handshakes_per_address: usize,
    handshakes: usize,
) -> super::Options {
    let limits = super::Limits {
        handshake,
        connections,
        handshakes_per_address,
        handshakes,
        busy_poll: Duration::ZERO,
        payload_bytes: 512 << 20,
        threads: 0,
        payload_time: Duration::from_secs(30),
    };
    super::Options {
        limits,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_export_ends_a_busy_connection() {
    let dir = tempfile::tempdir().unwrap();
    let exports = one_export(dir.path(), 1 << 20);
    let (addr, shutdown, server) = start(exports.clone(), Default::default()).await;
    let (mut r, mut w) = go(addr, "v").await.into_split();
    // Reads pipelined without pause, until the server stops taking them.
    let sender = tokio::spawn(async move {
        let mut batch = Vec::new();
        for cookie in 0..64u64 {
            batch.extend_from_slice(&REQUEST_MAGIC.to_be_bytes());
            batch.extend_from_slice(&0u16.to_be_bytes());
            batch.extend_from_slice(&CMD_READ.to_be_bytes());
            batch.extend_from_slice(&cookie.to_be_bytes());
            batch.extend_from_slice(&0u64.to_be_bytes());
            batch.extend_from_slice(&512u32.to_be_bytes());
        }
        while w.write_all(&batch).await.is_ok() {}
    });
    let mut replies = 0u64;
    let mut reply = [0u8; 16 + 512];
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if r.read_exact(&mut reply).await.is_err() {
                return;
            }
            replies += 1;
            if replies == 1000 {
                exports.remove("v");
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection ends after removal");
    assert!(replies >= 1000, "requests were served first: {replies}");
    sender.abort();
    shutdown.cancel();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_handshakes_are_cut_and_connections_are_bounded() {
    let options = limited(Duration::from_millis(800), 2, 64, 64);
    let (addr, shutdown, server) = start(Arc::default(), options).await;
    let greeting = |mut s: TcpStream| async move {
        let mut hello = [0u8; 18];
        s.read_exact(&mut hello).await.map(|_| s)
    };
    // Two clients take the two places and then say nothing.
    let first = greeting(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    let _second = greeting(TcpStream::connect(addr).await.unwrap())
        .await
        .unwrap();
    // A third waits in the backlog: no greeting yet.
    let third = tokio::spawn(greeting(TcpStream::connect(addr).await.unwrap()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "a third connection is not served yet");
    // The silent ones are cut off at the limit, which lets the third in.
    let mut first = first;
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(5), first.read_to_end(&mut rest)).await;
    assert!(matches!(cut, Ok(Ok(0))), "a silent client is disconnected");
    let third = tokio::time::timeout(Duration::from_secs(5), third).await;
    assert!(
        matches!(third, Ok(Ok(Ok(_)))),
        "the waiting client is greeted"
    );
    shutdown.cancel();
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_every_handshake() {
    let options = limited(Duration::from_secs(5), 10, 1, 10);
    let (addr, shutdown, server) = start(Arc::default(), options).await;
    let mut hello = [0u8; 18];
    let mut first = TcpStream::connect(addr).await.unwrap();
    first.read_exact(&mut hello).await.unwrap();
    // A second silent handshake from the same address is closed at once.
    let mut second = TcpStream::connect(addr).await.unwrap();
    let refused = tokio::time::timeout(Duration::from_secs(2), second.read_exact(&mut hello)).await;
    assert!(matches!(refused, Ok(Err(_))), "closed without a greeting");
    // Once the first one leaves, the address may start another.
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.read_exact(&mut hello).await.unwrap();
    shutdown.cancel();
    drop(third);
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_handshakes_make_room_for_new_clients() {
    let dir = tempfile::tempdir().unwrap();
    let options = limited(Duration::from_secs(30), 10, 64, 2);
    let (addr, shutdown, server) = start(one_export(dir.path(), 1 << 20), options).await;
    let mut hello = [0u8; 18];
    let mut silent = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.read_exact(&mut hello).await.unwrap();
        silent.push(s);
    }
    // A third client pushes out the oldest silent one, long before the
    // handshake's time limit, and negotiates.
    let mut client = go(addr, "v").await;
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(5), silent[0].read_to_end(&mut rest)).await;
    assert!(matches!(cut, Ok(Ok(0))), "the oldest silent client is cut");
    client
        .write_all(&request(CMD_READ, 1, 0, 512))
        .await
        .unwrap();
    let mut reply = [0u8; 16 + 512];
    client.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply[4..8], &[0u8; 4], "the read succeeds");
    shutdown.cancel();
    drop((client, silent));
    server.await.unwrap();
}

/// Options whose payload room holds one largest write, which a client
/// may take `payload_time` to send.
fn room_for_one_payload(payload_time: Duration) -> super::Options {
    let mut options = limited(Duration::from_secs(30), 10, 64, 64);
    options.limits.payload_bytes = MAX_PAYLOAD as usize;
    options.limits.payload_time = payload_time;
    options
}

/// A client that announces the largest write and sends only 4 KiB of it.
async fn stalled_writer(addr: std::net::SocketAddr) -> TcpStream {
    let mut s = go(addr, "v").await;
    s.write_all(&request(CMD_WRITE, 1, 0, MAX_PAYLOAD))
        .await
        .unwrap();
    s.write_all(&[7u8; 4096]).await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_payloads_held_at_once_are_bounded_across_connections() {
    let dir = tempfile::tempdir().unwrap();
    let options = room_for_one_payload(Duration::from_secs(30));
    let (addr, shutdown, server) = start(one_export(dir.path(), 64 << 20), options).await;
    // One client's unfinished payload holds all the room there is.
    let big = stalled_writer(addr).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Another's small write waits for room...
    let mut small = go(addr, "v").await;
    small
        .write_all(&request(CMD_WRITE, 2, 40 << 20, 4096))
        .await
        .unwrap();
    small.write_all(&[1u8; 4096]).await.unwrap();
    let mut reply = [0u8; 16];
    let early =
        tokio::time::timeout(Duration::from_millis(500), small.read_exact(&mut reply)).await;
    assert!(early.is_err(), "served without room");
    // ...which the first client gives back by going away.
    drop(big);
    tokio::time::timeout(Duration::from_secs(5), small.read_exact(&mut reply))
        .await
        .expect("served once there is room")
        .unwrap();
    assert_eq!(&reply[4..8], &[0u8; 4], "the write succeeds");
    shutdown.cancel();
    drop(small);
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_never_ends_is_cut_off_and_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = room_for_one_payload(Duration::from_secs(1));
    let (addr, shutdown, server) = start(one_export(dir.path(), 64 << 20), options).await;
    // A client stalls halfway through the largest payload: past its time
    // it is disconnected, and another's write gets the room back.
    let mut stalled = stalled_writer(addr).await;
    let mut small = go(addr, "v").await;
    small
        .write_all(&request(CMD_WRITE, 2, 0, 4096))
        .await
        .unwrap();
    small.write_all(&[1u8; 4096]).await.unwrap();
    let mut reply = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), small.read_exact(&mut reply))
        .await
        .expect("served once the stalled payload is cut off")
        .unwrap();
    assert_eq!(&reply[4..8], &[0u8; 4]);
    let mut rest = Vec::new();
    let cut = tokio::time::timeout(Duration::from_secs(5), stalled.read_to_end(&mut rest)).await;
    assert!(
        matches!(cut, Ok(Ok(0))),
        "the stalled client is disconnected"
    );
    // A server stopping does not wait for a stalled payload either.
    let _again = stalled_writer(addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_millis(900), server)
        .await
        .expect("stops before the payload's time is up")
        .unwrap();
}

#[tokio::test]
async fn accepted_sockets_use_the_configured_congestion_control() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (accepted, _) = listener.accept().await.unwrap();
    for name in [super::DEFAULT_TCP_CONGESTION, "reno"] {
        let options = super::Options {
            tcp_congestion: Some(name.into()),
            ..Default::default()
        };
        super::tune(&accepted, &options);
        let used = socket2::SockRef::from(&accepted).tcp_congestion().unwrap();
        assert_eq!(String::from_utf8_lossy(&used).trim_end_matches('\0'), name);
    }
    assert!(accepted.nodelay().unwrap());
}

/// A request header (compact form) for `kind` over `offset..offset+len`.
fn request(kind: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
    let mut r = REQUEST_MAGIC.to_be_bytes().to_vec();
    r.extend_from_slice(&0u16.to_be_bytes());
    r.extend_from_slice(&kind.to_be_bytes());
    r.extend_from_slice(&cookie.to_be_bytes());
    r.extend_from_slice(&offset.to_be_bytes());
    r.extend_from_slice(&len.to_be_bytes());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_holds_up_neither_others_nor_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let exports = one_export(dir.path(), 64 << 20);
    let (addr, shutdown, server) = start(exports.clone(), Default::default()).await;
    // Reads too large to serve inline, whose replies cannot all fit in
    // the socket: the client never reads them.
    let mut stuck = go(addr, "v").await;
    for cookie in 0..8u64 {
        let req = request(CMD_READ, cookie, cookie << 23, 8 << 20);
        stuck.write_all(&req).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Another client is served meanwhile.
    let mut other = go(addr, "v").await;
    other.write_all(&request(CMD_FLUSH, 7, 0, 0)).await.unwrap();
    let mut reply = [0u8; 16];
    let answered = tokio::time::timeout(Duration::from_secs(5), other.read_exact(&mut reply)).await;
    assert!(
        matches!(answered, Ok(Ok(_))),
        "the other client's flush is answered"
    );
    assert_eq!(u64::from_be_bytes(reply[8..16].try_into().unwrap()), 7);
    // Stopping does not wait for the stuck client to read.
    shutdown.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(20), server).await;
    assert!(
        stopped.is_ok(),
        "the server stops although a client reads nothing"
    );
    drop(stuck);
}
