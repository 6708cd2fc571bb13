//! The claims of a key credential and their CWT (RFC 8392) claim map.
//!
//! Standard claims carry what they mean in every CWT library (`iss` = site, `sub` = key id,
//! `nbf`/`exp` = validity window, `iat`, `cti` = credential id); keyworker's own facts sit in
//! private-use claims with labels below -65536, the range RFC 8392 §9.1 leaves unregistered, so
//! they can never clash with a claim IANA registers later. The map is emitted in RFC 8949 §4.2.1
//! core deterministic order (keys sorted by their encoded bytes): the standard claims 1..7
//! first, then -65537, -65538, ... which encode as 0x3a 00 01 00 00, 0x3a 00 01 00 01, ...

use ciborium::value::Value;
use coset::cwt::{ClaimName, ClaimsSet, Timestamp};
use coset::CborSerializable;

use super::error::CredentialError;
use crate::status::{Schedule, StatusError, Weekdays, Window};

/// Private claim: the door ids the key opens (array of text).
pub const CLAIM_DOOR_IDS: i64 = -65537;
/// Private claim: the weekly schedule, `[time_zone, [[weekday_mask, start, end], ...]]`.
pub const CLAIM_SCHEDULE: i64 = -65538;
/// Private claim: the key type (0 = access medium, 1 = digital key).
pub const CLAIM_KEY_TYPE: i64 = -65539;
/// Private claim: the keyholder reference (text, opaque to doors).
pub const CLAIM_HOLDER_REF: i64 = -65540;

/// Length of a credential id (`cti`): 16 bytes, the size of a UUID. Fixed so that a door's
/// credential table has fixed-size rows (see `docs/credential-format.md`).
pub const CREDENTIAL_ID_LEN: usize = 16;
// The limits are the core's (`crate::limits`); the credential names them as it always did.
pub use crate::limits::{MAX_DOORS, MAX_ID_LEN as MAX_TEXT_LEN, MAX_TIME_ZONE_LEN, MAX_WINDOWS};

/// Minutes in a day: a window's end may be 1440 (24:00).
pub const MINUTES_PER_DAY: u16 = 1440;

/// What kind of key a credential belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    AccessMedium,
    DigitalKey,
}

impl KeyType {
    /// The code used in the API and the facade (`access_medium`, `digital_key`).
    pub fn name(self) -> &'static str {
        match self {
            Self::AccessMedium => "access_medium",
            Self::DigitalKey => "digital_key",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, CredentialError> {
        match name {
            "access_medium" => Ok(Self::AccessMedium),
            "digital_key" => Ok(Self::DigitalKey),
            other => Err(CredentialError::invalid(
                "key_type",
                format!("unknown key type {other:?} (access_medium or digital_key)"),
            )),
        }
    }

    pub(crate) fn wire_code(self) -> u8 {
        match self {
            Self::AccessMedium => 0,
            Self::DigitalKey => 1,
        }
    }

    fn from_wire_code(code: u64) -> Option<Self> {
        match code {
            0 => Some(Self::AccessMedium),
            1 => Some(Self::DigitalKey),
            _ => None,
        }
    }
}

/// Weekday names in bit order: bit 0 is Monday, bit 6 is Sunday.
pub const WEEKDAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Turn weekday names (`mon` .. `sun`) into the credential's weekday mask.
pub fn weekday_mask(days: &[String]) -> Result<u8, CredentialError> {
    let mut mask = 0u8;
    for day in days {
        let bit = WEEKDAY_NAMES
            .iter()
            .position(|name| name == day)
            .ok_or_else(|| {
                CredentialError::invalid("days", format!("unknown weekday {day:?} (mon..sun)"))
            })?;
        mask |= 1 << bit;
    }
    Ok(mask)
}

/// The weekday names set in a mask, Monday first.
pub fn weekday_names(mask: u8) -> Vec<&'static str> {
    WEEKDAY_NAMES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1 << bit) != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// One weekly window: on the weekdays of `weekday_mask`, from `start_minute` (inclusive) to
/// `end_minute` (exclusive) of the local day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleWindow {
    pub weekday_mask: u8,
    pub start_minute: u16,
    pub end_minute: u16,
}

/// The weekly schedule carried in a credential: the site's IANA time zone and its windows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialSchedule {
    pub time_zone: String,
    pub windows: Vec<ScheduleWindow>,
}

/// Everything a key credential says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CredentialClaims {
    /// `iss`: the site that issued the credential.
    pub site_id: String,
    /// `sub`: the key (access medium or digital key) the credential belongs to.
    pub key_id: String,
    /// `cti`: this credential's id, 16 bytes; doors add and remove credentials by it.
    pub credential_id: Vec<u8>,
    /// `iat`, UTC seconds.
    pub issued_at: i64,
    /// `nbf`: start of the validity window, UTC seconds.
    pub valid_from: i64,
    /// `exp`: end of the validity window (exclusive), UTC seconds; absent = open-ended.
    pub valid_until: Option<i64>,
    pub door_ids: Vec<String>,
    pub schedule: Option<CredentialSchedule>,
    pub key_type: KeyType,
    pub holder_ref: String,
}

fn check_text(field: &str, value: &str) -> Result<(), CredentialError> {
    match text_problem(value) {
        None => Ok(()),
        Some(reason) => Err(CredentialError::invalid(field, reason)),
    }
}

/// Why `value` breaks the rule of a free-text claim, or `None`.
fn text_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("must not be empty".into());
    }
    if value.len() > MAX_TEXT_LEN {
        return Some(format!("longer than {MAX_TEXT_LEN} bytes"));
    }
    None
}

impl ScheduleWindow {
    pub fn validate(&self) -> Result<(), CredentialError> {
        if self.weekday_mask == 0 || self.weekday_mask > 0x7f {
            return Err(CredentialError::invalid(
                "days",
                "needs at least one weekday (mask 1..=127)",
            ));
        }
        if self.end_minute > MINUTES_PER_DAY {
            return Err(CredentialError::invalid("end_minute", "after 24:00 (1440)"));
        }
        if self.start_minute >= self.end_minute {
            return Err(CredentialError::invalid(
                "start_minute",
                "must be before end_minute",
            ));
        }
        Ok(())
    }
}

impl CredentialSchedule {
    pub fn validate(&self) -> Result<(), CredentialError> {
        let tz = &self.time_zone;
        if tz.is_empty() || tz.len() > MAX_TIME_ZONE_LEN || !tz.is_ascii() {
            return Err(CredentialError::invalid(
                "time_zone",
                format!("must be an IANA time-zone name of 1..={MAX_TIME_ZONE_LEN} ASCII bytes"),
            ));
        }
        if self.windows.is_empty() || self.windows.len() > MAX_WINDOWS {
            return Err(CredentialError::invalid(
                "windows",
                format!("needs 1..={MAX_WINDOWS} windows"),
            ));
        }
        for (i, window) in self.windows.iter().enumerate() {
            window
                .validate()
                .map_err(|e| e.in_field(&format!("windows[{i}]")))?;
        }
        Ok(())
    }

    /// The status engine's schedule of these windows (`status::Schedule`), checked: the wire
    /// rules above, and a time zone the bundled tz database knows under exactly this name.
    /// Errors name `schedule.<field>`.
    pub fn to_schedule(&self) -> Result<Schedule, CredentialError> {
        self.validate().map_err(|e| e.in_field("schedule"))?;
        let windows = self
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| {
                // validate() keeps the mask within Monday..=Sunday.
                let days = Weekdays::from_bits(w.weekday_mask).unwrap_or_default();
                Window::new(
                    days,
                    w.start_minute.into(),
                    w.end_minute.into(),
                    format_args!("schedule.windows[{i}]"),
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(from_status)?;
        Schedule::new(&self.time_zone, windows).map_err(from_status)
    }

    /// Whether the local time at `instant` (UTC seconds, daylight-saving time applied) is in
    /// one of the windows. The rule is the status engine's (`status::Schedule::contains`), so
    /// a door, a phone and the home app's time/day status all read a schedule the same way.
    pub fn contains(&self, instant: i64) -> Result<bool, CredentialError> {
        self.to_schedule()?
            .contains(instant, "instant")
            .map_err(from_status)
    }
}

/// A status-engine error as caller input: same field, same reason.
fn from_status(error: StatusError) -> CredentialError {
    let field = error.field().unwrap_or("schedule").to_string();
    let message = error.to_string();
    let reason = message
        .strip_prefix(&format!("{field}: "))
        .unwrap_or(&message)
        .to_string();
    CredentialError::invalid(field, reason)
}

impl CredentialClaims {
    /// Check every documented rule; the error names the first offending field.
    pub fn validate(&self) -> Result<(), CredentialError> {
        check_text("site_id", &self.site_id)?;
        check_text("key_id", &self.key_id)?;
        check_text("holder_ref", &self.holder_ref)?;
        if self.credential_id.len() != CREDENTIAL_ID_LEN {
            return Err(CredentialError::invalid(
                "credential_id",
                format!(
                    "must be {CREDENTIAL_ID_LEN} bytes, got {}",
                    self.credential_id.len()
                ),
            ));
        }
        if self.issued_at < 0 {
            return Err(CredentialError::invalid(
                "issued_at",
                "must not be negative",
            ));
        }
        if self.valid_from < 0 {
            return Err(CredentialError::invalid(
                "valid_from",
                "must not be negative",
            ));
        }
        if let Some(until) = self.valid_until {
            if until <= self.valid_from {
                return Err(CredentialError::invalid(
                    "valid_until",
                    "must be after valid_from",
                ));
            }
        }
        if self.door_ids.is_empty() || self.door_ids.len() > MAX_DOORS {
            return Err(CredentialError::invalid(
                "door_ids",
                format!("needs 1..={MAX_DOORS} doors"),
            ));
        }
        for (i, door) in self.door_ids.iter().enumerate() {
            // The field is named only when the id is refused: a valid id formats nothing.
            if let Some(reason) = text_problem(door) {
                return Err(CredentialError::invalid(format!("door_ids[{i}]"), reason));
            }
            if self.door_ids[..i].contains(door) {
                return Err(CredentialError::invalid(
                    format!("door_ids[{i}]"),
                    format!("door {door:?} listed twice"),
                ));
            }
        }
        if let Some(schedule) = &self.schedule {
            schedule.validate().map_err(|e| e.in_field("schedule"))?;
        }
        Ok(())
    }

    /// The CWT claims set (RFC 8392) of these claims, in deterministic key order.
    #[cfg(test)]
    pub(crate) fn to_claims_set(&self) -> ClaimsSet {
        let mut rest: Vec<(ClaimName, Value)> = Vec::with_capacity(4);
        rest.push((
            ClaimName::PrivateUse(CLAIM_DOOR_IDS),
            Value::Array(self.door_ids.iter().cloned().map(Value::Text).collect()),
        ));
        if let Some(schedule) = &self.schedule {
            let windows = schedule
                .windows
                .iter()
                .map(|w| {
                    Value::Array(vec![
                        Value::Integer(w.weekday_mask.into()),
                        Value::Integer(w.start_minute.into()),
                        Value::Integer(w.end_minute.into()),
                    ])
                })
                .collect();
            rest.push((
                ClaimName::PrivateUse(CLAIM_SCHEDULE),
                Value::Array(vec![
                    Value::Text(schedule.time_zone.clone()),
                    Value::Array(windows),
                ]),
            ));
        }
        rest.push((
            ClaimName::PrivateUse(CLAIM_KEY_TYPE),
            Value::Integer(self.key_type.wire_code().into()),
        ));
        rest.push((
            ClaimName::PrivateUse(CLAIM_HOLDER_REF),
            Value::Text(self.holder_ref.clone()),
        ));
        ClaimsSet {
            issuer: Some(self.site_id.clone()),
            subject: Some(self.key_id.clone()),
            audience: None,
            expiration_time: self.valid_until.map(Timestamp::WholeSeconds),
            not_before: Some(Timestamp::WholeSeconds(self.valid_from)),
            issued_at: Some(Timestamp::WholeSeconds(self.issued_at)),
            cwt_id: Some(self.credential_id.clone()),
            rest,
        }
    }

    /// The deterministic CBOR encoding of the claims set: the COSE_Sign1 payload.
    pub fn to_cbor(&self) -> Result<Vec<u8>, CredentialError> {
        super::wire::claims_cbor(self)
    }

    /// The same bytes through coset's `ClaimsSet` (kept to check the fast encoder against).
    #[cfg(test)]
    pub(crate) fn to_cbor_via_coset(&self) -> Vec<u8> {
        self.to_claims_set().to_vec().unwrap()
    }

    /// Read claims from a CWT claims set; any missing or mistyped claim is `Malformed`.
    /// Claims keyworker does not know are ignored (RFC 8392 lets issuers add claims).
    pub fn from_cbor(payload: &[u8]) -> Result<Self, CredentialError> {
        let set = ClaimsSet::from_slice(payload)
            .map_err(|e| CredentialError::malformed("credential claims", e.to_string()))?;
        Self::from_claims_set(set)
    }

    fn from_claims_set(set: ClaimsSet) -> Result<Self, CredentialError> {
        let bad = |reason: &str| CredentialError::malformed("credential claims", reason);
        let seconds = |t: Option<Timestamp>, name: &str| match t {
            Some(Timestamp::WholeSeconds(s)) => Ok(Some(s)),
            Some(Timestamp::FractionalSeconds(_)) => {
                Err(bad(&format!("{name} must be whole seconds")))
            }
            None => Ok(None),
        };
        let valid_until = seconds(set.expiration_time, "exp")?;
        let valid_from = seconds(set.not_before, "nbf")?.ok_or_else(|| bad("nbf missing"))?;
        let issued_at = seconds(set.issued_at, "iat")?.ok_or_else(|| bad("iat missing"))?;
        let mut door_ids = None;
        let mut schedule = None;
        let mut key_type = None;
        let mut holder_ref = None;
        for (name, value) in set.rest {
            match name {
                ClaimName::PrivateUse(CLAIM_DOOR_IDS) => door_ids = Some(text_array(value)?),
                ClaimName::PrivateUse(CLAIM_SCHEDULE) => schedule = Some(schedule_from(value)?),
                ClaimName::PrivateUse(CLAIM_KEY_TYPE) => {
                    key_type = Some(
                        uint(&value)
                            .and_then(KeyType::from_wire_code)
                            .ok_or_else(|| bad("key type must be 0 or 1"))?,
                    )
                }
                ClaimName::PrivateUse(CLAIM_HOLDER_REF) => match value {
                    Value::Text(t) => holder_ref = Some(t),
                    _ => return Err(bad("holder reference must be text")),
                },
                _ => {}
            }
        }
        let claims = Self {
            site_id: set.issuer.ok_or_else(|| bad("iss missing"))?,
            key_id: set.subject.ok_or_else(|| bad("sub missing"))?,
            credential_id: set.cwt_id.ok_or_else(|| bad("cti missing"))?,
            issued_at,
            valid_from,
            valid_until,
            door_ids: door_ids.ok_or_else(|| bad("door ids missing"))?,
            schedule,
            key_type: key_type.ok_or_else(|| bad("key type missing"))?,
            holder_ref: holder_ref.ok_or_else(|| bad("holder reference missing"))?,
        };
        // A signed credential that breaks the issuing rules is not one keyworker issued.
        claims
            .validate()
            .map_err(|e| CredentialError::malformed("credential claims", e.to_string()))?;
        Ok(claims)
    }
}

fn uint(value: &Value) -> Option<u64> {
    match value {
        Value::Integer(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn text_array(value: Value) -> Result<Vec<String>, CredentialError> {
    let bad = || CredentialError::malformed("credential claims", "door ids must be text array");
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::Text(t) => Ok(t),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

/// Read a schedule in its wire form `[time_zone, [[mask, start, end], ...]]` (the same in a
/// credential's claim -65538 and a door-update entry). Only the shape is checked here; the
/// caller applies the rules.
pub(crate) fn schedule_from(value: Value) -> Result<CredentialSchedule, CredentialError> {
    let bad = || {
        CredentialError::malformed(
            "credential claims",
            "schedule must be [time_zone, [[mask, start, end], ...]]",
        )
    };
    let Value::Array(mut parts) = value else {
        return Err(bad());
    };
    if parts.len() != 2 {
        return Err(bad());
    }
    let (Some(Value::Array(windows)), Some(Value::Text(time_zone))) = (parts.pop(), parts.pop())
    else {
        return Err(bad());
    };
    let small = |v: &Value| uint(v).and_then(|n| u16::try_from(n).ok());
    let windows = windows
        .iter()
        .map(|w| match w {
            Value::Array(f) if f.len() == 3 => Ok(ScheduleWindow {
                weekday_mask: uint(&f[0])
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(bad)?,
                start_minute: small(&f[1]).ok_or_else(bad)?,
                end_minute: small(&f[2]).ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CredentialSchedule { time_zone, windows })
}
