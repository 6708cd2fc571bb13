//! Door-update payloads: the changes one door must apply to move from one version to another,
//! as deterministic CBOR inside a tagged COSE_Mac0 (HMAC 256/256) under the door's own key.
//!
//! `from_version < to_version`, or both equal with no entries (the empty update of a door that
//! is up to date). Payload (CDDL), format 2:
//! ```text
//! door-update = {
//!   0 => 2,               ; format (absent = format 1, which has no schedules)
//!   1 => tstr,            ; door id
//!   2 => uint,            ; from version (the door must be at it)
//!   3 => uint,            ; to version (the door's version once applied)
//!   4 => [* entry],       ; applied in order
//! }
//! entry = [0, cid, nbf: int, exp: int / null]             ; add credential, any hour
//!       / [0, cid, nbf: int, exp: int / null, schedule]   ; add credential, only in schedule
//!       / [1, cid]                                         ; remove credential
//!       / [2, phone-hash]                                  ; block phone
//!       / [3, phone-hash]                                  ; unblock phone
//! schedule = [time_zone: tstr, [+ [weekday_mask, start, end]]]   ; as credential claim -65538
//! cid = bstr .size 16, phone-hash = bstr .size 16
//! ```
//!
//! A reader refuses a payload whose format is newer than the newest it knows
//! ([`CredentialError::UnsupportedFormat`]) and every field or entry shape its format does not
//! define, so a door never applies a card while dropping a restriction it cannot read.

use ciborium::value::Value;
use coset::{
    iana, CoseMac0, CoseMac0Builder, HeaderBuilder, RegisteredLabelWithPrivate,
    TaggedCborSerializable,
};
use rayon::prelude::*;

use super::claims::{schedule_from, CredentialSchedule, CREDENTIAL_ID_LEN, MAX_TEXT_LEN};
use super::cose::{alg_text, checked_headers};
use super::error::CredentialError;
use super::keys::DoorKey;
use super::wire::ScheduleWire;

/// The door-update format this encoder writes (field 0 of the payload). Format 1 (no field 0)
/// had no schedules; format 2 adds the optional schedule of an added credential.
pub const DOOR_UPDATE_FORMAT: u64 = 2;
/// The format of a payload without field 0.
pub const DOOR_UPDATE_FORMAT_1: u64 = 1;

/// Most entries a door's blocklist may hold. SALTO's own limit is 65,535 (a 16-bit count);
/// keyworker refuses, before anything is sent, any update that would take a door past it.
pub const BLOCKLIST_LIMIT: u32 = 65_535;
/// Length of a phone hash at the door: the first 16 bytes of the site's keyed hash
/// (HMAC-SHA256) of the E.164 number. 128 bits keep collisions out of reach for any blocklist
/// size a door can hold, and the door never learns the number.
pub const PHONE_HASH_LEN: usize = 16;

/// Entry code: add a credential.
pub const DOOR_CHANGE_ADD: u8 = 0;
/// Entry code: remove a credential.
pub const DOOR_CHANGE_REMOVE: u8 = 1;
/// Entry code: block a phone.
pub const DOOR_CHANGE_BLOCK: u8 = 2;
/// Entry code: unblock a phone.
pub const DOOR_CHANGE_UNBLOCK: u8 = 3;
const OP_ADD: u8 = DOOR_CHANGE_ADD;
const OP_REMOVE: u8 = DOOR_CHANGE_REMOVE;
const OP_BLOCK: u8 = DOOR_CHANGE_BLOCK;
const OP_UNBLOCK: u8 = DOOR_CHANGE_UNBLOCK;

const KEY_FORMAT: u8 = 0;
const KEY_DOOR_ID: u8 = 1;
const KEY_FROM_VERSION: u8 = 2;
const KEY_TO_VERSION: u8 = 3;
const KEY_ENTRIES: u8 = 4;

/// One change a door must apply.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DoorChange {
    /// Accept the credential `credential_id` from `valid_from` until `valid_until` (exclusive),
    /// and, when it has a `schedule`, only inside its weekly windows.
    AddCredential {
        credential_id: [u8; CREDENTIAL_ID_LEN],
        valid_from: i64,
        valid_until: Option<i64>,
        schedule: Option<CredentialSchedule>,
    },
    /// Stop accepting the credential `credential_id`.
    RemoveCredential {
        credential_id: [u8; CREDENTIAL_ID_LEN],
    },
    /// Refuse every digital key of the phone with this hash.
    BlockPhone { phone_hash: [u8; PHONE_HASH_LEN] },
    /// Drop the phone's hash from the blocklist.
    UnblockPhone { phone_hash: [u8; PHONE_HASH_LEN] },
}

impl DoorChange {
    /// The entry's wire code (0 add, 1 remove, 2 block, 3 unblock).
    pub fn op_code(&self) -> u8 {
        match self {
            Self::AddCredential { .. } => OP_ADD,
            Self::RemoveCredential { .. } => OP_REMOVE,
            Self::BlockPhone { .. } => OP_BLOCK,
            Self::UnblockPhone { .. } => OP_UNBLOCK,
        }
    }

    /// Build a change from its parts as they cross the Python boundary: `op` code, the 16-byte
    /// subject (credential id or phone hash), and the validity and schedule of an added
    /// credential.
    pub fn from_parts(
        op: u8,
        subject: &[u8],
        valid_from: Option<i64>,
        valid_until: Option<i64>,
        schedule: Option<CredentialSchedule>,
    ) -> Result<Self, CredentialError> {
        // A phone may come as the site's full keyed hash (HMAC-SHA256, 32 bytes); the door
        // keeps its first 16 bytes, and only this function decides that.
        let subject = match op {
            OP_BLOCK | OP_UNBLOCK if subject.len() == 32 => &subject[..PHONE_HASH_LEN],
            _ => subject,
        };
        let id: [u8; 16] = subject.try_into().map_err(|_| {
            CredentialError::invalid(
                "subject",
                format!(
                    "must be 16 bytes (a phone hash may also be the full 32), got {}",
                    subject.len()
                ),
            )
        })?;
        let no_validity = || {
            if valid_from.is_some() || valid_until.is_some() {
                Err(CredentialError::invalid(
                    "valid_from",
                    "only an added credential has a validity",
                ))
            } else if schedule.is_some() {
                Err(CredentialError::invalid(
                    "schedule",
                    "only an added credential has a schedule",
                ))
            } else {
                Ok(())
            }
        };
        match op {
            OP_ADD => {
                let valid_from = valid_from.ok_or_else(|| {
                    CredentialError::invalid("valid_from", "an added credential needs valid_from")
                })?;
                Ok(Self::AddCredential {
                    credential_id: id,
                    valid_from,
                    valid_until,
                    schedule,
                })
            }
            OP_REMOVE => no_validity().map(|_| Self::RemoveCredential { credential_id: id }),
            OP_BLOCK => no_validity().map(|_| Self::BlockPhone { phone_hash: id }),
            OP_UNBLOCK => no_validity().map(|_| Self::UnblockPhone { phone_hash: id }),
            other => Err(CredentialError::invalid(
                "op",
                format!("unknown change {other} (0 add, 1 remove, 2 block, 3 unblock)"),
            )),
        }
    }

    /// `(op, subject, valid_from, valid_until, schedule)`, the inverse of
    /// [`DoorChange::from_parts`].
    pub fn parts(&self) -> ChangeParts<'_> {
        match self {
            Self::AddCredential {
                credential_id,
                valid_from,
                valid_until,
                schedule,
            } => (
                OP_ADD,
                *credential_id,
                Some(*valid_from),
                *valid_until,
                schedule.as_ref(),
            ),
            Self::RemoveCredential { credential_id } => {
                (OP_REMOVE, *credential_id, None, None, None)
            }
            Self::BlockPhone { phone_hash } => (OP_BLOCK, *phone_hash, None, None, None),
            Self::UnblockPhone { phone_hash } => (OP_UNBLOCK, *phone_hash, None, None, None),
        }
    }

    fn validate(&self) -> Result<(), CredentialError> {
        if let Self::AddCredential {
            valid_from,
            valid_until,
            schedule,
            ..
        } = self
        {
            let (valid_from, valid_until) = (*valid_from, *valid_until);
            // The door must be able to evaluate the schedule, so its time zone must be one
            // the tz database knows (the same check as the status engine's).
            if let Some(schedule) = schedule {
                schedule.to_schedule()?;
            }
            if valid_from < 0 {
                return Err(CredentialError::invalid(
                    "valid_from",
                    "must not be negative",
                ));
            }
            if valid_until.is_some_and(|until| until <= valid_from) {
                return Err(CredentialError::invalid(
                    "valid_until",
                    "must be after valid_from",
                ));
            }
        }
        Ok(())
    }

    fn to_value(&self) -> Result<Value, CredentialError> {
        let (op, subject, valid_from, valid_until, schedule) = self.parts();
        let mut items = Vec::with_capacity(if op == OP_ADD { 5 } else { 2 });
        items.push(Value::Integer(op.into()));
        items.push(Value::Bytes(subject.to_vec()));
        if let Some(from) = valid_from {
            items.push(Value::Integer(from.into()));
            items.push(valid_until.map_or(Value::Null, |u| Value::Integer(u.into())));
        }
        if let Some(schedule) = schedule {
            items.push(
                Value::serialized(&ScheduleWire(schedule))
                    .map_err(|e| CredentialError::malformed("door update", e.to_string()))?,
            );
        }
        Ok(Value::Array(items))
    }

    /// Read one entry of a payload in `format`: format 1 has no schedule slot, so a reader
    /// of format 1 refuses a 5-item add entry instead of dropping its schedule.
    fn from_value(value: Value, format: u64) -> Result<Self, CredentialError> {
        let bad = || CredentialError::malformed("door update", "entry is not [op, id16, ...]");
        let Value::Array(items) = value else {
            return Err(bad());
        };
        let op = match items.first() {
            Some(Value::Integer(i)) => u8::try_from(*i).map_err(|_| bad())?,
            _ => return Err(bad()),
        };
        let Some(Value::Bytes(subject)) = items.get(1) else {
            return Err(bad());
        };
        let int = |v: &Value| match v {
            Value::Integer(i) => i64::try_from(*i).map_err(|_| bad()),
            _ => Err(bad()),
        };
        let with_schedule = format >= 2 && op == OP_ADD && items.len() == 5;
        let (valid_from, valid_until) = match (op, items.len()) {
            (OP_ADD, len) if len == 4 || with_schedule => (
                Some(int(&items[2])?),
                match &items[3] {
                    Value::Null => None,
                    v => Some(int(v)?),
                },
            ),
            (OP_REMOVE | OP_BLOCK | OP_UNBLOCK, 2) => (None, None),
            _ => return Err(bad()),
        };
        let schedule = match items.get(4) {
            Some(v) if with_schedule => Some(schedule_from(v.clone()).map_err(|_| {
                CredentialError::malformed(
                    "door update",
                    "schedule must be [time_zone, [[mask, start, end], ...]]",
                )
            })?),
            _ => None,
        };
        let change = Self::from_parts(op, subject, valid_from, valid_until, schedule)
            .map_err(|e| CredentialError::malformed("door update", e.to_string()))?;
        change
            .validate()
            .map_err(|e| CredentialError::malformed("door update", e.to_string()))?;
        Ok(change)
    }
}

/// [`DoorChange::parts`]: `(op, subject, valid_from, valid_until, schedule)`.
pub type ChangeParts<'a> = (
    u8,
    [u8; 16],
    Option<i64>,
    Option<i64>,
    Option<&'a CredentialSchedule>,
);

/// The changes that take one door from `from_version` to `to_version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DoorUpdate {
    pub door_id: String,
    pub from_version: u64,
    pub to_version: u64,
    pub changes: Vec<DoorChange>,
}

/// A door update whose MAC verified, with the kid of the door key that verified it and the
/// format it was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedDoorUpdate {
    pub kid: String,
    pub format: u64,
    pub update: DoorUpdate,
}

impl DoorUpdate {
    /// Versions only grow; an update from a version to itself is the empty update a door that
    /// is already up to date may fetch (it changes nothing).
    fn version_range_ok(&self) -> bool {
        self.to_version > self.from_version
            || (self.to_version == self.from_version && self.changes.is_empty())
    }

    /// Check the update against the door's blocklist size at `from_version`; the door applies
    /// entries in order, so the count must stay within [`BLOCKLIST_LIMIT`] after every entry.
    pub fn validate(&self, blocklist_len: u32) -> Result<(), CredentialError> {
        if self.door_id.is_empty() || self.door_id.len() > MAX_TEXT_LEN {
            return Err(CredentialError::invalid(
                "door_id",
                format!("must be 1..={MAX_TEXT_LEN} bytes"),
            ));
        }
        if !self.version_range_ok() {
            return Err(CredentialError::invalid(
                "to_version",
                "must be greater than from_version (or equal, with no changes)",
            ));
        }
        let mut held = u64::from(blocklist_len);
        let mut peak = held;
        for (i, change) in self.changes.iter().enumerate() {
            change
                .validate()
                .map_err(|e| e.in_field(&format!("changes[{i}]")))?;
            match change {
                DoorChange::BlockPhone { .. } => held += 1,
                // Unblocking a hash the door does not hold is harmless; never count below 0.
                DoorChange::UnblockPhone { .. } => held = held.saturating_sub(1),
                _ => {}
            }
            peak = peak.max(held);
        }
        if peak > u64::from(BLOCKLIST_LIMIT) {
            return Err(CredentialError::BlocklistFull {
                door_id: self.door_id.clone(),
                would_hold: peak,
                limit: BLOCKLIST_LIMIT,
            });
        }
        Ok(())
    }

    /// The deterministic CBOR payload in [`DOOR_UPDATE_FORMAT`] (map keys 0..4 in order,
    /// shortest integer forms).
    pub fn to_cbor(&self) -> Result<Vec<u8>, CredentialError> {
        let entries = self
            .changes
            .iter()
            .map(DoorChange::to_value)
            .collect::<Result<_, _>>()?;
        let map = Value::Map(vec![
            (
                Value::Integer(KEY_FORMAT.into()),
                Value::Integer(DOOR_UPDATE_FORMAT.into()),
            ),
            (
                Value::Integer(KEY_DOOR_ID.into()),
                Value::Text(self.door_id.clone()),
            ),
            (
                Value::Integer(KEY_FROM_VERSION.into()),
                Value::Integer(self.from_version.into()),
            ),
            (
                Value::Integer(KEY_TO_VERSION.into()),
                Value::Integer(self.to_version.into()),
            ),
            (Value::Integer(KEY_ENTRIES.into()), Value::Array(entries)),
        ]);
        // 19 to 29 bytes per entry plus a small header (docs/credential-format.md).
        let mut out = Vec::with_capacity(32 + self.changes.len() * 29);
        ciborium::into_writer(&map, &mut out)
            .map_err(|e| CredentialError::malformed("door update", e.to_string()))?;
        Ok(out)
    }

    /// Decode a payload of any format up to [`DOOR_UPDATE_FORMAT`].
    pub fn from_cbor(payload: &[u8]) -> Result<Self, CredentialError> {
        Self::read(payload, DOOR_UPDATE_FORMAT).map(|(_, update)| update)
    }

    /// Decode a payload as a reader that knows formats 1..=`newest_format` does: a newer
    /// format is `UnsupportedFormat`, whatever else the payload holds. Returns the payload's
    /// format and the update.
    pub fn read(payload: &[u8], newest_format: u64) -> Result<(u64, Self), CredentialError> {
        let bad = |reason: &str| CredentialError::malformed("door update", reason);
        let mut rest = payload;
        let value: Value =
            ciborium::from_reader(&mut rest).map_err(|e| bad(&format!("bad CBOR: {e}")))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the payload"));
        }
        let Value::Map(fields) = value else {
            return Err(bad("payload is not a map"));
        };
        let (mut format, mut door_id, mut from, mut to, mut entries) =
            (None, None, None, None, None);
        for (k, v) in fields {
            let key = match k {
                Value::Integer(i) => u8::try_from(i).map_err(|_| bad("unknown field"))?,
                _ => return Err(bad("field keys must be integers")),
            };
            let slot_taken = match (key, v) {
                (KEY_FORMAT, Value::Integer(i)) => format
                    .replace(u64::try_from(i).map_err(|_| bad("format out of range"))?)
                    .is_some(),
                (KEY_DOOR_ID, Value::Text(t)) => door_id.replace(t).is_some(),
                (KEY_FROM_VERSION, Value::Integer(i)) => from
                    .replace(u64::try_from(i).map_err(|_| bad("version out of range"))?)
                    .is_some(),
                (KEY_TO_VERSION, Value::Integer(i)) => to
                    .replace(u64::try_from(i).map_err(|_| bad("version out of range"))?)
                    .is_some(),
                (KEY_ENTRIES, Value::Array(a)) => entries.replace(a).is_some(),
                _ => return Err(bad("unknown or mistyped field")),
            };
            if slot_taken {
                return Err(bad("duplicate field"));
            }
        }
        // Format 1 is written by leaving field 0 out, so each payload has one encoding.
        let format = match format {
            None => DOOR_UPDATE_FORMAT_1,
            Some(f) if f > DOOR_UPDATE_FORMAT_1 => f,
            Some(_) => return Err(bad("format field present with a value below 2")),
        };
        if format > newest_format {
            return Err(CredentialError::UnsupportedFormat {
                what: "door update",
                found: format,
                newest: newest_format,
            });
        }
        let update = Self {
            door_id: door_id.ok_or_else(|| bad("door id missing"))?,
            from_version: from.ok_or_else(|| bad("from version missing"))?,
            to_version: to.ok_or_else(|| bad("to version missing"))?,
            changes: entries
                .ok_or_else(|| bad("entries missing"))?
                .into_iter()
                .map(|entry| DoorChange::from_value(entry, format))
                .collect::<Result<_, _>>()?,
        };
        if !update.version_range_ok() || update.door_id.is_empty() {
            return Err(bad("version range or door id out of rule"));
        }
        Ok((format, update))
    }
}

/// Encode and MAC one door update. `blocklist_len` is how many phone hashes the door's
/// blocklist holds at `from_version`; an update that would take it past [`BLOCKLIST_LIMIT`]
/// fails with `BlocklistFull` and nothing is produced.
pub fn encode_door_update(
    key: &DoorKey,
    update: &DoorUpdate,
    blocklist_len: u32,
) -> Result<Vec<u8>, CredentialError> {
    update.validate(blocklist_len)?;
    encode_valid(key, update)
}

/// Encode many door updates (each with its own door key); all are checked first. With
/// `parallel`, the work runs on rayon's pool (all cores).
pub fn encode_door_updates(
    jobs: &[(&DoorKey, &DoorUpdate, u32)],
    parallel: bool,
) -> Result<Vec<Vec<u8>>, CredentialError> {
    for (i, (_, update, blocklist_len)) in jobs.iter().enumerate() {
        update
            .validate(*blocklist_len)
            .map_err(|e| e.in_field(&format!("updates[{i}]")))?;
    }
    let one = |(key, update, _): &(&DoorKey, &DoorUpdate, u32)| encode_valid(key, update);
    if parallel {
        jobs.par_iter().map(one).collect()
    } else {
        jobs.iter().map(one).collect()
    }
}

fn encode_valid(key: &DoorKey, update: &DoorUpdate) -> Result<Vec<u8>, CredentialError> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::HMAC_256_256)
        .key_id(key.kid().as_bytes().to_vec())
        .build();
    CoseMac0Builder::new()
        .protected(protected)
        .payload(update.to_cbor()?)
        .create_tag(&[], |data| key.tag(data))
        .build()
        .to_tagged_vec()
        .map_err(|e| CredentialError::malformed("door update", e.to_string()))
}

/// Verify a door update's MAC with the door's keys (current and not-yet-retired kids) and
/// decode it. What a door (or its simulator) runs before applying anything.
pub fn open_door_update(
    message: &[u8],
    keys: &[DoorKey],
) -> Result<OpenedDoorUpdate, CredentialError> {
    open_door_update_up_to(message, keys, DOOR_UPDATE_FORMAT)
}

/// [`open_door_update`] as a door whose firmware reads formats up to `newest_format`: a newer
/// payload is refused as a whole (`UnsupportedFormat`), never applied in part.
pub fn open_door_update_up_to(
    message: &[u8],
    keys: &[DoorKey],
    newest_format: u64,
) -> Result<OpenedDoorUpdate, CredentialError> {
    let mac0 = CoseMac0::from_tagged_slice(message)
        .map_err(|e| CredentialError::malformed("door update", e.to_string()))?;
    let (kid, alg) = checked_headers("door update", &mac0.protected.header, &mac0.unprotected)?;
    let key = keys
        .iter()
        .find(|k| k.kid() == kid)
        .ok_or_else(|| CredentialError::UnknownKeyId { kid: kid.clone() })?;
    if alg
        != Some(RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::HMAC_256_256,
        ))
    {
        return Err(CredentialError::UnexpectedAlgorithm {
            kid,
            expected: "HMAC 256/256".into(),
            found: alg_text(&alg),
        });
    }
    let missing = || CredentialError::malformed("door update", "detached payload");
    let payload = mac0.payload.as_deref().ok_or_else(missing)?;
    mac0.verify_payload_tag(&[], missing, |tag, data| {
        if key.tag_matches(data, tag) {
            Ok(())
        } else {
            Err(CredentialError::BadSignature {
                what: "door update MAC",
                kid: kid.clone(),
            })
        }
    })?;
    let (format, update) = DoorUpdate::read(payload, newest_format)?;
    Ok(OpenedDoorUpdate {
        kid,
        format,
        update,
    })
}

/// What a door decides when a credential it holds is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoorDecision {
    /// Inside the validity and, if the credential has one, inside its schedule: open.
    Admit,
    /// Before `valid_from`.
    NotYetValid,
    /// At or after `valid_until`.
    Expired,
    /// Within the validity, but outside every window of the schedule.
    OutsideSchedule,
}

impl DoorDecision {
    /// The code used in Python (`admit`, `not_yet_valid`, `expired`, `outside_schedule`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Admit => "admit",
            Self::NotYetValid => "not_yet_valid",
            Self::Expired => "expired",
            Self::OutsideSchedule => "outside_schedule",
        }
    }
}

/// The door's rule for a credential it holds (what an add entry gave it), presented at
/// `instant` (UTC seconds): open only within `[valid_from, valid_until)` and, when the entry
/// carried a schedule, inside one of its windows in the schedule's time zone.
pub fn door_decision(
    valid_from: i64,
    valid_until: Option<i64>,
    schedule: Option<&CredentialSchedule>,
    instant: i64,
) -> Result<DoorDecision, CredentialError> {
    if instant < valid_from {
        return Ok(DoorDecision::NotYetValid);
    }
    if valid_until.is_some_and(|until| instant >= until) {
        return Ok(DoorDecision::Expired);
    }
    match schedule {
        Some(s) if !s.contains(instant)? => Ok(DoorDecision::OutsideSchedule),
        _ => Ok(DoorDecision::Admit),
    }
}
