//! Behaviour of issuing, verifying and door updates; vectors live in `tests/vectors.rs`.

use coset::TaggedCborSerializable;

use super::*;

pub(crate) fn claims() -> CredentialClaims {
    CredentialClaims {
        site_id: "site-zurich-1".into(),
        key_id: "key-0001".into(),
        credential_id: vec![7; 16],
        issued_at: 1_767_225_600,
        valid_from: 1_767_225_600,
        valid_until: Some(1_798_761_600),
        door_ids: vec!["door-entrance".into(), "door-unit-12".into()],
        schedule: Some(CredentialSchedule {
            time_zone: "Europe/Zurich".into(),
            windows: vec![ScheduleWindow {
                weekday_mask: 0b0001_1111,
                start_minute: 420,
                end_minute: 1140,
            }],
        }),
        key_type: KeyType::DigitalKey,
        holder_ref: "holder-42".into(),
    }
}

fn key(alg: Algorithm, kid: &str) -> SigningKey {
    SigningKey::from_pkcs8(alg, kid, &alg.generate_pkcs8().unwrap()).unwrap()
}

#[test]
fn credentials_round_trip_for_both_algorithms() {
    for alg in [Algorithm::Es256, Algorithm::EdDsa] {
        let k = key(alg, "k1");
        let token = issue(&k, &claims()).unwrap();
        let v = verify(&token, &[k.verification_key()], Some(1_767_225_600)).unwrap();
        assert_eq!(v.claims, claims());
        assert_eq!(v.kid, "k1");
        assert_eq!(v.algorithm, alg);
    }
}

#[test]
fn claims_encoding_is_deterministic_and_sorted() {
    let a = claims().to_cbor().unwrap();
    assert_eq!(a, claims().to_cbor().unwrap());
    // iss (1) first, holder reference (-65540 = 0x3a 00 01 00 03) last.
    assert_eq!(a[1], 0x01);
    let tail = [0x3a, 0x00, 0x01, 0x00, 0x03];
    assert!(a.windows(5).any(|w| w == tail));
    // EdDSA signatures are deterministic too, so the whole token is.
    let k = key(Algorithm::EdDsa, "k1");
    assert_eq!(issue(&k, &claims()).unwrap(), issue(&k, &claims()).unwrap());
}

#[test]
fn fast_claims_encoder_matches_coset() {
    let mut c = claims();
    assert_eq!(c.to_cbor().unwrap(), c.to_cbor_via_coset());
    c.schedule = None;
    c.valid_until = None;
    assert_eq!(c.to_cbor().unwrap(), c.to_cbor_via_coset());
    c.door_ids = (0..40).map(|i| format!("door-{i}")).collect();
    c.holder_ref = "h".repeat(128);
    assert_eq!(c.to_cbor().unwrap(), c.to_cbor_via_coset());
    // And the whole token is what coset builds from the same parts.
    let k = key(Algorithm::EdDsa, "k1");
    let token = issue(&k, &c).unwrap();
    let parsed = coset::CoseSign1::from_tagged_slice(&token).unwrap();
    let rebuilt = coset::CoseSign1Builder::new()
        .protected(
            coset::HeaderBuilder::new()
                .algorithm(coset::iana::Algorithm::EdDSA)
                .key_id(b"k1".to_vec())
                .build(),
        )
        .payload(c.to_cbor_via_coset())
        .signature(parsed.signature.clone())
        .build();
    assert_eq!(rebuilt.to_tagged_vec().unwrap(), token);
    assert_eq!(parsed.tbs_data(&[]), to_be_signed(&token).unwrap());
}

#[test]
fn older_kids_still_verify_after_rotation() {
    let old = key(Algorithm::Es256, "2026-01");
    let new = key(Algorithm::Es256, "2026-07");
    let token = issue(&old, &claims()).unwrap();
    let trusted = [new.verification_key(), old.verification_key()];
    assert_eq!(verify(&token, &trusted, None).unwrap().kid, "2026-01");
    let retired = [new.verification_key()];
    assert!(matches!(
        verify(&token, &retired, None),
        Err(CredentialError::UnknownKeyId { kid }) if kid == "2026-01"
    ));
}

#[test]
fn wrong_key_with_same_kid_is_a_bad_signature() {
    let signer = key(Algorithm::EdDsa, "k1");
    let impostor = key(Algorithm::EdDsa, "k1");
    let token = issue(&signer, &claims()).unwrap();
    assert!(matches!(
        verify(&token, &[impostor.verification_key()], None),
        Err(CredentialError::BadSignature { .. })
    ));
}

#[test]
fn algorithm_must_match_the_key_of_the_kid() {
    let ed = key(Algorithm::EdDsa, "k1");
    let es = key(Algorithm::Es256, "k1");
    let token = issue(&ed, &claims()).unwrap();
    assert!(matches!(
        verify(&token, &[es.verification_key()], None),
        Err(CredentialError::UnexpectedAlgorithm { .. })
    ));
}

#[test]
fn every_flipped_byte_is_rejected() {
    let k = key(Algorithm::Es256, "k1");
    let token = issue(&k, &claims()).unwrap();
    let keys = [k.verification_key()];
    for i in 0..token.len() {
        let mut t = token.clone();
        t[i] ^= 0x01;
        assert!(
            verify(&t, &keys, None).is_err(),
            "byte {i} flipped verified"
        );
    }
}

#[test]
fn validity_is_checked_only_when_asked() {
    let k = key(Algorithm::EdDsa, "k1");
    let token = issue(&k, &claims()).unwrap();
    let keys = [k.verification_key()];
    let c = claims();
    assert!(verify(&token, &keys, None).is_ok());
    assert!(matches!(
        verify(&token, &keys, Some(c.valid_from - 1)),
        Err(CredentialError::NotYetValid { .. })
    ));
    assert!(matches!(
        verify(&token, &keys, c.valid_until),
        Err(CredentialError::Expired { .. })
    ));
    assert!(verify(&token, &keys, Some(c.valid_until.unwrap() - 1)).is_ok());
}

#[test]
fn bad_claims_name_their_field_and_sign_nothing() {
    let k = key(Algorithm::EdDsa, "k1");
    type Change = Box<dyn Fn(&mut CredentialClaims)>;
    let cases: Vec<(&str, Change)> = vec![
        ("credential_id", Box::new(|c| c.credential_id = vec![1; 15])),
        (
            "valid_until",
            Box::new(|c| c.valid_until = Some(c.valid_from)),
        ),
        ("door_ids", Box::new(|c| c.door_ids.clear())),
        (
            "door_ids[1]",
            Box::new(|c| c.door_ids[1] = c.door_ids[0].clone()),
        ),
        ("door_ids[1]", Box::new(|c| c.door_ids[1] = String::new())),
        ("site_id", Box::new(|c| c.site_id = String::new())),
        (
            "schedule.windows[0].start_minute",
            Box::new(|c| c.schedule.as_mut().unwrap().windows[0].start_minute = 1140),
        ),
        (
            "schedule.windows[0].end_minute",
            Box::new(|c| c.schedule.as_mut().unwrap().windows[0].end_minute = 1441),
        ),
        (
            "schedule.windows[0].days",
            Box::new(|c| c.schedule.as_mut().unwrap().windows[0].weekday_mask = 0),
        ),
        // The limits of `crate::limits`, one past each.
        (
            "schedule.windows",
            Box::new(|c| {
                let windows = &mut c.schedule.as_mut().unwrap().windows;
                *windows = vec![windows[0]; crate::limits::MAX_WINDOWS + 1];
            }),
        ),
        (
            "door_ids",
            Box::new(|c| {
                c.door_ids = (0..=crate::limits::MAX_DOORS)
                    .map(|i| format!("d{i}"))
                    .collect();
            }),
        ),
        (
            "key_id",
            Box::new(|c| c.key_id = "k".repeat(crate::limits::MAX_ID_LEN + 1)),
        ),
    ];
    for (field, change) in cases {
        let mut c = claims();
        change(&mut c);
        match issue(&k, &c) {
            Err(CredentialError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let mut batch = vec![claims(), claims()];
    batch[1].holder_ref = String::new();
    assert!(matches!(
        issue_batch(&k, &batch, true),
        Err(CredentialError::InvalidInput { field, .. }) if field == "claims[1].holder_ref"
    ));
}

#[test]
fn batch_matches_single_issuing() {
    let k = key(Algorithm::EdDsa, "k1");
    let batch: Vec<_> = (0..50u8)
        .map(|i| CredentialClaims {
            credential_id: vec![i; 16],
            ..claims()
        })
        .collect();
    let parallel = issue_batch(&k, &batch, true).unwrap();
    let serial = issue_batch(&k, &batch, false).unwrap();
    assert_eq!(parallel, serial);
    for (c, t) in batch.iter().zip(&parallel) {
        assert_eq!(&issue(&k, c).unwrap(), t);
    }
}

#[test]
fn weekday_names_round_trip() {
    let days: Vec<String> = ["mon", "wed", "sun"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mask = weekday_mask(&days).unwrap();
    assert_eq!(mask, 0b100_0101);
    assert_eq!(weekday_names(mask), vec!["mon", "wed", "sun"]);
    assert!(weekday_mask(&["mo".to_string()]).is_err());
}

fn door_key(kid: &str) -> DoorKey {
    DoorKey::from_secret(kid, &[9; 32]).unwrap()
}

fn update(changes: Vec<DoorChange>) -> DoorUpdate {
    DoorUpdate {
        door_id: "door-unit-12".into(),
        from_version: 4,
        to_version: 7,
        changes,
    }
}

fn all_changes() -> Vec<DoorChange> {
    vec![
        DoorChange::AddCredential {
            credential_id: [1; 16],
            valid_from: 1_767_225_600,
            valid_until: Some(1_798_761_600),
            schedule: None,
        },
        DoorChange::AddCredential {
            credential_id: [2; 16],
            valid_from: 1_767_225_600,
            valid_until: None,
            schedule: None,
        },
        DoorChange::AddCredential {
            credential_id: [6; 16],
            valid_from: 1_767_225_600,
            valid_until: None,
            schedule: Some(saturday_nine_to_ten()),
        },
        DoorChange::RemoveCredential {
            credential_id: [3; 16],
        },
        DoorChange::BlockPhone {
            phone_hash: [4; 16],
        },
        DoorChange::UnblockPhone {
            phone_hash: [5; 16],
        },
    ]
}

/// Saturdays 09:00–10:00 in Zurich.
fn saturday_nine_to_ten() -> CredentialSchedule {
    CredentialSchedule {
        time_zone: "Europe/Zurich".into(),
        windows: vec![ScheduleWindow {
            weekday_mask: 1 << 5,
            start_minute: 540,
            end_minute: 600,
        }],
    }
}

#[test]
fn door_updates_carry_schedules_in_format_2() {
    let k = door_key("d1");
    let u = update(all_changes());
    let opened = open_door_update(&encode_door_update(&k, &u, 0).unwrap(), &[k]).unwrap();
    assert_eq!(opened.format, DOOR_UPDATE_FORMAT);
    assert_eq!(DOOR_UPDATE_FORMAT, 2);
    assert_eq!(opened.update, u);
    let payload = u.to_cbor().unwrap();
    // {0: 2, 1: ...}: the format is the payload's first field.
    assert_eq!(&payload[..3], &[0xa5, 0x00, 0x02]);
    // The scheduled entry ends with the credential's claim -65538 form.
    let tail = [
        0x82, 0x6d, b'E', b'u', b'r', b'o', b'p', b'e', b'/', b'Z', b'u', b'r', b'i', b'c', b'h',
        0x81, 0x83, 0x18, 0x20, 0x19, 0x02, 0x1c, 0x19, 0x02, 0x58,
    ];
    assert!(payload.windows(tail.len()).any(|w| w == tail));
}

#[test]
fn a_reader_refuses_a_newer_format_whole() {
    let k = door_key("d1");
    let msg = encode_door_update(&k, &update(all_changes()), 0).unwrap();
    match open_door_update_up_to(&msg, std::slice::from_ref(&k), DOOR_UPDATE_FORMAT_1) {
        Err(CredentialError::UnsupportedFormat { found, newest, .. }) => {
            assert_eq!((found, newest), (2, 1));
        }
        other => panic!("{other:?}"),
    }
    // Even an update without schedules: the reader cannot know what a newer format means.
    let plain = encode_door_update(&k, &update(all_changes()[2..5].to_vec()), 0).unwrap();
    assert!(matches!(
        open_door_update_up_to(&plain, &[k], DOOR_UPDATE_FORMAT_1),
        Err(CredentialError::UnsupportedFormat { .. })
    ));
}

#[test]
fn scheduled_entries_are_checked_like_credential_schedules() {
    let k = door_key("d1");
    let with = |schedule: CredentialSchedule| {
        update(vec![DoorChange::AddCredential {
            credential_id: [1; 16],
            valid_from: 0,
            valid_until: None,
            schedule: Some(schedule),
        }])
    };
    let field = |u: &DoorUpdate| match encode_door_update(&k, u, 0) {
        Err(CredentialError::InvalidInput { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let mut unknown_zone = saturday_nine_to_ten();
    unknown_zone.time_zone = "Europe/Atlantis".into();
    assert_eq!(field(&with(unknown_zone)), "changes[0].schedule.time_zone");
    let mut backwards = saturday_nine_to_ten();
    backwards.windows[0].end_minute = 500;
    assert_eq!(
        field(&with(backwards)),
        "changes[0].schedule.windows[0].start_minute"
    );
    assert!(matches!(
        DoorChange::from_parts(1, &[1; 16], None, None, Some(saturday_nine_to_ten())),
        Err(CredentialError::InvalidInput { field, .. }) if field == "schedule"
    ));
}

#[test]
fn the_door_admits_only_inside_validity_and_schedule() {
    let s = saturday_nine_to_ten();
    // 2026-01-03 is a Saturday; Zurich is at UTC+1, so 09:00 local is 08:00Z.
    let nine = 1_767_427_200;
    let from = 1_767_225_600;
    let decide = |t| door_decision(from, Some(from + 30 * 86_400), Some(&s), t).unwrap();
    assert_eq!(decide(nine), DoorDecision::Admit);
    assert_eq!(decide(nine + 3599), DoorDecision::Admit);
    assert_eq!(decide(nine - 1), DoorDecision::OutsideSchedule);
    assert_eq!(decide(nine + 3600), DoorDecision::OutsideSchedule);
    assert_eq!(decide(nine + 86_400), DoorDecision::OutsideSchedule);
    assert_eq!(decide(from - 1), DoorDecision::NotYetValid);
    assert_eq!(decide(from + 30 * 86_400), DoorDecision::Expired);
    assert_eq!(
        door_decision(from, None, None, nine - 1).unwrap(),
        DoorDecision::Admit
    );
    assert_eq!(DoorDecision::OutsideSchedule.name(), "outside_schedule");
}

#[test]
fn door_updates_round_trip() {
    let k = door_key("d1");
    let u = update(all_changes());
    let msg = encode_door_update(&k, &u, 10).unwrap();
    assert_eq!(msg, encode_door_update(&k, &u, 10).unwrap());
    let opened = open_door_update(&msg, &[door_key("d0"), k.clone()]).unwrap();
    assert_eq!(opened.update, u);
    assert_eq!(opened.kid, "d1");
}

#[test]
fn door_update_rejections() {
    let k = door_key("d1");
    let msg = encode_door_update(&k, &update(all_changes()), 0).unwrap();
    let other = DoorKey::from_secret("d1", &[8; 32]).unwrap();
    assert!(matches!(
        open_door_update(&msg, &[other]),
        Err(CredentialError::BadSignature { .. })
    ));
    assert!(matches!(
        open_door_update(&msg, &[door_key("d2")]),
        Err(CredentialError::UnknownKeyId { .. })
    ));
    for i in 0..msg.len() {
        let mut m = msg.clone();
        m[i] ^= 0x20;
        assert!(
            open_door_update(&m, std::slice::from_ref(&k)).is_err(),
            "byte {i}"
        );
    }
    let mut up_to_date = update(vec![]);
    up_to_date.to_version = up_to_date.from_version;
    let empty = encode_door_update(&k, &up_to_date, 0).unwrap();
    assert_eq!(
        open_door_update(&empty, std::slice::from_ref(&k))
            .unwrap()
            .update,
        up_to_date
    );
    up_to_date.changes = all_changes();
    assert!(encode_door_update(&k, &up_to_date, 0).is_err());
    let mut backwards = update(vec![]);
    backwards.to_version = backwards.from_version - 1;
    assert!(matches!(
        encode_door_update(&k, &backwards, 0),
        Err(CredentialError::InvalidInput { field, .. }) if field == "to_version"
    ));
}

#[test]
fn blocklist_limit_is_enforced_in_entry_order() {
    let k = door_key("d1");
    let block = |b: u8| DoorChange::BlockPhone {
        phone_hash: [b; 16],
    };
    let unblock = |b: u8| DoorChange::UnblockPhone {
        phone_hash: [b; 16],
    };
    let at_limit = BLOCKLIST_LIMIT - 1;
    assert!(encode_door_update(&k, &update(vec![block(1)]), at_limit).is_ok());
    match encode_door_update(&k, &update(vec![block(1), block(2)]), at_limit) {
        Err(CredentialError::BlocklistFull {
            would_hold, limit, ..
        }) => {
            assert_eq!(would_hold, u64::from(BLOCKLIST_LIMIT) + 1);
            assert_eq!(limit, BLOCKLIST_LIMIT);
        }
        other => panic!("{other:?}"),
    }
    // Unblocking first makes room; unblocking after does not.
    assert!(
        encode_door_update(&k, &update(vec![unblock(9), block(1), block(2)]), at_limit).is_ok()
    );
    assert!(
        encode_door_update(&k, &update(vec![block(1), block(2), unblock(9)]), at_limit).is_err()
    );
}

#[test]
fn door_keys_derive_per_door() {
    let master = [3u8; 32];
    let a = DoorKey::derive_secret(&master, "site", "door-a").unwrap();
    let b = DoorKey::derive_secret(&master, "site", "door-b").unwrap();
    assert_ne!(a, b);
    assert_eq!(
        a,
        DoorKey::derive_secret(&master, "site", "door-a").unwrap()
    );
    assert!(DoorKey::derive_secret(&[1; 31], "site", "door-a").is_err());
}

#[test]
fn key_debug_output_hides_key_material() {
    let k = key(Algorithm::EdDsa, "k1");
    let text = format!("{k:?} {:?}", door_key("d1"));
    assert!(text.contains("k1") && text.contains("d1"));
    assert!(!text.contains("09, 09"));
    assert!(SigningKey::from_pkcs8(Algorithm::Es256, "k1", b"not a key").is_err());
}
