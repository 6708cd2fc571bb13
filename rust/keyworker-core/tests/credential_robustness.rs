//! Decoding arbitrary bytes never panics: every input ends in `Ok` or a typed error.
//! More cases: `PROPTEST_CASES=20000 cargo test --release --test credential_robustness`.

use keyworker_core::credential::{
    issue, open_door_update, verify, Algorithm, CredentialClaims, DoorKey, KeyType, SigningKey,
};
use proptest::prelude::*;

fn signed_token() -> (Vec<u8>, SigningKey) {
    let alg = Algorithm::EdDsa;
    let key = SigningKey::from_pkcs8(alg, "k1", &alg.generate_pkcs8().unwrap()).unwrap();
    let claims = CredentialClaims {
        site_id: "site".into(),
        key_id: "key".into(),
        credential_id: vec![1; 16],
        issued_at: 10,
        valid_from: 10,
        valid_until: Some(20),
        door_ids: vec!["d1".into()],
        schedule: None,
        key_type: KeyType::AccessMedium,
        holder_ref: "h".into(),
    };
    (issue(&key, &claims).unwrap(), key)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let (_, key) = signed_token();
        let _ = verify(&bytes, &[key.verification_key()], Some(15));
        let door = DoorKey::from_secret("d", &[7; 32]).unwrap();
        let _ = open_door_update(&bytes, &[door]);
    }

    #[test]
    fn mutated_tokens_never_verify_and_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let (token, key) = signed_token();
        let mut t = token.clone();
        for (at, byte) in edits {
            let i = at.index(t.len());
            t[i] = byte;
        }
        t.truncate(cut.index(t.len() + 1).max(1));
        let result = verify(&t, &[key.verification_key()], None);
        prop_assert!(t == token || result.is_err());
    }

    #[test]
    fn cbor_shaped_inputs_never_panic(
        head in prop::sample::select(vec![0xd2u8, 0xd1, 0x84, 0x9f, 0xbf, 0xa4]),
        rest in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        // Start like a COSE message (tags 18/17, arrays, indefinite lengths) to get past the
        // first byte more often than uniform noise does.
        let mut bytes = vec![head];
        bytes.extend(rest);
        let (_, key) = signed_token();
        let _ = verify(&bytes, &[key.verification_key()], None);
        let _ = open_door_update(&bytes, &[DoorKey::from_secret("d", &[7; 32]).unwrap()]);
    }
}

#[test]
fn deeply_nested_input_is_an_error_not_a_stack_overflow() {
    let mut bytes = vec![0xd2];
    bytes.extend(std::iter::repeat_n(0x81u8, 100_000));
    bytes.push(0x00);
    let (_, key) = signed_token();
    assert!(verify(&bytes, &[key.verification_key()], None).is_err());
    let door = DoorKey::from_secret("d", &[7; 32]).unwrap();
    assert!(open_door_update(&bytes, &[door]).is_err());
}
