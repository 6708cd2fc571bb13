//! Modifying a key: what a new door set and a changed entry (validity, schedule) do at each door
//! ("Modifying a key" in `docs/status-rules.md`).
//!
//! The plan decides the action per door and computes every new state through
//! [`next_door_state`], so the transition table stays the one place that says which row may
//! move where. Whether a door needs a technician is not decided here: the door status of
//! `state_after` at the door's connectivity gives the mode.

use std::collections::HashSet;

use super::codes::{DoorAction, DoorEvent, DoorState, KeyType};
use super::error::StatusError;
use super::transition::next_door_state;

/// One door of a planned modification: what happens there and the row's state afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorPlan<'a> {
    pub door_id: &'a str,
    pub action: DoorAction,
    pub state_after: DoorState,
}

/// The plan for modifying a `key_type` key whose door rows are `rows` (door id, state) so that
/// its doors become `new_door_ids`; `entry_changed` says whether its validity or schedule
/// changes.
///
/// One entry per current row, in the order given, then one per added door, in the order
/// given. Access medium: an added door is `deploy` (`create`: deployment pending), a removed
/// one `revoke` (revocation pending, the row leaves the key once confirmed), a kept one
/// `update` (deployment pending again) when the entry changed, else `nothing`; a row still
/// revocation pending from an earlier modification is `deploy` (`create`) when added back and
/// `nothing` otherwise. Digital key: its doors hold no entry, so no row moves: an added door's
/// row starts at `none` (delivery makes it `deployed`), a removed door's row keeps its state
/// until the re-signed credential is delivered and then leaves the key.
///
/// Refused: an empty `new_door_ids` (that is a revocation) or one with a door twice
/// ([`StatusError::InvalidModification`] naming `door_ids`); two rows for one door or a
/// `removed` row (`InvalidModification` naming the row); a row state foreign to the key type
/// ([`StatusError::InvalidKeyData`]); a row the modification would move illegally, e.g. an
/// access medium's row in `none` ([`StatusError::IllegalTransition`]).
pub fn plan_modification<'a>(
    key_type: KeyType,
    rows: &[(&'a str, DoorState)],
    new_door_ids: &[&'a str],
    entry_changed: bool,
) -> Result<Vec<DoorPlan<'a>>, StatusError> {
    if new_door_ids.is_empty() {
        return Err(StatusError::modification(
            "door_ids",
            "a key keeps at least one door; removing every door is a revocation (revoke the key)",
        ));
    }
    let mut new_doors = HashSet::with_capacity(new_door_ids.len());
    for (i, id) in new_door_ids.iter().enumerate() {
        if !new_doors.insert(*id) {
            return Err(StatusError::modification(
                format!("door_ids[{i}]"),
                format!("door `{id}` is listed twice"),
            ));
        }
    }
    let mut current = HashSet::with_capacity(rows.len());
    let mut plan = Vec::with_capacity(rows.len() + new_door_ids.len());
    for (i, &(door_id, state)) in rows.iter().enumerate() {
        if !current.insert(door_id) {
            return Err(StatusError::modification(
                format!("rows[{i}].door_id"),
                format!("door `{door_id}` has two rows"),
            ));
        }
        if !key_type.allows(state) {
            return Err(StatusError::key_data(
                format!("rows[{i}].state"),
                format!("a door row of a {key_type} is never `{state}`"),
            ));
        }
        if state == DoorState::Removed {
            return Err(StatusError::modification(
                format!("rows[{i}].state"),
                format!(
                    "door `{door_id}` was removed from the key; its row leaves the key when \
                     the removal is confirmed"
                ),
            ));
        }
        let (action, event) =
            row_change(key_type, state, new_doors.contains(door_id), entry_changed);
        let state_after = match event {
            Some(event) => next_door_state(key_type, state, event)?,
            None => state,
        };
        plan.push(DoorPlan {
            door_id,
            action,
            state_after,
        });
    }
    let added_state = match key_type {
        KeyType::AccessMedium => next_door_state(key_type, DoorState::None, DoorEvent::Create)?,
        // Not at the door until the re-signed credential is delivered.
        KeyType::DigitalKey => DoorState::None,
    };
    plan.extend(
        new_door_ids
            .iter()
            .filter(|id| !current.contains(*id))
            .map(|&door_id| DoorPlan {
                door_id,
                action: DoorAction::Deploy,
                state_after: added_state,
            }),
    );
    Ok(plan)
}

/// The action at a door that has a row, and the row event it takes (none: the row keeps its
/// state).
const fn row_change(
    key_type: KeyType,
    state: DoorState,
    kept: bool,
    entry_changed: bool,
) -> (DoorAction, Option<DoorEvent>) {
    match (key_type, state, kept) {
        // Removed by an earlier modification and not yet confirmed: added back, the latest
        // intent wins; still removed, the earlier change already carries the removal.
        (KeyType::AccessMedium, DoorState::RevocationPending, true) => {
            (DoorAction::Deploy, Some(DoorEvent::Create))
        }
        (KeyType::AccessMedium, DoorState::RevocationPending, false) => (DoorAction::Nothing, None),
        (KeyType::AccessMedium, _, true) if entry_changed => {
            (DoorAction::Update, Some(DoorEvent::Update))
        }
        (KeyType::AccessMedium, _, false) => (DoorAction::Revoke, Some(DoorEvent::Revoke)),
        // A digital key's doors hold no entry: its re-signed credential carries the change.
        (KeyType::DigitalKey, _, true) if entry_changed => (DoorAction::Update, None),
        (KeyType::DigitalKey, _, false) => (DoorAction::Revoke, None),
        (_, _, true) => (DoorAction::Nothing, None),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use DoorAction as A;
    use DoorState as S;
    use KeyType::{AccessMedium as AM, DigitalKey as DK};

    fn plan(
        key_type: KeyType,
        rows: &[(&'static str, DoorState)],
        new: &[&'static str],
        changed: bool,
    ) -> Vec<(&'static str, DoorAction, DoorState)> {
        plan_modification(key_type, rows, new, changed)
            .unwrap()
            .into_iter()
            .map(|p| (p.door_id, p.action, p.state_after))
            .collect()
    }

    #[test]
    fn access_medium_added_removed_changed_and_untouched_doors() {
        let rows = [
            ("a", S::Deployed),
            ("b", S::DeploymentPending),
            ("c", S::Deployed),
        ];
        assert_eq!(
            plan(AM, &rows, &["d", "a", "b"], false),
            [
                ("a", A::Nothing, S::Deployed),
                ("b", A::Nothing, S::DeploymentPending),
                ("c", A::Revoke, S::RevocationPending),
                ("d", A::Deploy, S::DeploymentPending),
            ]
        );
        assert_eq!(
            plan(AM, &rows, &["a", "b", "c"], true),
            [
                ("a", A::Update, S::DeploymentPending),
                ("b", A::Update, S::DeploymentPending),
                ("c", A::Update, S::DeploymentPending),
            ]
        );
    }

    #[test]
    fn access_medium_door_being_removed_is_added_back_or_left_alone() {
        let rows = [("a", S::Deployed), ("b", S::RevocationPending)];
        assert_eq!(
            plan(AM, &rows, &["a", "b"], false),
            [
                ("a", A::Nothing, S::Deployed),
                ("b", A::Deploy, S::DeploymentPending),
            ]
        );
        assert_eq!(
            plan(AM, &rows, &["a"], true),
            [
                ("a", A::Update, S::DeploymentPending),
                ("b", A::Nothing, S::RevocationPending),
            ]
        );
    }

    #[test]
    fn digital_key_rows_do_not_move() {
        let rows = [
            ("a", S::Deployed),
            ("b", S::Blocked),
            ("c", S::UnblockingPending),
            ("n", S::None),
        ];
        assert_eq!(
            plan(DK, &rows, &["a", "b", "n", "d"], true),
            [
                ("a", A::Update, S::Deployed),
                ("b", A::Update, S::Blocked),
                ("c", A::Revoke, S::UnblockingPending),
                ("n", A::Update, S::None),
                ("d", A::Deploy, S::None),
            ]
        );
        assert_eq!(
            plan(DK, &rows[..1], &["a"], false),
            [("a", A::Nothing, S::Deployed)]
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let rows = [("a", S::Deployed)];
        let err = plan_modification(AM, &rows, &[], true).unwrap_err();
        assert!(matches!(err, StatusError::InvalidModification { .. }));
        assert_eq!(err.field(), Some("door_ids"));
        assert!(err.to_string().contains("revocation"), "{err}");

        let err = plan_modification(AM, &rows, &["a", "b", "a"], false).unwrap_err();
        assert_eq!(err.field(), Some("door_ids[2]"));
        assert!(matches!(err, StatusError::InvalidModification { .. }));

        let twice = [("a", S::Deployed), ("a", S::DeploymentPending)];
        let err = plan_modification(AM, &twice, &["a"], false).unwrap_err();
        assert_eq!(err.field(), Some("rows[1].door_id"));

        let removed = [("a", S::Deployed), ("b", S::Removed)];
        for kt in [AM, DK] {
            let err = plan_modification(kt, &removed, &["a"], false).unwrap_err();
            assert!(matches!(err, StatusError::InvalidModification { .. }));
            assert_eq!(err.field(), Some("rows[1].state"));
        }

        let foreign = [("a", S::Blocked)];
        let err = plan_modification(AM, &foreign, &["a"], false).unwrap_err();
        assert!(matches!(err, StatusError::InvalidKeyData { .. }));
        assert_eq!(err.field(), Some("rows[0].state"));
        let foreign = [("a", S::RevocationPending)];
        let err = plan_modification(DK, &foreign, &["a"], false).unwrap_err();
        assert_eq!(err.field(), Some("rows[0].state"));

        // An access medium's row that was never created cannot take an entry change or leave.
        let never = [("a", S::None)];
        for (new, event) in [
            (&["a"][..], DoorEvent::Update),
            (&["b"][..], DoorEvent::Revoke),
        ] {
            assert_eq!(
                plan_modification(AM, &never, new, true).unwrap_err(),
                StatusError::IllegalTransition {
                    key_type: AM,
                    state: S::None,
                    event
                }
            );
        }
        // Untouched, it stays as it is.
        assert_eq!(
            plan(AM, &never, &["a"], false),
            [("a", A::Nothing, S::None)]
        );
    }

    fn door_id() -> impl Strategy<Value = &'static str> {
        proptest::sample::select(vec!["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"])
    }

    /// Distinct rows in states of the key type other than `removed`.
    fn key_and_rows() -> impl Strategy<Value = (KeyType, Vec<(&'static str, DoorState)>)> {
        proptest::sample::select(KeyType::ALL.to_vec()).prop_flat_map(|kt| {
            let states: Vec<DoorState> = DoorState::ALL
                .iter()
                .copied()
                .filter(|&s| kt.allows(s) && s != S::Removed && (kt, s) != (AM, S::None))
                .collect();
            let rows =
                proptest::collection::btree_map(door_id(), proptest::sample::select(states), 0..6)
                    .prop_map(|m| m.into_iter().collect::<Vec<_>>())
                    .prop_shuffle();
            (Just(kt), rows)
        })
    }

    fn new_doors() -> impl Strategy<Value = Vec<&'static str>> {
        proptest::collection::btree_set(door_id(), 1..6)
            .prop_map(|s| s.into_iter().collect::<Vec<_>>())
            .prop_shuffle()
    }

    proptest! {
        #[test]
        fn every_door_once_in_order_with_states_from_the_table(
            (kt, rows) in key_and_rows(),
            new in new_doors(),
            changed in any::<bool>(),
        ) {
            let p = plan_modification(kt, &rows, &new, changed).unwrap();
            // Current rows in order, then the added doors in the order given.
            let added: Vec<&str> = new
                .iter()
                .copied()
                .filter(|id| !rows.iter().any(|(r, _)| r == id))
                .collect();
            let expected_ids: Vec<&str> =
                rows.iter().map(|(id, _)| *id).chain(added.iter().copied()).collect();
            let ids: Vec<&str> = p.iter().map(|d| d.door_id).collect();
            prop_assert_eq!(ids, expected_ids);
            for (d, &(_, before)) in p.iter().zip(&rows) {
                let kept = new.contains(&d.door_id);
                let leaving = kt == AM && before == S::RevocationPending;
                let expected_event = match d.action {
                    A::Nothing => {
                        prop_assert!((!kept && leaving) || (kept && !changed && !leaving), "{d:?} {before}");
                        None
                    }
                    A::Update => {
                        prop_assert!(kept && changed && !leaving);
                        (kt == AM).then_some(DoorEvent::Update)
                    }
                    A::Revoke => {
                        prop_assert!(!kept && !leaving);
                        (kt == AM).then_some(DoorEvent::Revoke)
                    }
                    A::Deploy => {
                        prop_assert!(kept && leaving);
                        Some(DoorEvent::Create)
                    }
                };
                let expected_state = match expected_event {
                    Some(e) => next_door_state(kt, before, e).unwrap(),
                    None => before,
                };
                prop_assert_eq!(d.state_after, expected_state);
            }
            for d in &p[rows.len()..] {
                prop_assert_eq!(d.action, A::Deploy);
                let start = if kt == AM {
                    next_door_state(kt, S::None, DoorEvent::Create).unwrap()
                } else {
                    S::None
                };
                prop_assert_eq!(d.state_after, start);
            }
            // Every row after the plan is still a state of the key type.
            prop_assert!(p.iter().all(|d| kt.allows(d.state_after)));
        }

        #[test]
        fn any_rows_get_a_plan_or_a_typed_error_never_a_panic(
            kt in proptest::sample::select(KeyType::ALL.to_vec()),
            rows in proptest::collection::vec(
                (door_id(), proptest::sample::select(DoorState::ALL.to_vec())), 0..6),
            new in proptest::collection::vec(door_id(), 0..6),
            changed in any::<bool>(),
        ) {
            match plan_modification(kt, &rows, &new, changed) {
                Ok(p) => prop_assert!(p.len() >= rows.len()),
                Err(e) => prop_assert!(
                    matches!(
                        e,
                        StatusError::InvalidModification { .. }
                            | StatusError::InvalidKeyData { .. }
                            | StatusError::IllegalTransition { .. }
                    ),
                    "{e:?}"
                ),
            }
        }
    }
}
