//! Maps core errors onto the Python exception classes of `orbiter.train.errors`,
//! and keeps Rust panics from ever reaching Python as a `PanicException`.
//!
//! The mapping is written once, as `From<CoreError> for PyErr` (polars' pattern), so a
//! binding returns a core error with `?` or `.into()`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::error::{CoreError, CoreResult, Kind};

static TRAINER_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static VALUE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TYPE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn error_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
) -> PyResult<&'py Bound<'py, PyType>> {
    cell.import(py, "orbiter.train.errors", name)
}

fn raise(py: Python<'_>, cell: &'static PyOnceLock<Py<PyType>>, name: &str, msg: String) -> PyErr {
    match error_class(py, cell, name) {
        Ok(class) => PyErr::from_type(class.clone(), msg),
        // Only reachable if the Python package is broken; still never a panic.
        Err(import_error) => {
            let err = PyRuntimeError::new_err(msg);
            err.set_cause(py, Some(import_error));
            err
        }
    }
}

/// A `TrainerError` (the spec's root error) with this message.
pub fn trainer_error(py: Python<'_>, msg: String) -> PyErr {
    raise(py, &TRAINER_ERROR, "TrainerError", msg)
}

/// A `TrainerError` that is also a `ValueError` or `TypeError`, by the error's kind.
fn core_error(py: Python<'_>, err: CoreError) -> PyErr {
    match err.kind {
        Kind::Value => raise(py, &VALUE_ERROR, "TrainerValueError", err.message),
        Kind::Type => raise(py, &TYPE_ERROR, "TrainerTypeError", err.message),
    }
}

impl From<CoreError> for PyErr {
    /// Bindings convert with the GIL held, so attaching here costs no wait.
    fn from(err: CoreError) -> PyErr {
        Python::attach(|py| core_error(py, err))
    }
}

fn panic_error(py: Python<'_>, operation: &str, payload: Box<dyn Any + Send>) -> PyErr {
    let detail = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    trainer_error(
        py,
        format!("internal error in {operation}: {detail} (please report this bug)"),
    )
}

/// Runs `f` with the GIL held, turning a Rust panic into a `TrainerError` instead of
/// a `PanicException`.
///
/// The core is written not to panic on any input; this is the guarantee that a bug
/// still surfaces as an ordinary, catchable error naming the operation.
pub fn guarded<T>(py: Python<'_>, operation: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(panic_error(py, operation, payload)))
}

/// Runs a pure-Rust kernel with the GIL released (other Python threads run meanwhile),
/// mapping its `CoreError` and any panic onto Python exceptions.
pub fn run_detached<T: Send>(
    py: Python<'_>,
    operation: &str,
    kernel: impl FnOnce() -> CoreResult<T> + Send,
) -> PyResult<T> {
    crate::batch::ensure_pool();
    match py.detach(|| catch_unwind(AssertUnwindSafe(kernel))) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => Err(core_error(py, err)),
        Err(payload) => Err(panic_error(py, operation, payload)),
    }
}
