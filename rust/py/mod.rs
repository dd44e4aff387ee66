//! The PyO3 layer: the `orbiter.train._core` extension module.

mod advantage;
pub mod arrays;
pub mod errors;
mod lifecycle;
mod ragged;
mod records;
mod reward;
mod trajectory;
mod validate;

use pyo3::prelude::*;

use crate::error::CoreResult;

/// Panics on purpose inside the panic guards, so the tests can prove that a Rust
/// panic reaches Python as a `TrainerError`, never as a `PanicException`.
#[pyfunction]
fn _panic_guard_selftest(py: Python<'_>, detached: bool) -> PyResult<()> {
    const OPERATION: &str = "_panic_guard_selftest";
    if detached {
        errors::run_detached(py, OPERATION, || -> CoreResult<()> {
            panic!("deliberate panic without the GIL")
        })
    } else {
        errors::guarded(py, OPERATION, || panic!("deliberate panic with the GIL"))
    }
}

/// The core allocator's purge delay in milliseconds (-1: freed memory is kept for reuse).
#[pyfunction]
fn _allocator_purge_delay_ms() -> i64 {
    crate::purge_delay_ms()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    crate::keep_freed_memory();
    m.add_function(wrap_pyfunction!(_allocator_purge_delay_ms, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_guard_selftest, m)?)?;
    lifecycle::register(m)?;
    ragged::register(m)?;
    validate::register(m)?;
    records::register(m)?;
    reward::register(m)?;
    advantage::register(m)?;
    trajectory::register(m)?;
    Ok(())
}
