//! The limits the core enforces on a key, in one place.
//!
//! The binding exports each as a constant of `keyworker._core`; the HTTP API's request models,
//! its OpenAPI document and the services' validation read them from there
//! (`keyworker.limits`), so whatever the API accepts is a key the worker can sign. Limits the
//! core does not enforce (door names, selector sizes, page sizes) live in `keyworker.limits`.

/// Longest site id, key id, door id or keyholder reference, in UTF-8 bytes.
pub const MAX_ID_LEN: usize = 128;
/// Most doors one credential may name.
pub const MAX_DOORS: usize = 256;
/// Most windows one schedule may hold: a credential carries every window, and doors match
/// them one by one.
pub const MAX_WINDOWS: usize = 16;
/// Longest time-zone name (IANA names are far shorter).
pub const MAX_TIME_ZONE_LEN: usize = 64;
/// Days of a schedule window: each weekday at most once.
pub const MAX_WEEKDAYS: usize = 7;
