//! Bindings of `keyworker_core::credential`: Python values in, core types; core errors out,
//! the exception classes of `keyworker.errors`. Signing, MACs and encoding run with the
//! interpreter released.

use std::borrow::Cow;
use std::sync::Arc;

use keyworker_core::credential::{
    self as core, Algorithm, CredentialClaims, CredentialError, CredentialSchedule, DoorChange,
    KeyType, ScheduleWindow,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

use crate::errors;

/// Raise the Python class of a core error. Bad caller input keeps the field it names.
fn to_py(py: Python<'_>, error: CredentialError) -> PyErr {
    let message = error.to_string();
    let class = match &error {
        CredentialError::InvalidInput { field, .. } => return invalid_input(py, field, message),
        CredentialError::InvalidKeyMaterial { .. } => "InvalidKeyMaterial",
        CredentialError::Malformed { .. } => "InvalidCredential",
        CredentialError::BadSignature { .. } => "BadSignature",
        CredentialError::UnexpectedAlgorithm { .. } => "UnexpectedAlgorithm",
        CredentialError::UnknownCriticalHeader { .. } => "UnknownCriticalHeader",
        CredentialError::UnknownKeyId { .. } => "UnknownKeyId",
        CredentialError::Expired { .. } => "CredentialExpired",
        CredentialError::NotYetValid { .. } => "CredentialNotYetValid",
        CredentialError::BlocklistFull { .. } => "BlocklistFull",
        CredentialError::UnsupportedFormat { .. } => "UnsupportedFormat",
    };
    errors::raise(py, class, message)
}

/// `keyworker.errors.InvalidInput(message, field=field)`.
fn invalid_input(py: Python<'_>, field: &str, message: String) -> PyErr {
    let made = py
        .import("keyworker.errors")
        .and_then(|m| m.getattr("InvalidInput"))
        .and_then(|cls| cls.call1((message, field)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

/// Where a value sits in the caller's input (`claims[3].schedule.windows[0]`), rendered only
/// when an error needs it, so extracting a large batch allocates no path strings.
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'static str),
    Item(&'a Path<'a>, &'static str, usize),
}

impl Path<'_> {
    fn render(&self) -> String {
        let join = |parent: &Path<'_>, tail: String| {
            let head = parent.render();
            if head.is_empty() {
                tail
            } else {
                format!("{head}.{tail}")
            }
        };
        match self {
            Path::Root => String::new(),
            Path::Field(parent, name) => join(parent, (*name).to_string()),
            Path::Item(parent, name, i) => join(parent, format!("{name}[{i}]")),
        }
    }
}

/// Read attribute `name` of `obj` as `T`; a missing or mistyped attribute is `InvalidInput`
/// naming `path.name`. `name` is a string literal, made a Python string once per process
/// (`pyo3::intern!`), so a lookup neither builds nor interns a string.
macro_rules! attr {
    ($obj:expr, $name:literal, $path:expr) => {{
        let obj: &Bound<'_, PyAny> = $obj;
        get_attr(obj, pyo3::intern!(obj.py(), $name), $name, $path)
    }};
}

fn get_attr<'py, T>(
    obj: &Bound<'py, PyAny>,
    interned: &Bound<'py, PyString>,
    name: &'static str,
    path: &Path<'_>,
) -> PyResult<T>
where
    T: for<'a> FromPyObject<'a, 'py>,
    for<'a> <T as FromPyObject<'a, 'py>>::Error: Into<PyErr>,
{
    let py = obj.py();
    let fail = |e: PyErr| {
        let field = Path::Field(path, name).render();
        invalid_input(py, &field, format!("{field}: {e}"))
    };
    let value = obj.getattr(interned).map_err(fail)?;
    value.extract::<T>().map_err(|e| fail(e.into()))
}

fn algorithm(py: Python<'_>, name: &str) -> PyResult<Algorithm> {
    Algorithm::from_name(name).map_err(|e| to_py(py, e))
}

fn schedule(obj: &Bound<'_, PyAny>, path: &Path<'_>) -> PyResult<CredentialSchedule> {
    let py = obj.py();
    let time_zone: String = attr!(obj, "time_zone", path)?;
    let windows_obj: Bound<'_, PyAny> = attr!(obj, "windows", path)?;
    let mut windows = Vec::new();
    for (i, w) in windows_obj.try_iter()?.enumerate() {
        let w = w?;
        let wpath = Path::Item(path, "windows", i);
        let days: Vec<String> = attr!(&w, "days", &wpath)?;
        let weekday_mask =
            core::weekday_mask(&days).map_err(|e| to_py(py, e.in_field_public(&wpath.render())))?;
        windows.push(ScheduleWindow {
            weekday_mask,
            start_minute: attr!(&w, "start_minute", &wpath)?,
            end_minute: attr!(&w, "end_minute", &wpath)?,
        });
    }
    Ok(CredentialSchedule { time_zone, windows })
}

fn claims(obj: &Bound<'_, PyAny>, path: &Path<'_>) -> PyResult<CredentialClaims> {
    let py = obj.py();
    let key_type: String = attr!(obj, "key_type", path)?;
    let schedule_obj: Option<Bound<'_, PyAny>> = attr!(obj, "schedule", path)?;
    let credential_id_obj: Bound<'_, PyAny> = attr!(obj, "credential_id", path)?;
    let credential_id: Cow<'_, [u8]> = credential_id_obj.extract().map_err(|e| {
        let field = Path::Field(path, "credential_id").render();
        invalid_input(py, &field, format!("{field}: must be bytes: {e}"))
    })?;
    Ok(CredentialClaims {
        site_id: attr!(obj, "site_id", path)?,
        key_id: attr!(obj, "key_id", path)?,
        credential_id: credential_id.into_owned(),
        issued_at: attr!(obj, "issued_at", path)?,
        valid_from: attr!(obj, "valid_from", path)?,
        valid_until: attr!(obj, "valid_until", path)?,
        door_ids: attr!(obj, "door_ids", path)?,
        schedule: schedule_obj
            .map(|s| schedule(&s, &Path::Field(path, "schedule")))
            .transpose()?,
        key_type: KeyType::from_name(&key_type)
            .map_err(|e| to_py(py, e.in_field_public(&path.render())))?,
        holder_ref: attr!(obj, "holder_ref", path)?,
    })
}

/// One door change as Python gives it: `(op, subject, valid_from, valid_until, schedule)`.
type ChangeIn<'a, 'py> = (
    u8,
    Cow<'a, [u8]>,
    Option<i64>,
    Option<i64>,
    Option<Bound<'py, PyAny>>,
);

fn door_update<'py>(obj: &Bound<'py, PyAny>, path: &Path<'_>) -> PyResult<core::DoorUpdate> {
    let py = obj.py();
    let changes_obj: Bound<'_, PyAny> = attr!(obj, "changes", path)?;
    let mut changes = Vec::with_capacity(changes_obj.len().unwrap_or(0));
    for (i, item) in changes_obj.try_iter()?.enumerate() {
        let item = item?;
        let cpath = Path::Item(path, "changes", i);
        let (op, subject, valid_from, valid_until, schedule_obj): ChangeIn<'_, 'py> =
            item.extract().map_err(|e| {
                let field = cpath.render();
                invalid_input(
                    py,
                    &field,
                    format!(
                        "{field}: must be (op, subject, valid_from, valid_until, schedule): {e}"
                    ),
                )
            })?;
        let schedule = schedule_obj
            .map(|s| schedule(&s, &Path::Field(&cpath, "schedule")))
            .transpose()?;
        changes.push(
            DoorChange::from_parts(op, &subject, valid_from, valid_until, schedule)
                .map_err(|e| to_py(py, e.in_field_public(&cpath.render())))?,
        );
    }
    Ok(core::DoorUpdate {
        door_id: attr!(obj, "door_id", path)?,
        from_version: attr!(obj, "from_version", path)?,
        to_version: attr!(obj, "to_version", path)?,
        changes,
    })
}

/// A site's private signing key (ES256 or EdDSA) and its kid. Its repr shows only the kid.
#[pyclass(frozen, module = "keyworker._core")]
pub struct SigningKey(Arc<core::SigningKey>);

#[pymethods]
impl SigningKey {
    #[staticmethod]
    fn from_pkcs8(py: Python<'_>, algorithm: &str, kid: &str, pkcs8: &[u8]) -> PyResult<Self> {
        let alg = self::algorithm(py, algorithm)?;
        core::SigningKey::from_pkcs8(alg, kid, pkcs8)
            .map(|k| Self(Arc::new(k)))
            .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn kid(&self) -> &str {
        self.0.kid()
    }

    #[getter]
    fn algorithm(&self) -> &'static str {
        self.0.algorithm().name()
    }

    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.public_key())
    }

    fn verification_key(&self) -> VerificationKey {
        VerificationKey(self.0.verification_key())
    }

    fn __repr__(&self) -> String {
        format!(
            "SigningKey(kid={:?}, algorithm={:?})",
            self.0.kid(),
            self.0.algorithm().name()
        )
    }
}

/// A public key that verifies credentials signed under its kid.
#[pyclass(frozen, module = "keyworker._core")]
#[derive(Clone)]
pub struct VerificationKey(core::VerificationKey);

#[pymethods]
impl VerificationKey {
    #[new]
    fn new(py: Python<'_>, algorithm: &str, kid: &str, public_key: &[u8]) -> PyResult<Self> {
        let alg = self::algorithm(py, algorithm)?;
        core::VerificationKey::new(alg, kid, public_key)
            .map(Self)
            .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn kid(&self) -> &str {
        self.0.kid()
    }

    #[getter]
    fn algorithm(&self) -> &'static str {
        self.0.algorithm().name()
    }

    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.0.public_key())
    }

    fn __repr__(&self) -> String {
        format!(
            "VerificationKey(kid={:?}, algorithm={:?})",
            self.0.kid(),
            self.0.algorithm().name()
        )
    }
}

/// A door's HMAC-SHA256 key and its kid. Its repr shows only the kid.
#[pyclass(frozen, module = "keyworker._core")]
#[derive(Clone)]
pub struct DoorKey(core::DoorKey);

#[pymethods]
impl DoorKey {
    #[new]
    fn new(py: Python<'_>, kid: &str, secret: &[u8]) -> PyResult<Self> {
        core::DoorKey::from_secret(kid, secret)
            .map(Self)
            .map_err(|e| to_py(py, e))
    }

    #[getter]
    fn kid(&self) -> &str {
        self.0.kid()
    }

    fn __repr__(&self) -> String {
        format!("DoorKey(kid={:?})", self.0.kid())
    }
}

/// A fresh PKCS#8 private key for `algorithm` (`ES256` or `EdDSA`).
#[pyfunction]
fn generate_signing_key<'py>(py: Python<'py>, algorithm: &str) -> PyResult<Bound<'py, PyBytes>> {
    let alg = self::algorithm(py, algorithm)?;
    let der = alg.generate_pkcs8().map_err(|e| to_py(py, e))?;
    Ok(PyBytes::new(py, &der))
}

/// The 32-byte key of one door, derived from the site's door master secret (HKDF-SHA256).
#[pyfunction]
fn derive_door_secret<'py>(
    py: Python<'py>,
    master: &[u8],
    site_id: &str,
    door_id: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let secret =
        core::DoorKey::derive_secret(master, site_id, door_id).map_err(|e| to_py(py, e))?;
    Ok(PyBytes::new(py, &secret))
}

#[pyfunction]
fn issue_credential<'py>(
    py: Python<'py>,
    key: &SigningKey,
    claims: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let claims = self::claims(claims, &Path::Root)?;
    let signer = Arc::clone(&key.0);
    let token = py
        .detach(move || core::issue(&signer, &claims))
        .map_err(|e| to_py(py, e))?;
    Ok(PyBytes::new(py, &token))
}

#[pyfunction]
#[pyo3(signature = (key, claims, parallel = true))]
fn issue_credentials<'py>(
    py: Python<'py>,
    key: &SigningKey,
    claims: &Bound<'py, PyAny>,
    parallel: bool,
) -> PyResult<Bound<'py, PyList>> {
    let mut batch = Vec::with_capacity(claims.len().unwrap_or(0));
    for (i, c) in claims.try_iter()?.enumerate() {
        batch.push(self::claims(&c?, &Path::Item(&Path::Root, "claims", i))?);
    }
    let signer = Arc::clone(&key.0);
    let tokens = py
        .detach(move || core::issue_batch(&signer, &batch, parallel))
        .map_err(|e| to_py(py, e))?;
    PyList::new(py, tokens.iter().map(|t| PyBytes::new(py, t)))
}

type ScheduleTuple = (String, Vec<(Vec<&'static str>, u16, u16)>);

/// `(time_zone, [(days, start_minute, end_minute), ...])`, the form Python rebuilds its
/// `CredentialSchedule` from.
fn schedule_tuple(s: &CredentialSchedule) -> ScheduleTuple {
    (
        s.time_zone.clone(),
        s.windows
            .iter()
            .map(|w| {
                (
                    core::weekday_names(w.weekday_mask),
                    w.start_minute,
                    w.end_minute,
                )
            })
            .collect(),
    )
}
type VerifiedTuple = (
    String,
    &'static str,
    String,
    String,
    Vec<u8>,
    i64,
    i64,
    Option<i64>,
    Vec<String>,
    Option<ScheduleTuple>,
    &'static str,
    String,
);

/// Verify a credential; returns `(kid, algorithm, site_id, key_id, credential_id, issued_at,
/// valid_from, valid_until, door_ids, schedule, key_type, holder_ref)`, `schedule` being
/// `None` or `(time_zone, [(days, start_minute, end_minute), ...])`.
#[pyfunction]
#[pyo3(signature = (token, keys, now = None))]
fn verify_credential(
    py: Python<'_>,
    token: &[u8],
    keys: Vec<PyRef<'_, VerificationKey>>,
    now: Option<i64>,
) -> PyResult<VerifiedTuple> {
    let keys: Vec<core::VerificationKey> = keys.iter().map(|k| k.0.clone()).collect();
    let token = token.to_vec();
    let v = py
        .detach(move || core::verify(&token, &keys, now))
        .map_err(|e| to_py(py, e))?;
    let c = v.claims;
    let schedule = c.schedule.as_ref().map(schedule_tuple);
    Ok((
        v.kid,
        v.algorithm.name(),
        c.site_id,
        c.key_id,
        c.credential_id,
        c.issued_at,
        c.valid_from,
        c.valid_until,
        c.door_ids,
        schedule,
        c.key_type.name(),
        c.holder_ref,
    ))
}

#[pyfunction]
fn encode_door_update<'py>(
    py: Python<'py>,
    key: &DoorKey,
    update: &Bound<'py, PyAny>,
    blocklist_len: u32,
) -> PyResult<Bound<'py, PyBytes>> {
    let update = door_update(update, &Path::Root)?;
    let key = key.0.clone();
    let message = py
        .detach(move || core::encode_door_update(&key, &update, blocklist_len))
        .map_err(|e| to_py(py, e))?;
    Ok(PyBytes::new(py, &message))
}

/// Many door updates, each `(door_key, update, blocklist_len)`.
#[pyfunction]
#[pyo3(signature = (jobs, parallel = true))]
fn encode_door_updates<'py>(
    py: Python<'py>,
    jobs: &Bound<'py, PyAny>,
    parallel: bool,
) -> PyResult<Bound<'py, PyList>> {
    let mut owned = Vec::with_capacity(jobs.len().unwrap_or(0));
    for (i, job) in jobs.try_iter()?.enumerate() {
        let job = job?;
        let path = format!("updates[{i}]");
        let tuple = job.cast::<PyTuple>().map_err(|_| {
            invalid_input(
                py,
                &path,
                format!("{path}: must be (door_key, update, blocklist_len)"),
            )
        })?;
        if tuple.len() != 3 {
            return Err(invalid_input(
                py,
                &path,
                format!("{path}: must be (door_key, update, blocklist_len)"),
            ));
        }
        let first = tuple.get_item(0)?;
        let key = first.cast::<DoorKey>().map_err(|e| {
            invalid_input(
                py,
                &path,
                format!("{path}: first item must be a DoorKey: {e}"),
            )
        })?;
        let key = key.get().0.clone();
        let blocklist_len: u32 = tuple
            .get_item(2)?
            .extract()
            .map_err(|e: PyErr| invalid_input(py, &path, format!("{path}: blocklist_len: {e}")))?;
        let update = door_update(&tuple.get_item(1)?, &Path::Item(&Path::Root, "updates", i))?;
        owned.push((key, update, blocklist_len));
    }
    let messages = py
        .detach(move || {
            let jobs: Vec<_> = owned.iter().map(|(k, u, n)| (k, u, *n)).collect();
            core::encode_door_updates(&jobs, parallel)
        })
        .map_err(|e| to_py(py, e))?;
    PyList::new(py, messages.iter().map(|m| PyBytes::new(py, m)))
}

type ChangeTuple = (u8, Vec<u8>, Option<i64>, Option<i64>, Option<ScheduleTuple>);
type OpenedTuple = (String, u64, String, u64, u64, Vec<ChangeTuple>);

/// Verify and decode a door update as a door that reads formats up to `newest_format`;
/// returns `(kid, format, door_id, from_version, to_version,
/// [(op, subject, valid_from, valid_until, schedule), ...])`.
#[pyfunction]
#[pyo3(signature = (message, keys, newest_format = core::DOOR_UPDATE_FORMAT))]
fn open_door_update(
    py: Python<'_>,
    message: &[u8],
    keys: Vec<PyRef<'_, DoorKey>>,
    newest_format: u64,
) -> PyResult<OpenedTuple> {
    let keys: Vec<core::DoorKey> = keys.iter().map(|k| k.0.clone()).collect();
    let message = message.to_vec();
    let opened = py
        .detach(move || core::open_door_update_up_to(&message, &keys, newest_format))
        .map_err(|e| to_py(py, e))?;
    let u = opened.update;
    let changes = u
        .changes
        .iter()
        .map(|c| {
            let (op, subject, from, until, schedule) = c.parts();
            (
                op,
                subject.to_vec(),
                from,
                until,
                schedule.map(schedule_tuple),
            )
        })
        .collect();
    Ok((
        opened.kid,
        opened.format,
        u.door_id,
        u.from_version,
        u.to_version,
        changes,
    ))
}

/// The door's decision for a credential it holds, presented at `instant`: `admit`,
/// `not_yet_valid`, `expired` or `outside_schedule` (the core's `door_decision`).
#[pyfunction]
fn door_decision(
    py: Python<'_>,
    valid_from: i64,
    valid_until: Option<i64>,
    schedule: Option<Bound<'_, PyAny>>,
    instant: i64,
) -> PyResult<&'static str> {
    let schedule = schedule
        .map(|s| self::schedule(&s, &Path::Field(&Path::Root, "schedule")))
        .transpose()?;
    core::door_decision(valid_from, valid_until, schedule.as_ref(), instant)
        .map(core::DoorDecision::name)
        .map_err(|e| to_py(py, e))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SigningKey>()?;
    m.add_class::<VerificationKey>()?;
    m.add_class::<DoorKey>()?;
    m.add_function(wrap_pyfunction!(generate_signing_key, m)?)?;
    m.add_function(wrap_pyfunction!(derive_door_secret, m)?)?;
    m.add_function(wrap_pyfunction!(issue_credential, m)?)?;
    m.add_function(wrap_pyfunction!(issue_credentials, m)?)?;
    m.add_function(wrap_pyfunction!(verify_credential, m)?)?;
    m.add_function(wrap_pyfunction!(encode_door_update, m)?)?;
    m.add_function(wrap_pyfunction!(encode_door_updates, m)?)?;
    m.add_function(wrap_pyfunction!(open_door_update, m)?)?;
    m.add_function(wrap_pyfunction!(door_decision, m)?)?;
    m.add("DOOR_UPDATE_FORMAT", core::DOOR_UPDATE_FORMAT)?;
    m.add("BLOCKLIST_LIMIT", core::BLOCKLIST_LIMIT)?;
    m.add("CREDENTIAL_ID_LEN", core::CREDENTIAL_ID_LEN)?;
    m.add("PHONE_HASH_LEN", core::PHONE_HASH_LEN)?;
    m.add("DOOR_CHANGE_ADD", core::DOOR_CHANGE_ADD)?;
    m.add("DOOR_CHANGE_REMOVE", core::DOOR_CHANGE_REMOVE)?;
    m.add("DOOR_CHANGE_BLOCK", core::DOOR_CHANGE_BLOCK)?;
    m.add("DOOR_CHANGE_UNBLOCK", core::DOOR_CHANGE_UNBLOCK)?;
    Ok(())
}
