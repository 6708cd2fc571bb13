//! Deriving a key's general status and home-app status from its stored facts and the clock.
//!
//! The rules of `docs/status-rules.md` are written once, in [`general_status`] and
//! [`home_status`], over a [`Situation`]: the dozen yes/no facts they look at. Per-key
//! evaluation computes the situation and calls them; bulk evaluation packs the situation into
//! a 12-bit index and reads a table that the same two functions filled at compile time.

use std::borrow::Cow;

use super::codes::{DoorState, DoorStatus, GeneralStatus, HomeStatus, KeyType};
use super::error::StatusError;
use super::schedule::Schedule;

/// Everything the status rules look at, for one key at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Situation {
    pub digital_key: bool,
    pub revoked: bool,
    pub phone_blocked: bool,
    /// Digital key: the mobile-access cloud confirmed delivery.
    pub delivered: bool,
    /// Digital key: the keyholder's app reloaded its key list after revocation.
    pub app_reloaded: bool,
    pub has_schedule: bool,
    /// Now is before `valid_from` (access medium: the tenant has not moved in yet).
    pub before_valid_from: bool,
    /// Now is at or after `valid_until`.
    pub at_or_after_valid_until: bool,
    /// Some door row still holds the key (a state other than `none` and `removed`).
    pub any_door_present: bool,
    /// Some door row is `deployment_pending`. No rule reads it since a modification can leave
    /// a door `revocation_pending` without revoking the key (`any_door_pending` covers both);
    /// it stays in the 12-bit layout that the bulk loop and revocation planning build.
    pub any_deployment_pending: bool,
    /// Some door row is pending (deployment, revocation, blocking or unblocking).
    pub any_door_pending: bool,
    /// Some pending door row is at an offline door (mode `manual`).
    pub any_manual_pending: bool,
}

/// The general status (admin portal): the first rule that matches.
pub const fn general_status(s: &Situation) -> GeneralStatus {
    if !s.digital_key {
        if s.revoked && !s.any_door_present {
            GeneralStatus::Revoked
        } else if s.revoked {
            GeneralStatus::RevocationPending
        } else if s.before_valid_from {
            GeneralStatus::Planned
        } else if s.any_door_pending {
            // Created, or modified: an added or changed door is deployment pending, a removed
            // one revocation pending, and the key is not revoked as a whole.
            GeneralStatus::DoorUpdatePending
        } else {
            GeneralStatus::Active
        }
    } else if s.revoked && s.app_reloaded {
        GeneralStatus::Revoked
    } else if s.revoked {
        GeneralStatus::RevocationPending
    } else if !s.delivered {
        GeneralStatus::DeploymentPending
    } else {
        GeneralStatus::Deployed
    }
}

/// The home-app status, given the general status: `None` when the app does not show the key,
/// otherwise the first rule that matches.
pub const fn home_status(s: &Situation, general: GeneralStatus) -> Option<HomeStatus> {
    let access_medium = !s.digital_key;
    let hidden = matches!(general, GeneralStatus::Revoked)
        // A digital key whose re-signed credential is on its way (modified) still has door
        // rows of the delivered one, which keeps working: the app keeps showing it.
        || (s.digital_key && !s.delivered && !s.any_door_present)
        || (s.before_valid_from && !s.any_door_pending)
        || (access_medium && s.at_or_after_valid_until);
    if hidden {
        None
    } else if s.digital_key && s.phone_blocked {
        Some(HomeStatus::Blocked)
    } else if s.digital_key && s.at_or_after_valid_until {
        Some(HomeStatus::Expired)
    } else if s.digital_key && s.revoked && !s.app_reloaded {
        Some(HomeStatus::DeactivationInProgress)
    } else if access_medium && s.any_manual_pending {
        // An access medium's only pending states are deployment and revocation pending.
        Some(HomeStatus::PleaseUpdateDoor)
    } else if access_medium && s.any_door_pending {
        Some(HomeStatus::UpdatingCommonDoors)
    } else if s.has_schedule {
        Some(HomeStatus::TimeDay)
    } else {
        Some(HomeStatus::Always)
    }
}

// --- the situation as 12 bits (shared with the bulk columns' encoding) ---

/// Bits of a door byte's summary, ORed over a key's doors. The low four are the situation's
/// door facts; the two above mark states that a key type can never have.
pub(crate) mod door_bits {
    pub const PRESENT: u8 = 1 << 0;
    pub const DEPLOYMENT_PENDING: u8 = 1 << 1;
    pub const PENDING: u8 = 1 << 2;
    pub const MANUAL_PENDING: u8 = 1 << 3;
    /// Not a state an access medium's door row can be in (or not a state at all).
    pub const FOREIGN_TO_ACCESS_MEDIUM: u8 = 1 << 4;
    /// Not a state a digital key's door row can be in (or not a state at all).
    pub const FOREIGN_TO_DIGITAL_KEY: u8 = 1 << 5;
}

/// The online bit of a bulk door byte; the low seven bits are the [`DoorState`] code.
pub const DOOR_ONLINE: u8 = 0x80;

/// Summary bits of one door byte (state code | online bit).
const fn door_byte_bits(byte: u8) -> u8 {
    use door_bits::*;
    let Some(state) = DoorState::from_code(byte & !DOOR_ONLINE) else {
        return FOREIGN_TO_ACCESS_MEDIUM | FOREIGN_TO_DIGITAL_KEY;
    };
    let mut bits = 0;
    if state.is_present() {
        bits |= PRESENT;
    }
    if matches!(state, DoorState::DeploymentPending) {
        bits |= DEPLOYMENT_PENDING;
    }
    if state.is_pending() {
        bits |= PENDING;
        if byte & DOOR_ONLINE == 0 {
            bits |= MANUAL_PENDING;
        }
    }
    if !KeyType::AccessMedium.allows(state) {
        bits |= FOREIGN_TO_ACCESS_MEDIUM;
    }
    if !KeyType::DigitalKey.allows(state) {
        bits |= FOREIGN_TO_DIGITAL_KEY;
    }
    bits
}

/// [`door_byte_bits`] for every byte, so the bulk loop does one load per door.
pub(crate) static DOOR_BYTE_BITS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = door_byte_bits(b as u8);
        b += 1;
    }
    t
};

/// The door-summary bits that a key type must never see.
pub(crate) const fn foreign_bits(key_type: KeyType) -> u8 {
    match key_type {
        KeyType::AccessMedium => door_bits::FOREIGN_TO_ACCESS_MEDIUM,
        KeyType::DigitalKey => door_bits::FOREIGN_TO_DIGITAL_KEY,
    }
}

/// Number of distinct situations: 12 yes/no facts.
pub(crate) const SITUATIONS: usize = 1 << 12;

impl Situation {
    /// The packed form. Layout (it is the bulk columns' layout, so the bulk loop builds it
    /// with shifts): bit 0 digital key; bits 1-5 the bulk flags byte (revoked, phone blocked,
    /// delivered, app reloaded, has schedule); bit 6 before valid_from; bit 7 at or after
    /// valid_until; bits 8-11 the door summary's low four bits.
    pub const fn index(&self) -> usize {
        const fn b(v: bool, bit: u32) -> usize {
            (v as usize) << bit
        }
        b(self.digital_key, 0)
            | b(self.revoked, 1)
            | b(self.phone_blocked, 2)
            | b(self.delivered, 3)
            | b(self.app_reloaded, 4)
            | b(self.has_schedule, 5)
            | b(self.before_valid_from, 6)
            | b(self.at_or_after_valid_until, 7)
            | b(self.any_door_present, 8)
            | b(self.any_deployment_pending, 9)
            | b(self.any_door_pending, 10)
            | b(self.any_manual_pending, 11)
    }

    /// Inverse of [`Situation::index`] (bits above 11 are ignored).
    pub const fn from_index(i: usize) -> Self {
        const fn bit_of(i: usize, n: u32) -> bool {
            i & (1 << n) != 0
        }
        Situation {
            digital_key: bit_of(i, 0),
            revoked: bit_of(i, 1),
            phone_blocked: bit_of(i, 2),
            delivered: bit_of(i, 3),
            app_reloaded: bit_of(i, 4),
            has_schedule: bit_of(i, 5),
            before_valid_from: bit_of(i, 6),
            at_or_after_valid_until: bit_of(i, 7),
            any_door_present: bit_of(i, 8),
            any_deployment_pending: bit_of(i, 9),
            any_door_pending: bit_of(i, 10),
            any_manual_pending: bit_of(i, 11),
        }
    }
}

/// One table entry: general status code, home-app status code (255 = none), and the home
/// count slot (the code, or 7 for none) so the bulk loop counts without a branch.
pub(crate) type Outcome = [u8; 3];

/// Both statuses of every situation, filled by the rule functions at compile time.
pub(crate) static OUTCOMES: [Outcome; SITUATIONS] = {
    let mut t = [[0u8; 3]; SITUATIONS];
    let mut i = 0;
    while i < SITUATIONS {
        let s = Situation::from_index(i);
        let general = general_status(&s);
        let home = home_status(&s, general);
        let slot = match home {
            Some(h) => h.code(),
            None => HomeStatus::ALL.len() as u8,
        };
        t[i] = [general.code(), HomeStatus::code_of(home), slot];
        i += 1;
    }
    t
};

// --- one key ---

/// One door row of a key as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorFacts {
    pub state: DoorState,
    /// The door's connectivity now: online doors are updated automatically.
    pub online: bool,
}

/// The stored facts of one key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyFacts {
    pub key_type: KeyType,
    pub revoked: bool,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub doors: Vec<DoorFacts>,
    pub schedule: Option<Schedule>,
    pub phone_blocked: bool,
    pub delivered: bool,
    pub app_reloaded: bool,
}

/// A home-app status with the text the app shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeView {
    pub status: HomeStatus,
    /// The seed's words, or for `time_day` the schedule's label.
    pub label: Cow<'static, str>,
}

/// Everything the admin portal and the home app show about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    pub status: GeneralStatus,
    pub home: Option<HomeView>,
    /// One entry per door of the facts, in order; `None` for states the portal does not show.
    pub doors: Vec<Option<DoorStatus>>,
}

impl KeyFacts {
    /// Checks what the type system cannot: a validity window that ends after it starts, and
    /// door states that exist for this key type. (Schedules are checked when built.)
    pub fn validate(&self) -> Result<(), StatusError> {
        if let Some(until) = self.valid_until {
            if until <= self.valid_from {
                return Err(StatusError::key_data(
                    "valid_until",
                    format!(
                        "valid_until ({until}) must be after valid_from ({})",
                        self.valid_from
                    ),
                ));
            }
        }
        for (i, door) in self.doors.iter().enumerate() {
            if !self.key_type.allows(door.state) {
                return Err(StatusError::key_data(
                    format!("doors[{i}].state"),
                    format!(
                        "a door row of a {} is never `{}`",
                        self.key_type, door.state
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The situation at `now`.
    pub fn situation(&self, now: i64) -> Situation {
        let mut bits = 0u8;
        for d in &self.doors {
            let byte = d.state.code() | if d.online { DOOR_ONLINE } else { 0 };
            bits |= DOOR_BYTE_BITS[usize::from(byte)];
        }
        Situation {
            digital_key: self.key_type == KeyType::DigitalKey,
            revoked: self.revoked,
            phone_blocked: self.phone_blocked,
            delivered: self.delivered,
            app_reloaded: self.app_reloaded,
            has_schedule: self.schedule.is_some(),
            before_valid_from: now < self.valid_from,
            at_or_after_valid_until: self.valid_until.is_some_and(|u| now >= u),
            any_door_present: bits & door_bits::PRESENT != 0,
            any_deployment_pending: bits & door_bits::DEPLOYMENT_PENDING != 0,
            any_door_pending: bits & door_bits::PENDING != 0,
            any_manual_pending: bits & door_bits::MANUAL_PENDING != 0,
        }
    }
}

/// General status, home-app status and door rows of one key at `now` (UTC seconds).
pub fn evaluate(facts: &KeyFacts, now: i64) -> Result<KeyStatus, StatusError> {
    facts.validate()?;
    let situation = facts.situation(now);
    let status = general_status(&situation);
    let home = home_status(&situation, status).map(|h| HomeView {
        status: h,
        label: match (h.fixed_label(), &facts.schedule) {
            (Some(fixed), _) => Cow::Borrowed(fixed),
            (None, Some(schedule)) => Cow::Owned(schedule.label()),
            // time_day is only chosen when the key has a schedule.
            (None, None) => Cow::Borrowed(""),
        },
    });
    let doors = facts
        .doors
        .iter()
        .map(|d| d.state.door_status(d.online))
        .collect();
    Ok(KeyStatus {
        status,
        home,
        doors,
    })
}

/// Whether the key opens its doors at `instant`: its general status then is `active` (access
/// medium) or `deployed` (digital key), its phone is not blocked, `valid_from <= instant <
/// valid_until`, and with a schedule the local time at `instant` is in a window.
pub fn is_usable_at(facts: &KeyFacts, instant: i64) -> Result<bool, StatusError> {
    facts.validate()?;
    let ready = match facts.key_type {
        KeyType::AccessMedium => GeneralStatus::Active,
        KeyType::DigitalKey => GeneralStatus::Deployed,
    };
    let in_validity =
        facts.valid_from <= instant && facts.valid_until.is_none_or(|until| instant < until);
    if general_status(&facts.situation(instant)) != ready || facts.phone_blocked || !in_validity {
        return Ok(false);
    }
    match &facts.schedule {
        Some(schedule) => schedule.contains(instant, "instant"),
        None => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::super::schedule::{Weekdays, Window};
    use super::*;
    use DoorState as S;
    use GeneralStatus as G;
    use HomeStatus as H;

    const NOW: i64 = 1_700_000_000;
    const DAY: i64 = 86_400;

    fn door(state: DoorState, online: bool) -> DoorFacts {
        DoorFacts { state, online }
    }

    fn access_medium(doors: &[DoorFacts]) -> KeyFacts {
        KeyFacts {
            key_type: KeyType::AccessMedium,
            revoked: false,
            valid_from: NOW - DAY,
            valid_until: None,
            doors: doors.to_vec(),
            schedule: None,
            phone_blocked: false,
            delivered: false,
            app_reloaded: false,
        }
    }

    fn digital_key(state: DoorState) -> KeyFacts {
        KeyFacts {
            key_type: KeyType::DigitalKey,
            delivered: state != S::None,
            doors: vec![door(state, true), door(state, false)],
            ..access_medium(&[])
        }
    }

    fn weekdays_7_to_19() -> Schedule {
        let mut days = Weekdays::default();
        for d in ["mon", "tue", "wed", "thu", "fri"] {
            days.insert_name(d, "days").unwrap();
        }
        Schedule::new(
            "Europe/Zurich",
            vec![Window::new(days, 420, 1140, "w").unwrap()],
        )
        .unwrap()
    }

    fn statuses(f: &KeyFacts) -> (GeneralStatus, Option<HomeStatus>) {
        let s = evaluate(f, NOW).unwrap();
        (s.status, s.home.map(|h| h.status))
    }

    // --- access medium, general status rules 1-5 and the home rules that apply to it ---

    #[test]
    fn access_medium_created_waits_for_its_doors() {
        // Rule 4; home: a manual door wins over automated ones.
        let f = access_medium(&[
            door(S::DeploymentPending, true),
            door(S::DeploymentPending, false),
        ]);
        assert_eq!(
            statuses(&f),
            (G::DoorUpdatePending, Some(H::PleaseUpdateDoor))
        );
        let f = access_medium(&[door(S::DeploymentPending, true), door(S::Deployed, false)]);
        assert_eq!(
            statuses(&f),
            (G::DoorUpdatePending, Some(H::UpdatingCommonDoors))
        );
    }

    #[test]
    fn access_medium_deployed_everywhere_is_active() {
        // Rule 5; home always / time_day.
        let f = access_medium(&[door(S::Deployed, true), door(S::Deployed, false)]);
        assert_eq!(statuses(&f), (G::Active, Some(H::Always)));
        let f = KeyFacts {
            schedule: Some(weekdays_7_to_19()),
            ..f
        };
        let s = evaluate(&f, NOW).unwrap();
        let home = s.home.unwrap();
        assert_eq!((s.status, home.status), (G::Active, H::TimeDay));
        assert_eq!(home.label, "Mon–Fri 07:00–19:00");
        // An access medium without doors has nothing pending.
        assert_eq!(statuses(&access_medium(&[])), (G::Active, Some(H::Always)));
    }

    #[test]
    fn access_medium_before_move_in_is_planned() {
        // Rule 3. Home: hidden unless a door is pending.
        let f = KeyFacts {
            valid_from: NOW + 1,
            ..access_medium(&[door(S::Deployed, false)])
        };
        assert_eq!(statuses(&f), (G::Planned, None));
        let f = KeyFacts {
            valid_from: NOW + 1,
            ..access_medium(&[door(S::DeploymentPending, false)])
        };
        assert_eq!(statuses(&f), (G::Planned, Some(H::PleaseUpdateDoor)));
        // valid_from == now is moved in.
        let f = KeyFacts {
            valid_from: NOW,
            ..access_medium(&[door(S::Deployed, false)])
        };
        assert_eq!(statuses(&f), (G::Active, Some(H::Always)));
    }

    #[test]
    fn access_medium_revocation_waits_for_every_door() {
        // Rules 1 and 2 come before planned and door-update rules.
        let pending = KeyFacts {
            revoked: true,
            valid_from: NOW + DAY,
            ..access_medium(&[door(S::RevocationPending, true), door(S::Removed, false)])
        };
        assert_eq!(
            statuses(&pending),
            (G::RevocationPending, Some(H::UpdatingCommonDoors))
        );
        let manual = KeyFacts {
            revoked: true,
            ..access_medium(&[
                door(S::RevocationPending, false),
                door(S::RevocationPending, true),
            ])
        };
        assert_eq!(
            statuses(&manual),
            (G::RevocationPending, Some(H::PleaseUpdateDoor))
        );
        let done = KeyFacts {
            revoked: true,
            ..access_medium(&[door(S::Removed, true), door(S::None, false)])
        };
        assert_eq!(statuses(&done), (G::Revoked, None));
        assert_eq!(
            statuses(&KeyFacts {
                revoked: true,
                ..access_medium(&[])
            }),
            (G::Revoked, None)
        );
    }

    #[test]
    fn access_medium_past_its_end_is_hidden_from_the_app() {
        let f = KeyFacts {
            valid_until: Some(NOW),
            ..access_medium(&[door(S::DeploymentPending, false)])
        };
        assert_eq!(statuses(&f), (G::DoorUpdatePending, None));
        let f = KeyFacts {
            valid_until: Some(NOW + 1),
            ..f
        };
        assert_eq!(
            statuses(&f),
            (G::DoorUpdatePending, Some(H::PleaseUpdateDoor))
        );
    }

    // --- digital key, general rules 1-4 and home rules ---

    #[test]
    fn digital_key_waits_for_delivery() {
        let f = digital_key(S::None);
        assert_eq!(statuses(&f), (G::DeploymentPending, None));
    }

    #[test]
    fn digital_key_delivered_is_deployed() {
        assert_eq!(
            statuses(&digital_key(S::Deployed)),
            (G::Deployed, Some(H::Always))
        );
        let f = KeyFacts {
            schedule: Some(weekdays_7_to_19()),
            ..digital_key(S::Deployed)
        };
        assert_eq!(statuses(&f), (G::Deployed, Some(H::TimeDay)));
        // Not yet valid and nothing pending: hidden, though deployed.
        let f = KeyFacts {
            valid_from: NOW + 10,
            ..digital_key(S::Deployed)
        };
        assert_eq!(statuses(&f), (G::Deployed, None));
    }

    #[test]
    fn digital_key_revocation_completes_when_the_app_reloads() {
        let f = KeyFacts {
            revoked: true,
            ..digital_key(S::Deployed)
        };
        assert_eq!(
            statuses(&f),
            (G::RevocationPending, Some(H::DeactivationInProgress))
        );
        let f = KeyFacts {
            app_reloaded: true,
            ..digital_key(S::Removed)
        };
        let f = KeyFacts { revoked: true, ..f };
        assert_eq!(statuses(&f), (G::Revoked, None));
        // Revoked before delivery: the app never showed it.
        let f = KeyFacts {
            revoked: true,
            ..digital_key(S::None)
        };
        assert_eq!(statuses(&f), (G::RevocationPending, None));
    }

    #[test]
    fn digital_key_home_precedence_blocked_expired_deactivating() {
        let blocked = KeyFacts {
            phone_blocked: true,
            revoked: true,
            valid_until: Some(NOW),
            ..digital_key(S::BlockingPending)
        };
        assert_eq!(statuses(&blocked), (G::RevocationPending, Some(H::Blocked)));
        let expired = KeyFacts {
            phone_blocked: false,
            ..blocked.clone()
        };
        assert_eq!(statuses(&expired), (G::RevocationPending, Some(H::Expired)));
        let deactivating = KeyFacts {
            valid_until: Some(NOW + 1),
            ..expired
        };
        assert_eq!(
            statuses(&deactivating),
            (G::RevocationPending, Some(H::DeactivationInProgress))
        );
        // A digital key before its start with a blocking change pending is shown (blocked).
        let early = KeyFacts {
            valid_from: NOW + DAY,
            valid_until: None,
            ..blocked
        };
        assert_eq!(statuses(&early), (G::RevocationPending, Some(H::Blocked)));
    }

    #[test]
    fn door_rows_are_labelled_in_order() {
        let f = access_medium(&[
            door(S::DeploymentPending, false),
            door(S::Deployed, true),
            door(S::None, true),
        ]);
        let s = evaluate(&f, NOW).unwrap();
        let labels: Vec<_> = s.doors.iter().map(|d| d.map(|d| d.label)).collect();
        assert_eq!(
            labels,
            [Some("(manual) Deployment pending"), Some("Deployed"), None]
        );
    }

    #[test]
    fn facts_are_validated() {
        let f = KeyFacts {
            valid_until: Some(NOW - DAY),
            ..access_medium(&[])
        };
        let e = evaluate(&f, NOW).unwrap_err();
        assert!(matches!(e, StatusError::InvalidKeyData { .. }));
        assert_eq!(e.field(), Some("valid_until"));
        let f = access_medium(&[door(S::Deployed, true), door(S::Blocked, true)]);
        assert_eq!(
            evaluate(&f, NOW).unwrap_err().field(),
            Some("doors[1].state")
        );
        assert_eq!(
            is_usable_at(&f, NOW).unwrap_err().field(),
            Some("doors[1].state")
        );
        let f = KeyFacts {
            doors: vec![door(S::RevocationPending, true)],
            ..digital_key(S::Deployed)
        };
        assert_eq!(
            evaluate(&f, NOW).unwrap_err().field(),
            Some("doors[0].state")
        );
    }

    #[test]
    fn usable_only_when_ready_valid_unblocked_and_in_schedule() {
        let am = access_medium(&[door(S::Deployed, true)]);
        assert!(is_usable_at(&am, NOW).unwrap());
        assert!(!is_usable_at(&am, NOW - DAY - 1).unwrap()); // before move-in: planned
        let pending = access_medium(&[door(S::Deployed, true), door(S::DeploymentPending, true)]);
        assert!(!is_usable_at(&pending, NOW).unwrap());
        let ended = KeyFacts {
            valid_until: Some(NOW),
            ..am.clone()
        };
        assert!(!is_usable_at(&ended, NOW).unwrap());
        assert!(is_usable_at(&ended, NOW - 1).unwrap());

        let dk = digital_key(S::Deployed);
        assert!(is_usable_at(&dk, NOW).unwrap());
        assert!(!is_usable_at(&dk, NOW - DAY - 1).unwrap()); // deployed, but not yet valid
        let blocked = KeyFacts {
            phone_blocked: true,
            ..dk.clone()
        };
        assert!(!is_usable_at(&blocked, NOW).unwrap());
        let revoked = KeyFacts {
            revoked: true,
            ..dk.clone()
        };
        assert!(!is_usable_at(&revoked, NOW).unwrap());
        assert!(!is_usable_at(&digital_key(S::None), NOW).unwrap());

        // 2024-01-10 (Wednesday) 06:30Z = 07:30 CET: in the window; 18:30Z = 19:30: not.
        let scheduled = KeyFacts {
            schedule: Some(weekdays_7_to_19()),
            ..dk
        };
        assert!(is_usable_at(&scheduled, 1_704_868_200).unwrap());
        assert!(!is_usable_at(&scheduled, 1_704_868_200 + 12 * 3600).unwrap());
        // Saturday 2024-01-13 06:30Z.
        assert!(!is_usable_at(&scheduled, 1_704_868_200 + 3 * DAY).unwrap());
    }

    #[test]
    fn index_round_trips_and_table_matches_the_rules() {
        assert_eq!(OUTCOMES.len(), SITUATIONS);
        for (i, outcome) in OUTCOMES.iter().enumerate() {
            let s = Situation::from_index(i);
            assert_eq!(s.index(), i);
            let g = general_status(&s);
            let h = home_status(&s, g);
            assert_eq!(outcome[0], g.code());
            assert_eq!(outcome[1], HomeStatus::code_of(h));
        }
    }

    #[test]
    fn every_status_of_the_seed_is_reached() {
        let mut general = std::collections::HashSet::new();
        let mut home = std::collections::HashSet::new();
        for i in 0..SITUATIONS {
            let s = Situation::from_index(i);
            let g = general_status(&s);
            general.insert(g);
            if let Some(h) = home_status(&s, g) {
                home.insert(h);
            }
        }
        assert_eq!(general.len(), GeneralStatus::ALL.len());
        assert_eq!(home.len(), HomeStatus::ALL.len());
    }
}
