//! Borrowing numpy arrays without copying, with errors that name the argument.
//!
//! Arrays are taken as they are: the dtype must match exactly and the data must be
//! C-contiguous. A silent cast or copy would hide a 2x memory cost (or a precision
//! change) from the caller, so the Python wrappers convert plain sequences and leave
//! ndarrays alone.

use numpy::ndarray::Dimension;
use numpy::{
    dtype, Element, PyArray, PyArrayDescrMethods, PyArrayMethods, PyReadonlyArray, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use super::errors::core_error;
use crate::error::CoreError;

/// A numpy bool array `obj` viewed as `uint8` (same memory): its bytes are then borrowed
/// and read as [`crate::npbool::NpBool`], never as Rust `bool` (see that module).
pub fn bool_as_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.call_method1("view", (dtype::<u8>(obj.py()),))
}

/// Borrows `obj` (argument `name`) as a read-only, C-contiguous `ndim`-D array of `T`.
pub fn borrow_array<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    let py = obj.py();
    let want = dtype::<T>(py);
    let ndim = D::NDIM.unwrap_or(0);
    let untyped = obj.cast::<PyUntypedArray>().map_err(|_| {
        let got = obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".to_string());
        core_error(
            py,
            CoreError::type_(format!(
                "{name}: expected a {ndim}-D numpy.ndarray of {want}, got {got}"
            )),
        )
    })?;
    let got = untyped.dtype();
    if !got.is_equiv_to(&want) {
        return Err(core_error(
            py,
            CoreError::type_(format!(
                "{name}: expected dtype {want}, got {got} (convert with .astype(numpy.{want}))"
            )),
        ));
    }
    if untyped.ndim() != ndim {
        return Err(core_error(
            py,
            CoreError::arg(
                name,
                format!("expected a {ndim}-D array, got shape {:?}", untyped.shape()),
            ),
        ));
    }
    if !untyped.is_c_contiguous() {
        return Err(core_error(
            py,
            CoreError::arg(
                name,
                "array is not C-contiguous (pass numpy.ascontiguousarray(...))",
            ),
        ));
    }
    let typed = obj
        .cast::<PyArray<T, D>>()
        .map_err(|e| core_error(py, CoreError::type_(format!("{name}: {e}"))))?;
    typed.try_readonly().map_err(|e| {
        core_error(
            py,
            CoreError::arg(name, format!("cannot borrow array: {e}")),
        )
    })
}

/// The contiguous data of a borrowed array.
pub fn slice_of<'a, T: Element, D: Dimension>(
    py: Python<'_>,
    array: &'a PyReadonlyArray<'_, T, D>,
    name: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|e| core_error(py, CoreError::arg(name, format!("{e}"))))
}
