//! Encoding on the issuing hot path: the claims map, the Sig_structure and the tagged
//! COSE_Sign1 are serialized by ciborium straight from borrowed data, without first building
//! a `ciborium::Value` tree (which costs one allocation per string, array and map). Decoding
//! and verification stay on coset's parsers; the shared vectors and the pycose tests check
//! that both paths agree byte for byte with independent encoders.

use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};

use super::claims::{
    CredentialClaims, CredentialSchedule, CLAIM_DOOR_IDS, CLAIM_HOLDER_REF, CLAIM_KEY_TYPE,
    CLAIM_SCHEDULE,
};
use super::error::CredentialError;

// RFC 8392 claim keys.
const ISS: i64 = 1;
const SUB: i64 = 2;
const EXP: i64 = 4;
const NBF: i64 = 5;
const IAT: i64 = 6;
const CTI: i64 = 7;
/// RFC 9052 tag of COSE_Sign1.
const TAG_SIGN1: u64 = 18;

/// A byte string (serde would otherwise write `&[u8]` as an array of integers).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

struct Texts<'a>(&'a [String]);

impl Serialize for Texts<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for t in self.0 {
            seq.serialize_element(t.as_str())?;
        }
        seq.end()
    }
}

/// A schedule's wire form, `[time_zone, [[weekday_mask, start, end], ...]]`: the one encoder
/// of both a credential's claim -65538 and a door-update entry's schedule.
pub(crate) struct ScheduleWire<'a>(pub(crate) &'a CredentialSchedule);

impl Serialize for ScheduleWire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Windows<'a>(&'a CredentialSchedule);
        impl Serialize for Windows<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut seq = s.serialize_seq(Some(self.0.windows.len()))?;
                for w in &self.0.windows {
                    seq.serialize_element(&(w.weekday_mask, w.start_minute, w.end_minute))?;
                }
                seq.end()
            }
        }
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(self.0.time_zone.as_str())?;
        t.serialize_element(&Windows(self.0))?;
        t.end()
    }
}

struct Claims<'a>(&'a CredentialClaims);

impl Serialize for Claims<'_> {
    /// Keys in RFC 8949 §4.2.1 order: 1, 2, 4, 5, 6, 7, then -65537, -65538, -65539, -65540
    /// (their encodings 0x3a00010000.. sort after the one-byte positive keys).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let len = 8 + usize::from(c.valid_until.is_some()) + usize::from(c.schedule.is_some());
        let mut map = s.serialize_map(Some(len))?;
        map.serialize_entry(&ISS, c.site_id.as_str())?;
        map.serialize_entry(&SUB, c.key_id.as_str())?;
        if let Some(exp) = c.valid_until {
            map.serialize_entry(&EXP, &exp)?;
        }
        map.serialize_entry(&NBF, &c.valid_from)?;
        map.serialize_entry(&IAT, &c.issued_at)?;
        map.serialize_entry(&CTI, &Bytes(&c.credential_id))?;
        map.serialize_entry(&CLAIM_DOOR_IDS, &Texts(&c.door_ids))?;
        if let Some(schedule) = &c.schedule {
            map.serialize_entry(&CLAIM_SCHEDULE, &ScheduleWire(schedule))?;
        }
        map.serialize_entry(&CLAIM_KEY_TYPE, &c.key_type.wire_code())?;
        map.serialize_entry(&CLAIM_HOLDER_REF, c.holder_ref.as_str())?;
        map.end()
    }
}

fn write(value: &impl Serialize, capacity: usize) -> Result<Vec<u8>, CredentialError> {
    let mut out = Vec::with_capacity(capacity);
    ciborium::into_writer(value, &mut out)
        .map_err(|e| CredentialError::malformed("credential", e.to_string()))?;
    Ok(out)
}

/// The CWT claims set of `claims`, deterministic CBOR.
pub(crate) fn claims_cbor(claims: &CredentialClaims) -> Result<Vec<u8>, CredentialError> {
    write(&Claims(claims), 192)
}

/// RFC 9052 §4.4 `Sig_structure` of a COSE_Sign1 without external AAD.
pub(crate) fn sig_structure(protected: &[u8], payload: &[u8]) -> Result<Vec<u8>, CredentialError> {
    struct Sig<'a>(&'a [u8], &'a [u8]);
    impl Serialize for Sig<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_tuple(4)?;
            t.serialize_element("Signature1")?;
            t.serialize_element(&Bytes(self.0))?;
            t.serialize_element(&Bytes(&[]))?;
            t.serialize_element(&Bytes(self.1))?;
            t.end()
        }
    }
    write(
        &Sig(protected, payload),
        32 + protected.len() + payload.len(),
    )
}

/// A tagged COSE_Sign1 with an empty unprotected header.
pub(crate) fn sign1(
    protected: &[u8],
    payload: &[u8],
    signature: &[u8],
) -> Result<Vec<u8>, CredentialError> {
    struct Empty;
    impl Serialize for Empty {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_map(Some(0))?.end()
        }
    }
    struct Sign1<'a>(&'a [u8], &'a [u8], &'a [u8]);
    impl Serialize for Sign1<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_tuple(4)?;
            t.serialize_element(&Bytes(self.0))?;
            t.serialize_element(&Empty)?;
            t.serialize_element(&Bytes(self.1))?;
            t.serialize_element(&Bytes(self.2))?;
            t.end()
        }
    }
    write(
        &ciborium::tag::Required::<_, TAG_SIGN1>(Sign1(protected, payload, signature)),
        16 + protected.len() + payload.len() + signature.len(),
    )
}
