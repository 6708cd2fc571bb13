//! Header checks shared by credentials (COSE_Sign1) and door updates (COSE_Mac0).

use coset::{iana, Header, RegisteredLabelWithPrivate};

use super::error::CredentialError;

/// The header parameters keyworker understands when a sender marks them critical.
fn understood(label: &RegisteredLabelWithPrivate<iana::HeaderParameter>) -> bool {
    matches!(
        label,
        RegisteredLabelWithPrivate::Assigned(iana::HeaderParameter::Alg)
            | RegisteredLabelWithPrivate::Assigned(iana::HeaderParameter::Kid)
    )
}

fn label_text(label: &RegisteredLabelWithPrivate<iana::HeaderParameter>) -> String {
    match label {
        RegisteredLabelWithPrivate::Assigned(a) => format!("{}", *a as i64),
        RegisteredLabelWithPrivate::PrivateUse(i) => i.to_string(),
        RegisteredLabelWithPrivate::Text(t) => format!("{t:?}"),
    }
}

/// Check the headers of a received message and return its `kid` and algorithm label.
///
/// RFC 9052 §3.1: `crit` lists parameters the recipient must understand, and must itself be
/// protected; `alg` belongs in the protected header so it cannot be swapped. keyworker puts
/// `kid` there too and reads it from nowhere else.
pub(crate) fn checked_headers(
    what: &'static str,
    protected: &Header,
    unprotected: &Header,
) -> Result<(String, Option<RegisteredLabelWithPrivate<iana::Algorithm>>), CredentialError> {
    if !unprotected.crit.is_empty() {
        return Err(CredentialError::malformed(
            what,
            "crit must be in the protected header",
        ));
    }
    if unprotected.alg.is_some() {
        return Err(CredentialError::malformed(
            what,
            "alg must be in the protected header",
        ));
    }
    if let Some(label) = protected.crit.iter().find(|l| !understood(l)) {
        return Err(CredentialError::UnknownCriticalHeader {
            label: label_text(label),
        });
    }
    if protected.key_id.is_empty() {
        return Err(CredentialError::malformed(
            what,
            "no kid in the protected header",
        ));
    }
    let kid =
        String::from_utf8(protected.key_id.clone()).map_err(|_| CredentialError::UnknownKeyId {
            kid: format!("0x{}", hex_of(&protected.key_id)),
        })?;
    Ok((kid, protected.alg.clone()))
}

pub(crate) fn alg_text(alg: &Option<RegisteredLabelWithPrivate<iana::Algorithm>>) -> String {
    match alg {
        None => "none".into(),
        Some(RegisteredLabelWithPrivate::Assigned(a)) => format!("{a:?} ({})", *a as i64),
        Some(RegisteredLabelWithPrivate::PrivateUse(i)) => i.to_string(),
        Some(RegisteredLabelWithPrivate::Text(t)) => format!("{t:?}"),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
