//! The shared vectors of `tests/vectors/` (written by an independent cbor2 + cryptography
//! generator) checked against the core. The Python tests check the same files.

use keyworker_core::credential::{
    door_decision, encode_door_update, issue, open_door_update_up_to, to_be_signed, verify,
    Algorithm, CredentialClaims, CredentialError, CredentialSchedule, DoorChange, DoorKey,
    DoorUpdate, KeyType, ScheduleWindow, SigningKey, VerificationKey, DOOR_UPDATE_FORMAT,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/../../tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn opt_i64(v: &Value) -> Option<i64> {
    v.as_i64()
}

/// The name both test suites use for an outcome (the Python exception class names).
fn outcome<T>(r: &Result<T, CredentialError>) -> &'static str {
    match r {
        Ok(_) => "valid",
        Err(CredentialError::InvalidInput { .. }) => "InvalidInput",
        Err(CredentialError::InvalidKeyMaterial { .. }) => "InvalidKeyMaterial",
        Err(CredentialError::Malformed { .. }) => "InvalidCredential",
        Err(CredentialError::BadSignature { .. }) => "BadSignature",
        Err(CredentialError::UnexpectedAlgorithm { .. }) => "UnexpectedAlgorithm",
        Err(CredentialError::UnknownCriticalHeader { .. }) => "UnknownCriticalHeader",
        Err(CredentialError::UnknownKeyId { .. }) => "UnknownKeyId",
        Err(CredentialError::Expired { .. }) => "CredentialExpired",
        Err(CredentialError::NotYetValid { .. }) => "CredentialNotYetValid",
        Err(CredentialError::BlocklistFull { .. }) => "BlocklistFull",
        Err(CredentialError::UnsupportedFormat { .. }) => "UnsupportedFormat",
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// A schedule as the vectors write it (`null` or `{time_zone, windows: [{days, ...}]}`).
fn schedule(v: &Value) -> Option<CredentialSchedule> {
    v.as_object().map(|s| CredentialSchedule {
        time_zone: s["time_zone"].as_str().unwrap().into(),
        windows: s["windows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| ScheduleWindow {
                weekday_mask: keyworker_core::credential::weekday_mask(&strings(&w["days"]))
                    .unwrap(),
                start_minute: w["start_minute"].as_u64().unwrap() as u16,
                end_minute: w["end_minute"].as_u64().unwrap() as u16,
            })
            .collect(),
    })
}

fn claims(c: &Value) -> CredentialClaims {
    CredentialClaims {
        site_id: c["site_id"].as_str().unwrap().into(),
        key_id: c["key_id"].as_str().unwrap().into(),
        credential_id: hex(&c["credential_id"]),
        issued_at: c["issued_at"].as_i64().unwrap(),
        valid_from: c["valid_from"].as_i64().unwrap(),
        valid_until: opt_i64(&c["valid_until"]),
        door_ids: strings(&c["door_ids"]),
        schedule: schedule(&c["schedule"]),
        key_type: KeyType::from_name(c["key_type"].as_str().unwrap()).unwrap(),
        holder_ref: c["holder_ref"].as_str().unwrap().into(),
    }
}

#[test]
fn credential_vectors() {
    let v = load("credentials.json");
    let mut signing = Vec::new();
    let mut trusted = Vec::new();
    for k in v["trusted_keys"].as_array().unwrap() {
        let alg = Algorithm::from_name(k["algorithm"].as_str().unwrap()).unwrap();
        let kid = k["kid"].as_str().unwrap();
        let key = SigningKey::from_pkcs8(alg, kid, &hex(&k["pkcs8"])).unwrap();
        assert_eq!(key.public_key(), hex(&k["public_key"]), "{kid}");
        trusted.push(VerificationKey::new(alg, kid, &hex(&k["public_key"])).unwrap());
        signing.push(key);
    }
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let token = hex(&case["token"]);
        let result = verify(&token, &trusted, opt_i64(&case["now"]));
        assert_eq!(
            outcome(&result),
            case["expect"].as_str().unwrap(),
            "{name}: {result:?}"
        );
        if let Some(expected) = case.get("claims") {
            let expected = claims(expected);
            assert_eq!(result.unwrap().claims, expected, "{name}");
            // The claim map is byte-for-byte what a deterministic cbor2 writes.
            assert_eq!(
                expected.to_cbor().unwrap(),
                hex(&case["claims_cbor"]),
                "{name}"
            );
            let key = signing
                .iter()
                .find(|k| k.kid() == case["kid"].as_str().unwrap())
                .unwrap();
            let ours = issue(key, &expected).unwrap();
            if case["keyworker_issues_exactly"].as_bool().unwrap() {
                assert_eq!(ours, token, "{name}");
            } else {
                assert_eq!(
                    to_be_signed(&ours).unwrap(),
                    to_be_signed(&token).unwrap(),
                    "{name}"
                );
            }
        }
    }
}

fn change(c: &Value) -> DoorChange {
    DoorChange::from_parts(
        c["op"].as_u64().unwrap() as u8,
        &hex(&c["subject"]),
        opt_i64(&c["valid_from"]),
        opt_i64(&c["valid_until"]),
        schedule(&c["schedule"]),
    )
    .unwrap()
}

fn update(u: &Value) -> DoorUpdate {
    DoorUpdate {
        door_id: u["door_id"].as_str().unwrap().into(),
        from_version: u["from_version"].as_u64().unwrap(),
        to_version: u["to_version"].as_u64().unwrap(),
        changes: u["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(change)
            .collect(),
    }
}

#[test]
fn door_update_vectors() {
    let v = load("door_updates.json");
    let master = &v["door_master"];
    let secret = DoorKey::derive_secret(
        &hex(&master["secret"]),
        v["site_id"].as_str().unwrap(),
        v["door_id"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(secret.to_vec(), hex(&v["door_secret"]));
    let key = DoorKey::from_secret(master["kid"].as_str().unwrap(), &secret).unwrap();
    for case in v["encode"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let u = update(&case["update"]);
        let result = encode_door_update(&key, &u, case["blocklist_len"].as_u64().unwrap() as u32);
        assert_eq!(outcome(&result), case["expect"].as_str().unwrap(), "{name}");
        if let Some(message) = case.get("message") {
            assert_eq!(u.to_cbor().unwrap(), hex(&case["payload"]), "{name}");
            assert_eq!(result.unwrap(), hex(message), "{name}");
        }
    }
    assert_eq!(v["format"].as_u64(), Some(DOOR_UPDATE_FORMAT));
    for case in v["open"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let newest = case
            .get("newest_format")
            .map_or(DOOR_UPDATE_FORMAT, |n| n.as_u64().unwrap());
        let result =
            open_door_update_up_to(&hex(&case["message"]), std::slice::from_ref(&key), newest);
        assert_eq!(
            outcome(&result),
            case["expect"].as_str().unwrap(),
            "{name}: {result:?}"
        );
        if let Ok(opened) = result {
            let expected = case.get("update").unwrap_or(&v["encode"][0]["update"]);
            assert_eq!(opened.update, update(expected), "{name}");
            assert_eq!(Some(opened.format), case["format"].as_u64(), "{name}");
        }
    }
    for (kind, size) in v["entry_sizes"].as_object().unwrap() {
        let limit = if kind.contains("schedule") { 80 } else { 29 };
        assert!(size.as_u64().unwrap() <= limit, "{kind}");
    }
}

/// The door's decisions, computed by the generator with Python's zoneinfo.
#[test]
fn door_decision_vectors() {
    let v = load("door_updates.json");
    let cases = v["decisions"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let decision = door_decision(
            case["valid_from"].as_i64().unwrap(),
            opt_i64(&case["valid_until"]),
            schedule(&case["schedule"]).as_ref(),
            case["instant"].as_i64().unwrap(),
        )
        .unwrap();
        assert_eq!(decision.name(), case["expect"].as_str().unwrap(), "{case}");
    }
}
