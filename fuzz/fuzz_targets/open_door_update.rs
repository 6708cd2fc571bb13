//! Any bytes given to door-update verification end in `Ok` or a typed error, never a panic.
#![no_main]

use keyworker_core::credential::{open_door_update, DoorKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = DoorKey::from_secret("doors-1", &[7; 32]).unwrap();
    let _ = open_door_update(data, &[key]);
});
