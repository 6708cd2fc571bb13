//! Properties of the status engine over random inputs.
//!
//! `PROPTEST_CASES` raises the number of cases for a thorough run (default 256).

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::bulk::{flags, BulkInput, CHUNK_KEYS, NO_END};
use super::codes::NO_HOME_STATUS;
use super::derive::DOOR_ONLINE;
use super::schedule::{parse_label, Weekdays, WEEKDAY_NAMES};
use super::*;

const NOW: i64 = 1_700_000_000;

/// One key's facts in the bulk encoding, restricted to valid data.
#[derive(Debug, Clone)]
struct RawKey {
    key_type: u8,
    flags: u8,
    valid_from: i64,
    valid_until: i64,
    doors: Vec<u8>,
}

fn raw_key() -> impl Strategy<Value = RawKey> {
    (0u8..2).prop_flat_map(|kt| {
        let key_type = KeyType::from_code(kt).unwrap_or(KeyType::AccessMedium);
        let states: Vec<u8> = DoorState::ALL
            .iter()
            .filter(|s| key_type.allows(**s))
            .map(|s| s.code())
            .collect();
        let door = (proptest::sample::select(states), any::<bool>())
            .prop_map(|(s, online)| s | if online { DOOR_ONLINE } else { 0 });
        // Times around NOW, with the boundaries (NOW itself, +-1) likely.
        let instant = prop_oneof![
            (-2i64..=2).prop_map(|d| NOW + d),
            (-100_000i64..100_000).prop_map(|d| NOW + d),
        ];
        (
            Just(kt),
            0u8..=flags::KNOWN,
            instant.clone(),
            proptest::option::of(1i64..200_000),
            // Mostly a few doors; sometimes more than the bulk loop reads in one go (24).
            prop_oneof![
                4 => proptest::collection::vec(door.clone(), 0..7),
                1 => proptest::collection::vec(door, 7..40),
            ],
        )
            .prop_map(|(key_type, flags, valid_from, length, doors)| RawKey {
                key_type,
                flags,
                valid_from,
                valid_until: length.map_or(NO_END, |l| valid_from.saturating_add(l)),
                doors,
            })
    })
}

fn schedule() -> Schedule {
    Schedule::new(
        "Europe/Zurich",
        vec![Window::new(Weekdays::ALL, 420, 1140, "schedule.windows[0]").unwrap()],
    )
    .unwrap()
}

impl RawKey {
    fn facts(&self) -> KeyFacts {
        let f = |bit: u8| self.flags & bit != 0;
        KeyFacts {
            key_type: KeyType::from_code(self.key_type).unwrap_or(KeyType::AccessMedium),
            revoked: f(flags::REVOKED),
            valid_from: self.valid_from,
            valid_until: (self.valid_until != NO_END).then_some(self.valid_until),
            doors: self
                .doors
                .iter()
                .map(|&b| DoorFacts {
                    state: DoorState::from_code(b & !DOOR_ONLINE).unwrap_or(DoorState::None),
                    online: b & DOOR_ONLINE != 0,
                })
                .collect(),
            schedule: f(flags::HAS_SCHEDULE).then(schedule),
            phone_blocked: f(flags::PHONE_BLOCKED),
            delivered: f(flags::DELIVERED),
            app_reloaded: f(flags::APP_RELOADED),
        }
    }
}

struct Columns {
    key_types: Vec<u8>,
    flags: Vec<u8>,
    valid_from: Vec<i64>,
    valid_until: Vec<i64>,
    door_offsets: Vec<u32>,
    door_states: Vec<u8>,
}

impl Columns {
    fn of(keys: &[RawKey]) -> Self {
        let mut c = Columns {
            key_types: keys.iter().map(|k| k.key_type).collect(),
            flags: keys.iter().map(|k| k.flags).collect(),
            valid_from: keys.iter().map(|k| k.valid_from).collect(),
            valid_until: keys.iter().map(|k| k.valid_until).collect(),
            door_offsets: vec![0],
            door_states: Vec::new(),
        };
        for k in keys {
            c.door_states.extend_from_slice(&k.doors);
            c.door_offsets.push(c.door_states.len() as u32);
        }
        c
    }

    fn input(&self) -> BulkInput<'_> {
        BulkInput {
            key_types: &self.key_types,
            flags: &self.flags,
            valid_from: &self.valid_from,
            valid_until: &self.valid_until,
            door_offsets: &self.door_offsets,
            door_states: &self.door_states,
        }
    }
}

/// Bulk evaluation gives, key by key, what per-key evaluation gives, and counts them.
fn assert_bulk_matches_per_key(keys: &[RawKey], now: i64, threads: Option<usize>) {
    let columns = Columns::of(keys);
    let out = evaluate_bulk(&columns.input(), now, threads).unwrap();
    let mut status_counts = [0u64; 7];
    let mut home_counts = [0u64; 8];
    for (i, key) in keys.iter().enumerate() {
        let expected = evaluate(&key.facts(), now).unwrap();
        let home = HomeStatus::code_of(expected.home.as_ref().map(|h| h.status));
        assert_eq!(out.status[i], expected.status.code(), "key {i}: {key:?}");
        assert_eq!(out.home_status[i], home, "key {i}: {key:?}");
        status_counts[usize::from(expected.status.code())] += 1;
        home_counts[if home == NO_HOME_STATUS {
            7
        } else {
            usize::from(home)
        }] += 1;
    }
    assert_eq!(out.status_counts, status_counts);
    assert_eq!(out.home_status_counts, home_counts);
}

/// Window specs: a non-empty weekday set and 0 <= start < end <= 1440.
fn window_spec() -> impl Strategy<Value = (Weekdays, u16, u16)> {
    (1u8..=0x7f, 0u16..1440).prop_flat_map(|(bits, start)| {
        let days = Weekdays::from_bits(bits).unwrap_or(Weekdays::ALL);
        (Just(days), Just(start), start + 1..=1440)
    })
}

proptest! {
    #[test]
    fn bulk_equals_per_key_evaluation(
        keys in proptest::collection::vec(raw_key(), 0..60),
        now in prop_oneof![Just(NOW), (NOW - 200_000)..(NOW + 200_000)],
        threads in proptest::option::of(1usize..4),
    ) {
        assert_bulk_matches_per_key(&keys, now, threads);
    }

    #[test]
    fn transitions_never_panic_and_stay_in_the_key_types_states(
        kt in any::<u8>(), state in any::<u8>(), events in proptest::collection::vec(any::<u8>(), 0..20),
    ) {
        let (Some(kt), Some(mut state)) = (KeyType::from_code(kt % 3), DoorState::from_code(state % 9)) else {
            return Ok(());
        };
        let start_allowed = kt.allows(state);
        for e in events {
            let Some(event) = DoorEvent::from_code(e % 9) else { continue };
            match next_door_state(kt, state, event) {
                Ok(next) => {
                    // A legal step never leads a valid row into a state foreign to its key type.
                    if start_allowed {
                        prop_assert!(kt.allows(next), "{kt} {state} {event} -> {next}");
                    }
                    state = next;
                }
                Err(StatusError::IllegalTransition { key_type, state: s, event: ev }) => {
                    prop_assert_eq!((key_type, s, ev), (kt, state, event));
                }
                Err(other) => prop_assert!(false, "unexpected error {other:?}"),
            }
        }
    }

    #[test]
    fn labels_round_trip(windows in proptest::collection::vec(window_spec(), 1..5)) {
        let built: Vec<Window> = windows
            .iter()
            .map(|&(d, s, e)| Window::new(d, i64::from(s), i64::from(e), "w").unwrap())
            .collect();
        let label = Schedule::new("UTC", built).unwrap().label();
        prop_assert_eq!(parse_label(&label), Some(windows));
    }

    #[test]
    fn weekday_names_round_trip(bits in 1u8..=0x7f) {
        let days = Weekdays::from_bits(bits).unwrap();
        let mut back = Weekdays::default();
        for name in days.names() {
            back.insert_name(name, "days").unwrap();
        }
        prop_assert_eq!(back, days);
        prop_assert!(days.names().all(|n| WEEKDAY_NAMES.contains(&n)));
    }

    /// Arbitrary bytes in the columns: an answer or an InvalidBulkInput, never a panic.
    #[test]
    fn garbage_bulk_input_is_rejected_cleanly(
        key_types in proptest::collection::vec(any::<u8>(), 0..8),
        flag_bytes in proptest::collection::vec(any::<u8>(), 0..8),
        from in proptest::collection::vec(any::<i64>(), 0..8),
        until in proptest::collection::vec(any::<i64>(), 0..8),
        offsets in proptest::collection::vec(0u32..12, 0..10),
        states in proptest::collection::vec(any::<u8>(), 0..12),
        now in any::<i64>(),
    ) {
        let input = BulkInput {
            key_types: &key_types,
            flags: &flag_bytes,
            valid_from: &from,
            valid_until: &until,
            door_offsets: &offsets,
            door_states: &states,
        };
        match evaluate_bulk(&input, now, None) {
            Ok(out) => prop_assert_eq!(out.status.len(), key_types.len()),
            Err(e) => prop_assert!(matches!(e, StatusError::InvalidBulkInput { .. }), "{e:?}"),
        }
    }
}

/// Batches of several chunks, on one and two threads (deterministic, too big for proptest).
#[test]
fn multi_chunk_bulk_equals_per_key_evaluation() {
    let mut rng = proptest::test_runner::TestRunner::deterministic();
    let strategy = proptest::collection::vec(raw_key(), 2 * CHUNK_KEYS + 123);
    let keys = strategy.new_tree(&mut rng).unwrap().current();
    for threads in [None, Some(1), Some(2)] {
        assert_bulk_matches_per_key(&keys, NOW, threads);
    }
}
