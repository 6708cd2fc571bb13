//! Bindings of `keyworker_core::revocation`: the plan of a revocation run and the per-chunk
//! computation. Columns are read from the callers' buffers in place (as the bulk status
//! evaluation reads them), the work runs with the interpreter released, and results come back
//! as bytes (u8 codes, native-endian u32 arrays) and ints; `keyworker.revocation.core` turns
//! them into typed values. Core errors become the exception classes of `keyworker.errors`.

use keyworker_core::revocation::{
    self as core, ChunkInput, Decision, PlanInput, RevocationError, Selector, Target,
    DEFAULT_CHUNK_KEYS, MAX_CHUNK_KEYS,
};
use keyworker_core::status::BulkInput;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

use crate::status::{bad_bulk, describe, input_error, to_py, Column};

fn core_error(py: Python<'_>, error: RevocationError) -> PyErr {
    match error {
        RevocationError::Status(e) => to_py(py, e),
        RevocationError::InvalidInput { ref field, .. } => {
            input_error(py, "InvalidBulkInput", field, error.to_string())
        }
    }
}

/// An integer argument, or `InvalidBulkInput` naming it.
fn int<T: TryFrom<i64>>(value: &Bound<'_, PyAny>, field: &str) -> PyResult<T> {
    value
        .extract::<i64>()
        .ok()
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| {
            bad_bulk(
                value.py(),
                field,
                format!("expected an integer in range, got {}", describe(value)),
            )
        })
}

/// An optional integer argument (`None` when absent or None).
fn optional_int<T: TryFrom<i64>>(
    value: Option<&Bound<'_, PyAny>>,
    field: &str,
) -> PyResult<Option<T>> {
    match value {
        Some(v) if !v.is_none() => int(v, field).map(Some),
        _ => Ok(None),
    }
}

fn u32_bytes<'py>(py: Python<'py>, values: &[u32]) -> Bound<'py, PyBytes> {
    PyBytes::new_with(py, std::mem::size_of_val(values), |out| {
        for (chunk, v) in out.chunks_exact_mut(4).zip(values) {
            chunk.copy_from_slice(&v.to_ne_bytes());
        }
        Ok(())
    })
    .unwrap_or_else(|_| PyBytes::new(py, &[]))
}

/// The six status columns, read in place.
struct KeyColumns {
    key_types: Column<u8>,
    flags: Column<u8>,
    valid_from: Column<i64>,
    valid_until: Column<i64>,
    door_offsets: Column<u32>,
    door_states: Column<u8>,
}

impl KeyColumns {
    fn read(columns: [&Bound<'_, PyAny>; 6]) -> PyResult<Self> {
        let [key_types, flags, valid_from, valid_until, door_offsets, door_states] = columns;
        Ok(KeyColumns {
            key_types: Column::read(key_types, "key_types")?,
            flags: Column::read(flags, "flags")?,
            valid_from: Column::read(valid_from, "valid_from")?,
            valid_until: Column::read(valid_until, "valid_until")?,
            door_offsets: Column::read(door_offsets, "door_offsets")?,
            door_states: Column::read(door_states, "door_states")?,
        })
    }

    fn bulk(&self) -> BulkInput<'_> {
        BulkInput {
            key_types: self.key_types.as_slice(),
            flags: self.flags.as_slice(),
            valid_from: self.valid_from.as_slice(),
            valid_until: self.valid_until.as_slice(),
            door_offsets: self.door_offsets.as_slice(),
            door_states: self.door_states.as_slice(),
        }
    }
}

/// The plan of a revocation run over a site's keys. Returns `(selected, status_counts,
/// status_after_counts, already_revoked, cannot_revoke, complete_at_once, app_reload_waits,
/// order, chunk_offsets, door_rows, door_changes)`, the arrays as native-endian u32 bytes.
#[pyfunction]
#[pyo3(signature = (
    key_types, flags, valid_from, valid_until, door_offsets, door_states,
    door_index, door_count, holder_index, holder_count, now,
    *, target="all", members=None, key_types_mask=None, statuses_mask=None,
    chunk_size=None, threads=None,
))]
#[allow(clippy::too_many_arguments)]
fn plan_revocation<'py>(
    py: Python<'py>,
    key_types: &Bound<'py, PyAny>,
    flags: &Bound<'py, PyAny>,
    valid_from: &Bound<'py, PyAny>,
    valid_until: &Bound<'py, PyAny>,
    door_offsets: &Bound<'py, PyAny>,
    door_states: &Bound<'py, PyAny>,
    door_index: &Bound<'py, PyAny>,
    door_count: &Bound<'py, PyAny>,
    holder_index: &Bound<'py, PyAny>,
    holder_count: &Bound<'py, PyAny>,
    now: &Bound<'py, PyAny>,
    target: &str,
    members: Option<&Bound<'py, PyAny>>,
    key_types_mask: Option<&Bound<'py, PyAny>>,
    statuses_mask: Option<&Bound<'py, PyAny>>,
    chunk_size: Option<&Bound<'py, PyAny>>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let columns = KeyColumns::read([
        key_types,
        flags,
        valid_from,
        valid_until,
        door_offsets,
        door_states,
    ])?;
    let door_index = Column::<u32>::read(door_index, "door_index")?;
    let holder_index = Column::<u32>::read(holder_index, "holder_index")?;
    let members = match members {
        Some(m) if !m.is_none() => Some(Column::<u32>::read(m, "members")?),
        _ => None,
    };
    let none: &[u32] = &[];
    let member_slice = members.as_ref().map_or(none, Column::as_slice);
    let target = match target {
        "all" => Target::All,
        "doors" => Target::Doors(member_slice),
        "holders" => Target::Holders(member_slice),
        other => {
            return Err(bad_bulk(
                py,
                "target",
                format!("expected \"all\", \"doors\" or \"holders\", got {other:?}"),
            ))
        }
    };
    let selector = Selector {
        target,
        key_types: optional_int(key_types_mask, "key_types_mask")?.unwrap_or(0),
        statuses: optional_int(statuses_mask, "statuses_mask")?.unwrap_or(0),
    };
    let now: i64 = int(now, "now")?;
    let chunk_size = optional_int(chunk_size, "chunk_size")?.unwrap_or(DEFAULT_CHUNK_KEYS);
    let threads = optional_int(threads, "threads")?;
    let input = PlanInput {
        keys: columns.bulk(),
        door_index: door_index.as_slice(),
        door_count: int(door_count, "door_count")?,
        holder_index: holder_index.as_slice(),
        holder_count: int(holder_count, "holder_count")?,
    };
    let plan = py
        .detach(|| core::plan(&input, &selector, now, chunk_size, threads))
        .map_err(|e| core_error(py, e))?;
    (
        plan.selected,
        plan.status_counts.to_vec(),
        plan.status_after_counts.to_vec(),
        plan.already_revoked,
        u32_bytes(py, &plan.cannot_revoke),
        plan.complete_at_once,
        plan.app_reload_waits,
        u32_bytes(py, &plan.order),
        u32_bytes(py, &plan.chunk_offsets),
        u32_bytes(py, &plan.door_rows),
        u32_bytes(py, &plan.door_changes),
    )
        .into_pyobject(py)
}

/// What revoking one chunk of keys does. Returns `(decisions, door_states, status_before,
/// home_before, status_after, home_after, door_key_offsets, door_keys)`: u8 codes as bytes,
/// the last two as native-endian u32 bytes.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn revoke_chunk<'py>(
    py: Python<'py>,
    key_types: &Bound<'py, PyAny>,
    flags: &Bound<'py, PyAny>,
    valid_from: &Bound<'py, PyAny>,
    valid_until: &Bound<'py, PyAny>,
    door_offsets: &Bound<'py, PyAny>,
    door_states: &Bound<'py, PyAny>,
    door_index: &Bound<'py, PyAny>,
    door_count: &Bound<'py, PyAny>,
    now: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyTuple>> {
    let columns = KeyColumns::read([
        key_types,
        flags,
        valid_from,
        valid_until,
        door_offsets,
        door_states,
    ])?;
    let door_index = Column::<u32>::read(door_index, "door_index")?;
    let input = ChunkInput {
        keys: columns.bulk(),
        door_index: door_index.as_slice(),
        door_count: int(door_count, "door_count")?,
    };
    let now: i64 = int(now, "now")?;
    let result = py
        .detach(|| core::revoke_chunk(&input, now))
        .map_err(|e| core_error(py, e))?;
    (
        PyBytes::new(py, &result.decisions),
        PyBytes::new(py, &result.door_states),
        PyBytes::new(py, &result.status_before),
        PyBytes::new(py, &result.home_before),
        PyBytes::new(py, &result.status_after),
        PyBytes::new(py, &result.home_after),
        u32_bytes(py, &result.door_key_offsets),
        u32_bytes(py, &result.door_keys),
    )
        .into_pyobject(py)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let names: Vec<&str> = Decision::ALL.iter().map(|d| d.name()).collect();
    m.add("REVOCATION_DECISIONS", PyTuple::new(py, names)?)?;
    m.add("DEFAULT_CHUNK_KEYS", DEFAULT_CHUNK_KEYS)?;
    m.add("MAX_CHUNK_KEYS", MAX_CHUNK_KEYS)?;
    m.add_function(wrap_pyfunction!(plan_revocation, m)?)?;
    m.add_function(wrap_pyfunction!(revoke_chunk, m)?)?;
    Ok(())
}
