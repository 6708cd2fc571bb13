//! Unit tests and properties of the revocation planner and the chunk computation.

use proptest::prelude::*;

use super::*;
use crate::status::bulk::{self, evaluate_bulk, BulkInput, NO_END};
use crate::status::codes::{GeneralStatus as G, NO_HOME_STATUS};

const NOW: i64 = 1_700_000_000;
const ON: u8 = DOOR_ONLINE;
const AM: u8 = 0;
const DK: u8 = 1;
// Door state codes.
const DEPLOYMENT_PENDING: u8 = 1;
const DEPLOYED: u8 = 2;
const REVOCATION_PENDING: u8 = 3;
const REMOVED: u8 = 4;
const BLOCKED: u8 = 6;

/// Owned columns of a batch: the status columns, each row's door and each key's holder.
#[derive(Debug, Clone, Default)]
struct Site {
    key_types: Vec<u8>,
    flags: Vec<u8>,
    valid_from: Vec<i64>,
    valid_until: Vec<i64>,
    door_offsets: Vec<u32>,
    door_states: Vec<u8>,
    door_index: Vec<u32>,
    holder_index: Vec<u32>,
    door_count: u32,
    holder_count: u32,
}

impl Site {
    fn new(door_count: u32, holder_count: u32) -> Self {
        Site {
            door_offsets: vec![0],
            door_count,
            holder_count,
            ..Site::default()
        }
    }

    /// Key `i`'s validity window as drawn (`from`, `until` in 0..4): from `NOW - 200` in steps
    /// of 100, so some not started; open-ended for `until` 0, else ending `100 * until` later,
    /// so some ended.
    fn draw_window(&mut self, i: usize, from: i64, until: i64) {
        self.valid_from[i] = NOW - 200 + 100 * from;
        self.valid_until[i] = if until == 0 {
            NO_END
        } else {
            self.valid_from[i] + 100 * until
        };
    }

    /// A key of `holder` with rows `(door, state byte)`.
    fn key(&mut self, key_type: u8, flags: u8, holder: u32, rows: &[(u32, u8)]) -> u32 {
        self.key_types.push(key_type);
        self.flags.push(flags);
        self.valid_from.push(NOW - 100);
        self.valid_until.push(NO_END);
        for &(door, state) in rows {
            self.door_index.push(door);
            self.door_states.push(state);
        }
        self.door_offsets.push(self.door_states.len() as u32);
        self.holder_index.push(holder);
        self.key_types.len() as u32 - 1
    }

    fn bulk(&self) -> BulkInput<'_> {
        BulkInput {
            key_types: &self.key_types,
            flags: &self.flags,
            valid_from: &self.valid_from,
            valid_until: &self.valid_until,
            door_offsets: &self.door_offsets,
            door_states: &self.door_states,
        }
    }

    fn input(&self) -> PlanInput<'_> {
        PlanInput {
            keys: self.bulk(),
            door_index: &self.door_index,
            door_count: self.door_count,
            holder_index: &self.holder_index,
            holder_count: self.holder_count,
        }
    }

    fn chunk_input(&self) -> ChunkInput<'_> {
        ChunkInput {
            keys: self.bulk(),
            door_index: &self.door_index,
            door_count: self.door_count,
        }
    }

    fn plan(&self, selector: &Selector<'_>, chunk_size: usize) -> Plan {
        plan(&self.input(), selector, NOW, chunk_size, None).unwrap()
    }
}

/// Doors 0 (entrance, online) and 1..=4 (flats, offline); holders 0..=3.
fn building() -> Site {
    let mut s = Site::new(5, 4);
    // Flat 1: two cards (one still deploying) and a digital key.
    s.key(AM, 0, 0, &[(0, DEPLOYED | ON), (1, DEPLOYED)]);
    s.key(
        AM,
        0,
        0,
        &[(0, DEPLOYMENT_PENDING | ON), (1, DEPLOYMENT_PENDING)],
    );
    s.key(
        DK,
        bulk::flags::DELIVERED,
        0,
        &[(0, DEPLOYED | ON), (1, DEPLOYED)],
    );
    // Flat 2: a card revoked earlier, still waiting at the flat door.
    s.key(
        AM,
        bulk::flags::REVOKED,
        1,
        &[(0, REMOVED | ON), (2, REVOCATION_PENDING)],
    );
    // Flat 3: a card and a digital key of a blocked phone.
    s.key(AM, 0, 2, &[(0, DEPLOYED | ON), (3, DEPLOYED)]);
    s.key(
        DK,
        bulk::flags::DELIVERED | bulk::flags::PHONE_BLOCKED,
        2,
        &[(0, BLOCKED | ON), (3, BLOCKED)],
    );
    // Flat 4: a card whose row says `removed` without a revocation: corrupt, cannot revoke.
    s.key(AM, 0, 3, &[(0, DEPLOYED | ON), (4, REMOVED)]);
    s
}

#[test]
fn plans_a_whole_site() {
    let site = building();
    let p = site.plan(&Selector::ALL, 2);
    assert_eq!(p.selected, 7);
    // active x3 (keys 0, 4, 6), door update pending (1), deployed (2, 5), revocation pending (3).
    assert_eq!(p.status_counts[G::Active.code() as usize], 3);
    assert_eq!(p.status_counts[G::DoorUpdatePending.code() as usize], 1);
    assert_eq!(p.status_counts[G::Deployed.code() as usize], 2);
    assert_eq!(p.status_counts[G::RevocationPending.code() as usize], 1);
    assert_eq!(p.already_revoked, 1);
    assert_eq!(p.cannot_revoke, vec![6]);
    assert_eq!(p.complete_at_once, 0);
    assert_eq!(p.app_reload_waits, 2);
    // After: 3 cards + 2 digital keys revocation pending, plus the one revoked earlier; the
    // corrupt card keeps `active`.
    assert_eq!(
        p.status_after_counts[G::RevocationPending.code() as usize],
        6
    );
    assert_eq!(p.status_after_counts[G::Active.code() as usize], 1);
    // Work: the entrance gets the three cards, flat 1 two, flat 3 one.
    assert_eq!(p.door_rows, vec![3, 2, 0, 1, 0]);
    // Keys grouped by their flat door: flat 1's two cards, then flat 3's card, then the
    // digital keys (no door work).
    assert_eq!(p.order, vec![0, 1, 4, 2, 5]);
    assert_eq!(p.chunk_offsets, vec![0, 2, 4, 5]);
    // The entrance gets a change in chunks 0 and 1; flats 1 and 3 one each.
    assert_eq!(p.door_changes, vec![2, 1, 0, 1, 0]);
}

#[test]
fn selects_by_door_holder_type_and_status() {
    let site = building();
    let by_door = site.plan(
        &Selector {
            target: Target::Doors(&[3]),
            ..Selector::ALL
        },
        100,
    );
    assert_eq!(by_door.selected, 2);
    assert_eq!(by_door.order, vec![4, 5]);
    let by_holder = site.plan(
        &Selector {
            target: Target::Holders(&[0, 1]),
            ..Selector::ALL
        },
        100,
    );
    assert_eq!(by_holder.selected, 4);
    assert_eq!(by_holder.already_revoked, 1);
    let cards = site.plan(
        &Selector {
            key_types: 1 << AM,
            ..Selector::ALL
        },
        100,
    );
    assert_eq!(cards.selected, 5);
    assert_eq!(cards.app_reload_waits, 0);
    let pending = site.plan(
        &Selector {
            statuses: 1 << G::DoorUpdatePending.code(),
            ..Selector::ALL
        },
        100,
    );
    assert_eq!(pending.order, vec![1]);
    let digital_at_flat_1 = site.plan(
        &Selector {
            target: Target::Doors(&[1]),
            key_types: 1 << DK,
            statuses: 0,
        },
        100,
    );
    assert_eq!(digital_at_flat_1.order, vec![2]);
    assert_eq!(digital_at_flat_1.door_rows, vec![0; 5]);
}

#[test]
fn a_selector_that_matches_nothing_plans_nothing() {
    let site = building();
    let p = site.plan(
        &Selector {
            target: Target::Doors(&[]),
            ..Selector::ALL
        },
        100,
    );
    assert_eq!(p.selected, 0);
    assert!(p.order.is_empty());
    assert_eq!(p.chunk_offsets, vec![0]);
    assert_eq!(p.chunks(), 0);
    let empty = Site::new(0, 0);
    let p = empty.plan(&Selector::ALL, 100);
    assert_eq!(
        p,
        Plan {
            chunk_offsets: vec![0],
            ..Plan::default()
        }
    );
}

#[test]
fn chunk_revokes_and_groups_work_by_door() {
    let site = building();
    let r = revoke_chunk(&site.chunk_input(), NOW).unwrap();
    assert_eq!(r.decisions, vec![0, 0, 0, 1, 0, 0, 2]);
    assert_eq!(
        r.door_states,
        vec![
            REVOCATION_PENDING,
            REVOCATION_PENDING, // card, deployed
            REVOCATION_PENDING,
            REVOCATION_PENDING, // card, deploying
            DEPLOYED,
            DEPLOYED, // digital key: rows do not change
            REMOVED,
            REVOCATION_PENDING, // revoked before: unchanged
            REVOCATION_PENDING,
            REVOCATION_PENDING,
            BLOCKED,
            BLOCKED,
            DEPLOYED,
            REMOVED, // cannot revoke: unchanged
        ]
    );
    let rp = G::RevocationPending.code();
    assert_eq!(
        r.status_after,
        vec![rp, rp, rp, rp, rp, rp, G::Active.code()]
    );
    assert_eq!(r.status_before[1], G::DoorUpdatePending.code());
    // Home app: cards at an offline flat door: please update the door (3); digital keys:
    // deactivation in progress (4) or still blocked (6).
    assert_eq!(r.home_after, vec![3, 3, 4, 3, 3, 6, r.home_before[6]]);
    assert_eq!(r.home_before[3], 3);
    assert_eq!(r.door_key_offsets, vec![0, 3, 5, 5, 6, 6]);
    assert_eq!(r.door_keys, vec![0, 1, 4, 0, 1, 4]);
}

#[test]
fn chunk_statuses_agree_with_the_status_engine() {
    let site = building();
    let r = revoke_chunk(&site.chunk_input(), NOW).unwrap();
    let mut after = site.clone();
    for (i, &d) in r.decisions.iter().enumerate() {
        if d == Decision::Revoke.code() {
            after.flags[i] |= bulk::flags::REVOKED;
        }
    }
    for (j, state) in r.door_states.iter().enumerate() {
        after.door_states[j] = state | (site.door_states[j] & ON);
    }
    let evaluated = evaluate_bulk(&after.bulk(), NOW, Some(1)).unwrap();
    assert_eq!(evaluated.status, r.status_after);
    assert_eq!(evaluated.home_status, r.home_after);
}

#[test]
fn bad_columns_and_options_name_their_field() {
    let site = building();
    let field = |e: RevocationError| e.field().map(str::to_owned);
    let mut bad = site.clone();
    bad.door_index.pop();
    let e = plan(&bad.input(), &Selector::ALL, NOW, 10, None).unwrap_err();
    assert_eq!(field(e), Some("door_index".into()));
    let mut bad = site.clone();
    bad.door_index[3] = 5;
    let e = revoke_chunk(&bad.chunk_input(), NOW).unwrap_err();
    assert!(e.to_string().contains("door_index[3] = 5"), "{e}");
    let mut bad = site.clone();
    bad.holder_index[0] = 4;
    assert_eq!(
        field(plan(&bad.input(), &Selector::ALL, NOW, 10, None).unwrap_err()),
        Some("holder_index".into())
    );
    // The status engine's own validation comes first, with its own field.
    let mut bad = site.clone();
    bad.key_types[2] = 7;
    let e = plan(&bad.input(), &Selector::ALL, NOW, 10, None).unwrap_err();
    assert!(matches!(e, RevocationError::Status(_)));
    assert_eq!(field(e), Some("key_types".into()));
    for (selector, name) in [
        (
            Selector {
                target: Target::Doors(&[9]),
                ..Selector::ALL
            },
            "doors",
        ),
        (
            Selector {
                target: Target::Holders(&[4]),
                ..Selector::ALL
            },
            "holders",
        ),
        (
            Selector {
                key_types: 4,
                ..Selector::ALL
            },
            "key_types",
        ),
        (
            Selector {
                statuses: 0x80,
                ..Selector::ALL
            },
            "statuses",
        ),
    ] {
        let e = plan(&site.input(), &selector, NOW, 10, None).unwrap_err();
        assert_eq!(field(e), Some(name.into()));
    }
    for size in [0, MAX_CHUNK_KEYS + 1] {
        let e = plan(&site.input(), &Selector::ALL, NOW, size, None).unwrap_err();
        assert_eq!(field(e), Some("chunk_size".into()));
    }
}

#[test]
fn the_revoke_table_follows_the_transition_function() {
    use crate::status::codes::{DoorEvent, DoorState, KeyType};
    for byte in 0..=255u8 {
        let expected = DoorState::from_code(byte & !ON)
            .and_then(|s| next_door_state(KeyType::AccessMedium, s, DoorEvent::Revoke).ok())
            .map(|s| s.code() | (byte & ON));
        let mut after = [0u8];
        let decision = revoke_key(AM, 0, &[byte], &mut after);
        match expected {
            Some(next) => {
                assert_eq!(decision, Decision::Revoke);
                assert_eq!(after[0], next);
            }
            None => {
                assert_eq!(decision, Decision::CannotRevoke);
                assert_eq!(after[0], byte);
            }
        }
    }
}

#[test]
fn a_large_site_plans_the_same_on_one_thread_and_on_the_pool() {
    // Above the parallel threshold: the parts must merge into the sequential plan exactly.
    let mut site = Site::new(40_000, 40_000);
    for k in 0..(3 * plan::PARALLEL_KEYS as u32 / 2) {
        let flat = k / 4;
        let (kt, flags, state) = match k % 10 {
            0..=5 => (AM, 0, DEPLOYED),
            6 => (AM, 0, DEPLOYMENT_PENDING),
            7 => (AM, bulk::flags::REVOKED, REVOCATION_PENDING),
            _ => (DK, bulk::flags::DELIVERED, DEPLOYED),
        };
        let rows = [(flat % 39_000, state), (39_000 + flat % 1_000, state | ON)];
        site.key(kt, flags, flat % 40_000, &rows);
    }
    let selector = Selector {
        target: Target::Doors(&[39_000, 39_001, 12, 13]),
        ..Selector::ALL
    };
    let one = plan(&site.input(), &selector, NOW, 100, Some(1)).unwrap();
    let pool = plan(&site.input(), &selector, NOW, 100, None).unwrap();
    assert!(one.selected > 0 && one.chunks() > 1);
    assert_eq!(one, pool);
    // A bad key in the second part, outside the selection: the status engine's error for the
    // first bad key, on one thread and on the pool.
    let n = site.key_types.len();
    site.flags[n - 10] = 0x40;
    site.valid_until[n - 5] = site.valid_from[n - 5];
    let expected = RevocationError::from(evaluate_bulk(&site.bulk(), NOW, None).unwrap_err());
    assert!(expected.to_string().contains(&format!("at key {}", n - 10)));
    for threads in [Some(1), None] {
        let e = plan(&site.input(), &selector, NOW, 100, threads).unwrap_err();
        assert_eq!(e.to_string(), expected.to_string());
    }
    // A bad door index in the first part (where that part's scan stops): the bad key of the
    // second part first, then, with the keys fixed, the door index.
    site.door_index[7] = 40_000;
    for threads in [Some(1), None] {
        let e = plan(&site.input(), &selector, NOW, 100, threads).unwrap_err();
        assert_eq!(e.to_string(), expected.to_string());
    }
    site.flags[n - 10] = 0;
    site.valid_until[n - 5] = NO_END;
    for threads in [Some(1), None] {
        let e = plan(&site.input(), &selector, NOW, 100, threads).unwrap_err();
        assert!(e.to_string().contains("door_index[7] = 40000"), "{e}");
    }
}

// --- properties ---

/// A random site: `doors` doors (even ones online), keys with 0..4 distinct doors each.
/// Door `d`'s row of a drawn key: a state this key type can be in (foreign states are invalid
/// data), picked by `code`; even doors online.
fn drawn_row(key_type: KeyType, d: u32, code: u8) -> (u32, u8) {
    let state = DoorState::ALL
        .iter()
        .copied()
        .filter(|s| key_type.allows(*s))
        .nth(usize::from(code) % 5)
        .unwrap_or(DoorState::None);
    (d, state.code() | if d % 2 == 0 { ON } else { 0 })
}

fn site_strategy() -> impl Strategy<Value = Site> {
    let key = (
        0u8..2,
        0u8..=bulk::flags::KNOWN,
        0u32..6,
        proptest::collection::btree_map(0u32..12, 0u8..8, 0..4),
    );
    proptest::collection::vec(key, 0..60).prop_map(|keys| {
        let mut site = Site::new(12, 6);
        for (kt, flags, holder, doors) in keys {
            let key_type = KeyType::from_code(kt).unwrap_or(KeyType::AccessMedium);
            let rows: Vec<(u32, u8)> = doors
                .into_iter()
                .map(|(d, code)| drawn_row(key_type, d, code))
                .collect();
            site.key(kt, flags, holder, &rows);
        }
        site
    })
}

use crate::status::codes::{DoorState, KeyType};

/// A site of [`site_strategy`] with validity windows: some not started, some ended.
fn windows_strategy() -> impl Strategy<Value = Site> {
    (
        site_strategy(),
        proptest::collection::vec((0i64..4, 0i64..4), 60),
    )
        .prop_map(|(mut site, windows)| {
            for (i, (from, until)) in windows.into_iter().enumerate() {
                if i < site.key_types.len() {
                    site.draw_window(i, from, until);
                }
            }
            site
        })
}

proptest! {
    #[test]
    fn statuses_now_and_after_are_the_status_engines(site in windows_strategy(), statuses in 0u8..0x80) {
        let selector = Selector { statuses, ..Selector::ALL };
        let p = site.plan(&selector, 100);
        let before = evaluate_bulk(&site.bulk(), NOW, Some(1)).unwrap();
        let whole = revoke_chunk(&site.chunk_input(), NOW).unwrap();
        let (mut now_counts, mut after_counts) = ([0u64; 7], [0u64; 7]);
        for (&s, &a) in before.status.iter().zip(&whole.status_after) {
            if statuses == 0 || statuses & (1 << s) != 0 {
                now_counts[usize::from(s)] += 1;
                after_counts[usize::from(a)] += 1;
            }
        }
        prop_assert_eq!(p.status_counts, now_counts);
        prop_assert_eq!(p.status_after_counts, after_counts);
    }

    #[test]
    fn a_bad_key_is_the_status_engines_error(
        site in windows_strategy(),
        corruptions in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..6, any::<u8>()), 1..3),
        holder in 0u32..6,
        threads in proptest::option::of(1usize..3),
    ) {
        let mut bad = site.clone();
        let n = bad.key_types.len();
        for (at, what, value) in corruptions {
            if n == 0 {
                break;
            }
            let i = at.index(n);
            // An earlier corruption may have moved this key's offsets past the rows' end.
            let end = bad.door_states.len();
            let rows = (bad.door_offsets[i] as usize).min(end)..(bad.door_offsets[i + 1] as usize).min(end);
            match what {
                0 => bad.key_types[i] = value,
                1 => bad.flags[i] = value,
                2 => bad.valid_until[i] = bad.valid_from[i] - i64::from(value % 2),
                3 if !rows.is_empty() => bad.door_states[rows.start + usize::from(value) % rows.len()] = value,
                4 if !rows.is_empty() => bad.door_index[rows.start + usize::from(value) % rows.len()] = 12 + u32::from(value % 3),
                _ => bad.door_offsets[i] = bad.door_offsets[i + 1].saturating_add(u32::from(value % 3)),
            }
        }
        // Outside the selection or not, a bad key fails the whole plan, first; then a bad
        // door index.
        let selector = Selector { target: Target::Holders(&[holder]), ..Selector::ALL };
        let expected = evaluate_bulk(&bad.bulk(), NOW, Some(1))
            .map_err(RevocationError::from)
            .and_then(|_| check_door_index(&bad.door_index, bad.door_states.len(), 12))
            .map(|_| ())
            .map_err(|e| e.to_string());
        let got = plan(&bad.input(), &selector, NOW, 3, threads).map(|_| ()).map_err(|e| e.to_string());
        prop_assert_eq!(&got, &expected);
        // Before the planner's own checks, too.
        let got = plan(&bad.input(), &selector, NOW, 0, threads).map(|_| ()).map_err(|e| e.to_string());
        if expected.is_err() {
            prop_assert_eq!(&got, &expected);
        } else {
            prop_assert!(got.unwrap_err().contains("chunk_size"));
        }
    }

    #[test]
    fn plan_and_chunks_agree(site in site_strategy(), chunk_size in 1usize..8, doors in proptest::collection::vec(0u32..12, 0..3), statuses in 0u8..0x80) {
        let selector = Selector { target: Target::Doors(&doors), key_types: 0, statuses };
        let p = site.plan(&selector, chunk_size);
        let before = evaluate_bulk(&site.bulk(), NOW, Some(1)).unwrap();
        let whole = revoke_chunk(&site.chunk_input(), NOW).unwrap();
        let rows_of = |i: usize| site.door_offsets[i] as usize..site.door_offsets[i + 1] as usize;
        let taken: Vec<usize> = (0..site.key_types.len())
            .filter(|&i| site.door_index[rows_of(i)].iter().any(|d| doors.contains(d)))
            .filter(|&i| statuses == 0 || statuses & (1 << before.status[i]) != 0)
            .collect();
        prop_assert_eq!(p.selected, taken.len() as u64);
        // Every taken key is revoked, skipped or refused, according to the chunk computation.
        let mut revoked: Vec<u32> = taken.iter().filter(|&&i| whole.decisions[i] == 0).map(|&i| i as u32).collect();
        let mut order = p.order.clone();
        order.sort_unstable();
        revoked.sort_unstable();
        prop_assert_eq!(order, revoked);
        prop_assert_eq!(p.already_revoked as usize, taken.iter().filter(|&&i| whole.decisions[i] == 1).count());
        let refused: Vec<u32> = taken.iter().filter(|&&i| whole.decisions[i] == 2).map(|&i| i as u32).collect();
        prop_assert_eq!(&p.cannot_revoke, &refused);
        let mut after_counts = [0u64; 7];
        for &i in &taken {
            after_counts[usize::from(whole.status_after[i])] += 1;
        }
        prop_assert_eq!(p.status_after_counts, after_counts);
        // Chunks: full except the last, covering the order.
        prop_assert_eq!(*p.chunk_offsets.last().unwrap() as usize, p.order.len());
        for w in p.chunk_offsets.windows(2) {
            prop_assert!(w[1] > w[0] && (w[1] - w[0]) as usize <= chunk_size);
        }
        // Door work: the plan's counts are what each chunk's own computation groups by door.
        let mut rows = vec![0u32; 12];
        let mut changes = vec![0u32; 12];
        for c in 0..p.chunks() {
            let members = &p.order[p.chunk_offsets[c] as usize..p.chunk_offsets[c + 1] as usize];
            let mut part = Site::new(12, 6);
            for &i in members {
                let i = i as usize;
                let r = rows_of(i);
                let pairs: Vec<(u32, u8)> = site.door_index[r.clone()].iter().copied().zip(site.door_states[r].iter().copied()).collect();
                part.key(site.key_types[i], site.flags[i], site.holder_index[i], &pairs);
                part.valid_from[part.key_types.len() - 1] = site.valid_from[i];
            }
            let result = revoke_chunk(&part.chunk_input(), NOW).unwrap();
            for d in 0..12 {
                let n = result.door_key_offsets[d + 1] - result.door_key_offsets[d];
                rows[d] += n;
                changes[d] += u32::from(n > 0);
            }
            let statuses_after: Vec<u8> = members.iter().map(|&i| whole.status_after[i as usize]).collect();
            prop_assert_eq!(&result.status_after, &statuses_after);
        }
        prop_assert_eq!(&p.door_rows, &rows);
        prop_assert_eq!(&p.door_changes, &changes);
    }

    #[test]
    fn revoked_keys_evaluate_as_the_status_engine_says(site in site_strategy()) {
        let r = revoke_chunk(&site.chunk_input(), NOW).unwrap();
        let mut after = site.clone();
        for (i, &d) in r.decisions.iter().enumerate() {
            if d == 0 {
                after.flags[i] |= bulk::flags::REVOKED;
            }
        }
        for (j, state) in r.door_states.iter().enumerate() {
            after.door_states[j] = state | (site.door_states[j] & ON);
        }
        let evaluated = evaluate_bulk(&after.bulk(), NOW, Some(1)).unwrap();
        prop_assert_eq!(&evaluated.status, &r.status_after);
        prop_assert_eq!(&evaluated.home_status, &r.home_after);
        // A revoked key is never shown as usable: its home status is none or a revocation one.
        for (i, &d) in r.decisions.iter().enumerate() {
            if d == 0 {
                prop_assert!(r.status_after[i] == G::RevocationPending.code() || r.status_after[i] == G::Revoked.code());
                prop_assert!(r.home_after[i] != 0 || r.home_after[i] == NO_HOME_STATUS);
            }
        }
    }
}

/// The plan as `docs/revocation-runs.md` states it, computed plainly from the chunk
/// computation of the whole site: the reference for the planner's fast paths.
fn reference_plan(site: &Site, statuses: u8, chunk_size: usize) -> Plan {
    let before = evaluate_bulk(&site.bulk(), NOW, Some(1)).unwrap();
    let whole = revoke_chunk(&site.chunk_input(), NOW).unwrap();
    let n = site.key_types.len();
    let taken: Vec<usize> = (0..n)
        .filter(|&i| statuses == 0 || statuses & (1 << before.status[i]) != 0)
        .collect();
    let revoked = |i: usize| whole.decisions[i] == Decision::Revoke.code();
    let mut p = Plan {
        selected: taken.len() as u64,
        ..Plan::default()
    };
    // Work doors per key being revoked.
    let mut work: Vec<Vec<u32>> = vec![Vec::new(); n];
    for d in 0..site.door_count as usize {
        let keys = &whole.door_keys
            [whole.door_key_offsets[d] as usize..whole.door_key_offsets[d + 1] as usize];
        for &k in keys {
            work[k as usize].push(d as u32);
        }
    }
    p.door_rows = vec![0; site.door_count as usize];
    for &i in &taken {
        p.status_counts[usize::from(before.status[i])] += 1;
        p.status_after_counts[usize::from(whole.status_after[i])] += 1;
        match whole.decisions[i] {
            1 => p.already_revoked += 1,
            2 => p.cannot_revoke.push(i as u32),
            _ => {
                let complete = whole.status_after[i] == G::Revoked.code();
                p.complete_at_once += u64::from(complete);
                p.app_reload_waits += u64::from(!complete && site.key_types[i] == DK);
                for &d in &work[i] {
                    p.door_rows[d as usize] += 1;
                }
            }
        }
    }
    let anchor = |i: usize| {
        work[i]
            .iter()
            .map(|&d| (p.door_rows[d as usize], d))
            .min()
            .map(|(_, d)| d)
    };
    let mut with: Vec<(u32, usize)> = Vec::new();
    let mut without = Vec::new();
    for &i in taken.iter().filter(|&&i| revoked(i)) {
        match anchor(i) {
            Some(a) => with.push((a, i)),
            None => without.push(i as u32),
        }
    }
    with.sort_unstable();
    p.order = with.iter().map(|&(_, i)| i as u32).chain(without).collect();
    let total = p.order.len();
    p.chunk_offsets = (0..total.div_ceil(chunk_size))
        .map(|c| (c * chunk_size) as u32)
        .chain([total as u32])
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for (position, &i) in p.order.iter().enumerate() {
        for &d in &work[i as usize] {
            seen.insert((d, position / chunk_size));
        }
    }
    p.door_changes = vec![0; site.door_count as usize];
    for (d, _) in seen {
        p.door_changes[d as usize] += 1;
    }
    p
}

/// Sites of up to 1,500 keys (so several scan blocks and packed-counter runs) at 40 doors:
/// every key with `rows` rows (the strided row loops), or the first part so and the rest
/// with 0 to 9 rows (strided blocks, then blocks read through the offsets).
fn strided_site_strategy() -> impl Strategy<Value = Site> {
    (1usize..=9, any::<bool>(), 0usize..1_500).prop_flat_map(|(rows, mixed, keys)| {
        let key = (
            0u8..2,
            prop_oneof![4 => Just(0u8), 1 => 0u8..=bulk::flags::KNOWN],
            0u32..6,
            proptest::collection::btree_map(0u32..40, 0u8..8, rows..=rows),
            proptest::collection::btree_map(0u32..40, 0u8..8, 0..=9),
            // A window: mostly open, some not started or ended.
            prop_oneof![8 => Just((0i64, 0i64)), 1 => (0i64..4, 0i64..4)],
        );
        proptest::collection::vec(key, keys).prop_map(move |keys| {
            let mut site = Site::new(40, 6);
            let switch = if mixed { keys.len() / 2 } else { keys.len() };
            for (k, (kt, flags, holder, uniform, any, (from, until))) in
                keys.into_iter().enumerate()
            {
                let key_type = KeyType::from_code(kt).unwrap_or(KeyType::AccessMedium);
                let doors = if k < switch { uniform } else { any };
                let rows: Vec<(u32, u8)> = doors
                    .into_iter()
                    .map(|(d, code)| drawn_row(key_type, d, code))
                    .collect();
                site.key(kt, flags, holder, &rows);
                if (from, until) != (0, 0) {
                    site.draw_window(k, from, until);
                }
            }
            site
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The fast paths (every key taken; keys with the same number of rows, strided) give the
    /// plan of the plain statement, and the same plan as a selector that names every status
    /// (the filtered path).
    #[test]
    fn fast_paths_plan_as_stated(
        site in strided_site_strategy(),
        chunk_size in prop_oneof![1usize..8, Just(100usize)],
        statuses in prop_oneof![Just(0u8), 0u8..0x80],
    ) {
        let selector = Selector { statuses, ..Selector::ALL };
        let expected = reference_plan(&site, statuses, chunk_size);
        let got = plan(&site.input(), &selector, NOW, chunk_size, Some(1)).unwrap();
        prop_assert_eq!(&got, &expected);
        if statuses == 0 {
            let every_status = Selector { statuses: 0x7f, ..Selector::ALL };
            let filtered = plan(&site.input(), &every_status, NOW, chunk_size, Some(1)).unwrap();
            prop_assert_eq!(&got, &filtered);
        }
    }
}
