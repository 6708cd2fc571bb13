//! Verifying key credentials.

use coset::{CoseSign1, RegisteredLabelWithPrivate, TaggedCborSerializable};

use super::claims::CredentialClaims;
use super::cose::{alg_text, checked_headers};
use super::error::CredentialError;
use super::keys::{Algorithm, VerificationKey};

/// A credential whose signature verified, with the key that verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCredential {
    pub kid: String,
    pub algorithm: Algorithm,
    pub claims: CredentialClaims,
}

/// Verify a tagged COSE_Sign1 credential against the keys a site currently trusts (its
/// current kid and the older kids not yet retired).
///
/// Checks, in order, each failing with its own error: well-formed COSE_Sign1 (`Malformed`);
/// no critical header beyond `alg`/`kid` (`UnknownCriticalHeader`); `kid` known
/// (`UnknownKeyId`); `alg` equal to that key's algorithm — never taken from the token alone,
/// so an attacker cannot pick a weaker one (`UnexpectedAlgorithm`); signature
/// (`BadSignature`); claims well-formed (`Malformed`); and, when `now` is given, `nbf <= now <
/// exp` (`NotYetValid` / `Expired`).
pub fn verify(
    token: &[u8],
    keys: &[VerificationKey],
    now: Option<i64>,
) -> Result<VerifiedCredential, CredentialError> {
    let sign1 = CoseSign1::from_tagged_slice(token)
        .map_err(|e| CredentialError::malformed("credential", e.to_string()))?;
    let (kid, alg) = checked_headers("credential", &sign1.protected.header, &sign1.unprotected)?;
    let key = keys
        .iter()
        .find(|k| k.kid() == kid)
        .ok_or_else(|| CredentialError::UnknownKeyId { kid: kid.clone() })?;
    if alg != Some(RegisteredLabelWithPrivate::Assigned(key.algorithm().cose())) {
        return Err(CredentialError::UnexpectedAlgorithm {
            kid,
            expected: key.algorithm().name().into(),
            found: alg_text(&alg),
        });
    }
    let payload = sign1
        .payload
        .as_deref()
        .ok_or_else(|| CredentialError::malformed("credential", "detached payload"))?;
    sign1.verify_signature(&[], |signature, tbs| {
        if key.verifies(tbs, signature) {
            Ok(())
        } else {
            Err(CredentialError::BadSignature {
                what: "credential signature",
                kid: kid.clone(),
            })
        }
    })?;
    let claims = CredentialClaims::from_cbor(payload)?;
    if let Some(now) = now {
        if now < claims.valid_from {
            return Err(CredentialError::NotYetValid {
                nbf: claims.valid_from,
                now,
            });
        }
        if let Some(exp) = claims.valid_until {
            if now >= exp {
                return Err(CredentialError::Expired { exp, now });
            }
        }
    }
    Ok(VerifiedCredential {
        kid,
        algorithm: key.algorithm(),
        claims,
    })
}
