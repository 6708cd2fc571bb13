//! The status model of `docs/status-rules.md`: codes and labels, transitions of a door row,
//! the general and home-app status of a key, schedules, and bulk evaluation.
//!
//! This is the only implementation of those rules; Python reaches it through
//! `keyworker.status` (binding in `rust/keyworker-py/src/status.rs`).

pub mod bulk;
pub mod codes;
pub mod derive;
mod error;
pub mod modify;
pub mod schedule;
pub mod transition;
pub mod waiting;

#[cfg(test)]
mod proptests;

pub use bulk::{evaluate_bulk, evaluate_bulk_into, BulkCounts, BulkInput, BulkOutput};
pub use codes::{
    DoorAction, DoorEvent, DoorState, DoorStatus, GeneralStatus, HomeCategory, HomeStatus, KeyType,
    Mode, NO_HOME_STATUS,
};
pub use derive::{evaluate, is_usable_at, DoorFacts, HomeView, KeyFacts, KeyStatus, Situation};
pub use error::StatusError;
pub use modify::{plan_modification, DoorPlan};
pub use schedule::{Schedule, Weekdays, Window};
pub use transition::next_door_state;
pub use waiting::{key_waiting_for, row_waiting_for, unreachable_since, works_online, WaitingFor};
