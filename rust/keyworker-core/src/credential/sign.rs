//! Issuing key credentials: a CWT claims set as the payload of a tagged COSE_Sign1.

use coset::TaggedCborSerializable;
use rayon::prelude::*;

use super::claims::CredentialClaims;
use super::error::CredentialError;
use super::keys::SigningKey;
use super::wire;

/// Sign one credential. The protected header holds `alg` and `kid`; there is no unprotected
/// header and no external AAD, so every byte of the token is covered by the signature.
pub fn issue(key: &SigningKey, claims: &CredentialClaims) -> Result<Vec<u8>, CredentialError> {
    claims.validate()?;
    issue_valid(key, claims)
}

/// Sign many credentials with one key. Every claim set is checked first, so a bad one fails
/// the whole batch (its field named `claims[i].<field>`) before anything is signed. With
/// `parallel`, signing runs on rayon's pool (all cores); otherwise on the calling thread.
pub fn issue_batch(
    key: &SigningKey,
    claims: &[CredentialClaims],
    parallel: bool,
) -> Result<Vec<Vec<u8>>, CredentialError> {
    for (i, c) in claims.iter().enumerate() {
        c.validate()
            .map_err(|e| e.in_field(&format!("claims[{i}]")))?;
    }
    if parallel {
        claims.par_iter().map(|c| issue_valid(key, c)).collect()
    } else {
        claims.iter().map(|c| issue_valid(key, c)).collect()
    }
}

fn issue_valid(key: &SigningKey, claims: &CredentialClaims) -> Result<Vec<u8>, CredentialError> {
    let payload = claims.to_cbor()?;
    let protected = key.protected_header_bytes();
    let signature = key.sign(&wire::sig_structure(protected, &payload)?)?;
    wire::sign1(protected, &payload, &signature)
}

/// The COSE Sig_structure a credential's signature covers (for vectors and audits).
pub fn to_be_signed(token: &[u8]) -> Result<Vec<u8>, CredentialError> {
    let sign1 = coset::CoseSign1::from_tagged_slice(token)
        .map_err(|e| CredentialError::malformed("credential", e.to_string()))?;
    Ok(sign1.tbs_data(&[]))
}
