//! Recently used SigV4 signing keys, so a request whose key pair signed
//! another request today does not derive the key again (four HMACs).
//!
//! An entry is kept per access key, for the scope (date, region and
//! service) it signed last, with a SHA-256 fingerprint of the secret the
//! key was derived from. It is used only when the secret just resolved for
//! the access key (`keys::resolve`, which every request still goes
//! through) has that fingerprint: a changed secret never verifies with an
//! old key, and a revoked key pair stops working as soon as `resolve`
//! stops answering for it (at once for configured keys, within
//! `EC2_CACHE_TTL`, five seconds, for identity's EC2 credentials). Entries
//! are dropped after `TTL` in any case. A key enters only after a
//! signature made with it verified, so requests that do not know the
//! secret cannot fill the cache. Neither keys nor secrets are logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::error::S3Error;
use super::sigv4::{self, SignedRequest};

/// How long a derived key is reused at most.
const TTL: Duration = Duration::from_secs(300);
/// Entries kept at most (the cache is emptied when full).
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    /// `date/region/service/aws4_request` of the key.
    scope: String,
    secret_sha256: [u8; 32],
    key: [u8; 32],
    at: Instant,
}

/// Signing keys of signatures that verified, for one proxy.
#[derive(Default)]
pub struct SigningKeys {
    /// By access key: the key of the scope it signed last.
    entries: Mutex<HashMap<String, Entry>>,
}

impl SigningKeys {
    /// Checks `req` as `sigv4::verify_with_key` does, with the signing key
    /// of `secret` for the request's scope: a cached one when `secret` is
    /// the one it was derived from, else derived now (and kept if the
    /// signature verifies).
    pub fn verify<T>(
        &self,
        req: &SignedRequest,
        secret: &str,
        check: impl FnOnce([u8; 32]) -> Result<T, S3Error>,
    ) -> Result<T, S3Error> {
        let fingerprint: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        if let Some(key) = self.get(req, &fingerprint) {
            return check(key);
        }
        let key = sigv4::signing_key(secret, &req.date, &req.region, &req.service);
        let verified = check(key)?;
        self.put(req, fingerprint, key);
        Ok(verified)
    }

    fn get(&self, req: &SignedRequest, fingerprint: &[u8; 32]) -> Option<[u8; 32]> {
        let entries = self
            .entries
            .lock()
            .expect("signing key cache never poisoned");
        entries
            .get(&req.access_key)
            .filter(|e| {
                e.scope == req.scope && e.secret_sha256 == *fingerprint && e.at.elapsed() < TTL
            })
            .map(|e| e.key)
    }

    fn put(&self, req: &SignedRequest, secret_sha256: [u8; 32], key: [u8; 32]) {
        let mut entries = self
            .entries
            .lock()
            .expect("signing key cache never poisoned");
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&req.access_key) {
            entries.clear();
        }
        entries.insert(
            req.access_key.clone(),
            Entry {
                scope: req.scope.clone(),
                secret_sha256,
                key,
                at: Instant::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    /// AWS's documented GetObject example (24 May 2013).
    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    fn request() -> (SignedRequest, HeaderMap) {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", sigv4::EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", AUTH),
        ] {
            h.insert(n, v.parse().expect("header value"));
        }
        let req = sigv4::parse(&[], &h).expect("parses").expect("signed");
        (req, h)
    }

    fn check(keys: &SigningKeys, secret: &str) -> Result<(), S3Error> {
        let (req, h) = request();
        keys.verify(&req, secret, |key| {
            sigv4::verify_with_key(&req, key, "GET", "/test.txt", "", &h, 1_369_353_600)
        })
        .map(|_| ())
    }

    #[test]
    fn a_key_is_reused_only_with_its_secret() {
        let keys = SigningKeys::default();
        assert_eq!(
            check(&keys, "wrong").expect_err("wrong secret").code,
            "SignatureDoesNotMatch"
        );
        assert!(keys.entries.lock().expect("lock").is_empty());
        check(&keys, SECRET).expect("verifies");
        check(&keys, SECRET).expect("verifies with the cached key");
        assert_eq!(keys.entries.lock().expect("lock").len(), 1);
        assert_eq!(
            check(&keys, "changed").expect_err("a changed secret").code,
            "SignatureDoesNotMatch"
        );
    }

    #[test]
    fn stale_entries_are_derived_again() {
        let keys = SigningKeys::default();
        check(&keys, SECRET).expect("verifies");
        let (req, _) = request();
        let wrong = sigv4::signing_key("other", &req.date, &req.region, &req.service);
        if let Some(e) = keys.entries.lock().expect("lock").get_mut(&req.access_key) {
            e.key = wrong;
            e.at = Instant::now() - TTL;
        }
        check(&keys, SECRET).expect("an expired entry is not used");
    }
}
