//! Body checks over AWS's streaming example and hand-made bodies.

use super::*;
use crate::api::s3::sigv4;

/// The verified seed of AWS's `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` example.
fn streaming_example() -> Verified {
    let mut h = http::HeaderMap::new();
    for (n, v) in [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
    ] {
        h.insert(n, v.parse().expect("value"));
    }
    let req = sigv4::parse(&[], &h).expect("parses").expect("signed");
    sigv4::verify(
        &req,
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        &h,
        1_369_353_600,
    )
    .expect("seed verifies")
}

fn example_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    b.extend(std::iter::repeat_n(b'a', 65_536));
    b.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
    b.extend(std::iter::repeat_n(b'a', 1024));
    b.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
    b
}

/// Runs `body`, cut into `piece`-byte frames, through the checks.
fn run(body: &[u8], piece: usize, v: &Verified) -> Result<Vec<u8>, S3Error> {
    let frames: Vec<io::Result<Bytes>> = body
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let (mut s, check) = checked(Box::pin(futures::stream::iter(frames)), v);
    futures::executor::block_on(async {
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            match c {
                Ok(c) => out.extend_from_slice(&c),
                Err(_) => return Err(check.failure().expect("a failure names its reason")),
            }
        }
        Ok(out)
    })
}

#[test]
fn streaming_example_decodes_in_any_framing() {
    let v = streaming_example();
    let body = example_body();
    assert_eq!(body.len(), 66_824);
    for piece in [1, 7, 1000, 65_536, body.len()] {
        let out = run(&body, piece, &v).expect("valid body");
        assert_eq!(out.len(), 66_560, "piece {piece}");
        assert!(out.iter().all(|&b| b == b'a'));
    }
}

#[test]
fn tampered_chunks_are_refused() {
    let v = streaming_example();
    let mut body = example_body();
    body[200] = b'b';
    assert_eq!(
        run(&body, 4096, &v).expect_err("data changed").code,
        "SignatureDoesNotMatch"
    );
    let mut sig = example_body();
    sig[30] = if sig[30] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        run(&sig, 4096, &v).expect_err("signature changed").code,
        "SignatureDoesNotMatch"
    );
    let full = example_body();
    // Without its final chunk the body is incomplete.
    let cut = &full[..full.len() - 90];
    assert_eq!(
        run(cut, 4096, &v).expect_err("truncated").code,
        "IncompleteBody"
    );
}

#[test]
fn sha256_payloads_are_checked() {
    let body = b"Welcome to Amazon S3.";
    let good = Verified {
        access_key: "AK".into(),
        payload: Payload::Sha256(
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072".into(),
        ),
        chunk_signer: None,
    };
    assert_eq!(run(body, 5, &good).expect("matches"), body.to_vec());
    let err = run(b"Welcome to Amazon S3!", 5, &good).expect_err("differs");
    assert_eq!(
        (err.code, err.status.as_u16()),
        ("XAmzContentSHA256Mismatch", 400)
    );
}

#[test]
fn unsigned_trailer_bodies_decode() {
    let v = Verified {
        access_key: "AK".into(),
        payload: Payload::StreamingUnsignedTrailer,
        chunk_signer: None,
    };
    let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
    for piece in [1, 3, body.len()] {
        assert_eq!(
            run(body, piece, &v).expect("valid"),
            b"hello world".to_vec()
        );
    }
    assert_eq!(
        run(b"5\r\nhelloXX", 4, &v).expect_err("bad framing").code,
        "IncompleteBody"
    );
    assert_eq!(
        run(b"zz\r\n", 4, &v).expect_err("bad size").code,
        "IncompleteBody"
    );
}
