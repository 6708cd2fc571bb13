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
    Ok(())
}
