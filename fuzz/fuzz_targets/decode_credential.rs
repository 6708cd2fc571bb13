//! Any bytes given to credential verification end in `Ok` or a typed error, never a panic.
#![no_main]

use std::sync::OnceLock;

use keyworker_core::credential::{verify, Algorithm, SigningKey, VerificationKey};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static [VerificationKey] {
    static KEYS: OnceLock<Vec<VerificationKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [("k1", Algorithm::EdDsa), ("k2", Algorithm::Es256)]
            .iter()
            .map(|(kid, alg)| {
                SigningKey::from_pkcs8(*alg, kid, &alg.generate_pkcs8().unwrap())
                    .unwrap()
                    .verification_key()
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = verify(data, keys(), Some(1_767_225_600));
});
