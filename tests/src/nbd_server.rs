//! A `blockd serve` process for NBD system tests (`Blockd`), the tools
//! they run, and a raw client's option haggling.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Size of each export.
pub const SIZE: u64 = 64 * 1024 * 1024;

/// A running `blockd serve` with a writable export `vol` and a read-only
/// export `ro`, each a sparse file in a temporary directory.
pub struct Blockd {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    child: Child,
}

impl Blockd {
    pub async fn start() -> Blockd {
        Blockd::start_with(|_| String::new()).await
    }

    /// Starts with more of the `[blockd]` table, made from the temporary
    /// directory (TLS settings, say).
    pub async fn start_with(extra: impl FnOnce(&Path) -> String) -> Blockd {
        let dir = tempfile::tempdir().expect("temp dir");
        let extra = extra(dir.path());
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port");
        let config = dir.path().join("blockd.toml");
        std::fs::write(
            &config,
            format!(
                "[blockd]\nnbd_bind = \"{addr}\"\n{extra}\
                 [[blockd.exports]]\nname = \"vol\"\npath = \"{}\"\nsize = {SIZE}\ndescription = \"a test volume\"\n\
                 [[blockd.exports]]\nname = \"ro\"\npath = \"{}\"\nsize = {SIZE}\nread_only = true\n",
                dir.path().join("vol.img").display(),
                dir.path().join("ro.img").display()
            ),
        )
        .expect("write config");
        let bin = crate::cairn_bin().with_file_name("blockd");
        let log = std::fs::File::create(dir.path().join("blockd.log")).expect("log");
        let child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn blockd");
        let started = Instant::now();
        while TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "blockd did not listen"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Blockd { dir, addr, child }
    }

    pub fn uri(&self, export: &str) -> String {
        format!("nbd://{}/{export}", self.addr)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Blockd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a tool; panics with its output unless it succeeds; answers stdout.
pub fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {cmd}: {e} (scripts/install-deps.sh installs it)"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `data` to `path`; answers the path as text.
pub fn write_file(path: &Path, data: &[u8]) -> String {
    std::fs::write(path, data).expect("write file");
    path.to_str().expect("utf-8 path").to_string()
}

/// A raw client: handshake up to option haggling.
pub async fn raw_connect(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut hello = [0u8; 18];
    s.read_exact(&mut hello).await.expect("server greeting");
    assert_eq!(&hello[..8], b"NBDMAGIC");
    assert_eq!(&hello[8..16], b"IHAVEOPT");
    assert_eq!(
        u16::from_be_bytes([hello[16], hello[17]]),
        3,
        "fixed newstyle + no zeroes"
    );
    s.write_all(&3u32.to_be_bytes())
        .await
        .expect("client flags");
    s
}

/// Sends option `opt` with `data`.
pub async fn send_option(s: &mut TcpStream, opt: u32, data: &[u8]) {
    let mut m = b"IHAVEOPT".to_vec();
    m.extend_from_slice(&opt.to_be_bytes());
    m.extend_from_slice(&(data.len() as u32).to_be_bytes());
    m.extend_from_slice(data);
    s.write_all(&m).await.expect("send option");
}

/// Reads one option reply: (option, reply type, data).
pub async fn option_reply(s: &mut TcpStream) -> (u32, u32, Vec<u8>) {
    let mut h = [0u8; 20];
    s.read_exact(&mut h).await.expect("option reply");
    assert_eq!(
        u64::from_be_bytes(h[..8].try_into().unwrap()),
        0x0003_e889_0455_65a9
    );
    let len = u32::from_be_bytes(h[16..20].try_into().unwrap()) as usize;
    let mut data = vec![0u8; len];
    s.read_exact(&mut data).await.expect("reply data");
    (
        u32::from_be_bytes(h[8..12].try_into().unwrap()),
        u32::from_be_bytes(h[12..16].try_into().unwrap()),
        data,
    )
}

/// `NBD_OPT_GO` for `export` with no info requests; answers the final reply type.
pub async fn go(s: &mut TcpStream, export: &str) -> u32 {
    let mut d = (export.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(export.as_bytes());
    d.extend_from_slice(&0u16.to_be_bytes());
    send_option(s, 7, &d).await;
    loop {
        let (_, kind, _) = option_reply(s).await;
        if kind != 3 {
            return kind;
        }
    }
}
