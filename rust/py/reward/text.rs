//! Borrowing sequences of Python `str` for the text rewards, and scoring string pairs.
//!
//! The items are gathered into one tuple (a list's own tuple copy, made in C with one
//! reference per item; a tuple as it is), which keeps every string alive while the kernel
//! runs with the GIL released: a tuple cannot be changed from Python, so no other thread
//! can drop a string under the borrowed `&str`s. Items are read from it as borrowed
//! references, so no per-item reference count is taken or released from Rust.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::error::{CoreError, CoreResult};
use crate::py::arrays::type_name;
use crate::py::errors::run_detached;

/// The items of a list / tuple / 1-D numpy array of `str` (subclasses such as
/// `numpy.str_` included) as one tuple, each checked to be a `str`.
pub fn collect_strs<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Bound<'py, PyTuple>> {
    if obj.is_instance_of::<PyString>() {
        return Err(CoreError::type_(format!(
            "{name}: expected a sequence of str, got a single str (wrap it in a list)"
        ))
        .into());
    }
    let items = if let Ok(tuple) = obj.cast::<PyTuple>() {
        tuple.clone()
    } else if let Ok(list) = obj.cast::<PyList>() {
        list.to_tuple()
    } else {
        let iter = obj.try_iter().map_err(|_| {
            PyErr::from(CoreError::type_(format!(
                "{name}: expected a list of str or a 1-D numpy array of str, got {}",
                type_name(obj)
            )))
        })?;
        PyTuple::new(obj.py(), iter.collect::<PyResult<Vec<_>>>()?)?
    };
    for (i, it) in items.iter_borrowed().enumerate() {
        if !it.is_instance_of::<PyString>() {
            return Err(CoreError::type_(format!(
                "{name}[{i}]: expected str, got {}",
                type_name(&it)
            ))
            .into());
        }
    }
    Ok(items)
}

/// Borrows the UTF-8 text of each string of `items` (from [`collect_strs`]).
pub fn as_strs<'a>(items: &'a Bound<'_, PyTuple>, name: &str) -> PyResult<Vec<&'a str>> {
    items
        .iter_borrowed()
        .enumerate()
        .map(|(i, it)| {
            let mut size: pyo3::ffi::Py_ssize_t = 0;
            // SAFETY: `it` is a str (checked by `collect_strs`) held by the tuple, which
            // lives for 'a and cannot change; the UTF-8 buffer returned (the string's own
            // for ASCII, else cached in it) lives as long as the string.
            let data = unsafe { pyo3::ffi::PyUnicode_AsUTF8AndSize(it.as_ptr(), &mut size) };
            if data.is_null() {
                let e = PyErr::take(items.py()).map_or_else(String::new, |e| e.to_string());
                return Err(PyErr::from(CoreError::at(
                    name,
                    i,
                    format!("cannot be encoded as UTF-8 ({e})"),
                )));
            }
            // SAFETY: as above; CPython returns `size` valid UTF-8 bytes at `data`.
            let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), size as usize) };
            // SAFETY: CPython's UTF-8 encoding of a str is valid UTF-8.
            Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
        })
        .collect()
}

/// Scores prediction/reference string pairs with `kernel`, the GIL released.
pub fn score_text_pairs<'py>(
    predictions: &Bound<'py, PyAny>,
    references: &Bound<'py, PyAny>,
    op: &str,
    kernel: fn(&[&str], &[&str]) -> CoreResult<Vec<f32>>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let py = predictions.py();
    let p = collect_strs(predictions, "predictions")?;
    let r = collect_strs(references, "references")?;
    let (ps, rs) = (as_strs(&p, "predictions")?, as_strs(&r, "references")?);
    let out = run_detached(py, op, || kernel(&ps, &rs))?;
    Ok(out.into_pyarray(py))
}
