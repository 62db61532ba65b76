//! SigV4 against the examples of AWS's S3 signature documentation
//! (examplebucket, `AKIAIOSFODNN7EXAMPLE`, 24 May 2013).

use super::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 2013-05-24T00:00:00Z.
const NOW: u64 = 1_369_353_600;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(*n, v.parse().expect("header value"));
    }
    h
}

fn query(raw: &str) -> Vec<(String, String)> {
    crate::api::swift::listing::query_pairs(Some(raw))
}

fn check(
    method: &str,
    path: &str,
    raw_query: &str,
    h: &HeaderMap,
    now: u64,
) -> Result<Verified, S3Error> {
    let req = parse(&query(raw_query), h)?.expect("signed");
    verify(&req, SECRET, method, path, raw_query, h, now)
}

fn get_object_headers(auth: &str) -> HeaderMap {
    headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        ("x-amz-date", "20130524T000000Z"),
        ("authorization", auth),
    ])
}

const GET_OBJECT_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

#[test]
fn get_object_example() {
    let h = get_object_headers(GET_OBJECT_AUTH);
    let v = check("GET", "/test.txt", "", &h, NOW).expect("the documented signature verifies");
    assert_eq!(v.access_key, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(v.payload, Payload::Sha256(EMPTY_SHA256.into()));
    let req = parse(&[], &h).expect("parses").expect("signed");
    let canonical = canonical_request(
        "GET",
        "/test.txt",
        "",
        &h,
        &req.signed_headers,
        EMPTY_SHA256,
        false,
    );
    assert_eq!(
        canonical,
        "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", &canonical),
        "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
    );
}

#[test]
fn wrong_secret_path_or_header_fails() {
    let h = get_object_headers(GET_OBJECT_AUTH);
    let req = parse(&[], &h).expect("parses").expect("signed");
    let err =
        verify(&req, "not-the-secret", "GET", "/test.txt", "", &h, NOW).expect_err("wrong secret");
    assert_eq!(err.code, "SignatureDoesNotMatch");
    assert_eq!(
        check("GET", "/test2.txt", "", &h, NOW)
            .expect_err("path")
            .code,
        "SignatureDoesNotMatch"
    );
    assert_eq!(
        check("PUT", "/test.txt", "", &h, NOW)
            .expect_err("method")
            .code,
        "SignatureDoesNotMatch"
    );
    let mut tampered = h.clone();
    tampered.insert("range", "bytes=0-10".parse().expect("value"));
    assert_eq!(
        check("GET", "/test.txt", "", &tampered, NOW)
            .expect_err("header")
            .code,
        "SignatureDoesNotMatch"
    );
}

#[test]
fn clock_skew_is_refused() {
    let h = get_object_headers(GET_OBJECT_AUTH);
    assert!(check("GET", "/test.txt", "", &h, NOW + MAX_SKEW_SECS).is_ok());
    let late = check("GET", "/test.txt", "", &h, NOW + MAX_SKEW_SECS + 1).expect_err("skewed");
    assert_eq!(
        (late.code, late.status.as_u16()),
        ("RequestTimeTooSkewed", 403)
    );
    let early = check("GET", "/test.txt", "", &h, NOW - MAX_SKEW_SECS - 1).expect_err("skewed");
    assert_eq!(early.code, "RequestTimeTooSkewed");
}

#[test]
fn put_object_example() {
    let h = headers(&[
        ("host", "examplebucket.s3.amazonaws.com"),
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    ]);
    check("PUT", "/test%24file.text", "", &h, NOW).expect("the documented signature verifies");
    assert_eq!(
        hex::encode(Sha256::digest(b"Welcome to Amazon S3.")),
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
}

#[test]
fn list_objects_and_subresource_examples() {
    let h = |sig: &str| {
        headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("authorization", &format!("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature={sig}")),
        ])
    };
    let list = h("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    check("GET", "/", "max-keys=2&prefix=J", &list, NOW).expect("list example verifies");
    // Query order does not matter; the canonical form sorts it.
    check("GET", "/", "prefix=J&max-keys=2", &list, NOW).expect("sorted");
    let lifecycle = h("fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    check("GET", "/", "lifecycle", &lifecycle, NOW).expect("subresource example verifies");
}

const PRESIGNED: &str = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn presigned_example_and_expiry() {
    let h = headers(&[("host", "examplebucket.s3.amazonaws.com")]);
    let v = check("GET", "/test.txt", PRESIGNED, &h, NOW + 3600)
        .expect("documented presigned URL verifies");
    assert_eq!(v.payload, Payload::Unsigned);
    let expired = check("GET", "/test.txt", PRESIGNED, &h, NOW + 86_401).expect_err("expired");
    assert_eq!(
        (expired.code, expired.status.as_u16()),
        ("AccessDenied", 403)
    );
    let bad = PRESIGNED.replace("X-Amz-Expires=86400", "X-Amz-Expires=86401");
    assert_eq!(
        check("GET", "/test.txt", &bad, &h, NOW)
            .expect_err("changed")
            .code,
        "SignatureDoesNotMatch"
    );
}

#[test]
fn streaming_chunk_example() {
    let h = headers(&[
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
    ]);
    let v = check("PUT", "/examplebucket/chunkObject.txt", "", &h, NOW)
        .expect("seed signature verifies");
    assert_eq!(v.payload, Payload::StreamingSigned);
    let mut signer = v.chunk_signer.expect("streaming requests sign chunks");
    let first = vec![b'a'; 65_536];
    assert_eq!(
        signer.next(&Sha256::digest(&first)),
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    );
    let second = vec![b'a'; 1024];
    assert_eq!(
        signer.next(&Sha256::digest(&second)),
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    );
    assert_eq!(
        signer.next(&Sha256::digest(b"")),
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    );
}

#[test]
fn dates_and_encoding() {
    assert_eq!(parse_amz_date("20130524T000000Z"), Some(NOW));
    assert_eq!(format_amz_date(NOW), "20130524T000000Z");
    assert_eq!(parse_amz_date("20130524T000000"), None);
    assert_eq!(parse_amz_date("20131324T000000Z"), None);
    assert_eq!(
        uri_encode("a b/c~d$é".as_bytes(), false),
        "a%20b/c~d%24%C3%A9"
    );
    assert_eq!(uri_encode(b"a/b", true), "a%2Fb");
}

#[test]
fn malformed_and_anonymous() {
    assert!(parse(&[], &HeaderMap::new())
        .expect("no auth is fine")
        .is_none());
    let h = headers(&[
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=x/y,SignedHeaders=host,Signature=0",
        ),
        ("x-amz-content-sha256", EMPTY_SHA256),
    ]);
    assert_eq!(
        parse(&[], &h).expect_err("bad credential").code,
        "AuthorizationHeaderMalformed"
    );
    let v2 = headers(&[("authorization", "AWS AKID:sig")]);
    assert_eq!(parse(&[], &v2).expect_err("v2").code, "InvalidRequest");
}
