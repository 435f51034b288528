//! The signature on the sandbox provider's server-to-server callbacks
//! (DESIGN.md, "Money"): `Dhune-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256 over "<t>.<body>">`, refused when more than
//! [`TOLERANCE_SECS`] away from now, so a callback cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header that carries the signature.
pub const HEADER: &str = "Dhune-Signature";

/// How far the signed time may be from ours, either way.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a callback's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is not t=<unix>,v1=<hex>")]
    Malformed,
    #[error("the signature is {0} s away from now (at most {TOLERANCE_SECS} s)")]
    Stale(i64),
    #[error("the signature does not match the body")]
    Mismatch,
}

/// The MAC of `"<t>.<body>"`; `None` never happens in practice (HMAC takes
/// keys of any length).
fn mac(secret: &[u8], t: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The header value for `body` sent at `t`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let digest = mac(secret, t, body)
        .map(|mac| hex::encode(mac.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={t},v1={digest}")
}

/// Checks `header` against `body` at `now` (unix seconds), comparing in
/// constant time.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) if t.is_none() => t = value.parse::<i64>().ok(),
            Some(("v1", value)) if v1.is_none() => v1 = hex::decode(value).ok(),
            _ => return Err(SignatureError::Malformed),
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(SignatureError::Malformed);
    };
    let age = now.saturating_sub(t);
    if age.saturating_abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale(age));
    }
    mac(secret, t, body)
        .ok_or(SignatureError::Mismatch)?
        .verify_slice(&v1)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"sandbox-secret";
    const BODY: &[u8] = br#"{"reference":"pay-1","status":"COMPLETED","amount_paisa":110000}"#;
    const NOW: i64 = 1_795_000_000;

    #[test]
    fn a_signed_body_verifies_within_the_tolerance() {
        let header = sign(SECRET, NOW, BODY);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(header.len(), format!("t={NOW},v1=").len() + 64);
        for now in [NOW, NOW + TOLERANCE_SECS, NOW - TOLERANCE_SECS] {
            assert_eq!(verify(SECRET, &header, BODY, now), Ok(()), "{now}");
        }
    }

    #[test]
    fn the_digest_is_hmac_sha256_over_time_dot_body() {
        // Against an HMAC of the whole "t.body" computed in one piece.
        let mut expected = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        expected.update(format!("{NOW}.").as_bytes());
        expected.update(BODY);
        let expected = hex::encode(expected.finalize().into_bytes());
        assert_eq!(sign(SECRET, NOW, BODY), format!("t={NOW},v1={expected}"));
    }

    #[test]
    fn stale_tampered_and_malformed_signatures_are_refused() {
        let header = sign(SECRET, NOW, BODY);
        assert_eq!(
            verify(SECRET, &header, BODY, NOW + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale(TOLERANCE_SECS + 1))
        );
        assert_eq!(
            verify(SECRET, &header, BODY, NOW - TOLERANCE_SECS - 1),
            Err(SignatureError::Stale(-TOLERANCE_SECS - 1))
        );
        let tampered = br#"{"reference":"pay-1","status":"COMPLETED","amount_paisa":1}"#;
        assert_eq!(
            verify(SECRET, &header, tampered, NOW),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"another-secret", &header, BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        // The time is signed too: moving it breaks the signature.
        let moved = header.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            verify(SECRET, &moved, BODY, NOW),
            Err(SignatureError::Mismatch)
        );
        let digest = header.split_once(",v1=").map(|(_, d)| d).unwrap();
        for bad in [
            "",
            "v1=00",
            &format!("t={NOW}"),
            &format!("t=soon,v1={digest}"),
            &format!("t={NOW},v1=zz"),
            &format!("t={NOW},v1={digest},v2=00"),
            &format!("t={NOW},t={NOW},v1={digest}"),
        ] {
            assert_eq!(
                verify(SECRET, bad, BODY, NOW),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }
}
