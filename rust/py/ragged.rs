//! The `RaggedTokens` pyclass: a ragged token batch checked once, then trusted.
//!
//! A batch holds the caller's `values` array as it is (int32 or int64, C-contiguous, no
//! copy) and its own read-only copy of the `offsets`, checked once when the batch is
//! built. Kernels that take a batch skip the O(n) offsets check; they look again only at
//! what a caller can still change under it, in O(1): the values' dtype, layout and length.
//! Batches built by the core itself (`from_padded`, `from_lists`, `slice`) are never
//! checked at all, since their offsets come out of a kernel that made them valid.

use numpy::ndarray::{Array2, Ix1, Ix2};
use numpy::{Element, IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PySlice, PyString, PyTuple};

use super::arrays::{
    borrow_array, borrow_mask, borrow_tokens, slice_of, type_name, with_mask, with_tokens, MaskUse,
    TokenArray,
};
use super::errors::{guarded, run_detached};
use crate::error::CoreError;
use crate::ragged::{self, check_offsets, Side, TokenId};
use crate::tokenize::{ByteFrame, ByteRows};

/// A ragged token batch in Arrow's list layout, checked once at construction.
#[pyclass(frozen, module = "orbiter.train._core", name = "RaggedTokens")]
pub struct PyRaggedTokens {
    /// The caller's token array (int32 or int64), held without a copy.
    values: Py<PyAny>,
    /// The batch's own offsets: checked, then made read-only, so they cannot change.
    offsets: Py<PyArray1<i64>>,
    rows: usize,
}

/// A batch's buffers, borrowed for one call; `name` (e.g. `responses`) prefixes messages.
pub struct BorrowedRagged<'py> {
    pub values_name: String,
    pub offsets_name: String,
    pub values: TokenArray<'py>,
    pub offsets: PyReadonlyArray1<'py, i64>,
}

impl PyRaggedTokens {
    /// Wraps offsets that are valid for `values` (checked, or made by a kernel).
    pub(crate) fn from_valid(
        py: Python<'_>,
        values: Bound<'_, PyAny>,
        offsets: Vec<i64>,
    ) -> PyResult<Self> {
        let rows = offsets.len().saturating_sub(1);
        let offsets = offsets.into_pyarray(py);
        // numpy refuses to make it writeable again: its memory belongs to no array.
        offsets.getattr("flags")?.setattr("writeable", false)?;
        Ok(PyRaggedTokens {
            values: values.unbind(),
            offsets: offsets.unbind(),
            rows,
        })
    }

    /// The batch's read-only offsets.
    pub(crate) fn offsets_array<'py>(&self, py: Python<'py>) -> &Bound<'py, PyArray1<i64>> {
        self.offsets.bind(py)
    }

    /// The token array the batch was built on.
    pub(crate) fn values_array<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.values.bind(py)
    }

    /// Borrows the buffers for a kernel; `name` is the argument the batch was passed as.
    pub fn borrow<'py>(&self, py: Python<'py>, name: &str) -> PyResult<BorrowedRagged<'py>> {
        let dotted = |field: &str| {
            if name.is_empty() {
                field.to_string()
            } else {
                format!("{name}.{field}")
            }
        };
        let values_name = dotted("values");
        let offsets_name = dotted("offsets");
        let values = borrow_tokens::<Ix1>(self.values.bind(py), &values_name)?;
        let offsets = self.offsets.bind(py).readonly();
        Ok(BorrowedRagged {
            values_name,
            offsets_name,
            values,
            offsets,
        })
    }
}

/// `with_ragged!(py, op, borrowed, |r| kernel(&r))`: runs `kernel` on the batch as a
/// trusted `Ragged<T>`, whatever its dtype, with the GIL released.
macro_rules! with_ragged {
    ($py:expr, $op:expr, $borrowed:expr, |$r:ident| $kernel:expr) => {{
        let b = &$borrowed;
        let offsets = $crate::py::arrays::slice_of(&b.offsets, &b.offsets_name)?;
        let offsets_name: &str = &b.offsets_name;
        $crate::py::arrays::with_tokens!(&b.values, &b.values_name, |values| {
            $crate::py::errors::run_detached($py, $op, || {
                let $r = $crate::ragged::Ragged::trusted(values, offsets, offsets_name)?;
                $kernel
            })
        })
    }};
}
pub(crate) use with_ragged;

#[pymethods]
impl PyRaggedTokens {
    /// Checks Arrow's list invariants of `(values, offsets)` once, naming the first bad
    /// index, and keeps `values` as it is and a read-only copy of `offsets`.
    #[new]
    fn new(
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        offsets: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let borrowed = borrow_tokens::<Ix1>(values, "values")?;
        let given = borrow_array::<i64, Ix1>(offsets, "offsets")?;
        let given = slice_of(&given, "offsets")?;
        let len = borrowed.shape()[0];
        let owned = run_detached(py, "RaggedTokens", || {
            check_offsets(given, len, "offsets")?;
            let mut owned = Vec::new();
            owned.try_reserve_exact(given.len()).map_err(|_| {
                CoreError::arg(
                    "offsets",
                    format!("{} entries cannot be copied", given.len()),
                )
            })?;
            owned.extend_from_slice(given);
            Ok(owned)
        })?;
        PyRaggedTokens::from_valid(py, values.clone(), owned)
    }

    /// All tokens, row after row: the array the batch was built on.
    #[getter]
    fn values<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.values.bind(py).clone()
    }

    /// Row boundaries (int64, `n + 1` entries, read-only).
    #[getter]
    fn offsets<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<i64>> {
        self.offsets.bind(py).clone()
    }

    fn __len__(&self) -> usize {
        self.rows
    }

    /// Row lengths (int64).
    fn lengths<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let b = self.borrow(py, "")?;
        let out = with_ragged!(py, "lengths", b, |r| Ok(r.lengths()))?;
        Ok(out.into_pyarray(py))
    }

    /// Pads to `(n, width)`: `(ids, mask)` with `mask` bool.
    #[pyo3(signature = (pad_id, side, max_len=None))]
    fn to_padded<'py>(
        &self,
        py: Python<'py>,
        pad_id: i64,
        side: &str,
        max_len: Option<i64>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let side = Side::parse(side)?;
        let b = self.borrow(py, "")?;
        with_tokens!(&b.values, &b.values_name, |values| {
            let offsets = slice_of(&b.offsets, &b.offsets_name)?;
            let padded = run_detached(py, "to_padded", || {
                let r = ragged::Ragged::trusted(values, offsets, &b.offsets_name)?;
                ragged::to_padded(&r, pad_id, side, max_len)
            })?;
            padded_to_py(py, padded)
        })
    }

    /// Rows `start..stop` (`0 <= start <= stop <= n`) as a batch over a view of `values`.
    fn slice(&self, py: Python<'_>, start: usize, stop: usize) -> PyResult<Self> {
        if start > stop || stop > self.rows {
            return Err(CoreError::arg(
                "index",
                format!("rows {start}..{stop} are not within 0..{}", self.rows),
            )
            .into());
        }
        let b = self.borrow(py, "")?;
        let all = slice_of(&b.offsets, &b.offsets_name)?;
        let (lo, hi) = (all[start], all[stop]);
        let offsets: Vec<i64> = all[start..=stop].iter().map(|&o| o - lo).collect();
        let bounds = PySlice::new(py, lo as isize, hi as isize, 1);
        let view = self.values.bind(py).get_item(bounds)?;
        PyRaggedTokens::from_valid(py, view, offsets)
    }

    /// Gathers `ids (B, T)` where `mask (B, T)` is set: row `b` holds `ids[b, mask[b] != 0]`.
    #[staticmethod]
    fn from_padded(
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        mask: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let ids = borrow_tokens::<Ix2>(ids, "ids")?;
        let mask = borrow_mask(mask, "mask", MaskUse::Gather)?;
        let shape = ids.shape().to_vec();
        let (rows, width) = (shape[0], shape[1]);
        with_mask!(mask, "mask", [Bool, U8, I8, I16, I32, I64], |m, dims| {
            if dims != (rows, width) {
                let detail = format!("has shape {:?}, ids has shape {shape:?}", [dims.0, dims.1]);
                return Err(CoreError::arg("mask", detail).into());
            }
            with_tokens!(&ids, "ids", |id_slice| {
                let (values, offsets) = run_detached(py, "from_padded", || {
                    ragged::from_padded(id_slice, m, rows, width)
                })?;
                PyRaggedTokens::from_valid(py, values.into_pyarray(py).into_any(), offsets)
            })
        })
    }

    /// Byte-level token rows (int32) of a list of str: row `i` is `[bos] + UTF-8 of
    /// (prefix + texts[i]) + [eos]`; `None` when some item is not a str or has no UTF-8
    /// (the caller then takes its general path).
    #[staticmethod]
    #[pyo3(signature = (texts, prefix, bos=None, eos=None))]
    fn from_utf8(
        py: Python<'_>,
        texts: &Bound<'_, PyList>,
        prefix: &str,
        bos: Option<i32>,
        eos: Option<i32>,
    ) -> PyResult<Option<Self>> {
        let frame = ByteFrame {
            prefix: prefix.as_bytes(),
            bos,
            eos,
        };
        let encoded = guarded(py, "from_utf8", || {
            // one walk: each str is read once, its UTF-8 (kept by the str) borrowed
            let mut rows = ByteRows::with_rows(texts.len(), "texts")?;
            for item in texts.iter() {
                // (a str with a lone surrogate has none: the general path raises for it)
                let Some(text) = item.cast::<PyString>().ok().and_then(|t| t.to_str().ok()) else {
                    return Ok(None);
                };
                rows.push(&frame, text.as_bytes(), "texts")?;
            }
            Ok(Some((rows.values, rows.offsets)))
        })?;
        encoded
            .map(|(values, offsets)| {
                PyRaggedTokens::from_valid(py, values.into_pyarray(py).into_any(), offsets)
            })
            .transpose()
    }

    /// A batch of int64 ids from a list whose rows are all lists or tuples of ints,
    /// walked once; `None` when some row is another kind of sequence.
    #[staticmethod]
    fn from_lists(py: Python<'_>, rows: &Bound<'_, PyList>) -> PyResult<Option<Self>> {
        let flat = guarded(py, "from_lists", || {
            let mut offsets = Vec::with_capacity(rows.len() + 1);
            offsets.push(0i64);
            let mut values = Vec::new();
            for (i, row) in rows.iter().enumerate() {
                if !push_row_ids(&row, i, &mut values)? {
                    return Ok(None);
                }
                offsets.push(values.len() as i64);
            }
            Ok(Some((values, offsets)))
        })?;
        flat.map(|(values, offsets)| {
            PyRaggedTokens::from_valid(py, values.into_pyarray(py).into_any(), offsets)
        })
        .transpose()
    }
}

fn padded_to_py<'py, T: TokenId + Element>(
    py: Python<'py>,
    p: ragged::Padded<T>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let shape = (p.rows, p.width);
    let ids = Array2::from_shape_vec(shape, p.ids)
        .map_err(|e| PyErr::from(CoreError::value(format!("to_padded: {e}"))))?;
    let mask = Array2::from_shape_vec(shape, p.mask)
        .map_err(|e| PyErr::from(CoreError::value(format!("to_padded: {e}"))))?;
    Ok((
        ids.into_pyarray(py).into_any(),
        mask.into_pyarray(py).into_any(),
    ))
}

/// The ids of one list or tuple row, appended to `values`; `Ok(false)` when `row` is some
/// other kind of sequence (the caller then takes its general path).
fn push_row_ids(row: &Bound<'_, PyAny>, index: usize, values: &mut Vec<i64>) -> PyResult<bool> {
    let push = |j: usize, item: Bound<'_, PyAny>, values: &mut Vec<i64>| -> PyResult<()> {
        let py = item.py();
        let not_an_int = |got: String| {
            let err = CoreError::type_(format!(
                "sequences[{index}][{j}]: expected an int, got {got}"
            ));
            PyErr::from(err)
        };
        // bool is an int subclass, but a token id is never True or False.
        if item.is_instance_of::<PyBool>() {
            return Err(not_an_int("bool".to_string()));
        }
        match item.extract::<i64>() {
            Ok(id) => {
                values.push(id);
                Ok(())
            }
            Err(err) if err.is_instance_of::<PyOverflowError>(py) => {
                let detail = format!("{} does not fit int64", item.str()?);
                Err(CoreError::at(&format!("sequences[{index}]"), j, detail).into())
            }
            Err(_) => Err(not_an_int(type_name(&item))),
        }
    };
    if let Ok(list) = row.cast::<PyList>() {
        for (j, item) in list.iter().enumerate() {
            push(j, item, values)?;
        }
    } else if let Ok(tuple) = row.cast::<PyTuple>() {
        for (j, item) in tuple.iter().enumerate() {
            push(j, item, values)?;
        }
    } else {
        return Ok(false);
    }
    Ok(true)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRaggedTokens>()?;
    Ok(())
}
