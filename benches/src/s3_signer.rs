//! SigV4 request signing for the S3 runs of `cairn-bench`, on objectd's
//! own SigV4 functions: `x-amz-date`, `x-amz-content-sha256` (the body's
//! SHA-256, or `UNSIGNED-PAYLOAD`) and `Authorization` for each request.

use anyhow::{Context, Result};
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use objectd::api::s3::sigv4;

use crate::swift_client::ReqBody;

/// The region requests are signed for.
const REGION: &str = "us-east-1";

/// An S3 key pair and how payloads are signed.
#[derive(Debug, Clone)]
pub struct S3Signer {
    pub access_key: String,
    pub secret_key: String,
    /// Hash every body into the signature (as SDKs do over plain HTTP)
    /// instead of sending `UNSIGNED-PAYLOAD`.
    pub signed_payload: bool,
}

impl S3Signer {
    /// The headers that sign a request to `target` (origin form) at `authority`.
    pub fn headers(
        &self,
        method: &str,
        target: &str,
        authority: &str,
        body: &ReqBody,
    ) -> Result<Vec<(HeaderName, HeaderValue)>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("clock before 1970")?
            .as_secs();
        let amz_date = sigv4::format_amz_date(now);
        let payload = if self.signed_payload {
            sigv4::payload_sha256(match body {
                ReqBody::Empty => &[],
                ReqBody::Full(b) => b,
                ReqBody::Chunked { remaining, .. } => remaining,
                ReqBody::Repeat { .. } => anyhow::bail!("a repeated body cannot be signed"),
            })
        } else {
            "UNSIGNED-PAYLOAD".to_string()
        };
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_str(authority)?);
        h.insert("x-amz-content-sha256", HeaderValue::from_str(&payload)?);
        h.insert("x-amz-date", HeaderValue::from_str(&amz_date)?);
        let signed: Vec<String> = ["host", "x-amz-content-sha256", "x-amz-date"]
            .map(str::to_string)
            .to_vec();
        let canonical = sigv4::canonical_request(method, path, query, &h, &signed, &payload, false);
        let date = &amz_date[..8];
        let scope = format!("{date}/{REGION}/s3/aws4_request");
        let to_sign = sigv4::string_to_sign(&amz_date, &scope, &canonical);
        let key = sigv4::signing_key(&self.secret_key, date, REGION, "s3");
        let signature = hex::encode(sigv4::hmac(&key, to_sign.as_bytes()));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
            self.access_key,
            signed.join(";")
        );
        Ok(vec![
            (
                HeaderName::from_static("x-amz-content-sha256"),
                HeaderValue::from_str(&payload)?,
            ),
            (
                HeaderName::from_static("x-amz-date"),
                HeaderValue::from_str(&amz_date)?,
            ),
            (http::header::AUTHORIZATION, HeaderValue::from_str(&auth)?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_with_objectd() {
        let signer = S3Signer {
            access_key: "AK".into(),
            secret_key: "secret".into(),
            signed_payload: true,
        };
        let body = ReqBody::Full(bytes::Bytes::from_static(b"hello"));
        let headers = signer
            .headers(
                "PUT",
                "/b/k%20x?partNumber=1&uploadId=u",
                "127.0.0.1:8080",
                &body,
            )
            .expect("signs");
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
        for (n, v) in headers {
            h.insert(n, v);
        }
        let query = objectd::api::swift::listing::query_pairs(Some("partNumber=1&uploadId=u"));
        let req = sigv4::parse(&query, &h).expect("parses").expect("signed");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let v = sigv4::verify(
            &req,
            "secret",
            "PUT",
            "/b/k%20x",
            "partNumber=1&uploadId=u",
            &h,
            now,
        )
        .expect("objectd accepts the signature");
        assert_eq!(
            v.payload,
            sigv4::Payload::Sha256(sigv4::payload_sha256(b"hello"))
        );
        assert!(sigv4::verify(
            &req,
            "other",
            "PUT",
            "/b/k%20x",
            "partNumber=1&uploadId=u",
            &h,
            now
        )
        .is_err());
    }
}
