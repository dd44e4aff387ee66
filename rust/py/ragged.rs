//! Bindings of `crate::ragged`: ragged token batches, and their conversions to and from
//! padded arrays and lists of lists.
//!
//! Token arrays are borrowed zero-copy (int32 or int64, C-contiguous, exact dtype);
//! every kernel runs with the GIL released.

use numpy::ndarray::{Array2, Ix1, Ix2};
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyList, PyTuple};

use super::arrays::{
    borrow_array, borrow_mask, borrow_tokens, type_name, with_mask, with_tokens, MaskUse,
    TokenArray,
};
use super::errors::{guarded, run_detached};
use crate::error::CoreError;
use crate::ragged::{self, Side, TokenId};

/// A borrowed ragged batch: argument names for messages plus the two buffers.
pub struct RaggedArgs<'py> {
    pub values_name: String,
    pub offsets_name: String,
    pub values: TokenArray<'py>,
    pub offsets: PyReadonlyArray1<'py, i64>,
}

/// Borrows `(values, offsets)`; `prefix` (e.g. `"responses"`) names them
/// `responses.values` / `responses.offsets` in messages, or `values` / `offsets` if empty.
pub fn borrow_ragged<'py>(
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    prefix: &str,
) -> PyResult<RaggedArgs<'py>> {
    let dotted = |n: &str| {
        if prefix.is_empty() {
            n.to_string()
        } else {
            format!("{prefix}.{n}")
        }
    };
    let values_name = dotted("values");
    let offsets_name = dotted("offsets");
    let values = borrow_tokens(values, &values_name)?;
    let offsets = borrow_array::<i64, Ix1>(offsets, &offsets_name)?;
    Ok(RaggedArgs {
        values_name,
        offsets_name,
        values,
        offsets,
    })
}

/// `dispatch_ragged!(py, op, args, |r| kernel(&r), |out| post)`: runs `kernel` on the
/// validated `Ragged<T>` with the GIL released, then `post` (with the GIL) on its output.
macro_rules! dispatch_ragged {
    ($py:expr, $op:expr, $args:expr, |$r:ident| $kernel:expr, |$out:ident| $post:expr) => {{
        let args = &$args;
        let offsets = $crate::py::arrays::slice_of(&args.offsets, &args.offsets_name)?;
        let offsets_name: &str = &args.offsets_name;
        $crate::py::arrays::with_tokens!(&args.values, &args.values_name, |values| {
            let $out = $crate::py::errors::run_detached($py, $op, || {
                let $r = $crate::ragged::Ragged::new(values, offsets, offsets_name)?;
                $kernel
            })?;
            $post
        })
    }};
}
pub(crate) use dispatch_ragged;

/// Checks Arrow's list invariants of `(values, offsets)`; raises naming the first bad index.
#[pyfunction]
fn ragged_check(
    py: Python<'_>,
    values: &Bound<'_, PyAny>,
    offsets: &Bound<'_, PyAny>,
) -> PyResult<usize> {
    let args = borrow_ragged(values, offsets, "")?;
    dispatch_ragged!(py, "ragged_check", args, |r| Ok(r.len()), |n| Ok(n))
}

/// Row lengths (int64).
#[pyfunction]
fn ragged_lengths<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let args = borrow_ragged(values, offsets, "")?;
    dispatch_ragged!(py, "ragged_lengths", args, |r| Ok(r.lengths()), |out| Ok(
        out.into_pyarray(py)
    ))
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

/// Pads to `(n, width)`: `(ids, mask)` with `mask` bool.
#[pyfunction]
#[pyo3(signature = (values, offsets, pad_id, side, max_len=None))]
fn ragged_to_padded<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    pad_id: i64,
    side: &str,
    max_len: Option<i64>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let side = Side::parse(side)?;
    let args = borrow_ragged(values, offsets, "")?;
    dispatch_ragged!(
        py,
        "to_padded",
        args,
        |r| ragged::to_padded(&r, pad_id, side, max_len),
        |out| padded_to_py(py, out)
    )
}

/// Gathers `ids (B, T)` where `mask (B, T)` is set: `(values, offsets)`.
#[pyfunction]
fn ragged_from_padded<'py>(
    py: Python<'py>,
    ids: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let ids = borrow_tokens::<Ix2>(ids, "ids")?;
    let mask = borrow_mask(mask, "mask", MaskUse::Gather)?;
    let shape = match &ids {
        TokenArray::I32(a) => a.shape().to_vec(),
        TokenArray::I64(a) => a.shape().to_vec(),
    };
    let (rows, width) = (shape[0], shape[1]);
    with_mask!(mask, "mask", [Bool, U8, I8, I16, I32, I64], |m, dims| {
        if dims != (rows, width) {
            return Err(CoreError::arg(
                "mask",
                format!(
                    "has shape {:?}, ids has shape {:?}",
                    [dims.0, dims.1],
                    shape
                ),
            )
            .into());
        }
        with_tokens!(&ids, "ids", |id_slice| {
            let (values, offsets) = run_detached(py, "from_padded", || {
                ragged::from_padded(id_slice, m, rows, width)
            })?;
            Ok((
                values.into_pyarray(py).into_any(),
                offsets.into_pyarray(py).into_any(),
            ))
        })
    })
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

/// `(values, offsets)`, both int64.
type RaggedArrays<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<i64>>);

/// `(values, offsets)` as int64 arrays of a list whose rows are all lists or tuples of
/// ints, walked once in Rust; `None` when some row is another kind of sequence.
#[pyfunction]
fn ragged_from_lists<'py>(
    py: Python<'py>,
    rows: &Bound<'py, PyList>,
) -> PyResult<Option<RaggedArrays<'py>>> {
    guarded(py, "ragged_from_lists", || {
        let mut offsets = Vec::with_capacity(rows.len() + 1);
        offsets.push(0i64);
        let mut values = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if !push_row_ids(&row, i, &mut values)? {
                return Ok(None);
            }
            offsets.push(values.len() as i64);
        }
        Ok(Some((values.into_pyarray(py), offsets.into_pyarray(py))))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ragged_check, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_lengths, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_to_padded, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_from_padded, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_from_lists, m)?)?;
    Ok(())
}
