//! Borrowing sequences of Python `str` for the text rewards, and scoring string pairs.
//!
//! One pass over the items, with the GIL held, takes a reference to each string, checks
//! its type and borrows its UTF-8 buffer; the references keep the strings (and so the
//! borrowed `&str`s) alive while the kernel runs with the GIL released. One pass matters:
//! a batch's string objects do not fit in the caches, so each extra pass over them (a
//! tuple copy, a separate type check) costs about as much as a cheap kernel.

use std::ops::Range;

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::error::{CoreError, CoreResult};
use crate::py::arrays::type_name;
use crate::py::errors::run_detached;

/// The strings of a batch and their UTF-8 text, borrowed.
pub struct Texts<'py> {
    /// One reference per item: what keeps each string and its UTF-8 buffer alive.
    held: Vec<Bound<'py, PyString>>,
    /// The UTF-8 of `held[i]`; `'static` only inside: [`Texts::strs`] hands them out
    /// for no longer than `self`, which owns the references.
    strs: Vec<&'static str>,
    /// The first item that cannot be encoded (a lone surrogate) and why. Reported by
    /// [`Texts::strs`], after every batch's type errors, as the checks used to run.
    unencodable: Option<(usize, String)>,
    name: String,
}

impl<'py> Texts<'py> {
    fn new(name: &str, capacity: usize) -> Self {
        Texts {
            held: Vec::with_capacity(capacity),
            strs: Vec::with_capacity(capacity),
            unencodable: None,
            name: name.to_string(),
        }
    }

    fn push(&mut self, i: usize, item: Bound<'py, PyAny>) -> PyResult<()> {
        // The exact type first: one compare, where the subclass check is a call.
        // SAFETY: `item` is a live object (a reference is held).
        let exact = unsafe { pyo3::ffi::PyUnicode_CheckExact(item.as_ptr()) } != 0;
        if !exact && !item.is_instance_of::<PyString>() {
            return Err(CoreError::type_(format!(
                "{}[{i}]: expected str, got {}",
                self.name,
                type_name(&item)
            ))
            .into());
        }
        // SAFETY: a str (checked just above)
        let s = unsafe { item.cast_into_unchecked::<PyString>() };
        if self.unencodable.is_none() {
            let mut size: pyo3::ffi::Py_ssize_t = 0;
            // SAFETY: `s` is a live str; the buffer returned (the string's own for
            // ASCII, else cached in it) lives as long as the string, which `held`
            // keeps alive for as long as `self` and so any `&str` handed out.
            let data = unsafe { pyo3::ffi::PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
            if data.is_null() {
                let why = PyErr::take(s.py()).map_or_else(String::new, |e| e.to_string());
                self.unencodable = Some((i, why));
            } else {
                // SAFETY: CPython returns `size` bytes of valid UTF-8 at `data`.
                let text = unsafe {
                    std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                        data.cast::<u8>(),
                        size as usize,
                    ))
                };
                self.strs.push(text);
            }
        }
        self.held.push(s);
        Ok(())
    }

    /// The UTF-8 text of every item, or the error naming the first that has none.
    pub fn strs(&self) -> PyResult<&[&str]> {
        match &self.unencodable {
            Some((i, why)) => Err(CoreError::at(
                &self.name,
                *i,
                format!("cannot be encoded as UTF-8 ({why})"),
            )
            .into()),
            None => Ok(&self.strs),
        }
    }
}

/// Rows `rows` of a list of `str`, checked and borrowed (indices in errors are the
/// list's).
fn collect_rows<'py>(
    list: &Bound<'py, PyList>,
    rows: Range<usize>,
    name: &str,
) -> PyResult<Texts<'py>> {
    let mut texts = Texts::new(name, rows.len());
    // No Python code runs in the loop (no item is converted), so the list cannot change
    // under it; `get_item` still checks the index.
    for i in rows {
        texts.push(i, list.get_item(i)?)?;
    }
    Ok(texts)
}

/// The items of a list / tuple / 1-D numpy array of `str` (subclasses such as
/// `numpy.str_` included), each checked to be a `str`, with their UTF-8 borrowed.
pub fn collect_strs<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Texts<'py>> {
    if obj.is_instance_of::<PyString>() {
        return Err(CoreError::type_(format!(
            "{name}: expected a sequence of str, got a single str (wrap it in a list)"
        ))
        .into());
    }
    if let Ok(list) = obj.cast::<PyList>() {
        return collect_rows(list, 0..list.len(), name);
    }
    let mut texts = Texts::new(name, 0);
    let iter = obj.try_iter().map_err(|_| {
        PyErr::from(CoreError::type_(format!(
            "{name}: expected a list of str or a 1-D numpy array of str, got {}",
            type_name(obj)
        )))
    })?;
    for (i, item) in iter.enumerate() {
        texts.push(i, item?)?;
    }
    Ok(texts)
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
    let (ps, rs) = (p.strs()?, r.strs()?);
    let out = run_detached(py, op, || kernel(ps, rs))?;
    Ok(out.into_pyarray(py))
}
