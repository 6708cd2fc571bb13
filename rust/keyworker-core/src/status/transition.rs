//! Transitions of one (key, door) row: the two tables of `docs/status-rules.md`.

use super::codes::{DoorEvent, DoorState, KeyType};
use super::error::StatusError;

/// The state a door row of a `key_type` key moves to when `event` happens in `state`.
///
/// Every pair the tables do not list is an [`StatusError::IllegalTransition`]: the caller
/// keeps the row as it was.
pub fn next_door_state(
    key_type: KeyType,
    state: DoorState,
    event: DoorEvent,
) -> Result<DoorState, StatusError> {
    use DoorEvent as E;
    use DoorState as S;
    let next = match (key_type, state, event) {
        (KeyType::AccessMedium, S::None, E::Create) => Some(S::DeploymentPending),
        (KeyType::AccessMedium, S::DeploymentPending, E::Confirm) => Some(S::Deployed),
        (KeyType::AccessMedium, S::DeploymentPending | S::Deployed, E::Revoke) => {
            Some(S::RevocationPending)
        }
        (KeyType::AccessMedium, S::RevocationPending, E::Confirm) => Some(S::Removed),
        // A modification changed the key's entry (validity, schedule): the door must get the
        // changed entry. A row still pending takes the newer entry the same way.
        (KeyType::AccessMedium, S::DeploymentPending | S::Deployed, E::Update) => {
            Some(S::DeploymentPending)
        }
        // A door being removed by an earlier modification is added back: the latest intent
        // wins, as for block and unblock; the door's next update carries the entry again.
        (KeyType::AccessMedium, S::RevocationPending, E::Create) => Some(S::DeploymentPending),

        (KeyType::DigitalKey, S::None, E::Deliver) => Some(S::Deployed),
        (KeyType::DigitalKey, S::Deployed, E::Block) => Some(S::BlockingPending),
        (KeyType::DigitalKey, S::BlockingPending, E::Confirm) => Some(S::Blocked),
        (KeyType::DigitalKey, S::Blocked, E::Unblock) => Some(S::UnblockingPending),
        (KeyType::DigitalKey, S::UnblockingPending, E::Confirm) => Some(S::Deployed),
        // The latest intent wins: the door's desired version is raised again and the next
        // update it applies carries the newer intent.
        (KeyType::DigitalKey, S::BlockingPending, E::Unblock) => Some(S::UnblockingPending),
        (KeyType::DigitalKey, S::UnblockingPending, E::Block) => Some(S::BlockingPending),
        (
            KeyType::DigitalKey,
            S::Deployed | S::BlockingPending | S::Blocked | S::UnblockingPending,
            E::CompleteRevocation,
        ) => Some(S::Removed),
        _ => None,
    };
    next.ok_or(StatusError::IllegalTransition {
        key_type,
        state,
        event,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DoorEvent as E;
    use DoorState as S;
    use KeyType::{AccessMedium as AM, DigitalKey as DK};

    /// Every row of both tables, written out once more so that a change to the match above
    /// that adds, drops or alters a row fails here.
    const TABLE: &[(KeyType, DoorState, DoorEvent, DoorState)] = &[
        (AM, S::None, E::Create, S::DeploymentPending),
        (AM, S::DeploymentPending, E::Confirm, S::Deployed),
        (AM, S::DeploymentPending, E::Revoke, S::RevocationPending),
        (AM, S::Deployed, E::Revoke, S::RevocationPending),
        (AM, S::RevocationPending, E::Confirm, S::Removed),
        (AM, S::DeploymentPending, E::Update, S::DeploymentPending),
        (AM, S::Deployed, E::Update, S::DeploymentPending),
        (AM, S::RevocationPending, E::Create, S::DeploymentPending),
        (DK, S::None, E::Deliver, S::Deployed),
        (DK, S::Deployed, E::Block, S::BlockingPending),
        (DK, S::BlockingPending, E::Confirm, S::Blocked),
        (DK, S::Blocked, E::Unblock, S::UnblockingPending),
        (DK, S::UnblockingPending, E::Confirm, S::Deployed),
        (DK, S::BlockingPending, E::Unblock, S::UnblockingPending),
        (DK, S::UnblockingPending, E::Block, S::BlockingPending),
        (DK, S::Deployed, E::CompleteRevocation, S::Removed),
        (DK, S::BlockingPending, E::CompleteRevocation, S::Removed),
        (DK, S::Blocked, E::CompleteRevocation, S::Removed),
        (DK, S::UnblockingPending, E::CompleteRevocation, S::Removed),
    ];

    #[test]
    fn every_listed_transition_happens() {
        for &(k, from, event, to) in TABLE {
            assert_eq!(
                next_door_state(k, from, event),
                Ok(to),
                "{k} {from} {event}"
            );
        }
    }

    #[test]
    fn every_unlisted_pair_is_illegal() {
        let mut illegal = 0;
        for &k in KeyType::ALL {
            for &from in DoorState::ALL {
                for &event in DoorEvent::ALL {
                    let listed = TABLE
                        .iter()
                        .any(|&(tk, tf, te, _)| (tk, tf, te) == (k, from, event));
                    if !listed {
                        illegal += 1;
                        assert_eq!(
                            next_door_state(k, from, event),
                            Err(StatusError::IllegalTransition {
                                key_type: k,
                                state: from,
                                event
                            })
                        );
                    }
                }
            }
        }
        assert_eq!(illegal, 2 * 8 * 8 - TABLE.len());
    }

    #[test]
    fn some_illegal_transitions_by_name() {
        // A removed row is history; a confirmed door cannot be confirmed again.
        assert!(next_door_state(AM, S::Removed, E::Confirm).is_err());
        assert!(next_door_state(AM, S::Deployed, E::Confirm).is_err());
        // An access medium is never on a blocklist; a digital key is never written to a door.
        assert!(next_door_state(AM, S::Deployed, E::Block).is_err());
        assert!(next_door_state(DK, S::None, E::Create).is_err());
        // Blocking applies to delivered keys only.
        assert!(next_door_state(DK, S::None, E::Block).is_err());
        // Revoking a digital key writes nothing to its doors.
        let err = next_door_state(DK, S::Deployed, E::Revoke).unwrap_err();
        assert!(err.to_string().contains("digital_key"));
        assert!(err.to_string().contains("`revoke`"));
        assert_eq!(err.field(), None);
    }

    #[test]
    fn block_and_unblock_follow_the_latest_intent() {
        let mut s = next_door_state(DK, S::None, E::Deliver).unwrap();
        for event in [E::Block, E::Unblock, E::Block, E::Confirm] {
            s = next_door_state(DK, s, event).unwrap();
        }
        assert_eq!(s, S::Blocked);
        s = next_door_state(DK, s, E::Unblock).unwrap();
        s = next_door_state(DK, s, E::Block).unwrap();
        s = next_door_state(DK, s, E::Unblock).unwrap();
        assert_eq!(next_door_state(DK, s, E::Confirm), Ok(S::Deployed));
    }

    #[test]
    fn modifying_an_access_medium_follows_the_latest_intent() {
        // Changed entry at a deployed door, changed again before the door confirmed.
        let mut s = next_door_state(AM, S::Deployed, E::Update).unwrap();
        s = next_door_state(AM, s, E::Update).unwrap();
        assert_eq!(s, S::DeploymentPending);
        // Removed, then added back before the door confirmed the removal.
        s = next_door_state(AM, s, E::Revoke).unwrap();
        s = next_door_state(AM, s, E::Create).unwrap();
        assert_eq!(next_door_state(AM, s, E::Confirm), Ok(S::Deployed));
        // A door that is leaving takes no entry change; a digital key's doors hold no entry.
        assert!(next_door_state(AM, S::RevocationPending, E::Update).is_err());
        assert!(next_door_state(AM, S::None, E::Update).is_err());
        assert!(next_door_state(AM, S::Removed, E::Create).is_err());
        for &s in DoorState::ALL {
            assert!(next_door_state(DK, s, E::Update).is_err());
        }
    }
}
