//! Who must act on pending work, and when an online door counts as unreachable
//! (`docs/status-rules.md`, "Who must act").
//!
//! A pending row or a digital key's pending delivery/revocation always waits for exactly one
//! party; naming it is a status rule like the labels, so it lives here beside them.

use super::codes::{DoorState, KeyType};

/// The party whose action a pending state waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitingFor {
    /// Someone must go to the door: it is offline, or online but unreachable.
    Technician,
    /// An online, reachable door has not confirmed its update yet.
    Door,
    /// The mobile-access cloud has not confirmed delivery of a digital key.
    MobileCloud,
    /// A revoked digital key: "until the keyholder opens the dormakaba mobile access app or
    /// reloads the key list" (the seed).
    KeyholderApp,
}

impl WaitingFor {
    /// Every value, in the order of their API names.
    pub const ALL: &'static [WaitingFor] = &[
        WaitingFor::Technician,
        WaitingFor::Door,
        WaitingFor::MobileCloud,
        WaitingFor::KeyholderApp,
    ];
    /// The API names, in the order of [`WaitingFor::ALL`].
    pub const NAMES: &'static [&'static str] =
        &["technician", "door", "mobile_cloud", "keyholder_app"];

    /// The API name (`waiting_for` in JSON).
    pub const fn name(self) -> &'static str {
        match self {
            WaitingFor::Technician => "technician",
            WaitingFor::Door => "door",
            WaitingFor::MobileCloud => "mobile_cloud",
            WaitingFor::KeyholderApp => "keyholder_app",
        }
    }
}

/// Whether a door's pending work is done by the cloud (automated) or by hand (manual): an
/// online door that is unreachable needs a technician like an offline one, so its work reads
/// `(manual)` until it is heard from again.
pub const fn works_online(online: bool, unreachable: bool) -> bool {
    online && !unreachable
}

/// Who a door row in `state` waits for; `None` when the row is not pending.
pub const fn row_waiting_for(
    state: DoorState,
    online: bool,
    unreachable: bool,
) -> Option<WaitingFor> {
    if !state.is_pending() {
        None
    } else if works_online(online, unreachable) {
        Some(WaitingFor::Door)
    } else {
        Some(WaitingFor::Technician)
    }
}

/// Who a key's own (not per-door) state waits for: a digital key's delivery by the
/// mobile-access cloud, or after revocation the keyholder's app. Access media have no such
/// state (all their work is at doors).
pub const fn key_waiting_for(
    key_type: KeyType,
    revoked: bool,
    delivered: bool,
    app_reloaded: bool,
) -> Option<WaitingFor> {
    match key_type {
        KeyType::AccessMedium => None,
        KeyType::DigitalKey => {
            if revoked {
                if app_reloaded {
                    None
                } else {
                    Some(WaitingFor::KeyholderApp)
                }
            } else if !delivered {
                Some(WaitingFor::MobileCloud)
            } else {
                None
            }
        }
    }
}

/// When an online door with unconfirmed work became unreachable: `threshold` seconds after
/// the later of when it was last heard from (`last_seen`) and when its oldest unconfirmed
/// work began (`pending_since`), if that instant is at or before `now`. Work younger than the
/// threshold is not late yet, and a door that has nothing to confirm owes no answer; an
/// offline door is never expected to answer. A door never heard from counts from its work.
pub const fn unreachable_since(
    online: bool,
    last_seen: Option<i64>,
    pending_since: Option<i64>,
    threshold: i64,
    now: i64,
) -> Option<i64> {
    let Some(pending) = pending_since else {
        return None;
    };
    if !online {
        return None;
    }
    let heard = match last_seen {
        Some(seen) if seen > pending => seen,
        _ => pending,
    };
    let since = heard.saturating_add(threshold);
    if since <= now {
        Some(since)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_rows_wait_for_the_door_or_a_technician() {
        for state in DoorState::ALL {
            let online = row_waiting_for(*state, true, false);
            let offline = row_waiting_for(*state, false, false);
            let unreachable = row_waiting_for(*state, true, true);
            if state.is_pending() {
                assert_eq!(online, Some(WaitingFor::Door), "{state}");
                assert_eq!(offline, Some(WaitingFor::Technician), "{state}");
                assert_eq!(unreachable, Some(WaitingFor::Technician), "{state}");
            } else {
                assert_eq!(
                    (online, offline, unreachable),
                    (None, None, None),
                    "{state}"
                );
            }
        }
    }

    #[test]
    fn a_digital_key_waits_for_the_cloud_then_the_app() {
        use WaitingFor::*;
        let dk = KeyType::DigitalKey;
        assert_eq!(key_waiting_for(dk, false, false, false), Some(MobileCloud));
        assert_eq!(key_waiting_for(dk, false, true, false), None);
        assert_eq!(key_waiting_for(dk, true, true, false), Some(KeyholderApp));
        assert_eq!(key_waiting_for(dk, true, false, false), Some(KeyholderApp));
        assert_eq!(key_waiting_for(dk, true, true, true), None);
        for revoked in [false, true] {
            for delivered in [false, true] {
                assert_eq!(
                    key_waiting_for(KeyType::AccessMedium, revoked, delivered, false),
                    None
                );
            }
        }
    }

    #[test]
    fn an_online_door_is_unreachable_after_the_threshold() {
        // Silent since its work began at 100.
        assert_eq!(unreachable_since(true, None, Some(100), 60, 159), None);
        assert_eq!(unreachable_since(true, None, Some(100), 60, 160), Some(160));
        // Heard from after its work began: counts from then.
        assert_eq!(unreachable_since(true, Some(130), Some(100), 60, 189), None);
        assert_eq!(
            unreachable_since(true, Some(130), Some(100), 60, 190),
            Some(190)
        );
        // Heard from long before its work began: counts from the work.
        assert_eq!(
            unreachable_since(true, Some(10), Some(100), 60, 160),
            Some(160)
        );
        // Offline, or nothing to confirm: never unreachable.
        assert_eq!(
            unreachable_since(false, Some(100), Some(100), 60, 1000),
            None
        );
        assert_eq!(unreachable_since(true, Some(100), None, 60, 1000), None);
        assert_eq!(
            unreachable_since(true, None, Some(i64::MAX - 1), 60, i64::MAX),
            Some(i64::MAX)
        );
        assert!(works_online(true, false));
        assert!(!works_online(true, true));
        assert!(!works_online(false, false));
        assert_eq!(WaitingFor::ALL.len(), WaitingFor::NAMES.len());
        for (w, n) in WaitingFor::ALL.iter().zip(WaitingFor::NAMES) {
            assert_eq!(w.name(), *n);
        }
    }
}
