//! Credential issuing and door-update encoding throughput of the core alone (no Python),
//! against the raw signing loop of the crypto crate used (ring for ES256, ed25519-dalek for
//! EdDSA), on one thread and on all.
//!
//! Run: `cargo bench -p keyworker-core --bench credentials` (`-- --quick` for a smoke run).
//! Prints one JSON object; `bench/credentials.py` runs this and merges it into
//! `bench/results/credentials.json`. Raw and keyworker loops alternate within each round so
//! machine noise hits both alike; figures are medians over the rounds.

use std::hint::black_box;
use std::time::Instant;

use keyworker_core::credential::{
    encode_door_update, encode_door_updates, issue, issue_batch, to_be_signed, Algorithm,
    CredentialClaims, CredentialSchedule, DoorChange, DoorKey, DoorUpdate, KeyType, ScheduleWindow,
    SigningKey,
};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

fn claims(i: u32) -> CredentialClaims {
    let mut credential_id = vec![0u8; 16];
    credential_id[..4].copy_from_slice(&i.to_be_bytes());
    CredentialClaims {
        site_id: "site-zurich-1".into(),
        key_id: format!("key-{i:08}"),
        credential_id,
        issued_at: 1_767_225_600,
        valid_from: 1_767_225_600,
        valid_until: Some(1_798_761_600),
        door_ids: vec![
            "door-entrance".into(),
            "door-garage".into(),
            "door-unit-12".into(),
        ],
        schedule: Some(CredentialSchedule {
            time_zone: "Europe/Zurich".into(),
            windows: vec![ScheduleWindow {
                weekday_mask: 0b001_1111,
                start_minute: 420,
                end_minute: 1140,
            }],
        }),
        key_type: KeyType::DigitalKey,
        holder_ref: "holder-000042".into(),
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The best round: on a shared machine the least disturbed one shows what the code can do.
fn best(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// Operations per second of `f`, which performs `n` operations.
fn rate(n: usize, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    n as f64 / start.elapsed().as_secs_f64()
}

/// One bare signature over a message, returning its length (so it cannot be optimized out).
type RawSigner = Box<dyn Fn(&[u8]) -> usize>;

fn signing(alg: Algorithm, n: usize, rounds: usize, batch: usize) -> String {
    let pkcs8 = alg.generate_pkcs8().unwrap();
    let key = SigningKey::from_pkcs8(alg, "bench-kid", &pkcs8).unwrap();
    let rng = SystemRandom::new();
    // The raw loop signs exactly what issuing signs: a credential's COSE Sig_structure.
    let tbs = to_be_signed(&issue(&key, &claims(0)).unwrap()).unwrap();
    let raw_sign: RawSigner = match alg {
        Algorithm::Es256 => {
            let kp =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng).unwrap();
            Box::new(move |m| kp.sign(&rng, m).unwrap().as_ref().len())
        }
        Algorithm::EdDsa => {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            let kp = ed25519_dalek::SigningKey::from_pkcs8_der(&pkcs8).unwrap();
            Box::new(move |m| ed25519_dalek::Signer::sign(&kp, m).to_bytes().len())
        }
    };
    let batch_claims: Vec<_> = (0..batch as u32).map(claims).collect();
    let (mut raw, mut ours, mut one, mut all) = (vec![], vec![], vec![], vec![]);
    let mut encode = vec![];
    for _ in 0..rounds {
        // Checking and encoding the claims alone: what issuing adds before the signature.
        encode.push(rate(n * 10, || {
            for i in 0..n * 10 {
                let c = &batch_claims[i % batch];
                c.validate().unwrap();
                black_box(c.to_cbor().unwrap());
            }
        }));
        raw.push(rate(n, || {
            for _ in 0..n {
                black_box(raw_sign(black_box(&tbs)));
            }
        }));
        ours.push(rate(n, || {
            for i in 0..n {
                black_box(issue(&key, &batch_claims[i % batch]).unwrap());
            }
        }));
        one.push(rate(batch, || {
            black_box(issue_batch(&key, &batch_claims, false).unwrap());
        }));
        all.push(rate(batch, || {
            black_box(issue_batch(&key, &batch_claims, true).unwrap());
        }));
    }
    let best_scaling = best(&all) / best(&one);
    let (raw, ours, one, all) = (median(&raw), median(&ours), median(&one), median(&all));
    format!(
        "{{\"raw_signs_per_s\": {raw:.0}, \"issued_per_s\": {ours:.0}, \
         \"claims_check_and_encode_us\": {:.3}, \
         \"issue_vs_raw\": {:.4}, \"batch_one_thread_per_s\": {one:.0}, \
         \"batch_all_threads_per_s\": {all:.0}, \"all_vs_one_thread\": {:.3}, \
         \"all_vs_one_thread_best_rounds\": {best_scaling:.3}, \
         \"token_bytes\": {}, \"signed_bytes\": {}}}",
        1e6 / median(&encode),
        ours / raw,
        all / one,
        issue(&key, &claims(0)).unwrap().len(),
        tbs.len()
    )
}

fn changes(n: usize, seed: u32) -> Vec<DoorChange> {
    (0..n as u32)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            id[4..8].copy_from_slice(&seed.to_be_bytes());
            // A realistic mix: mostly card adds and removals, some blocklist work.
            match i % 10 {
                0..=5 => DoorChange::AddCredential {
                    credential_id: id,
                    valid_from: 1_767_225_600,
                    valid_until: Some(1_798_761_600),
                    schedule: None,
                },
                6..=7 => DoorChange::RemoveCredential { credential_id: id },
                8 => DoorChange::BlockPhone { phone_hash: id },
                _ => DoorChange::UnblockPhone { phone_hash: id },
            }
        })
        .collect()
}

fn door_updates(entries: usize, doors: usize, rounds: usize) -> String {
    let key = DoorKey::from_secret("doors-1", &[7; 32]).unwrap();
    let big = DoorUpdate {
        door_id: "door-unit-12".into(),
        from_version: 1,
        to_version: 2,
        changes: changes(entries, 0),
    };
    let per_door = entries / doors;
    let updates: Vec<_> = (0..doors)
        .map(|d| DoorUpdate {
            door_id: format!("door-{d}"),
            from_version: 1,
            to_version: 2,
            changes: changes(per_door, d as u32),
        })
        .collect();
    let jobs: Vec<_> = updates.iter().map(|u| (&key, u, 0u32)).collect();
    let (mut single, mut one, mut all) = (vec![], vec![], vec![]);
    for _ in 0..rounds {
        single.push(rate(entries, || {
            black_box(encode_door_update(&key, &big, 0).unwrap());
        }));
        one.push(rate(per_door * doors, || {
            black_box(encode_door_updates(&jobs, false).unwrap());
        }));
        all.push(rate(per_door * doors, || {
            black_box(encode_door_updates(&jobs, true).unwrap());
        }));
    }
    let bytes = encode_door_update(&key, &big, 0).unwrap().len();
    let best_scaling = best(&all) / best(&one);
    let (single, one, all) = (median(&single), median(&one), median(&all));
    format!(
        "{{\"entries\": {entries}, \"one_update_entries_per_s\": {single:.0}, \
         \"batch_one_thread_entries_per_s\": {one:.0}, \
         \"batch_all_threads_entries_per_s\": {all:.0}, \"all_vs_one_thread\": {:.3}, \
         \"all_vs_one_thread_best_rounds\": {best_scaling:.3}, \"bytes_per_entry\": {:.2}}}",
        all / one,
        bytes as f64 / entries as f64
    )
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, rounds, batch, entries) = if quick {
        (200, 3, 200, 20_000)
    } else {
        (3_000, 7, 4_000, 1_000_000)
    };
    let threads = rayon::current_num_threads();
    let es256 = signing(Algorithm::Es256, n, rounds, batch);
    let eddsa = signing(Algorithm::EdDsa, n, rounds, batch);
    let doors = door_updates(entries, 16, rounds);
    println!(
        "{{\"threads\": {threads}, \"rounds\": {rounds}, \"ES256\": {es256}, \
         \"EdDSA\": {eddsa}, \"door_updates\": {doors}}}"
    );
}
