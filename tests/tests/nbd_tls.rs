//! NBD over TLS: the real `blockd` binary with a certificate made by the
//! openssl CLI, driven by libnbd's tools (`nbds://` URIs), QEMU's
//! (`tls-creds-x509`) and a raw client for the plaintext refusals.

use std::path::Path;
use std::process::Command;

use cairn_tests::nbd_server::*;
use cairn_tests::random_bytes;

const REP_ERR_INVALID: u32 = 0x8000_0003;
const REP_ERR_TLS_REQD: u32 = 0x8000_0005;
const OPT_LIST: u32 = 3;
const OPT_STARTTLS: u32 = 5;

fn openssl(args: &[&str]) {
    tool("openssl", args);
}

/// Signs a certificate for `name` (`server` or `client`) with the CA in
/// `dir`, into `{name}-cert.pem` and `{name}-key.pem`.
fn issue(dir: &Path, name: &str, usage: &str) {
    let p = |f: &str| dir.join(f).to_str().expect("utf-8").to_string();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p(&format!("{name}-key.pem")),
        "-out",
        &p(&format!("{name}.csr")),
        "-subj",
        &format!("/CN={name}"),
    ]);
    let ext = p(&format!("{name}.ext"));
    std::fs::write(
        &ext,
        format!(
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n"
        ),
    )
    .expect("write extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&format!("{name}.csr")),
        "-CA",
        &p("ca-cert.pem"),
        "-CAkey",
        &p("ca-key.pem"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &ext,
        "-out",
        &p(&format!("{name}-cert.pem")),
    ]);
}

/// A CA, a server certificate and a client certificate in `dir`; the
/// client's files also in `dir/client` (the layout libnbd and QEMU read),
/// and the CA alone in `dir/anonymous`.
fn certificates(dir: &Path) {
    let p = |f: &str| dir.join(f).to_str().expect("utf-8").to_string();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &p("ca-key.pem"),
        "-out",
        &p("ca-cert.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=cairn-test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    issue(dir, "server", "serverAuth");
    issue(dir, "client", "clientAuth");
    for (sub, files) in [
        (
            "client",
            &["ca-cert.pem", "client-cert.pem", "client-key.pem"][..],
        ),
        ("anonymous", &["ca-cert.pem"][..]),
    ] {
        std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        for f in files {
            std::fs::copy(dir.join(f), dir.join(sub).join(f)).expect("copy");
        }
    }
}

/// A blockd whose NBD server has TLS (`required` or offered).
async fn tls_blockd(required: bool, client_ca: bool) -> Blockd {
    Blockd::start_with(|dir| {
        certificates(dir);
        let ca = if client_ca {
            format!(", client_ca = \"{}\"", dir.join("ca-cert.pem").display())
        } else {
            String::new()
        };
        format!(
            "nbd_tls = {{ cert = \"{}\", key = \"{}\", required = {required}{ca} }}\n",
            dir.join("server-cert.pem").display(),
            dir.join("server-key.pem").display(),
        )
    })
    .await
}

fn tls_uri(b: &Blockd, export: &str, certs: &str) -> String {
    format!(
        "nbds://{}/{export}?tls-certificates={}",
        b.addr,
        b.path(certs).display()
    )
}

fn fails(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("run tool");
    assert!(!out.status.success(), "{cmd} {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn required_tls_refuses_plaintext_and_carries_data_for_libnbd_and_qemu() {
    let b = tls_blockd(true, true).await;
    // Plaintext: every option but STARTTLS is refused, and STARTTLS with
    // data is invalid.
    let mut s = raw_connect(b.addr).await;
    assert_eq!(go(&mut s, "vol").await, REP_ERR_TLS_REQD);
    send_option(&mut s, OPT_LIST, &[]).await;
    assert_eq!(option_reply(&mut s).await.1, REP_ERR_TLS_REQD);
    send_option(&mut s, OPT_STARTTLS, b"x").await;
    assert_eq!(option_reply(&mut s).await.1, REP_ERR_INVALID);
    // An option too long to read is still refused for want of TLS.
    send_option(&mut s, 99, &vec![0u8; 100 * 1024]).await;
    assert_eq!(option_reply(&mut s).await.1, REP_ERR_TLS_REQD);
    fails("nbdinfo", &[&b.uri("vol")]);

    // libnbd with the client certificate: size, then a round trip.
    let uri = tls_uri(&b, "vol", "client");
    let info: serde_json::Value =
        serde_json::from_str(&tool("nbdinfo", &["--json", &uri])).expect("json");
    assert_eq!(info["exports"][0]["export-size"], SIZE, "{info}");
    assert_eq!(info["exports"][0]["is_read_only"], false, "{info}");
    let data = random_bytes(3 << 20);
    let src = write_file(&b.path("src.raw"), &data);
    tool("nbdcopy", &[&src, &uri]);
    let back = b.path("back.raw");
    tool("nbdcopy", &[&uri, back.to_str().expect("utf-8")]);
    let got = std::fs::read(&back).expect("read back");
    assert_eq!(got.len() as u64, SIZE);
    assert!(got[..data.len()] == data[..], "bytes differ over TLS");
    assert!(got[data.len()..].iter().all(|&x| x == 0));

    // QEMU with tls-creds-x509 reads what libnbd wrote.
    let creds = format!(
        "tls-creds-x509,id=tls0,endpoint=client,dir={}",
        b.path("client").display()
    );
    let opts = format!(
        "driver=nbd,server.type=inet,server.host={},server.port={},export=vol,tls-creds=tls0",
        b.addr.ip(),
        b.addr.port()
    );
    let qemu_back = b.path("qemu.raw");
    tool(
        "qemu-img",
        &[
            "convert",
            "--object",
            &creds,
            "--image-opts",
            &opts,
            "-O",
            "raw",
            qemu_back.to_str().expect("utf-8"),
        ],
    );
    assert!(
        std::fs::read(&qemu_back).expect("read") == got,
        "QEMU read other bytes"
    );

    // Without a client certificate the TLS handshake is refused.
    fails("nbdinfo", &[&tls_uri(&b, "vol", "anonymous")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn offered_tls_serves_both_kinds_of_client() {
    let b = tls_blockd(false, false).await;
    let plain: serde_json::Value =
        serde_json::from_str(&tool("nbdinfo", &["--json", &b.uri("vol")])).expect("json");
    assert_eq!(plain["exports"][0]["export-size"], SIZE, "{plain}");
    let uri = tls_uri(&b, "ro", "anonymous");
    let secured: serde_json::Value =
        serde_json::from_str(&tool("nbdinfo", &["--json", &uri])).expect("json");
    assert_eq!(secured["exports"][0]["export-size"], SIZE, "{secured}");
    assert_eq!(secured["exports"][0]["is_read_only"], true, "{secured}");
    // Options are answered without TLS too.
    let mut s = raw_connect(b.addr).await;
    send_option(&mut s, OPT_LIST, &[]).await;
    assert_eq!(option_reply(&mut s).await.1, 1, "LIST is answered");
}
