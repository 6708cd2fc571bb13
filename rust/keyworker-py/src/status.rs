//! Bindings of `keyworker_core::status`: Python values in, core types; core results out as
//! plain tuples, bytes and ints (the typed dataclasses are built by `keyworker.status`); core
//! errors out as the exception classes of `keyworker.errors`, with the field they name.
//!
//! Bulk evaluation reads its columns straight from the callers' buffers and runs with the
//! interpreter released.

use std::fmt;
use std::mem::{align_of, size_of, MaybeUninit};

use keyworker_core::status::bulk::{self, flags, BulkInput};
use keyworker_core::status::codes::{HomeStatus as CoreHomeStatus, NO_HOME_STATUS};
use keyworker_core::status::derive::DOOR_ONLINE;
use keyworker_core::status::schedule::{self, WEEKDAY_NAMES};
use keyworker_core::status::{
    self as core, DoorAction, DoorEvent, DoorFacts, DoorState, GeneralStatus, HomeStatus, KeyFacts,
    KeyType, Schedule, StatusError, Weekdays, Window,
};
use pyo3::buffer::{ElementType, PyUntypedBuffer};
use pyo3::exceptions::PyOverflowError;
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyMapping, PyMemoryView, PyString, PyTuple};

use crate::errors;

/// The Python class of a core error; input errors carry their field as `.field`.
pub(crate) fn to_py(py: Python<'_>, error: StatusError) -> PyErr {
    let class = match &error {
        StatusError::IllegalTransition { .. } => {
            return errors::raise(py, "IllegalTransition", error.to_string())
        }
        StatusError::UnknownCode { .. } | StatusError::InvalidKeyData { .. } => "InvalidKeyData",
        StatusError::InvalidSchedule { .. } => "InvalidSchedule",
        StatusError::InvalidModification { .. } => "InvalidModification",
        StatusError::InvalidBulkInput { .. } => "InvalidBulkInput",
    };
    input_error(py, class, error.field().unwrap_or(""), error.to_string())
}

/// `keyworker.errors.<class>(message, field)` for the `InvalidInput` family.
pub(crate) fn input_error(
    py: Python<'_>,
    class: &'static str,
    field: &str,
    message: String,
) -> PyErr {
    // Build the exception the normal way so that `field` is set by its own __init__.
    let made = py
        .import(intern!(py, "keyworker.errors"))
        .and_then(|m| m.getattr(class))
        .and_then(|cls| cls.call1((message, field)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

fn key_data(py: Python<'_>, field: impl fmt::Display, why: impl fmt::Display) -> PyErr {
    let field = field.to_string();
    let message = format!("{field}: {why}");
    input_error(py, "InvalidKeyData", &field, message)
}

fn bad_schedule(py: Python<'_>, field: impl fmt::Display, why: impl fmt::Display) -> PyErr {
    let field = field.to_string();
    let message = format!("{field}: {why}");
    input_error(py, "InvalidSchedule", &field, message)
}

pub(crate) fn bad_bulk(py: Python<'_>, field: &str, why: impl fmt::Display) -> PyErr {
    input_error(py, "InvalidBulkInput", field, format!("{field}: {why}"))
}

/// The path of an input field, rendered only when an error names it: `name`, or
/// `list[index].name` for an item of a list (e.g. `doors[2].state`).
#[derive(Clone, Copy)]
struct Field<'a> {
    list: Option<(&'a str, usize)>,
    name: &'a str,
}

impl<'a> Field<'a> {
    const fn top(name: &'a str) -> Self {
        Field { list: None, name }
    }

    const fn item(list: &'a str, index: usize, name: &'a str) -> Self {
        Field {
            list: Some((list, index)),
            name,
        }
    }
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.list {
            Some((list, index)) if self.name.is_empty() => write!(f, "{list}[{index}]"),
            Some((list, index)) => write!(f, "{list}[{index}].{}", self.name),
            None => f.write_str(self.name),
        }
    }
}

/// Which exception family a conversion failure belongs to.
#[derive(Clone, Copy)]
enum Family {
    KeyData,
    Schedule,
    Modification,
}

impl Family {
    fn error(self, py: Python<'_>, field: impl fmt::Display, why: impl fmt::Display) -> PyErr {
        match self {
            Family::KeyData => key_data(py, field, why),
            Family::Schedule => bad_schedule(py, field, why),
            Family::Modification => {
                let field = field.to_string();
                let message = format!("{field}: {why}");
                input_error(py, "InvalidModification", &field, message)
            }
        }
    }
}

/// Attribute `name` of `obj`, or the family's error naming `field`.
fn attr<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, PyString>,
    field: Field<'_>,
    family: Family,
) -> PyResult<Bound<'py, PyAny>> {
    obj.getattr(name)
        .map_err(|_| family.error(obj.py(), field, "missing"))
}

fn as_bool(value: &Bound<'_, PyAny>, field: Field<'_>) -> PyResult<bool> {
    value
        .extract::<bool>()
        .map_err(|_| key_data(value.py(), field, "expected a bool"))
}

fn as_int(value: &Bound<'_, PyAny>, field: Field<'_>, family: Family) -> PyResult<i64> {
    value.extract::<i64>().map_err(|_| {
        family.error(
            value.py(),
            field,
            format!("expected an int of 64 bits, got {}", describe(value)),
        )
    })
}

fn as_str<'a>(value: &'a Bound<'_, PyAny>, field: Field<'_>, family: Family) -> PyResult<&'a str> {
    // abi3 on 3.11: `to_str` borrows the UTF-8 that CPython caches on the str object.
    value
        .cast::<PyString>()
        .ok()
        .and_then(|s| s.to_str().ok())
        .ok_or_else(|| {
            family.error(
                value.py(),
                field,
                format!("expected a str, got {}", describe(value)),
            )
        })
}

/// A short, safe description of a bad value for error messages.
pub(crate) fn describe(value: &Bound<'_, PyAny>) -> String {
    let type_name = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    match value.repr() {
        Ok(r) => {
            let r = r.to_string();
            if r.chars().count() > 40 {
                format!("a {type_name}")
            } else {
                format!("{r} ({type_name})")
            }
        }
        Err(_) => format!("a {type_name}"),
    }
}

fn core_result<T>(py: Python<'_>, result: Result<T, StatusError>) -> PyResult<T> {
    result.map_err(|e| to_py(py, e))
}

// --- codes and labels ---

#[pyfunction]
fn next_door_state(
    py: Python<'_>,
    key_type: &Bound<'_, PyAny>,
    state: &Bound<'_, PyAny>,
    event: &Bound<'_, PyAny>,
) -> PyResult<&'static str> {
    let k = as_str(key_type, Field::top("key_type"), Family::KeyData)?;
    let s = as_str(state, Field::top("state"), Family::KeyData)?;
    let e = as_str(event, Field::top("event"), Family::KeyData)?;
    let next = core_result(
        py,
        (|| {
            core::next_door_state(
                KeyType::from_name(k, "key_type")?,
                DoorState::from_name(s, "state")?,
                DoorEvent::from_name(e, "event")?,
            )
        })(),
    )?;
    Ok(next.name())
}

/// `(code, mode, label)` of a door row, or None for states the portal does not show.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn door_status(
    py: Python<'_>,
    state: &Bound<'_, PyAny>,
    online: &Bound<'_, PyAny>,
) -> PyResult<Option<(&'static str, Option<&'static str>, &'static str)>> {
    let s = as_str(state, Field::top("state"), Family::KeyData)?;
    let online = as_bool(online, Field::top("online"))?;
    let state = core_result(py, DoorState::from_name(s, "state"))?;
    Ok(state
        .door_status(online)
        .map(|d| (d.state.name(), d.mode.map(|m| m.name()), d.label)))
}

/// Who a door row waits for (`technician`, `door`), or None when it is not pending.
#[pyfunction]
fn row_waiting_for(
    py: Python<'_>,
    state: &Bound<'_, PyAny>,
    online: &Bound<'_, PyAny>,
    unreachable: &Bound<'_, PyAny>,
) -> PyResult<Option<&'static str>> {
    let s = as_str(state, Field::top("state"), Family::KeyData)?;
    let online = as_bool(online, Field::top("online"))?;
    let unreachable = as_bool(unreachable, Field::top("unreachable"))?;
    let state = core_result(py, DoorState::from_name(s, "state"))?;
    Ok(core::row_waiting_for(state, online, unreachable).map(|w| w.name()))
}

/// Who a key's own state waits for (`mobile_cloud`, `keyholder_app`), or None.
#[pyfunction]
fn key_waiting_for(
    py: Python<'_>,
    key_type: &Bound<'_, PyAny>,
    revoked: &Bound<'_, PyAny>,
    delivered: &Bound<'_, PyAny>,
    app_reloaded: &Bound<'_, PyAny>,
) -> PyResult<Option<&'static str>> {
    let k = as_str(key_type, Field::top("key_type"), Family::KeyData)?;
    let key_type = core_result(py, KeyType::from_name(k, "key_type"))?;
    Ok(core::key_waiting_for(
        key_type,
        as_bool(revoked, Field::top("revoked"))?,
        as_bool(delivered, Field::top("delivered"))?,
        as_bool(app_reloaded, Field::top("app_reloaded"))?,
    )
    .map(|w| w.name()))
}

/// Whether a door's pending work is automated: online and not unreachable.
#[pyfunction]
fn works_online(online: &Bound<'_, PyAny>, unreachable: &Bound<'_, PyAny>) -> PyResult<bool> {
    Ok(core::works_online(
        as_bool(online, Field::top("online"))?,
        as_bool(unreachable, Field::top("unreachable"))?,
    ))
}

fn opt_int(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<i64>> {
    match value {
        Some(v) if !v.is_none() => Ok(Some(as_int(v, Field::top(name), Family::KeyData)?)),
        _ => Ok(None),
    }
}

/// When an online door with unconfirmed work became unreachable, or None.
#[pyfunction]
#[pyo3(signature = (online, last_seen, pending_since, threshold, now))]
fn unreachable_since(
    online: &Bound<'_, PyAny>,
    last_seen: Option<&Bound<'_, PyAny>>,
    pending_since: Option<&Bound<'_, PyAny>>,
    threshold: &Bound<'_, PyAny>,
    now: &Bound<'_, PyAny>,
) -> PyResult<Option<i64>> {
    Ok(core::unreachable_since(
        as_bool(online, Field::top("online"))?,
        opt_int(last_seen, "last_seen")?,
        opt_int(pending_since, "pending_since")?,
        as_int(threshold, Field::top("threshold"), Family::KeyData)?,
        as_int(now, Field::top("now"), Family::KeyData)?,
    ))
}

#[pyfunction]
fn general_status_label(py: Python<'_>, code: &str) -> PyResult<&'static str> {
    Ok(core_result(py, GeneralStatus::from_name(code, "code"))?.label())
}

/// The seed's words for a home-app status; None for `time_day` (its label is the schedule's).
#[pyfunction]
fn home_status_label(py: Python<'_>, code: &str) -> PyResult<Option<&'static str>> {
    Ok(core_result(py, HomeStatus::from_name(code, "code"))?.fixed_label())
}

#[pyfunction]
fn home_status_category(py: Python<'_>, code: &str) -> PyResult<&'static str> {
    Ok(core_result(py, HomeStatus::from_name(code, "code"))?
        .category()
        .name())
}

// --- one key ---

const WINDOWS: &str = "schedule.windows";

/// A `Schedule`-shaped object (`time_zone`, `windows` of `days`/`start`/`end`) to the core's.
fn schedule_of(obj: &Bound<'_, PyAny>) -> PyResult<Schedule> {
    let py = obj.py();
    let fam = Family::Schedule;
    let zone_field = Field::top("schedule.time_zone");
    let zone_obj = attr(obj, intern!(py, "time_zone"), zone_field, fam)?;
    let zone = as_str(&zone_obj, zone_field, fam)?;
    let windows_obj = attr(obj, intern!(py, "windows"), Field::top(WINDOWS), fam)?;
    let iter = windows_obj
        .try_iter()
        .map_err(|_| fam.error(py, WINDOWS, "expected a sequence of windows"))?;
    let mut windows = Vec::new();
    for (i, w) in iter.enumerate() {
        let w = w?;
        let days_field = Field::item(WINDOWS, i, "days");
        let days_obj = attr(&w, intern!(py, "days"), days_field, fam)?;
        let mut days = Weekdays::default();
        let days_iter = days_obj
            .try_iter()
            .map_err(|_| fam.error(py, days_field, "expected a set of weekday names"))?;
        for d in days_iter {
            let d = d?;
            core_result(
                py,
                days.insert_name(as_str(&d, days_field, fam)?, days_field),
            )?;
        }
        let minute = |name: &Bound<'_, PyString>, field: &'static str| {
            let field = Field::item(WINDOWS, i, field);
            as_int(&attr(&w, name, field, fam)?, field, fam)
        };
        let start = minute(intern!(py, "start"), "start")?;
        let end = minute(intern!(py, "end"), "end")?;
        let window = Window::new(days, start, end, Field::item(WINDOWS, i, ""));
        windows.push(core_result(py, window)?);
    }
    core_result(py, Schedule::new(zone, windows))
}

/// A `KeyFacts`-shaped object to the core's facts.
fn key_facts_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<KeyFacts> {
    let py = obj.py();
    let fam = Family::KeyData;
    let get =
        |name: &Bound<'py, PyString>, field: &'static str| attr(obj, name, Field::top(field), fam);
    let flag = |name: &Bound<'py, PyString>, field: &'static str| {
        as_bool(&get(name, field)?, Field::top(field))
    };
    let key_type_obj = get(intern!(py, "key_type"), "key_type")?;
    let key_type = core_result(
        py,
        KeyType::from_name(
            as_str(&key_type_obj, Field::top("key_type"), fam)?,
            "key_type",
        ),
    )?;
    let valid_from = as_int(
        &get(intern!(py, "valid_from"), "valid_from")?,
        Field::top("valid_from"),
        fam,
    )?;
    let valid_until_obj = get(intern!(py, "valid_until"), "valid_until")?;
    let valid_until = if valid_until_obj.is_none() {
        None
    } else {
        Some(as_int(&valid_until_obj, Field::top("valid_until"), fam)?)
    };
    let doors_obj = get(intern!(py, "doors"), "doors")?;
    let doors_iter = doors_obj
        .try_iter()
        .map_err(|_| key_data(py, "doors", "expected a sequence of door facts"))?;
    let mut doors = Vec::with_capacity(doors_obj.len().unwrap_or(0));
    for (i, d) in doors_iter.enumerate() {
        let d = d?;
        let state_field = Field::item("doors", i, "state");
        let online_field = Field::item("doors", i, "online");
        let state_obj = attr(&d, intern!(py, "state"), state_field, fam)?;
        let state_name = as_str(&state_obj, state_field, fam)?;
        let state = core_result(py, DoorState::from_name(state_name, state_field))?;
        let online_obj = attr(&d, intern!(py, "online"), online_field, fam)?;
        let online = as_bool(&online_obj, online_field)?;
        doors.push(DoorFacts { state, online });
    }
    let schedule_obj = get(intern!(py, "schedule"), "schedule")?;
    let schedule = if schedule_obj.is_none() {
        None
    } else {
        Some(schedule_of(&schedule_obj)?)
    };
    Ok(KeyFacts {
        key_type,
        revoked: flag(intern!(py, "revoked"), "revoked")?,
        valid_from,
        valid_until,
        doors,
        schedule,
        phone_blocked: flag(intern!(py, "phone_blocked"), "phone_blocked")?,
        delivered: flag(intern!(py, "delivered"), "delivered")?,
        app_reloaded: flag(intern!(py, "app_reloaded"), "app_reloaded")?,
    })
}

/// One key at `now`: `(general code, home code or 255, home label if time_day, doors)`, where
/// `doors` has one byte per door: its state code, | 0x80 when its mode is automated, or 255
/// when the portal shows no row.
#[pyfunction]
fn evaluate<'py>(
    py: Python<'py>,
    facts: &Bound<'py, PyAny>,
    now: &Bound<'py, PyAny>,
) -> PyResult<(u8, u8, Option<String>, Bound<'py, PyBytes>)> {
    let facts = key_facts_of(facts)?;
    let now = as_int(now, Field::top("now"), Family::KeyData)?;
    let status = core_result(py, core::evaluate(&facts, now))?;
    let (home_code, home_label) = match status.home {
        Some(h) if h.status == CoreHomeStatus::TimeDay => (h.status.code(), Some(h.label.into())),
        Some(h) => (h.status.code(), None),
        None => (NO_HOME_STATUS, None),
    };
    let doors: Vec<u8> = status
        .doors
        .iter()
        .map(|d| match d {
            Some(d) => {
                let automated = d.mode == Some(core::Mode::Automated);
                d.state.code() | if automated { DOOR_ONLINE } else { 0 }
            }
            None => 0xff,
        })
        .collect();
    Ok((
        status.status.code(),
        home_code,
        home_label,
        PyBytes::new(py, &doors),
    ))
}

#[pyfunction]
fn is_usable_at(
    py: Python<'_>,
    facts: &Bound<'_, PyAny>,
    instant: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let facts = key_facts_of(facts)?;
    let instant = as_int(instant, Field::top("instant"), Family::KeyData)?;
    core_result(py, core::is_usable_at(&facts, instant))
}

// --- modifying a key ---

/// The items of a list or tuple (a str is a sequence too, but never a list of door ids).
fn items<'py>(
    value: &Bound<'py, PyAny>,
    field: &str,
    what: &str,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    let wrong = || {
        Family::Modification.error(
            value.py(),
            field,
            format!("expected a list of {what}, got {}", describe(value)),
        )
    };
    if value.is_instance_of::<PyString>() {
        return Err(wrong());
    }
    if let Ok(l) = value.cast::<PyList>() {
        return Ok(l.iter().collect());
    }
    if let Ok(t) = value.cast::<PyTuple>() {
        return Ok(t.iter().collect());
    }
    let iter = value.try_iter().map_err(|_| wrong())?;
    iter.collect()
}

/// `[(door_id, action, state_after)]` of a modification: every current row in order, then
/// every added door in the order given.
#[pyfunction]
fn plan_modification(
    py: Python<'_>,
    key_type: &Bound<'_, PyAny>,
    rows: &Bound<'_, PyAny>,
    new_door_ids: &Bound<'_, PyAny>,
    entry_changed: &Bound<'_, PyAny>,
) -> PyResult<Vec<(String, &'static str, &'static str)>> {
    let fam = Family::Modification;
    let kt = as_str(key_type, Field::top("key_type"), Family::KeyData)?;
    let key_type = core_result(py, KeyType::from_name(kt, "key_type"))?;
    let entry_changed = entry_changed
        .extract::<bool>()
        .map_err(|_| fam.error(py, "entry_changed", "expected a bool"))?;
    let row_items = items(rows, "rows", "(door_id, state) pairs")?;
    let mut row_parts = Vec::with_capacity(row_items.len());
    for (i, row) in row_items.iter().enumerate() {
        let pair = row
            .cast::<PyTuple>()
            .ok()
            .filter(|t| t.len() == 2)
            .ok_or_else(|| {
                fam.error(
                    py,
                    Field::item("rows", i, ""),
                    format!("expected a (door_id, state) pair, got {}", describe(row)),
                )
            })?;
        row_parts.push((pair.get_item(0)?, pair.get_item(1)?));
    }
    let mut core_rows = Vec::with_capacity(row_parts.len());
    for (i, (id, state)) in row_parts.iter().enumerate() {
        let id = as_str(id, Field::item("rows", i, "door_id"), fam)?;
        let state_field = Field::item("rows", i, "state");
        let state = as_str(state, state_field, fam)?;
        core_rows.push((
            id,
            core_result(py, DoorState::from_name(state, state_field))?,
        ));
    }
    let id_items = items(new_door_ids, "door_ids", "door ids")?;
    let mut new_ids = Vec::with_capacity(id_items.len());
    for (i, id) in id_items.iter().enumerate() {
        new_ids.push(as_str(id, Field::item("door_ids", i, ""), fam)?);
    }
    let plan = core_result(
        py,
        core::plan_modification(key_type, &core_rows, &new_ids, entry_changed),
    )?;
    Ok(plan
        .into_iter()
        .map(|d| (d.door_id.to_owned(), d.action.name(), d.state_after.name()))
        .collect())
}

// --- schedules ---

#[pyfunction]
fn schedule_label(schedule: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(schedule_of(schedule)?.label())
}

/// Item `key` of a JSON object, or InvalidSchedule naming `field`.
fn item<'py>(
    obj: &Bound<'py, PyMapping>,
    key: &str,
    field: Field<'_>,
) -> PyResult<Bound<'py, PyAny>> {
    match obj.contains(key) {
        Ok(true) => obj.get_item(key),
        _ => Err(bad_schedule(obj.py(), field, "missing")),
    }
}

/// A JSON list (list or tuple), or InvalidSchedule naming `field`.
fn json_list<'py>(
    value: &Bound<'py, PyAny>,
    field: Field<'_>,
    what: &str,
) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if let Ok(l) = value.cast::<PyList>() {
        return Ok(l.iter().collect());
    }
    if let Ok(t) = value.cast::<PyTuple>() {
        return Ok(t.iter().collect());
    }
    Err(bad_schedule(
        value.py(),
        field,
        format!("expected a list of {what}, got {}", describe(value)),
    ))
}

fn json_object<'a, 'py>(
    value: &'a Bound<'py, PyAny>,
    field: Field<'_>,
) -> PyResult<&'a Bound<'py, PyMapping>> {
    value.cast::<PyMapping>().map_err(|_| {
        bad_schedule(
            value.py(),
            field,
            format!("expected a JSON object, got {}", describe(value)),
        )
    })
}

/// The JSON form of docs/status-rules.md to `(time_zone, ((days Monday-first, start, end),
/// ...))`, every rule of a schedule checked.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn schedule_from_json(
    obj: &Bound<'_, PyAny>,
) -> PyResult<(String, Vec<(Vec<&'static str>, u16, u16)>)> {
    let py = obj.py();
    let fam = Family::Schedule;
    let obj = json_object(obj, Field::top("schedule"))?;
    let zone_field = Field::top("schedule.time_zone");
    let zone = as_str(&item(obj, "time_zone", zone_field)?, zone_field, fam)?.to_owned();
    let windows_obj = item(obj, "windows", Field::top(WINDOWS))?;
    let mut windows = Vec::new();
    for (i, w) in json_list(&windows_obj, Field::top(WINDOWS), "windows")?
        .iter()
        .enumerate()
    {
        let w = json_object(w, Field::item(WINDOWS, i, ""))?;
        let days_field = Field::item(WINDOWS, i, "days");
        let mut days = Weekdays::default();
        for d in json_list(&item(w, "days", days_field)?, days_field, "weekday names")? {
            core_result(
                py,
                days.insert_name(as_str(&d, days_field, fam)?, days_field),
            )?;
        }
        let clock = |name: &'static str| -> PyResult<i64> {
            let field = Field::item(WINDOWS, i, name);
            let value = item(w, name, field)?;
            let text = as_str(&value, field, fam)?;
            Ok(i64::from(core_result(
                py,
                schedule::parse_clock(text, field),
            )?))
        };
        let (start, end) = (clock("start")?, clock("end")?);
        let window = Window::new(days, start, end, Field::item(WINDOWS, i, ""));
        windows.push(core_result(py, window)?);
    }
    let checked = core_result(py, Schedule::new(&zone, windows))?;
    Ok((
        zone,
        checked
            .windows()
            .iter()
            .map(|w| (w.days().names().collect(), w.start(), w.end()))
            .collect(),
    ))
}

/// The JSON form of a `Schedule`-shaped object: days Monday-first, times as `HH:MM`.
#[pyfunction]
fn schedule_to_json<'py>(schedule: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = schedule.py();
    let checked = schedule_of(schedule)?;
    let out = PyDict::new(py);
    out.set_item("time_zone", checked.time_zone_name())?;
    let windows = PyList::empty(py);
    for w in checked.windows() {
        let d = PyDict::new(py);
        d.set_item("days", PyList::new(py, w.days().names())?)?;
        d.set_item("start", schedule::format_clock(w.start()))?;
        d.set_item("end", schedule::format_clock(w.end()))?;
        windows.append(d)?;
    }
    out.set_item("windows", windows)?;
    Ok(out)
}

// --- bulk ---

/// An element type of a bulk column.
pub(crate) trait ColumnElement: Copy + Send + Sync + 'static {
    /// The buffer element type that holds this type natively.
    const ELEMENT: ElementType;
    const NAME: &'static str;
    fn from_ne(bytes: &[u8]) -> Self;
}

impl ColumnElement for u8 {
    const ELEMENT: ElementType = ElementType::UnsignedInteger { bytes: 1 };
    const NAME: &'static str = "u8";
    fn from_ne(bytes: &[u8]) -> Self {
        bytes[0]
    }
}

impl ColumnElement for u32 {
    const ELEMENT: ElementType = ElementType::UnsignedInteger { bytes: 4 };
    const NAME: &'static str = "u32";
    fn from_ne(bytes: &[u8]) -> Self {
        let mut b = [0; 4];
        b.copy_from_slice(bytes);
        u32::from_ne_bytes(b)
    }
}

impl ColumnElement for i64 {
    const ELEMENT: ElementType = ElementType::SignedInteger { bytes: 8 };
    const NAME: &'static str = "i64";
    fn from_ne(bytes: &[u8]) -> Self {
        let mut b = [0; 8];
        b.copy_from_slice(bytes);
        i64::from_ne_bytes(b)
    }
}

/// A column read from a Python buffer: borrowed in place when it is C-contiguous and aligned
/// (the usual case: bytes, array.array, numpy arrays), copied otherwise.
pub(crate) enum Column<T> {
    Borrowed {
        // Holding the buffer keeps the exporter's memory alive and unmoved.
        _buffer: PyUntypedBuffer,
        ptr: *const T,
        len: usize,
    },
    Owned(Vec<T>),
}

impl<T: ColumnElement> Column<T> {
    /// Reads column `field`. Accepted: a buffer of `T` itself (native byte order), or a buffer
    /// of bytes holding native-endian `T`s (e.g. `array.array("q", ...).tobytes()`).
    pub(crate) fn read(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Self> {
        let py = obj.py();
        let buffer = PyUntypedBuffer::get(obj).map_err(|_| {
            bad_bulk(
                py,
                field,
                format!("expected a buffer of {}, got {}", T::NAME, describe(obj)),
            )
        })?;
        let format = buffer.format().to_bytes();
        // pyo3's parser reads '>' / '!' as native; big-endian data is never ours.
        let foreign_order =
            matches!(format.first(), Some(b'>' | b'!')) && cfg!(target_endian = "little");
        let element = ElementType::from_format(buffer.format());
        let raw_bytes = matches!(
            element,
            ElementType::UnsignedInteger { bytes: 1 } | ElementType::SignedInteger { bytes: 1 }
        );
        if foreign_order || !(raw_bytes || element == T::ELEMENT) {
            return Err(bad_bulk(
                py,
                field,
                format!(
                    "expected {} values (or raw bytes), got a buffer of format {:?}",
                    T::NAME,
                    String::from_utf8_lossy(format)
                ),
            ));
        }
        let len_bytes = buffer.len_bytes();
        if len_bytes % size_of::<T>() != 0 {
            return Err(bad_bulk(
                py,
                field,
                format!(
                    "{len_bytes} bytes is not a whole number of {}-byte {} values",
                    size_of::<T>(),
                    T::NAME
                ),
            ));
        }
        if len_bytes == 0 {
            // An empty export may carry a null pointer, which no slice may have.
            return Ok(Column::Owned(Vec::new()));
        }
        let ptr = buffer.buf_ptr() as *const T;
        if buffer.is_c_contiguous() && !ptr.is_null() && (ptr as usize) % align_of::<T>() == 0 {
            return Ok(Column::Borrowed {
                _buffer: buffer,
                ptr,
                len: len_bytes / size_of::<T>(),
            });
        }
        // Rare: a strided view or an odd offset. Let Python lay the bytes out, then decode.
        drop(buffer);
        let bytes = PyMemoryView::from(obj)?.call_method0(intern!(py, "tobytes"))?;
        let bytes = bytes.cast::<PyBytes>()?.as_bytes();
        Ok(Column::Owned(
            bytes.chunks_exact(size_of::<T>()).map(T::from_ne).collect(),
        ))
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        match self {
            // SAFETY: the pointer is non-null, the buffer C-contiguous, aligned for T, holds
            // `len` whole Ts (checked in `read`), and stays exported while `self` lives. Any bit pattern is a valid
            // u8/u32/i64. Callers must not resize or write the array during the call (the
            // interpreter is released while it is read), as with any buffer consumer.
            Column::Borrowed { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Column::Owned(v) => v,
        }
    }
}

/// A new `bytes` object of `len` bytes whose contents the caller must fill before anyone else
/// sees it, and those contents as writable, possibly uninitialised memory.
fn uninit_bytes<'py, 'a>(
    py: Python<'py>,
    len: usize,
) -> PyResult<(Bound<'py, PyBytes>, &'a mut [MaybeUninit<u8>])> {
    let size = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| PyOverflowError::new_err("too many keys for one bytes object"))?;
    // SAFETY: a null source asks CPython for a new object with uninitialised contents
    // (documented for PyBytes_FromStringAndSize); the result is checked for null (an error
    // set) and owned. PyBytes_AsString on a bytes object gives its `len` bytes of storage,
    // which live as long as the object; the returned Bound owns that object and the caller
    // keeps it alive while writing. Uninitialised memory may be viewed as MaybeUninit.
    unsafe {
        let object = Bound::from_owned_ptr_or_err(
            py,
            ffi::PyBytes_FromStringAndSize(std::ptr::null(), size),
        )?
        .cast_into_unchecked::<PyBytes>();
        let data = ffi::PyBytes_AsString(object.as_ptr()).cast::<MaybeUninit<u8>>();
        if data.is_null() {
            return Err(PyErr::fetch(py));
        }
        Ok((object, std::slice::from_raw_parts_mut(data, len)))
    }
}

/// Codes of every key of a columnar batch: `(status bytes, home-status bytes, status counts,
/// home-status counts + none count)`. Runs without the interpreter.
#[pyfunction]
#[pyo3(signature = (key_types, flags, valid_from, valid_until, door_offsets, door_states, now, *, threads=None))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn evaluate_bulk<'py>(
    py: Python<'py>,
    key_types: &Bound<'py, PyAny>,
    flags: &Bound<'py, PyAny>,
    valid_from: &Bound<'py, PyAny>,
    valid_until: &Bound<'py, PyAny>,
    door_offsets: &Bound<'py, PyAny>,
    door_states: &Bound<'py, PyAny>,
    now: &Bound<'py, PyAny>,
    threads: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, Vec<u64>, Vec<u64>)> {
    let now: i64 = now.extract().map_err(|_| {
        bad_bulk(
            py,
            "now",
            format!("expected an int of 64 bits, got {}", describe(now)),
        )
    })?;
    let threads = match threads {
        None => None,
        Some(t) if t.is_none() => None,
        Some(t) => {
            let n: i64 = t.extract().map_err(|_| {
                bad_bulk(
                    py,
                    "threads",
                    format!("expected an int, got {}", describe(t)),
                )
            })?;
            Some(usize::try_from(n).unwrap_or(0))
        }
    };
    let columns = (
        Column::<u8>::read(key_types, "key_types")?,
        Column::<u8>::read(flags, "flags")?,
        Column::<i64>::read(valid_from, "valid_from")?,
        Column::<i64>::read(valid_until, "valid_until")?,
        Column::<u32>::read(door_offsets, "door_offsets")?,
        Column::<u8>::read(door_states, "door_states")?,
    );
    let input = BulkInput {
        key_types: columns.0.as_slice(),
        flags: columns.1.as_slice(),
        valid_from: columns.2.as_slice(),
        valid_until: columns.3.as_slice(),
        door_offsets: columns.4.as_slice(),
        door_states: columns.5.as_slice(),
    };
    // The codes are written by the core's threads straight into the two bytes objects
    // returned: nothing is cleared before or copied after on this thread alone, which at a
    // million keys was a tenth of the two-thread time (docs/status-engine.md). The objects
    // are not visible to any other Python code until returned, so filling them with the
    // interpreter released is safe.
    let n = input.key_types.len();
    let (status_bytes, status_out) = uninit_bytes(py, n)?;
    let (home_bytes, home_out) = uninit_bytes(py, n)?;
    let done = py.detach(|| bulk::evaluate_bulk_into(&input, now, threads, status_out, home_out));
    // On an error the two objects, never filled, are dropped here unseen.
    let counts = core_result(py, done)?;
    Ok((
        status_bytes,
        home_bytes,
        counts.status_counts.to_vec(),
        counts.home_status_counts.to_vec(),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("KEY_TYPES", PyTuple::new(py, KeyType::NAMES)?)?;
    m.add("DOOR_STATES", PyTuple::new(py, DoorState::NAMES)?)?;
    m.add("GENERAL_STATUSES", PyTuple::new(py, GeneralStatus::NAMES)?)?;
    m.add("HOME_STATUSES", PyTuple::new(py, HomeStatus::NAMES)?)?;
    m.add("DOOR_EVENTS", PyTuple::new(py, DoorEvent::NAMES)?)?;
    m.add("DOOR_ACTIONS", PyTuple::new(py, DoorAction::NAMES)?)?;
    m.add("WEEKDAYS", PyTuple::new(py, WEEKDAY_NAMES)?)?;
    m.add("NO_HOME_STATUS", NO_HOME_STATUS)?;
    m.add("DOOR_ONLINE", DOOR_ONLINE)?;
    m.add("NO_END", bulk::NO_END)?;
    m.add("FLAG_REVOKED", flags::REVOKED)?;
    m.add("FLAG_PHONE_BLOCKED", flags::PHONE_BLOCKED)?;
    m.add("FLAG_DELIVERED", flags::DELIVERED)?;
    m.add("FLAG_APP_RELOADED", flags::APP_RELOADED)?;
    m.add("FLAG_HAS_SCHEDULE", flags::HAS_SCHEDULE)?;
    m.add_function(wrap_pyfunction!(next_door_state, m)?)?;
    m.add_function(wrap_pyfunction!(door_status, m)?)?;
    m.add("WAITING_FOR", PyTuple::new(py, core::WaitingFor::NAMES)?)?;
    m.add_function(wrap_pyfunction!(row_waiting_for, m)?)?;
    m.add_function(wrap_pyfunction!(key_waiting_for, m)?)?;
    m.add_function(wrap_pyfunction!(works_online, m)?)?;
    m.add_function(wrap_pyfunction!(unreachable_since, m)?)?;
    m.add_function(wrap_pyfunction!(general_status_label, m)?)?;
    m.add_function(wrap_pyfunction!(home_status_label, m)?)?;
    m.add_function(wrap_pyfunction!(home_status_category, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(is_usable_at, m)?)?;
    m.add_function(wrap_pyfunction!(plan_modification, m)?)?;
    m.add_function(wrap_pyfunction!(schedule_label, m)?)?;
    m.add_function(wrap_pyfunction!(schedule_from_json, m)?)?;
    m.add_function(wrap_pyfunction!(schedule_to_json, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_bulk, m)?)?;
    Ok(())
}
