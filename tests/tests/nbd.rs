//! System tests of blockd's NBD server: the real `blockd` binary on
//! loopback, driven by libnbd's tools (`nbdinfo`, `nbdcopy`), QEMU's
//! (`qemu-img`, `qemu-io`) and a raw client for what tools do not send
//! (refused options, bad requests, pipelining).

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use cairn_tests::nbd_server::*;
use cairn_tests::random_bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn nbdinfo_sees_the_negotiated_features_and_no_export_names() {
    let b = Blockd::start().await;
    let info: serde_json::Value =
        serde_json::from_str(&tool("nbdinfo", &["--json", &b.uri("vol")])).expect("json");
    assert_eq!(info["protocol"], "newstyle-fixed");
    assert_eq!(info["TLS"], false);
    let export = &info["exports"][0];
    assert_eq!(export["export-size"], SIZE);
    assert_eq!(export["description"], "a test volume");
    for flag in [
        "can_flush",
        "can_fua",
        "can_trim",
        "can_zero",
        "can_fast_zero",
        "can_multi_conn",
        "can_df",
        "can_cache",
    ] {
        assert_eq!(export[flag], true, "{flag}");
    }
    assert_eq!(export["is_read_only"], false);
    assert_eq!(export["block_size_preferred"], 4096);
    assert_eq!(export["block_size_maximum"], 32 * 1024 * 1024);
    assert!(export["contexts"]
        .as_array()
        .expect("contexts")
        .iter()
        .any(|c| c == "base:allocation"));
    let ro: serde_json::Value =
        serde_json::from_str(&tool("nbdinfo", &["--json", &b.uri("ro")])).expect("json");
    assert_eq!(ro["exports"][0]["is_read_only"], true);
    // Listing reveals no names: an export name is a capability.
    let listed = tool(
        "nbdinfo",
        &["--list", "--json", &format!("nbd://{}", b.addr)],
    );
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(
        listed["exports"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
    let unknown = Command::new("nbdinfo")
        .arg(b.uri("no-such-volume"))
        .output()
        .expect("nbdinfo");
    assert!(!unknown.status.success(), "unknown export must be refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn data_round_trips_through_nbdcopy_and_qemu() {
    let b = Blockd::start().await;
    let data = random_bytes(12 * 1024 * 1024 + 4096);
    let src = write_file(&b.path("src.bin"), &data);
    tool("nbdcopy", &[&src, &b.uri("vol")]);
    let out = b.path("out.bin");
    tool("nbdcopy", &[&b.uri("vol"), out.to_str().expect("utf-8")]);
    let back = std::fs::read(&out).expect("read copy");
    assert_eq!(back.len() as u64, SIZE);
    assert!(
        back[..data.len()] == data[..],
        "bytes differ after a round trip"
    );
    assert!(
        back[data.len()..].iter().all(|b| *b == 0),
        "unwritten tail reads as zeros"
    );
    // QEMU's block layer agrees, through its own NBD client.
    let compared = tool(
        "qemu-img",
        &["compare", "-f", "raw", "-F", "raw", &src, &b.uri("vol")],
    );
    assert!(compared.contains("Images are identical"), "{compared}");
    // Written ranges are data; the rest is a hole that reads as zeros.
    let map: serde_json::Value =
        serde_json::from_str(&tool("nbdinfo", &["--map", "--json", &b.uri("vol")])).expect("json");
    let map = map.as_array().expect("extents");
    assert_eq!(map[0]["offset"], 0);
    assert_eq!(map[0]["type"], 0, "{map:?}");
    let last = map.last().expect("an extent");
    assert_eq!(last["type"], 3, "trailing hole: {map:?}");
    // Discard a written range: it becomes a hole of zeros.
    tool(
        "qemu-io",
        &["-f", "raw", "-c", "discard 0 1M", &b.uri("vol")],
    );
    tool(
        "qemu-io",
        &["-f", "raw", "-c", "read -P 0 0 1M", &b.uri("vol")],
    );
    let map: serde_json::Value =
        serde_json::from_str(&tool("nbdinfo", &["--map", "--json", &b.uri("vol")])).expect("json");
    assert_eq!(map[0]["type"], 3, "discarded range is a hole: {map:?}");
    // Zeroing without a hole, and a pattern written with FUA, read back.
    tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "write -z 2M 64k",
            "-c",
            "write -P 0xab -f 3M 64k",
            &b.uri("vol"),
        ],
    );
    tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            "read -P 0 2M 64k",
            "-c",
            "read -P 0xab 3M 64k",
            &b.uri("vol"),
        ],
    );
}

fn request(kind: u16, cookie: u64, offset: u64, len: u32) -> Vec<u8> {
    let mut r = 0x2560_9513u32.to_be_bytes().to_vec();
    r.extend_from_slice(&0u16.to_be_bytes());
    r.extend_from_slice(&kind.to_be_bytes());
    r.extend_from_slice(&cookie.to_be_bytes());
    r.extend_from_slice(&offset.to_be_bytes());
    r.extend_from_slice(&len.to_be_bytes());
    r
}

/// Reads a simple reply: (error, cookie), then `data_len` bytes if no error.
async fn simple_reply(s: &mut TcpStream, data_len: usize) -> (u32, u64, Vec<u8>) {
    let mut h = [0u8; 16];
    s.read_exact(&mut h).await.expect("simple reply");
    assert_eq!(u32::from_be_bytes(h[..4].try_into().unwrap()), 0x6744_6698);
    let err = u32::from_be_bytes(h[4..8].try_into().unwrap());
    let cookie = u64::from_be_bytes(h[8..16].try_into().unwrap());
    let mut data = vec![0u8; if err == 0 { data_len } else { 0 }];
    s.read_exact(&mut data).await.expect("read data");
    (err, cookie, data)
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_options_and_bad_requests_get_protocol_errors() {
    let b = Blockd::start().await;
    let mut s = raw_connect(b.addr).await;
    send_option(&mut s, 5, &[]).await; // STARTTLS
    assert_eq!(
        option_reply(&mut s).await.1,
        0x8000_0002,
        "STARTTLS: ERR_POLICY"
    );
    send_option(&mut s, 99, b"whatever").await;
    assert_eq!(
        option_reply(&mut s).await.1,
        0x8000_0001,
        "unknown option: ERR_UNSUP"
    );
    send_option(&mut s, 3, &[]).await; // LIST
    assert_eq!(
        option_reply(&mut s).await.1,
        1,
        "LIST: only an ACK, no names"
    );
    assert_eq!(
        go(&mut s, "nope").await,
        0x8000_0006,
        "unknown export: ERR_UNKNOWN"
    );
    assert_eq!(go(&mut s, "vol").await, 1, "GO vol: ACK");

    // Write, then a read beyond the end (EINVAL), then the connection still works.
    let data = random_bytes(4096);
    let mut w = request(1, 7, 8192, 4096);
    w.extend_from_slice(&data);
    s.write_all(&w).await.unwrap();
    assert_eq!(simple_reply(&mut s, 0).await, (0, 7, vec![]));
    s.write_all(&request(0, 8, SIZE - 10, 4096)).await.unwrap();
    assert_eq!(
        simple_reply(&mut s, 4096).await.0,
        22,
        "EINVAL beyond the end"
    );
    // Pipelined: sixteen reads in flight, each answered with its cookie.
    let mut batch = Vec::new();
    for c in 0..16u64 {
        batch.extend_from_slice(&request(0, 100 + c, 8192, 4096));
    }
    s.write_all(&batch).await.unwrap();
    let mut cookies = Vec::new();
    for _ in 0..16 {
        let (err, cookie, got) = simple_reply(&mut s, 4096).await;
        assert_eq!(err, 0);
        assert!(got == data, "read back what was written");
        cookies.push(cookie);
    }
    cookies.sort();
    assert_eq!(cookies, (100..116).collect::<Vec<_>>());

    // A read-only export refuses writes with EPERM.
    let mut r = raw_connect(b.addr).await;
    assert_eq!(go(&mut r, "ro").await, 1);
    let mut w = request(1, 1, 0, 512);
    w.extend_from_slice(&[1u8; 512]);
    r.write_all(&w).await.unwrap();
    assert_eq!(
        simple_reply(&mut r, 0).await.0,
        1,
        "EPERM on a read-only export"
    );

    // Garbage on one connection closes that connection only.
    let mut bad = raw_connect(b.addr).await;
    assert_eq!(go(&mut bad, "vol").await, 1);
    bad.write_all(&[0xde; 28]).await.unwrap();
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), bad.read(&mut byte))
        .await
        .expect("server closes a connection that sent garbage");
    assert!(matches!(closed, Ok(0) | Err(_)));
    s.write_all(&request(0, 200, 8192, 4096)).await.unwrap();
    let (err, cookie, got) = simple_reply(&mut s, 4096).await;
    assert_eq!((err, cookie), (0, 200));
    assert!(got == data, "the other connection is unharmed");
    // A clean disconnect.
    s.write_all(&request(2, 300, 0, 0)).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte))
        .await
        .expect("server closes after DISC");
    assert!(matches!(n, Ok(0) | Err(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nbd_benchmark_reports_every_figure() {
    let b = Blockd::start().await;
    let bench = cairn_tests::cairn_bin().with_file_name("cairn-bench");
    let out = tool(
        bench.to_str().expect("utf-8 path"),
        &[
            "nbd",
            "--uri",
            &b.uri("vol"),
            "--span",
            "16MiB",
            "--seconds",
            "1",
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(out.lines().last().expect("a JSON line")).expect("json");
    for figure in [
        "nbd.seq_write_mib_per_s",
        "nbd.seq_read_mib_per_s",
        "nbd.randread_4k_qd1_ops_per_s",
        "nbd.randread_4k_qd32_ops_per_s",
        "nbd.write_4k_fua_qd1_ops_per_s",
    ] {
        assert!(
            json[figure].as_f64().is_some_and(|v| v > 0.0),
            "{figure}: {json}"
        );
    }
}

/// An extended request header (`NBD_EXTENDED_REQUEST_MAGIC`).
fn ext_request(flags: u16, kind: u16, cookie: u64, offset: u64, len: u64) -> Vec<u8> {
    let mut r = 0x21e4_1c71u32.to_be_bytes().to_vec();
    r.extend_from_slice(&flags.to_be_bytes());
    r.extend_from_slice(&kind.to_be_bytes());
    r.extend_from_slice(&cookie.to_be_bytes());
    r.extend_from_slice(&offset.to_be_bytes());
    r.extend_from_slice(&len.to_be_bytes());
    r
}

/// One extended reply chunk.
#[derive(Debug)]
struct ExtChunk {
    flags: u16,
    kind: u16,
    cookie: u64,
    offset: u64,
    payload: Vec<u8>,
}

impl ExtChunk {
    /// The errno of an error chunk.
    fn error(&self) -> u32 {
        assert_eq!(self.kind, 0x8001, "an error chunk: {self:?}");
        u32::from_be_bytes(self.payload[..4].try_into().unwrap())
    }
}

async fn ext_reply(s: &mut TcpStream) -> ExtChunk {
    let mut h = [0u8; 32];
    s.read_exact(&mut h).await.expect("extended reply");
    assert_eq!(u32::from_be_bytes(h[..4].try_into().unwrap()), 0x6e8a_278c);
    let len = u64::from_be_bytes(h[24..32].try_into().unwrap()) as usize;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await.expect("chunk payload");
    ExtChunk {
        flags: u16::from_be_bytes([h[4], h[5]]),
        kind: u16::from_be_bytes([h[6], h[7]]),
        cookie: u64::from_be_bytes(h[8..16].try_into().unwrap()),
        offset: u64::from_be_bytes(h[16..24].try_into().unwrap()),
        payload,
    }
}

/// Connects with extended headers and `base:allocation`, in transmission.
async fn ext_connect(addr: SocketAddr, export: &str) -> TcpStream {
    let mut s = raw_connect(addr).await;
    send_option(&mut s, 11, &[]).await;
    assert_eq!(option_reply(&mut s).await.1, 1, "EXTENDED_HEADERS: ACK");
    let mut q = (export.len() as u32).to_be_bytes().to_vec();
    q.extend_from_slice(export.as_bytes());
    q.extend_from_slice(&1u32.to_be_bytes());
    q.extend_from_slice(&15u32.to_be_bytes());
    q.extend_from_slice(b"base:allocation");
    send_option(&mut s, 10, &q).await;
    assert_eq!(option_reply(&mut s).await.1, 4, "META_CONTEXT");
    assert_eq!(option_reply(&mut s).await.1, 1, "ACK");
    assert_eq!(go(&mut s, export).await, 1, "GO: ACK");
    s
}

async fn assert_closed(s: &mut TcpStream, why: &str) {
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte))
        .await
        .unwrap_or_else(|_| panic!("server closes the connection: {why}"));
    assert!(matches!(n, Ok(0) | Err(_)), "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn extended_headers_negotiate_and_carry_64_bit_lengths() {
    let b = Blockd::start().await;
    // Negotiation: no data allowed, once only, and no downgrade after.
    let mut s = raw_connect(b.addr).await;
    send_option(&mut s, 11, &[1]).await;
    assert_eq!(
        option_reply(&mut s).await.1,
        0x8000_0003,
        "data: ERR_INVALID"
    );
    send_option(&mut s, 11, &[]).await;
    assert_eq!(option_reply(&mut s).await.1, 1, "ACK");
    send_option(&mut s, 11, &[]).await;
    assert_eq!(
        option_reply(&mut s).await.1,
        0x8000_0003,
        "twice: ERR_INVALID"
    );
    send_option(&mut s, 8, &[]).await;
    assert_eq!(
        option_reply(&mut s).await.1,
        0x8000_000a,
        "STRUCTURED_REPLY after it: ERR_EXT_HEADER_REQD"
    );
    drop(s);

    let mut s = ext_connect(b.addr, "vol").await;
    let data = random_bytes(4096);
    // A write carries its payload length (and NBD_CMD_FLAG_PAYLOAD_LEN).
    let mut w = ext_request(1 << 5, 1, 1, 1 << 20, 4096);
    w.extend_from_slice(&data);
    s.write_all(&w).await.unwrap();
    let c = ext_reply(&mut s).await;
    assert_eq!((c.flags, c.kind, c.cookie, c.offset), (1, 0, 1, 1 << 20));
    assert!(c.payload.is_empty());
    // A read answers one data chunk, the reply header echoing the offset.
    s.write_all(&ext_request(0, 0, 2, 1 << 20, 4096))
        .await
        .unwrap();
    let c = ext_reply(&mut s).await;
    assert_eq!((c.flags, c.kind, c.cookie, c.offset), (1, 1, 2, 1 << 20));
    assert_eq!(
        u64::from_be_bytes(c.payload[..8].try_into().unwrap()),
        1 << 20
    );
    assert!(c.payload[8..] == data[..], "read back what was written");
    // Block status over the whole export (an effect length, no payload):
    // 64-bit descriptors with a count.
    s.write_all(&ext_request(0, 7, 3, 0, SIZE)).await.unwrap();
    let c = ext_reply(&mut s).await;
    assert_eq!((c.flags, c.kind, c.cookie), (1, 6, 3), "BLOCK_STATUS_EXT");
    let count = u32::from_be_bytes(c.payload[4..8].try_into().unwrap()) as usize;
    assert_eq!(c.payload.len(), 8 + 16 * count);
    let mut total = 0;
    let mut data_at = None;
    for d in c.payload[8..].chunks(16) {
        let len = u64::from_be_bytes(d[..8].try_into().unwrap());
        assert_eq!(&d[8..12], &[0; 4], "padding");
        let state = u32::from_be_bytes(d[12..16].try_into().unwrap());
        if state & 1 == 0 && data_at.is_none() {
            data_at = Some(total);
        }
        total += len;
    }
    assert_eq!(total, SIZE);
    assert!(data_at.is_some_and(|at| at <= 1 << 20), "the write is data");
    // Trimming the whole export at once (beyond any payload size) works.
    s.write_all(&ext_request(0, 4, 4, 0, SIZE)).await.unwrap();
    assert_eq!(ext_reply(&mut s).await.kind, 0, "trim done");

    // Oversized or malformed requests fail alone; the connection stays.
    for (kind, cookie, offset, len, errno, why) in [
        (0, 5, 0, 33 << 20, 75, "read over 32 MiB: EOVERFLOW"),
        (0, 6, 0, 1 << 40, 22, "beyond the end: EINVAL"),
        (
            4,
            7,
            4096,
            u64::MAX,
            22,
            "offset + length overflows: EINVAL",
        ),
    ] {
        s.write_all(&ext_request(0, kind, cookie, offset, len))
            .await
            .unwrap();
        let c = ext_reply(&mut s).await;
        assert_eq!((c.cookie, c.error()), (cookie, errno), "{why}");
    }
    // A write without the payload flag still carries its payload (as
    // QEMU's client sends them).
    let mut w = ext_request(0, 1, 8, 8192, 512);
    w.extend_from_slice(&[5u8; 512]);
    s.write_all(&w).await.unwrap();
    assert_eq!(ext_reply(&mut s).await.kind, 0, "written");
    let mut r = ext_request(1 << 5, 0, 9, 0, 16);
    r.extend_from_slice(&[0xaa; 16]);
    s.write_all(&r).await.unwrap();
    assert_eq!(
        ext_reply(&mut s).await.error(),
        22,
        "read with a payload: EINVAL"
    );
    s.write_all(&ext_request(0, 0, 10, 1 << 20, 4096))
        .await
        .unwrap();
    let c = ext_reply(&mut s).await;
    assert_eq!((c.cookie, c.kind), (10, 1), "the payload was skipped");
    assert!(c.payload[8..].iter().all(|b| *b == 0), "trimmed");

    // A payload over the advertised maximum ends the connection...
    s.write_all(&ext_request(1 << 5, 1, 11, 0, 33 << 20))
        .await
        .unwrap();
    assert_closed(&mut s, "oversized payload").await;
    // ...and so does a compact request once extended headers are agreed.
    let mut c = ext_connect(b.addr, "vol").await;
    let mut compact = request(0, 1, 0, 4096);
    compact.extend_from_slice(&request(0, 2, 0, 4096));
    c.write_all(&compact).await.unwrap();
    assert_closed(&mut c, "compact header after extended headers").await;
    // Others are unharmed.
    let mut s = ext_connect(b.addr, "vol").await;
    s.write_all(&ext_request(0, 3, 12, 0, 0)).await.unwrap();
    let c = ext_reply(&mut s).await;
    assert_eq!((c.cookie, c.kind, c.flags), (12, 0, 1), "flush done");
    s.write_all(&ext_request(0, 2, 13, 0, 0)).await.unwrap();
    assert_closed(&mut s, "DISC").await;
}
