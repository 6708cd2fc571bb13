//! The native module `keyworker._core`. It converts Python values to core types and core
//! errors to the exception classes of `keyworker.errors`; all logic lives in keyworker-core.

use pyo3::prelude::*;

mod credentials;
mod errors;
mod revocation;
mod status;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    status::register(m)?;
    credentials::register(m)?;
    revocation::register(m)?;
    register_limits(m)?;
    Ok(())
}

/// The core's limits on a key (`keyworker_core::limits`), for the API's models and document.
fn register_limits(m: &Bound<'_, PyModule>) -> PyResult<()> {
    use keyworker_core::limits;
    m.add("MAX_ID_LEN", limits::MAX_ID_LEN)?;
    m.add("MAX_DOORS", limits::MAX_DOORS)?;
    m.add("MAX_WINDOWS", limits::MAX_WINDOWS)?;
    m.add("MAX_TIME_ZONE_LEN", limits::MAX_TIME_ZONE_LEN)?;
    m.add("MAX_WEEKDAYS", limits::MAX_WEEKDAYS)?;
    Ok(())
}
