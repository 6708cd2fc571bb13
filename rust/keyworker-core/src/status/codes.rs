//! The status model's vocabulary: every code with its stable number, name and label.
//!
//! Numbers are stored (DynamoDB index attributes, bulk columns), so they never change; names
//! are the API's `code` strings; labels are the seed's wording, character for character.

use std::fmt;

use super::error::StatusError;

/// Declares a code enum with its numbers and API names, plus the lookups every code needs.
macro_rules! codes {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($variant:ident = $num:literal => $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum $name {
            $($variant = $num,)+
        }

        impl $name {
            /// Every code, in numeric order (the index is the code).
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];
            /// The API names, in numeric order.
            pub const NAMES: &'static [&'static str] = &[$($text,)+];

            /// The stable numeric code.
            pub const fn code(self) -> u8 {
                self as u8
            }

            /// The API name (`code` in JSON).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value with numeric code `code`, if there is one.
            pub const fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($num => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// Parses an API name; `field` names the input in the error (it is only
            /// rendered when there is an error).
            pub fn from_name(name: &str, field: impl fmt::Display) -> Result<Self, StatusError> {
                match name {
                    $($text => Ok($name::$variant),)+
                    _ => Err(StatusError::UnknownCode {
                        field: field.to_string(),
                        kind: $kind,
                        value: name.to_owned(),
                    }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

codes! {
    /// What kind of key: a physical access medium (card, fob) or a digital key on a phone.
    KeyType, "key type" {
        AccessMedium = 0 => "access_medium",
        DigitalKey = 1 => "digital_key",
    }
}

codes! {
    /// The state of one (key, door) row.
    DoorState, "door state" {
        None = 0 => "none",
        DeploymentPending = 1 => "deployment_pending",
        Deployed = 2 => "deployed",
        RevocationPending = 3 => "revocation_pending",
        Removed = 4 => "removed",
        BlockingPending = 5 => "blocking_pending",
        Blocked = 6 => "blocked",
        UnblockingPending = 7 => "unblocking_pending",
    }
}

codes! {
    /// What happens to a (key, door) row.
    DoorEvent, "door event" {
        Create = 0 => "create",
        Deliver = 1 => "deliver",
        Revoke = 2 => "revoke",
        Block = 3 => "block",
        Unblock = 4 => "unblock",
        Confirm = 5 => "confirm",
        CompleteRevocation = 6 => "complete_revocation",
        Update = 7 => "update",
    }
}

codes! {
    /// What a modification of a key does at one door (see [`super::modify`]).
    DoorAction, "door action" {
        Nothing = 0 => "nothing",
        Deploy = 1 => "deploy",
        Revoke = 2 => "revoke",
        Update = 3 => "update",
    }
}

codes! {
    /// The general status of a key (admin portal, "Status" table).
    GeneralStatus, "general status" {
        Planned = 0 => "planned",
        Active = 1 => "active",
        DoorUpdatePending = 2 => "door_update_pending",
        RevocationPending = 3 => "revocation_pending",
        Revoked = 4 => "revoked",
        DeploymentPending = 5 => "deployment_pending",
        Deployed = 6 => "deployed",
    }
}

codes! {
    /// What the keyholder's home app shows ("Status (resivo home app)" table).
    HomeStatus, "home-app status" {
        Always = 0 => "always",
        TimeDay = 1 => "time_day",
        UpdatingCommonDoors = 2 => "updating_common_doors",
        PleaseUpdateDoor = 3 => "please_update_door",
        DeactivationInProgress = 4 => "deactivation_in_progress",
        Expired = 5 => "expired",
        Blocked = 6 => "blocked",
    }
}

/// The numeric code that stands for "no home-app status" (the app does not show the key).
pub const NO_HOME_STATUS: u8 = 255;

/// How a door with pending work gets updated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The door is offline: a technician or the resident updates it at the door.
    Manual,
    /// The door is online: the cloud updates it.
    Automated,
}

impl Mode {
    /// Online doors are updated by the cloud, offline ones by hand.
    pub const fn of_door(online: bool) -> Self {
        if online {
            Mode::Automated
        } else {
            Mode::Manual
        }
    }

    /// The API name.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Manual => "manual",
            Mode::Automated => "automated",
        }
    }
}

/// The home app groups its statuses into these two headings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HomeCategory {
    Active,
    Inactive,
}

impl HomeCategory {
    /// The API name.
    pub const fn name(self) -> &'static str {
        match self {
            HomeCategory::Active => "active",
            HomeCategory::Inactive => "inactive",
        }
    }
}

impl KeyType {
    /// Whether a door row of this key type can ever be in `state`. Access media never meet the
    /// phone's blocklist; digital keys are never written to a door, so never deploy or revoke
    /// there. A row in a state foreign to its key type is corrupt data, not a status.
    pub const fn allows(self, state: DoorState) -> bool {
        match self {
            KeyType::AccessMedium => matches!(
                state,
                DoorState::None
                    | DoorState::DeploymentPending
                    | DoorState::Deployed
                    | DoorState::RevocationPending
                    | DoorState::Removed
            ),
            KeyType::DigitalKey => !matches!(
                state,
                DoorState::DeploymentPending | DoorState::RevocationPending
            ),
        }
    }
}

impl DoorState {
    /// Work still to be done at the door: these states carry a mode.
    pub const fn is_pending(self) -> bool {
        matches!(
            self,
            DoorState::DeploymentPending
                | DoorState::RevocationPending
                | DoorState::BlockingPending
                | DoorState::UnblockingPending
        )
    }

    /// Whether the door still holds the key (or a blocklist entry for it): every state but
    /// `none` (never written) and `removed` (history).
    pub const fn is_present(self) -> bool {
        !matches!(self, DoorState::None | DoorState::Removed)
    }

    /// The seed's words for this state, without the mode prefix; `None` for states the portal
    /// does not show.
    const fn base_label(self) -> Option<&'static str> {
        match self {
            DoorState::None | DoorState::Removed => None,
            DoorState::DeploymentPending => Some("Deployment pending"),
            DoorState::Deployed => Some("Deployed"),
            DoorState::RevocationPending => Some("Revocation pending"),
            DoorState::BlockingPending => Some("Blocking pending"),
            DoorState::Blocked => Some("Blocked"),
            DoorState::UnblockingPending => Some("Unblocking pending"),
        }
    }

    /// The "Deployment status" row for this state at a door that is `online` or not: its mode
    /// (pending states only) and label, or `None` when the portal shows no row.
    pub const fn door_status(self, online: bool) -> Option<DoorStatus> {
        let Some(base) = self.base_label() else {
            return None;
        };
        if !self.is_pending() {
            return Some(DoorStatus {
                state: self,
                mode: None,
                label: base,
            });
        }
        let mode = Mode::of_door(online);
        // The seed's labels are the base words prefixed by the mode, e.g.
        // "(manual) Deployment pending"; spelled out so each is greppable.
        let label = match (self, mode) {
            (DoorState::DeploymentPending, Mode::Manual) => "(manual) Deployment pending",
            (DoorState::DeploymentPending, Mode::Automated) => "(automated) Deployment pending",
            (DoorState::RevocationPending, Mode::Manual) => "(manual) Revocation pending",
            (DoorState::RevocationPending, Mode::Automated) => "(automated) Revocation pending",
            (DoorState::BlockingPending, Mode::Manual) => "(manual) Blocking pending",
            (DoorState::BlockingPending, Mode::Automated) => "(automated) Blocking pending",
            (DoorState::UnblockingPending, Mode::Manual) => "(manual) Unblocking pending",
            (DoorState::UnblockingPending, Mode::Automated) => "(automated) Unblocking pending",
            _ => base,
        };
        Some(DoorStatus {
            state: self,
            mode: Some(mode),
            label,
        })
    }
}

/// One row of the "Deployment status" table as the portal shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorStatus {
    pub state: DoorState,
    pub mode: Option<Mode>,
    pub label: &'static str,
}

impl GeneralStatus {
    /// The seed's wording.
    pub const fn label(self) -> &'static str {
        match self {
            GeneralStatus::Planned => "Planned",
            GeneralStatus::Active => "Active",
            GeneralStatus::DoorUpdatePending => "Door update pending",
            GeneralStatus::RevocationPending => "Revocation pending",
            GeneralStatus::Revoked => "Revoked",
            GeneralStatus::DeploymentPending => "Deployment pending",
            GeneralStatus::Deployed => "Deployed",
        }
    }
}

impl HomeStatus {
    /// The seed's wording; `None` for `time_day`, whose label is the key's schedule rendered
    /// by [`super::schedule::Schedule::label`].
    pub const fn fixed_label(self) -> Option<&'static str> {
        match self {
            HomeStatus::Always => Some("Always"),
            HomeStatus::TimeDay => None,
            HomeStatus::UpdatingCommonDoors => Some("Updating common doors"),
            HomeStatus::PleaseUpdateDoor => Some("Please update the door"),
            HomeStatus::DeactivationInProgress => Some("Deactivation in progress"),
            HomeStatus::Expired => Some("Expired"),
            HomeStatus::Blocked => Some("Blocked"),
        }
    }

    /// The home app's heading for this status.
    pub const fn category(self) -> HomeCategory {
        match self {
            HomeStatus::Expired | HomeStatus::Blocked => HomeCategory::Inactive,
            _ => HomeCategory::Active,
        }
    }

    /// The numeric code of an optional home status (255 for none).
    pub const fn code_of(status: Option<HomeStatus>) -> u8 {
        match status {
            Some(s) => s.code(),
            None => NO_HOME_STATUS,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_codes_are_the_documented_ones() {
        assert_eq!(
            DoorState::NAMES,
            [
                "none",
                "deployment_pending",
                "deployed",
                "revocation_pending",
                "removed",
                "blocking_pending",
                "blocked",
                "unblocking_pending"
            ]
        );
        assert_eq!(
            GeneralStatus::NAMES,
            [
                "planned",
                "active",
                "door_update_pending",
                "revocation_pending",
                "revoked",
                "deployment_pending",
                "deployed"
            ]
        );
        assert_eq!(
            HomeStatus::NAMES,
            [
                "always",
                "time_day",
                "updating_common_doors",
                "please_update_door",
                "deactivation_in_progress",
                "expired",
                "blocked"
            ]
        );
        assert_eq!(KeyType::NAMES, ["access_medium", "digital_key"]);
        assert_eq!(
            DoorEvent::NAMES,
            [
                "create",
                "deliver",
                "revoke",
                "block",
                "unblock",
                "confirm",
                "complete_revocation",
                "update"
            ]
        );
        for (i, s) in DoorState::ALL.iter().enumerate() {
            assert_eq!(usize::from(s.code()), i);
            assert_eq!(DoorState::from_code(s.code()), Some(*s));
            assert_eq!(DoorState::from_name(s.name(), "state"), Ok(*s));
        }
        assert_eq!(DoorState::from_code(8), None);
        assert_eq!(HomeStatus::code_of(None), 255);
    }

    #[test]
    fn unknown_names_are_typed_errors_naming_the_field() {
        let err = DoorState::from_name("installed", "doors[3].state").unwrap_err();
        assert_eq!(err.field(), Some("doors[3].state"));
        assert!(matches!(err, StatusError::UnknownCode { .. }));
        assert!(err.to_string().contains("installed"));
    }

    #[test]
    fn door_labels_are_the_seeds_words() {
        let label = |s, online| DoorState::door_status(s, online).map(|d| d.label);
        use DoorState::*;
        assert_eq!(
            label(DeploymentPending, false),
            Some("(manual) Deployment pending")
        );
        assert_eq!(
            label(DeploymentPending, true),
            Some("(automated) Deployment pending")
        );
        assert_eq!(label(Deployed, false), Some("Deployed"));
        assert_eq!(label(Deployed, true), Some("Deployed"));
        assert_eq!(
            label(RevocationPending, false),
            Some("(manual) Revocation pending")
        );
        assert_eq!(
            label(RevocationPending, true),
            Some("(automated) Revocation pending")
        );
        assert_eq!(
            label(BlockingPending, false),
            Some("(manual) Blocking pending")
        );
        assert_eq!(
            label(BlockingPending, true),
            Some("(automated) Blocking pending")
        );
        assert_eq!(label(Blocked, true), Some("Blocked"));
        assert_eq!(
            label(UnblockingPending, false),
            Some("(manual) Unblocking pending")
        );
        assert_eq!(
            label(UnblockingPending, true),
            Some("(automated) Unblocking pending")
        );
        assert_eq!(label(None, true), Option::None);
        assert_eq!(label(Removed, false), Option::None);
        // Mode only for pending states.
        assert_eq!(Deployed.door_status(true).unwrap().mode, Option::None);
        assert_eq!(
            BlockingPending.door_status(true).unwrap().mode,
            Some(Mode::Automated)
        );
        assert_eq!(
            RevocationPending.door_status(false).unwrap().mode,
            Some(Mode::Manual)
        );
    }

    #[test]
    fn general_and_home_labels_are_the_seeds_words() {
        let general: Vec<_> = GeneralStatus::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(
            general,
            [
                "Planned",
                "Active",
                "Door update pending",
                "Revocation pending",
                "Revoked",
                "Deployment pending",
                "Deployed"
            ]
        );
        let home: Vec<_> = HomeStatus::ALL.iter().map(|s| s.fixed_label()).collect();
        assert_eq!(
            home,
            [
                Some("Always"),
                Option::None,
                Some("Updating common doors"),
                Some("Please update the door"),
                Some("Deactivation in progress"),
                Some("Expired"),
                Some("Blocked")
            ]
        );
        assert_eq!(HomeStatus::Expired.category(), HomeCategory::Inactive);
        assert_eq!(HomeStatus::Blocked.category(), HomeCategory::Inactive);
        assert_eq!(HomeStatus::TimeDay.category(), HomeCategory::Active);
        assert_eq!(
            HomeStatus::DeactivationInProgress.category(),
            HomeCategory::Active
        );
    }

    #[test]
    fn door_states_belong_to_their_key_type() {
        use DoorState::*;
        for s in [BlockingPending, Blocked, UnblockingPending] {
            assert!(!KeyType::AccessMedium.allows(s));
            assert!(KeyType::DigitalKey.allows(s));
        }
        for s in [DeploymentPending, RevocationPending] {
            assert!(KeyType::AccessMedium.allows(s));
            assert!(!KeyType::DigitalKey.allows(s));
        }
        for s in [None, Deployed, Removed] {
            assert!(KeyType::AccessMedium.allows(s));
            assert!(KeyType::DigitalKey.allows(s));
        }
    }
}
