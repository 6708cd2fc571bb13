//! Core errors become the exception classes defined in `keyworker/errors.py`.
//!
//! The classes live in Python so that Python code can catch and subclass them normally;
//! Rust looks each class up by name once and raises it.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// Raise `keyworker.errors.<class_name>(message)`.
pub fn raise(py: Python<'_>, class_name: &'static str, message: String) -> PyErr {
    static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    let module = match ERRORS_MODULE
        .get_or_try_init(py, || py.import("keyworker.errors").map(|m| m.unbind()))
    {
        Ok(m) => m.bind(py),
        Err(e) => return e,
    };
    match module
        .getattr(class_name)
        .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from))
    {
        Ok(cls) => PyErr::from_type(cls, message),
        Err(e) => e,
    }
}
