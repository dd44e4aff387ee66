//! Borrowing sequences of Python `str` for the text rewards, and scoring string pairs.
//!
//! Each row's `&str` is borrowed from its Python string with the GIL held (the strings
//! are kept alive by the `Bound` references collected first); the kernel then runs with
//! the GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::error::{CoreError, CoreResult};
use crate::py::arrays::type_name;
use crate::py::errors::run_detached;

/// The items of a list / tuple / 1-D numpy array of `str` (subclasses such as
/// `numpy.str_` included), each checked to be a `str`.
pub fn collect_strs<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Vec<Bound<'py, PyString>>> {
    if obj.is_instance_of::<PyString>() {
        return Err(CoreError::type_(format!(
            "{name}: expected a sequence of str, got a single str (wrap it in a list)"
        ))
        .into());
    }
    let item = |i: usize, it: Bound<'py, PyAny>| -> PyResult<Bound<'py, PyString>> {
        if it.is_instance_of::<PyString>() {
            // checked just above, cannot fail
            it.cast_into::<PyString>()
                .map_err(|e| PyErr::from(CoreError::type_(format!("{name}[{i}]: {e}"))))
        } else {
            Err(
                CoreError::type_(format!("{name}[{i}]: expected str, got {}", type_name(&it)))
                    .into(),
            )
        }
    };
    if let Ok(list) = obj.cast::<PyList>() {
        return list.iter().enumerate().map(|(i, it)| item(i, it)).collect();
    }
    let iter = obj.try_iter().map_err(|_| {
        PyErr::from(CoreError::type_(format!(
            "{name}: expected a list of str or a 1-D numpy array of str, got {}",
            type_name(obj)
        )))
    })?;
    iter.enumerate().map(|(i, it)| item(i, it?)).collect()
}

/// Borrows the UTF-8 text of each string.
pub fn as_strs<'a>(items: &'a [Bound<'_, PyString>], name: &str) -> PyResult<Vec<&'a str>> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.to_str().map_err(|e| {
                PyErr::from(CoreError::at(
                    name,
                    i,
                    format!("cannot be encoded as UTF-8 ({e})"),
                ))
            })
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
