//! Identity tokens that any service verifies on its own: the signed claims
//! (who, which project, which roles, until when), their compact encoding,
//! Ed25519 signing and verification, and the revocation list that identity
//! publishes and services poll.
//!
//! A token is `c1.` + base64url(claims) + `.` + base64url(signature), where
//! the signature is Ed25519 over `cairn-token-v1\0` followed by the encoded
//! claims. The claims encoding (version 1, all integers big-endian):
//!
//! ```text
//! u8 version = 2 | u8 methods (bit 0 password, bit 1 token, bit 2 application_credential)
//! u64 issued_at_ms | u64 expires_at_ms | [16] audit id
//! id user | id project (empty when unscoped) | u8 role count, each a string
//! u8 flags (bit 0: the project is the cloud's admin project; bit 1: system scope)
//! id application credential (empty when the token was not made from one)
//! id domain (empty unless the token is scoped to a domain)
//! id = u8 0 + 16 bytes (a 32-digit lowercase hex id) or u8 1 + string
//! string = u8 length + UTF-8 bytes
//! ```
//!
//! Version 1 (still accepted) ends after the roles.
//!
//! A verifier needs only the public key and the latest revocation list.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What every token starts with (the format's version).
const PREFIX: &str = "c1.";
/// Domain separation for the signature.
const CONTEXT: &[u8] = b"cairn-token-v1\0";
const METHOD_PASSWORD: u8 = 1;
const METHOD_TOKEN: u8 = 2;
const METHOD_APPLICATION_CREDENTIAL: u8 = 4;
const FLAG_ADMIN_PROJECT: u8 = 1;
const FLAG_SYSTEM_SCOPE: u8 = 2;

/// The signed content of a token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    pub user_id: String,
    /// The project the token is scoped to; `None` for an unscoped token.
    pub project_id: Option<String>,
    /// Role names the user holds on the project when the token was issued.
    pub roles: Vec<String>,
    /// Authentication methods used, in Keystone's words (`password`, `token`).
    pub methods: Vec<String>,
    pub issued_at_ms: u64,
    pub expires_at_ms: u64,
    pub audit_id: [u8; 16],
    /// Whether the project is the cloud's admin project (Keystone's
    /// `is_admin_project`): its `admin` role acts on every project.
    pub is_admin_project: bool,
    /// Whether the token is scoped to the whole system (Keystone's
    /// `"system": {"all": true}`) rather than a project.
    pub system_scope: bool,
    /// The application credential the token was made from, if any.
    pub application_credential_id: Option<String>,
    /// The domain a domain-scoped token is scoped to.
    pub domain_id: Option<String>,
}

impl Claims {
    /// The audit id as Keystone shows it (22 characters of base64url).
    pub fn audit_id_text(&self) -> String {
        B64.encode(self.audit_id)
    }

    /// Whether the token holds role `name`.
    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r == name)
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token has been revoked")]
    Revoked,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Signs `claims` into a token.
pub fn sign(claims: &Claims, key: &SigningKey) -> String {
    let body = encode(claims);
    let sig = key.sign(&signed_message(&body));
    format!(
        "{PREFIX}{}.{}",
        B64.encode(&body),
        B64.encode(sig.to_bytes())
    )
}

/// Checks a token's signature and expiry (not revocation) at `now_ms`.
pub fn verify(token: &str, key: &VerifyingKey, now_ms: u64) -> Result<Claims, TokenError> {
    let rest = token.strip_prefix(PREFIX).ok_or(TokenError::Malformed)?;
    let (body, sig) = rest.split_once('.').ok_or(TokenError::Malformed)?;
    let body = B64.decode(body).map_err(|_| TokenError::Malformed)?;
    let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
    let sig: [u8; 64] = sig.try_into().map_err(|_| TokenError::Malformed)?;
    key.verify_strict(&signed_message(&body), &Signature::from_bytes(&sig))
        .map_err(|_| TokenError::BadSignature)?;
    let claims = decode(&body).ok_or(TokenError::Malformed)?;
    if now_ms >= claims.expires_at_ms {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + body.len());
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(body);
    m
}

fn encode(c: &Claims) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    out.push(2);
    let mut methods = 0u8;
    for m in &c.methods {
        methods |= match m.as_str() {
            "password" => METHOD_PASSWORD,
            "token" => METHOD_TOKEN,
            "application_credential" => METHOD_APPLICATION_CREDENTIAL,
            _ => 0,
        };
    }
    out.push(methods);
    out.extend_from_slice(&c.issued_at_ms.to_be_bytes());
    out.extend_from_slice(&c.expires_at_ms.to_be_bytes());
    out.extend_from_slice(&c.audit_id);
    put_id(&mut out, &c.user_id);
    put_id(&mut out, c.project_id.as_deref().unwrap_or(""));
    let roles: Vec<&String> = c
        .roles
        .iter()
        .filter(|r| r.len() <= 255)
        .take(255)
        .collect();
    out.push(roles.len() as u8);
    for r in roles {
        put_str(&mut out, r);
    }
    let mut flags = 0;
    if c.is_admin_project {
        flags |= FLAG_ADMIN_PROJECT;
    }
    if c.system_scope {
        flags |= FLAG_SYSTEM_SCOPE;
    }
    out.push(flags);
    put_id(
        &mut out,
        c.application_credential_id.as_deref().unwrap_or(""),
    );
    put_id(&mut out, c.domain_id.as_deref().unwrap_or(""));
    out
}

fn put_id(out: &mut Vec<u8>, id: &str) {
    let is_hex = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match hex_16(id).filter(|_| is_hex) {
        Some(raw) => {
            out.push(0);
            out.extend_from_slice(&raw);
        }
        None => {
            out.push(1);
            put_str(out, id);
        }
    }
}

fn hex_16(id: &str) -> Option<[u8; 16]> {
    let mut raw = [0u8; 16];
    for (i, pair) in id.as_bytes().chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        *raw.get_mut(i)? = u8::from_str_radix(s, 16).ok()?;
    }
    Some(raw)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Ids and role names are at most 255 bytes; longer ones are cut at
    // encode time only if a caller broke that rule, never silently accepted.
    let b = &s.as_bytes()[..s.len().min(255)];
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u8()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn id(&mut self) -> Option<String> {
        match self.u8()? {
            0 => Some(hex_lower(self.take(16)?)),
            1 => self.string(),
            _ => None,
        }
    }
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode(body: &[u8]) -> Option<Claims> {
    let mut r = Reader(body);
    let version = r.u8()?;
    if version != 1 && version != 2 {
        return None;
    }
    let bits = r.u8()?;
    let mut methods = Vec::new();
    if bits & METHOD_PASSWORD != 0 {
        methods.push("password".to_string());
    }
    if bits & METHOD_TOKEN != 0 {
        methods.push("token".to_string());
    }
    if bits & METHOD_APPLICATION_CREDENTIAL != 0 {
        methods.push("application_credential".to_string());
    }
    let issued_at_ms = r.u64()?;
    let expires_at_ms = r.u64()?;
    let audit_id: [u8; 16] = r.take(16)?.try_into().ok()?;
    let user_id = r.id()?;
    let project_id = Some(r.id()?).filter(|p| !p.is_empty());
    let count = r.u8()?;
    let roles = (0..count).map(|_| r.string()).collect::<Option<Vec<_>>>()?;
    let (flags, application_credential_id, domain_id) = if version == 2 {
        let flags = r.u8()?;
        let app_cred = Some(r.id()?).filter(|a| !a.is_empty());
        (flags, app_cred, Some(r.id()?).filter(|d| !d.is_empty()))
    } else {
        (0, None, None)
    };
    if !r.0.is_empty() {
        return None;
    }
    Some(Claims {
        user_id,
        project_id,
        roles,
        methods,
        issued_at_ms,
        expires_at_ms,
        audit_id,
        is_admin_project: flags & FLAG_ADMIN_PROJECT != 0,
        system_scope: flags & FLAG_SYSTEM_SCOPE != 0,
        application_credential_id,
        domain_id,
    })
}

/// What identity has revoked: single tokens (by audit id, kept until the
/// token would have expired anyway) and every token of a user or project
/// issued before a moment (a disabled or deleted user, a deleted project,
/// a removed role assignment). This is the wire format of identity's
/// `GET /v3/cairn/token-verification`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    /// Audit id (base64url) to the revoked token's expiry in ms.
    #[serde(default)]
    pub audit_ids: HashMap<String, u64>,
    /// User id to a moment in ms: tokens issued at or before it are revoked.
    #[serde(default)]
    pub users: HashMap<String, u64>,
    /// Project id to a moment in ms, as for users.
    #[serde(default)]
    pub projects: HashMap<String, u64>,
    /// Application credential id to a moment in ms: tokens made from it
    /// at or before then are revoked (the credential was deleted).
    #[serde(default)]
    pub application_credentials: HashMap<String, u64>,
}

impl Revocations {
    /// Whether these revocations refuse `claims`.
    pub fn revokes(&self, claims: &Claims) -> bool {
        if self.audit_ids.contains_key(&claims.audit_id_text()) {
            return true;
        }
        if self
            .users
            .get(&claims.user_id)
            .is_some_and(|&t| claims.issued_at_ms <= t)
        {
            return true;
        }
        if claims
            .application_credential_id
            .as_ref()
            .and_then(|a| self.application_credentials.get(a))
            .is_some_and(|&t| claims.issued_at_ms <= t)
        {
            return true;
        }
        claims
            .project_id
            .as_ref()
            .and_then(|p| self.projects.get(p))
            .is_some_and(|&t| claims.issued_at_ms <= t)
    }

    /// Drops audit ids whose tokens have expired by `now_ms`.
    pub fn prune(&mut self, now_ms: u64) {
        self.audit_ids.retain(|_, &mut exp| exp > now_ms);
    }
}

/// What a service polls from identity to verify tokens on its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerificationDocument {
    /// Always `EdDSA` (Ed25519) for `c1.` tokens.
    pub algorithm: String,
    /// The 32-byte Ed25519 public key, base64url.
    pub public_key: String,
    pub revocations: Revocations,
}

impl VerificationDocument {
    /// The verifier this document describes.
    pub fn verifier(&self) -> Option<Verifier> {
        if self.algorithm != "EdDSA" {
            return None;
        }
        let raw: [u8; 32] = B64.decode(&self.public_key).ok()?.try_into().ok()?;
        Some(Verifier {
            key: VerifyingKey::from_bytes(&raw).ok()?,
            revocations: self.revocations.clone(),
        })
    }
}

/// A public key plus the revocations known to date: everything a service
/// needs to accept or refuse a token.
#[derive(Clone, Debug)]
pub struct Verifier {
    pub key: VerifyingKey,
    pub revocations: Revocations,
}

impl Verifier {
    /// Signature, expiry and revocation checks at `now_ms`.
    pub fn check(&self, token: &str, now_ms: u64) -> Result<Claims, TokenError> {
        let claims = verify(token, &self.key, now_ms)?;
        if self.revocations.revokes(&claims) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    /// The public key as the verification document carries it.
    pub fn public_key_text(key: &VerifyingKey) -> String {
        B64.encode(key.to_bytes())
    }
}

/// `2026-11-25T17:24:33.000000Z`: Keystone's timestamp form, from ms.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let micros = (ms % 1000) * 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Milliseconds since the epoch of an ISO 8601 UTC time as clients send
/// it: `2030-01-01T00:00:00`, with optional fraction and `Z` or `+00:00`.
pub fn parse_iso8601(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t
        .strip_suffix('Z')
        .or_else(|| t.strip_suffix("+00:00"))
        .unwrap_or(t);
    let (date, time) = t.split_once('T').or_else(|| t.split_once(' '))?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (h.next()??, h.next()??, h.next().unwrap_or(Some(0))?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        digits.parse::<i64>().ok()?
    };
    // Days since 1970-01-01 from a civil date (H. Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let total = ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) + ms;
    u64::try_from(total).ok()
}

#[cfg(test)]
mod tests;
