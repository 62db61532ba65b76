//! Token signing, verification, expiry, tampering and revocation.

use super::*;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn claims() -> Claims {
    Claims {
        user_id: "0123456789abcdef0123456789abcdef".into(),
        project_id: Some("fedcba9876543210fedcba9876543210".into()),
        roles: vec!["admin".into(), "member".into()],
        methods: vec!["password".into()],
        issued_at_ms: 1_700_000_000_000,
        expires_at_ms: 1_700_003_600_000,
        audit_id: [7; 16],
        ..Claims::default()
    }
}

const NOW: u64 = 1_700_000_001_000;

#[test]
fn round_trip() {
    let k = key(1);
    let t = sign(&claims(), &k);
    assert!(t.starts_with("c1."));
    assert!(t.len() < 255, "token is {} characters", t.len());
    assert_eq!(verify(&t, &k.verifying_key(), NOW), Ok(claims()));
}

#[test]
fn odd_ids_unscoped_and_methods() {
    let k = key(2);
    let c = Claims {
        user_id: "admin-Ü".into(),
        project_id: None,
        roles: vec![],
        methods: vec!["password".into(), "token".into()],
        ..claims()
    };
    assert_eq!(
        verify(&sign(&c, &k), &k.verifying_key(), NOW),
        Ok(c.clone())
    );
    // Upper-case hex is not the compact form and must survive as text.
    let c = Claims {
        user_id: "0123456789ABCDEF0123456789ABCDEF".into(),
        ..c
    };
    assert_eq!(verify(&sign(&c, &k), &k.verifying_key(), NOW), Ok(c));
}

#[test]
fn expiry() {
    let k = key(1);
    let t = sign(&claims(), &k);
    let c = claims();
    assert!(verify(&t, &k.verifying_key(), c.expires_at_ms - 1).is_ok());
    assert_eq!(
        verify(&t, &k.verifying_key(), c.expires_at_ms),
        Err(TokenError::Expired)
    );
}

#[test]
fn tampering_and_wrong_key() {
    let k = key(1);
    let t = sign(&claims(), &k);
    assert_eq!(
        verify(&t, &key(9).verifying_key(), NOW),
        Err(TokenError::BadSignature)
    );
    // Flip one bit of the claims: the signature no longer matches.
    let (body, sig) = t["c1.".len()..].split_once('.').expect("two parts");
    let mut raw = B64.decode(body).expect("b64");
    raw[20] ^= 1;
    let forged = format!("c1.{}.{sig}", B64.encode(&raw));
    assert_eq!(
        verify(&forged, &k.verifying_key(), NOW),
        Err(TokenError::BadSignature)
    );
    // Claims re-signed by another key with more roles are refused too.
    let mut more = claims();
    more.roles.push("superuser".into());
    assert_eq!(
        verify(&sign(&more, &key(3)), &k.verifying_key(), NOW),
        Err(TokenError::BadSignature)
    );
    let cut = &t[..t.len() - 2];
    let longer = format!("{t}x");
    for bad in ["", "c1.", "c1.abc", "x1.a.b", cut, &longer] {
        assert!(
            verify(bad, &k.verifying_key(), NOW).is_err(),
            "{bad:?} accepted"
        );
    }
}

#[test]
fn revocation() {
    let k = key(1);
    let t = sign(&claims(), &k);
    let doc = VerificationDocument {
        algorithm: "EdDSA".into(),
        public_key: Verifier::public_key_text(&k.verifying_key()),
        revocations: Revocations::default(),
    };
    let wire: VerificationDocument =
        serde_json::from_str(&serde_json::to_string(&doc).expect("json")).expect("parse");
    let mut v = wire.verifier().expect("verifier");
    assert!(v.check(&t, NOW).is_ok());

    v.revocations
        .audit_ids
        .insert(claims().audit_id_text(), claims().expires_at_ms);
    assert_eq!(v.check(&t, NOW), Err(TokenError::Revoked));
    v.revocations.prune(claims().expires_at_ms);
    assert!(v.revocations.audit_ids.is_empty());

    let c = claims();
    v.revocations
        .users
        .insert(c.user_id.clone(), c.issued_at_ms - 1);
    assert!(
        v.check(&t, NOW).is_ok(),
        "tokens issued after a user revocation stay valid"
    );
    v.revocations
        .users
        .insert(c.user_id.clone(), c.issued_at_ms);
    assert_eq!(v.check(&t, NOW), Err(TokenError::Revoked));
    v.revocations.users.clear();

    v.revocations
        .projects
        .insert(c.project_id.clone().expect("scoped"), c.issued_at_ms + 5);
    assert_eq!(v.check(&t, NOW), Err(TokenError::Revoked));
}

#[test]
fn timestamps() {
    assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000Z");
    assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123000Z");
    assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000Z");
}

#[test]
fn admin_project_flag_and_application_credential_round_trip() {
    let k = key(3);
    let c = Claims {
        methods: vec!["application_credential".into()],
        is_admin_project: true,
        system_scope: true,
        application_credential_id: Some("00112233445566778899aabbccddeeff".into()),
        domain_id: Some("default".into()),
        ..claims()
    };
    let t = sign(&c, &k);
    assert_eq!(verify(&t, &k.verifying_key(), NOW), Ok(c.clone()));
    let mut r = Revocations::default();
    r.application_credentials
        .insert("00112233445566778899aabbccddeeff".into(), c.issued_at_ms);
    assert!(r.revokes(&c));
    assert!(!r.revokes(&claims()));
}

#[test]
fn version_one_tokens_still_verify() {
    let k = key(4);
    let c = claims();
    let mut body = encode(&c);
    // A version 1 body is the version 2 one without the trailer (flags
    // byte, empty application credential and domain ids: 1 + 2 + 2 bytes).
    body.truncate(body.len() - 5);
    body[0] = 1;
    let sig = k.sign(&signed_message(&body));
    let t = format!(
        "{PREFIX}{}.{}",
        B64.encode(&body),
        B64.encode(sig.to_bytes())
    );
    assert_eq!(verify(&t, &k.verifying_key(), NOW), Ok(c));
}

#[test]
fn iso8601_parses_what_it_prints_and_what_clients_send() {
    for ms in [0, 1_700_000_000_123, 1_900_000_000_000, 951_782_400_000] {
        assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms), "{}", iso8601(ms));
    }
    assert_eq!(parse_iso8601("1970-01-02T00:00:00"), Some(86_400_000));
    assert_eq!(
        parse_iso8601("2000-03-01T00:00:00+00:00"),
        Some(951_868_800_000)
    );
    assert_eq!(
        parse_iso8601("2000-02-29T00:00:01.5Z"),
        Some(951_782_401_500)
    );
    assert_eq!(parse_iso8601("yesterday"), None);
    assert_eq!(parse_iso8601("2000-13-01T00:00:00"), None);
}
