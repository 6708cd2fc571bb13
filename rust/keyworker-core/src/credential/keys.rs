//! Key material: site signing keys (ES256 / EdDSA), their public verification keys, and door
//! MAC keys. Primitives come from `ring` (P-256, HMAC, HKDF) and `ed25519-dalek` (Ed25519);
//! nothing here is hand-written crypto.
//!
//! Private key bytes are never part of a `Debug` or error message: a key prints as its kid.

use std::fmt;

use coset::{iana, CborSerializable, HeaderBuilder};
use ed25519_dalek::pkcs8::DecodePrivateKey;
use pkcs8::der::asn1::OctetStringRef;
use pkcs8::der::Encode;
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    self, EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING,
};
use ring::{hkdf, hmac};

use super::error::CredentialError;

/// A site's signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (COSE -7), signature `r || s`, 64 bytes.
    Es256,
    /// EdDSA on Ed25519 (COSE -8), signature 64 bytes.
    EdDsa,
}

impl Algorithm {
    /// The COSE name (`ES256`, `EdDSA`), as used in the API and in the keyring's secrets.
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, CredentialError> {
        match name {
            "ES256" => Ok(Self::Es256),
            "EdDSA" => Ok(Self::EdDsa),
            other => Err(CredentialError::invalid(
                "algorithm",
                format!("unsupported algorithm {other:?} (ES256 or EdDSA)"),
            )),
        }
    }

    pub(crate) fn cose(self) -> iana::Algorithm {
        match self {
            Self::Es256 => iana::Algorithm::ES256,
            Self::EdDsa => iana::Algorithm::EdDSA,
        }
    }

    /// A fresh private key as a PKCS#8 document, for the keyring to store.
    pub fn generate_pkcs8(self) -> Result<Vec<u8>, CredentialError> {
        let rng = SystemRandom::new();
        let failed = |reason: String| CredentialError::InvalidKeyMaterial {
            kid: String::new(),
            reason,
        };
        match self {
            Self::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map(|doc| doc.as_ref().to_vec())
                .map_err(|_| failed("the system random source failed".into())),
            Self::EdDsa => {
                // RFC 8410 PKCS#8 v1: the seed alone. ring only writes v2 (with the public
                // key), which OpenSSL 3.0 and `cryptography` refuse; auditors' tools must read
                // what the keyring stores.
                let mut seed = [0u8; 32];
                rng.fill(&mut seed)
                    .map_err(|_| failed("the system random source failed".into()))?;
                let encode_failed = |e: pkcs8::der::Error| failed(format!("PKCS#8: {e}"));
                let curve_private_key = OctetStringRef::new(&seed)
                    .and_then(|o| o.to_der())
                    .map_err(encode_failed)?;
                PrivateKeyInfo::new(
                    AlgorithmIdentifierRef {
                        oid: ED25519_OID,
                        parameters: None,
                    },
                    &curve_private_key,
                )
                .to_der()
                .map_err(encode_failed)
            }
        }
    }
}

/// id-Ed25519 (RFC 8410).
const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

fn check_kid(kid: &str) -> Result<(), CredentialError> {
    if kid.is_empty() || kid.len() > 64 {
        return Err(CredentialError::invalid("kid", "must be 1..=64 bytes"));
    }
    Ok(())
}

enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(EdDsaSigner),
}

/// An Ed25519 key as ed25519-dalek's `SigningKey::sign` uses it, with the expanded secret
/// (SHA-512 of the seed, its first half clamped into the scalar) computed once at load rather
/// than on every signature. The expansion and the signing are the crate's own
/// (`ExpandedSecretKey::from`, `hazmat::raw_sign::<Sha512>`), so signatures are byte for byte
/// those of `Signer::sign`; the expanded secret is zeroized on drop, as the crate's key is.
struct EdDsaSigner {
    expanded: ed25519_dalek::hazmat::ExpandedSecretKey,
    verifying: ed25519_dalek::VerifyingKey,
}

impl EdDsaSigner {
    fn new(key: &ed25519_dalek::SigningKey) -> Self {
        Self {
            expanded: ed25519_dalek::hazmat::ExpandedSecretKey::from(key.as_bytes()),
            verifying: key.verifying_key(),
        }
    }

    fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        ed25519_dalek::hazmat::raw_sign::<ed25519_dalek::Sha512>(
            &self.expanded,
            message,
            &self.verifying,
        )
    }
}

/// A site's private signing key with its key id.
pub struct SigningKey {
    kid: String,
    signer: Signer,
    rng: SystemRandom,
    /// `{alg, kid}` encoded once: it is the same for every credential this key signs.
    protected: Vec<u8>,
    public: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load a PKCS#8 private key (as `cryptography`, OpenSSL or [`Algorithm::generate_pkcs8`]
    /// write it) for `algorithm`.
    pub fn from_pkcs8(
        algorithm: Algorithm,
        kid: &str,
        pkcs8: &[u8],
    ) -> Result<Self, CredentialError> {
        check_kid(kid)?;
        let rng = SystemRandom::new();
        let rejected = |e: ring::error::KeyRejected| CredentialError::InvalidKeyMaterial {
            kid: kid.to_string(),
            reason: format!("not a {} PKCS#8 private key ({e})", algorithm.name()),
        };
        let signer = match algorithm {
            Algorithm::Es256 => Signer::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                    .map_err(rejected)?,
            ),
            // v1 (seed only, what OpenSSL and `cryptography` write) and v2 (with the public
            // key, which must then match) are both read.
            Algorithm::EdDsa => Signer::EdDsa(EdDsaSigner::new(
                &ed25519_dalek::SigningKey::from_pkcs8_der(pkcs8).map_err(|e| {
                    CredentialError::InvalidKeyMaterial {
                        kid: kid.to_string(),
                        reason: format!("not an EdDSA PKCS#8 private key ({e})"),
                    }
                })?,
            )),
        };
        let public = match &signer {
            Signer::Es256(k) => k.public_key().as_ref().to_vec(),
            Signer::EdDsa(k) => k.verifying.as_bytes().to_vec(),
        };
        let header = HeaderBuilder::new()
            .algorithm(algorithm.cose())
            .key_id(kid.as_bytes().to_vec())
            .build();
        let protected = header
            .to_vec()
            .map_err(|e| CredentialError::InvalidKeyMaterial {
                kid: kid.to_string(),
                reason: format!("protected header: {e}"),
            })?;
        Ok(Self {
            kid: kid.to_string(),
            signer,
            rng,
            protected,
            public,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.signer {
            Signer::Es256(_) => Algorithm::Es256,
            Signer::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The public key: uncompressed SEC1 point (65 bytes) for ES256, 32 bytes for EdDSA.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The encoded protected header (`{1: alg, 4: kid}`) of every credential this key signs.
    pub(crate) fn protected_header_bytes(&self) -> &[u8] {
        &self.protected
    }

    pub fn verification_key(&self) -> VerificationKey {
        VerificationKey {
            kid: self.kid.clone(),
            algorithm: self.algorithm(),
            public_key: self.public_key().to_vec(),
        }
    }

    /// Sign `message` (a COSE Sig_structure) and return the COSE signature bytes.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CredentialError> {
        match &self.signer {
            Signer::Es256(k) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| CredentialError::InvalidKeyMaterial {
                    kid: self.kid.clone(),
                    reason: "ECDSA signing failed (random source)".into(),
                }),
            Signer::EdDsa(k) => Ok(k.sign(message).to_bytes().to_vec()),
        }
    }
}

/// A public key that verifies credentials signed under `kid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerificationKey {
    kid: String,
    algorithm: Algorithm,
    public_key: Vec<u8>,
}

impl VerificationKey {
    /// `public_key`: uncompressed SEC1 point (65 bytes, 0x04 || x || y) for ES256, the raw
    /// 32-byte key for EdDSA.
    pub fn new(
        algorithm: Algorithm,
        kid: &str,
        public_key: &[u8],
    ) -> Result<Self, CredentialError> {
        check_kid(kid)?;
        let ok = match algorithm {
            Algorithm::Es256 => public_key.len() == 65 && public_key[0] == 0x04,
            Algorithm::EdDsa => <&[u8; 32]>::try_from(public_key)
                .ok()
                .is_some_and(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_ok()),
        };
        if !ok {
            return Err(CredentialError::invalid(
                "public_key",
                match algorithm {
                    Algorithm::Es256 => "ES256 needs an uncompressed P-256 point (65 bytes)",
                    Algorithm::EdDsa => "EdDSA needs a 32-byte Ed25519 public key (a curve point)",
                },
            ));
        }
        Ok(Self {
            kid: kid.to_string(),
            algorithm,
            public_key: public_key.to_vec(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// True when `signature` is this key's signature over `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.algorithm {
            Algorithm::Es256 => {
                signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public_key)
                    .verify(message, signature)
                    .is_ok()
            }
            // Strict verification (RFC 8032 §5.1.7 plus no small-order keys or non-canonical
            // points), so one message has exactly one valid signature per key.
            Algorithm::EdDsa => {
                let (Ok(key), Ok(sig)) = (
                    <&[u8; 32]>::try_from(self.public_key.as_slice()),
                    ed25519_dalek::Signature::from_slice(signature),
                ) else {
                    return false;
                };
                ed25519_dalek::VerifyingKey::from_bytes(key)
                    .and_then(|k| k.verify_strict(message, &sig))
                    .is_ok()
            }
        }
    }
}

/// Shortest door MAC key accepted: HMAC-SHA256 wants a key as long as its output.
pub const DOOR_KEY_MIN_LEN: usize = 32;
/// HKDF salt of door-key derivation; the version lets a future scheme coexist.
const DOOR_KEY_SALT: &[u8] = b"keyworker door key v1";

/// A door's HMAC-SHA256 key (COSE alg HMAC 256/256) with its key id.
#[derive(Clone)]
pub struct DoorKey {
    kid: String,
    key: hmac::Key,
}

impl fmt::Debug for DoorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoorKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DoorKey {
    pub fn from_secret(kid: &str, secret: &[u8]) -> Result<Self, CredentialError> {
        check_kid(kid)?;
        if secret.len() < DOOR_KEY_MIN_LEN {
            return Err(CredentialError::invalid(
                "secret",
                format!("a door key needs at least {DOOR_KEY_MIN_LEN} bytes"),
            ));
        }
        Ok(Self {
            kid: kid.to_string(),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        })
    }

    /// The 32-byte secret of one door, derived with HKDF-SHA256 (RFC 5869) from the site's
    /// door master secret: salt `keyworker door key v1`, info `site_id || 0x00 || door_id`.
    /// One stored secret per site then yields a distinct key per door, so a door's key leaking
    /// exposes no other door.
    pub fn derive_secret(
        master: &[u8],
        site_id: &str,
        door_id: &str,
    ) -> Result<[u8; 32], CredentialError> {
        if master.len() < DOOR_KEY_MIN_LEN {
            return Err(CredentialError::invalid(
                "master",
                format!("a door master secret needs at least {DOOR_KEY_MIN_LEN} bytes"),
            ));
        }
        if site_id.is_empty() || door_id.is_empty() {
            return Err(CredentialError::invalid(
                if site_id.is_empty() {
                    "site_id"
                } else {
                    "door_id"
                },
                "must not be empty",
            ));
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, DOOR_KEY_SALT).extract(master);
        let info = [site_id.as_bytes(), &[0u8], door_id.as_bytes()];
        let mut out = [0u8; 32];
        prk.expand(&info, hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| CredentialError::invalid("door_id", "HKDF expansion failed"))?;
        Ok(out)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn tag(&self, message: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key, message).as_ref().to_vec()
    }

    /// Constant-time check of a tag.
    pub(crate) fn tag_matches(&self, message: &[u8], tag: &[u8]) -> bool {
        hmac::verify(&self.key, message, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept expanded key signs exactly as ed25519-dalek's `Signer::sign` does (Ed25519 is
    /// deterministic): fresh keys, messages of every length around the SHA-512 block sizes.
    #[test]
    fn eddsa_expanded_key_signs_as_signer_sign() {
        let rng = SystemRandom::new();
        for _ in 0..16 {
            let mut seed = [0u8; 32];
            rng.fill(&mut seed).unwrap();
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let kept = EdDsaSigner::new(&key);
            assert_eq!(kept.verifying, key.verifying_key());
            for len in [
                0, 1, 31, 32, 63, 64, 111, 112, 127, 128, 129, 255, 256, 1000,
            ] {
                let mut message = vec![0u8; len];
                rng.fill(&mut message).unwrap();
                let expected = ed25519_dalek::Signer::sign(&key, &message);
                assert_eq!(kept.sign(&message).to_bytes(), expected.to_bytes());
            }
        }
    }

    /// RFC 8032 §7.1 test 1 and 2, through `SigningKey::sign`.
    #[test]
    fn eddsa_rfc8032_vectors() {
        let cases = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
                 5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                 085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
        ];
        for (seed, message, signature) in cases {
            let seed: [u8; 32] = hex::decode(seed).unwrap().try_into().unwrap();
            let pkcs8 = ed25519_dalek::pkcs8::EncodePrivateKey::to_pkcs8_der(
                &ed25519_dalek::SigningKey::from_bytes(&seed),
            )
            .unwrap();
            let key = SigningKey::from_pkcs8(Algorithm::EdDsa, "k", pkcs8.as_bytes()).unwrap();
            let message = hex::decode(message).unwrap();
            let signed = key.sign(&message).unwrap();
            assert_eq!(hex::encode(&signed), signature);
            assert!(key.verification_key().verifies(&message, &signed));
        }
    }
}
