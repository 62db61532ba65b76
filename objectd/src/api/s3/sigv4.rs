//! AWS Signature Version 4 as S3 uses it: parsing the `Authorization`
//! header and presigned query parameters, the canonical request, the string
//! to sign, the signing key, and the per-chunk signatures of
//! `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` bodies. Pure functions; the clock is
//! a parameter so the AWS test vectors can be replayed.

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};

use super::error::S3Error;

mod canonical;
pub use canonical::{canonical_request, uri_encode};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The most a request's time may differ from ours (S3's limit).
pub const MAX_SKEW_SECS: u64 = 15 * 60;
/// The longest a presigned URL may live (seven days).
pub const MAX_EXPIRES_SECS: u64 = 7 * 86_400;
/// SHA-256 of the empty string.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What the request says about its body (`x-amz-content-sha256`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// `UNSIGNED-PAYLOAD` (and every presigned request).
    Unsigned,
    /// The hex SHA-256 the body must have.
    Sha256(String),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: aws-chunked, every chunk signed.
    StreamingSigned,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked, unsigned, with trailers.
    StreamingUnsignedTrailer,
}

impl Payload {
    fn parse(value: Option<&str>) -> Result<Payload, S3Error> {
        match value {
            None => Err(S3Error::invalid_request(
                "Missing required header for this request: x-amz-content-sha256",
            )),
            Some("UNSIGNED-PAYLOAD") => Ok(Payload::Unsigned),
            Some("STREAMING-AWS4-HMAC-SHA256-PAYLOAD") => Ok(Payload::StreamingSigned),
            Some("STREAMING-UNSIGNED-PAYLOAD-TRAILER") => Ok(Payload::StreamingUnsignedTrailer),
            Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Payload::Sha256(v.to_ascii_lowercase()))
            }
            Some(v) if v.starts_with("STREAMING-") => Err(S3Error::not_implemented(&format!(
                "x-amz-content-sha256 {v} is not supported"
            ))),
            Some(_) => Err(S3Error::new(
                "InvalidArgument",
                http::StatusCode::BAD_REQUEST,
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD or a valid sha256 value.",
            )),
        }
    }

    /// The value that enters the canonical request.
    fn canonical(&self) -> &str {
        match self {
            Payload::Unsigned => "UNSIGNED-PAYLOAD",
            Payload::Sha256(h) => h,
            Payload::StreamingSigned => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            Payload::StreamingUnsignedTrailer => "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        }
    }
}

/// A signed request's claims, before the signature is checked.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    pub access_key: String,
    /// `YYYYMMDD/region/service/aws4_request`.
    pub scope: String,
    pub date: String,
    pub region: String,
    pub service: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub payload: Payload,
    /// Seconds a presigned URL lives; `None` for header auth.
    pub expires: Option<u64>,
}

/// What the verified signature lets the body checker continue with.
#[derive(Clone, Debug)]
pub struct Verified {
    pub access_key: String,
    pub payload: Payload,
    /// For signed streaming bodies: the key, scope, date and seed signature.
    pub chunk_signer: Option<ChunkSigner>,
}

/// Signs the chunks of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body.
#[derive(Clone, Debug)]
pub struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    /// The previous chunk's signature (at first, the request's).
    pub previous: String,
}

impl ChunkSigner {
    /// The signature chunk data whose SHA-256 is `data_sha256` must carry;
    /// it becomes the previous signature for the next chunk.
    pub fn next(&mut self, data_sha256: &[u8]) -> String {
        let to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{EMPTY_SHA256}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            hex::encode(data_sha256)
        );
        self.previous = hex::encode(hmac(&self.key, to_sign.as_bytes()));
        self.previous.clone()
    }
}

/// Finds the signature of a request: `Ok(None)` when it carries none
/// (anonymous), an error when it is malformed.
pub fn parse(
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Option<SignedRequest>, S3Error> {
    let qget = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(alg) = qget("X-Amz-Algorithm") {
        if alg != ALGORITHM {
            return Err(S3Error::invalid_argument("Unsupported X-Amz-Algorithm"));
        }
        let need = |k: &str| {
            qget(k).ok_or_else(|| {
                S3Error::authorization_query(&format!("Query-string authentication requires {k}"))
            })
        };
        let (access_key, scope, date, region, service) = credential(need("X-Amz-Credential")?)?;
        let expires: u64 = need("X-Amz-Expires")?
            .parse()
            .map_err(|_| S3Error::authorization_query("X-Amz-Expires should be a number"))?;
        if expires > MAX_EXPIRES_SECS {
            return Err(S3Error::authorization_query(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            ));
        }
        return Ok(Some(SignedRequest {
            access_key,
            scope,
            date,
            region,
            service,
            amz_date: need("X-Amz-Date")?.to_string(),
            signed_headers: need("X-Amz-SignedHeaders")?
                .split(';')
                .map(str::to_string)
                .collect(),
            signature: need("X-Amz-Signature")?.to_string(),
            payload: match qget("X-Amz-Content-Sha256") {
                Some(v) => Payload::parse(Some(v))?,
                None => Payload::Unsigned,
            },
            expires: Some(expires),
        }));
    }
    let Some(auth) = headers.get("authorization") else {
        return Ok(None);
    };
    let auth = auth
        .to_str()
        .map_err(|_| S3Error::invalid_argument("Authorization header is not valid text"))?;
    let Some(rest) = auth.strip_prefix(ALGORITHM) else {
        if auth.starts_with("AWS ") {
            return Err(S3Error::invalid_request(
                "Signature Version 2 is not supported; use AWS4-HMAC-SHA256",
            ));
        }
        return Err(S3Error::invalid_argument("Unsupported Authorization Type"));
    };
    let mut cred = None;
    let mut signed = None;
    let mut sig = None;
    for part in rest.split(',') {
        match part.trim().split_once('=') {
            Some(("Credential", v)) => cred = Some(v.trim()),
            Some(("SignedHeaders", v)) => signed = Some(v.trim()),
            Some(("Signature", v)) => sig = Some(v.trim()),
            _ => {}
        }
    }
    let malformed = || S3Error::authorization_header("the Authorization header is malformed");
    let (access_key, scope, date, region, service) = credential(cred.ok_or_else(malformed)?)?;
    let amz_date = match headers.get("x-amz-date").and_then(|v| v.to_str().ok()) {
        Some(d) => d.to_string(),
        None => headers
            .get("date")
            .and_then(|v| v.to_str().ok())
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| format_amz_date(d.as_secs()))
            .ok_or_else(|| {
                S3Error::access_denied(
                    "AWS authentication requires a valid Date or x-amz-date header",
                )
            })?,
    };
    Ok(Some(SignedRequest {
        access_key,
        scope,
        date,
        region,
        service,
        amz_date,
        signed_headers: signed
            .ok_or_else(malformed)?
            .split(';')
            .map(str::to_string)
            .collect(),
        signature: sig.ok_or_else(malformed)?.to_string(),
        payload: Payload::parse(
            headers
                .get("x-amz-content-sha256")
                .and_then(|v| v.to_str().ok()),
        )?,
        expires: None,
    }))
}

/// Splits `AKID/YYYYMMDD/region/service/aws4_request`.
fn credential(value: &str) -> Result<(String, String, String, String, String), S3Error> {
    let parts: Vec<&str> = value.split('/').collect();
    match parts.as_slice() {
        [ak, date, region, service, "aws4_request"] if !ak.is_empty() => Ok((
            ak.to_string(),
            parts[1..].join("/"),
            date.to_string(),
            region.to_string(),
            service.to_string(),
        )),
        _ => Err(S3Error::authorization_header(&format!(
            "the Credential is mal-formed: {value}"
        ))),
    }
}

/// Checks the signature of `req` made with `secret`, and its time against
/// `now_secs`. `path` and `raw_query` are the request target as received.
pub fn verify(
    req: &SignedRequest,
    secret: &str,
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    now_secs: u64,
) -> Result<Verified, S3Error> {
    let key = signing_key(secret, &req.date, &req.region, &req.service);
    verify_with_key(req, key, method, path, raw_query, headers, now_secs)
}

/// `verify` with the signing key of the secret for the request's scope
/// already derived.
pub fn verify_with_key(
    req: &SignedRequest,
    key: [u8; 32],
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    now_secs: u64,
) -> Result<Verified, S3Error> {
    let t = parse_amz_date(&req.amz_date)
        .ok_or_else(|| S3Error::access_denied("X-Amz-Date must be in the ISO8601 Long Format"))?;
    if !req.amz_date.starts_with(&req.date) {
        return Err(S3Error::authorization_header(
            "the date in the Credential does not match X-Amz-Date",
        ));
    }
    match req.expires {
        Some(expires) => {
            if now_secs > t.saturating_add(expires) {
                return Err(S3Error::access_denied("Request has expired"));
            }
            if t > now_secs + MAX_SKEW_SECS {
                return Err(S3Error::access_denied("Request is not valid yet"));
            }
        }
        None => {
            if t.abs_diff(now_secs) > MAX_SKEW_SECS {
                return Err(S3Error::new(
                    "RequestTimeTooSkewed",
                    http::StatusCode::FORBIDDEN,
                    "The difference between the request time and the current time is too large.",
                ));
            }
        }
    }
    if !req.signed_headers.iter().any(|h| h == "host") {
        return Err(S3Error::authorization_header(
            "the host header must be signed",
        ));
    }
    let canonical = canonical_request(
        method,
        path,
        raw_query,
        headers,
        &req.signed_headers,
        req.payload.canonical(),
        req.expires.is_some(),
    );
    let to_sign = string_to_sign(&req.amz_date, &req.scope, &canonical);
    let want = hex::encode(hmac(&key, to_sign.as_bytes()));
    if !constant_time_eq(want.as_bytes(), req.signature.as_bytes()) {
        return Err(S3Error::signature_mismatch());
    }
    let chunk_signer = (req.payload == Payload::StreamingSigned).then(|| ChunkSigner {
        key,
        amz_date: req.amz_date.clone(),
        scope: req.scope.clone(),
        previous: req.signature.clone(),
    });
    Ok(Verified {
        access_key: req.access_key.clone(),
        payload: req.payload.clone(),
        chunk_signer,
    })
}

/// The string to sign of SigV4.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The signing key: HMAC chain over date, region, service and `aws4_request`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The hex SHA-256 of a payload, as `x-amz-content-sha256` carries it.
pub fn payload_sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA256.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `YYYYMMDDTHHMMSSZ` into seconds since the epoch.
pub fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, m as i64, d as i64);
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Formats seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(secs: u64) -> String {
    let iso = crate::timestamp::Timestamp::from_secs(secs).iso8601();
    // 2024-01-02T03:04:05.000000
    format!(
        "{}{}{}T{}{}{}Z",
        &iso[0..4],
        &iso[5..7],
        &iso[8..10],
        &iso[11..13],
        &iso[14..16],
        &iso[17..19]
    )
}

/// Howard Hinnant's civil-to-days conversion.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
