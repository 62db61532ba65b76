//! Password hashing: argon2id with the crate's default cost, PHC strings
//! on disk. Hashing and checking take tens of milliseconds, so callers run
//! them in `spawn_blocking`.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("make salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hash password: {e}"))
}

/// Whether `password` matches the PHC string `phc` (false if it does not parse).
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of no one's password, checked when the user is unknown so that
/// an unknown user costs as much time as a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&hex::encode(rand::random::<[u8; 16]>())).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("s3cret pässword").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("s3cret"));
        assert!(verify("s3cret pässword", &h));
        assert!(!verify("s3cret password", &h));
        assert!(!verify("", &h));
        assert!(!verify("s3cret pässword", "not a phc string"));
        // Same password, different salt.
        assert_ne!(hash("x").expect("hash"), hash("x").expect("hash"));
        assert!(!verify("anything", decoy()));
    }
}
