//! Bindings of `crate::ragged` and `crate::validate`: ragged token batches and dataset
//! validation.
//!
//! Token arrays are borrowed zero-copy (int32 or int64, C-contiguous, exact dtype);
//! every kernel runs with the GIL released. Record validation walks Python objects and
//! so holds the GIL, but loops in Rust.

use numpy::ndarray::{Array2, Ix1, Ix2};
use numpy::{
    dtype, Element, IntoPyArray, PyArray1, PyArrayDescrMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple, PyType};

use super::arrays::{bool_as_bytes, borrow_array, slice_of};
use super::errors::{core_error, guarded, run_detached};
use crate::error::CoreError;
use crate::mask::Mask;
use crate::npbool::NpBool;
use crate::ragged::{self, Side, TokenId};
use crate::validate::{self, RecordErrors, RecordIssue, RecordIssueKind, TokenIssueKind};

/// A borrowed 1-D token buffer of either supported dtype.
pub enum TokenArray<'py> {
    I32(PyReadonlyArray1<'py, i32>),
    I64(PyReadonlyArray1<'py, i64>),
}

fn dtype_name(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.dtype().to_string(),
        Err(_) => obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "?".to_string()),
    }
}

fn is_dtype<T: Element>(obj: &Bound<'_, PyAny>) -> bool {
    obj.cast::<PyUntypedArray>()
        .map(|a| a.dtype().is_equiv_to(&dtype::<T>(obj.py())))
        .unwrap_or(false)
}

/// Borrows a 1-D int32 or int64 token buffer named `name`.
pub fn borrow_tokens<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<TokenArray<'py>> {
    if is_dtype::<i32>(obj) {
        Ok(TokenArray::I32(borrow_array::<i32, Ix1>(obj, name)?))
    } else if is_dtype::<i64>(obj) {
        Ok(TokenArray::I64(borrow_array::<i64, Ix1>(obj, name)?))
    } else {
        Err(core_error(
            obj.py(),
            CoreError::type_(format!(
                "{name}: expected a 1-D numpy.ndarray of int32 or int64, got {}",
                dtype_name(obj)
            )),
        ))
    }
}

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
        let offsets = $crate::py::arrays::slice_of($py, &args.offsets, &args.offsets_name)?;
        let offsets_name: &str = &args.offsets_name;
        match &args.values {
            $crate::py::data::TokenArray::I32(v) => {
                let values = $crate::py::arrays::slice_of($py, v, &args.values_name)?;
                let $out = $crate::py::errors::run_detached($py, $op, || {
                    let $r = $crate::ragged::Ragged::new(values, offsets, offsets_name)?;
                    $kernel
                })?;
                $post
            }
            $crate::py::data::TokenArray::I64(v) => {
                let values = $crate::py::arrays::slice_of($py, v, &args.values_name)?;
                let $out = $crate::py::errors::run_detached($py, $op, || {
                    let $r = $crate::ragged::Ragged::new(values, offsets, offsets_name)?;
                    $kernel
                })?;
                $post
            }
        }
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
        .map_err(|e| core_error(py, CoreError::value(format!("to_padded: {e}"))))?;
    let mask = Array2::from_shape_vec(shape, p.mask)
        .map_err(|e| core_error(py, CoreError::value(format!("to_padded: {e}"))))?;
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
    let side = Side::parse(side).map_err(|e| core_error(py, e))?;
    let args = borrow_ragged(values, offsets, "")?;
    dispatch_ragged!(
        py,
        "to_padded",
        args,
        |r| ragged::to_padded(&r, pad_id, side, max_len),
        |out| padded_to_py(py, out)
    )
}

fn same<X>(mask: &[X]) -> &[X] {
    mask
}

/// `as_mask` reads the borrowed elements `E` as mask values `M` (bool bytes as `NpBool`).
fn gather<'py, T: TokenId + Element, E: Element, M: Mask>(
    py: Python<'py>,
    ids: &numpy::PyReadonlyArray2<'py, T>,
    mask_obj: &Bound<'py, PyAny>,
    as_mask: fn(&[E]) -> &[M],
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let mask = borrow_array::<E, Ix2>(mask_obj, "mask")?;
    let shape = ids.shape().to_vec();
    if mask.shape() != shape.as_slice() {
        return Err(core_error(
            py,
            CoreError::arg(
                "mask",
                format!("has shape {:?}, ids has shape {:?}", mask.shape(), shape),
            ),
        ));
    }
    let (rows, width) = (shape[0], shape[1]);
    let id_slice = slice_of(py, ids, "ids")?;
    let mask_slice = as_mask(slice_of(py, &mask, "mask")?);
    let (values, offsets) = run_detached(py, "from_padded", || {
        ragged::from_padded(id_slice, mask_slice, rows, width)
    })?;
    Ok((
        values.into_pyarray(py).into_any(),
        offsets.into_pyarray(py).into_any(),
    ))
}

fn gather_any_mask<'py, T: TokenId + Element>(
    py: Python<'py>,
    ids: &numpy::PyReadonlyArray2<'py, T>,
    mask: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if is_dtype::<bool>(mask) {
        let bytes = bool_as_bytes(mask)?;
        gather::<T, u8, NpBool>(py, ids, &bytes, NpBool::from_bytes)
    } else if is_dtype::<u8>(mask) {
        gather::<T, u8, u8>(py, ids, mask, same)
    } else if is_dtype::<i8>(mask) {
        gather::<T, i8, i8>(py, ids, mask, same)
    } else if is_dtype::<i16>(mask) {
        gather::<T, i16, i16>(py, ids, mask, same)
    } else if is_dtype::<i32>(mask) {
        gather::<T, i32, i32>(py, ids, mask, same)
    } else if is_dtype::<i64>(mask) {
        gather::<T, i64, i64>(py, ids, mask, same)
    } else {
        Err(core_error(
            py,
            CoreError::type_(format!(
                "mask: expected a 2-D numpy.ndarray of bool or int8/uint8/int16/int32/int64, got {}",
                dtype_name(mask)
            )),
        ))
    }
}

/// Gathers `ids (B, T)` where `mask (B, T)` is set: `(values, offsets)`.
#[pyfunction]
fn ragged_from_padded<'py>(
    py: Python<'py>,
    ids: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if is_dtype::<i32>(ids) {
        gather_any_mask(py, &borrow_array::<i32, Ix2>(ids, "ids")?, mask)
    } else if is_dtype::<i64>(ids) {
        gather_any_mask(py, &borrow_array::<i64, Ix2>(ids, "ids")?, mask)
    } else {
        Err(core_error(
            py,
            CoreError::type_(format!(
                "ids: expected a 2-D numpy.ndarray of int32 or int64, got {}",
                dtype_name(ids)
            )),
        ))
    }
}

/// One token issue: `(row, kind, length, position, value, message)`.
type TokenIssueTuple = (
    usize,
    &'static str,
    usize,
    Option<usize>,
    Option<i64>,
    String,
);

/// The token report as a dict of statistics plus `errors` as tuples.
#[pyfunction]
#[pyo3(signature = (values, offsets, vocab_size, min_len, max_len, max_errors))]
fn validate_tokens<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    vocab_size: i64,
    min_len: i64,
    max_len: Option<i64>,
    max_errors: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let args = borrow_ragged(values, offsets, "tokens")?;
    let report = dispatch_ragged!(
        py,
        "validate_tokens",
        args,
        |r| validate::validate_tokens(&r, vocab_size, min_len, max_len, max_errors),
        |out| out
    );
    let d = PyDict::new(py);
    d.set_item("rows", report.rows)?;
    d.set_item("tokens", report.tokens)?;
    d.set_item("min_len", report.min_len)?;
    d.set_item("max_len", report.max_len)?;
    d.set_item("mean_len", report.mean_len)?;
    d.set_item("p50_len", report.p50_len)?;
    d.set_item("p95_len", report.p95_len)?;
    d.set_item("too_short", report.too_short)?;
    d.set_item("too_long", report.too_long)?;
    d.set_item("bad_ids", report.bad_ids)?;
    let errors: Vec<TokenIssueTuple> = report
        .errors
        .iter()
        .map(|e| {
            let (position, value) = match e.kind {
                TokenIssueKind::IdOutOfRange { position, value } => (Some(position), Some(value)),
                _ => (None, None),
            };
            (
                e.row,
                e.kind_name(),
                e.length,
                position,
                value,
                e.describe(vocab_size),
            )
        })
        .collect();
    d.set_item("errors", errors)?;
    Ok(d)
}

/// One field rule: the key (interned), the accepted types (a type, tuple or union) and
/// how to name them in messages.
struct Rule<'py> {
    key: Bound<'py, PyString>,
    name: String,
    types: Bound<'py, PyAny>,
    /// A single exact class: `type(v) is cls` short-cuts `isinstance`.
    exact: Option<Bound<'py, PyType>>,
    expected: String,
}

fn rules<'py>(py: Python<'py>, spec: Vec<(String, Bound<'py, PyAny>, String)>) -> Vec<Rule<'py>> {
    spec.into_iter()
        .map(|(name, types, expected)| Rule {
            key: PyString::intern(py, &name),
            exact: types.cast::<PyType>().ok().cloned(),
            name,
            types,
            expected,
        })
        .collect()
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

fn check_record(
    index: usize,
    record: &Bound<'_, PyAny>,
    required: &[Rule<'_>],
    optional: &[Rule<'_>],
    errors: &mut RecordErrors,
) -> PyResult<()> {
    let Ok(dict) = record.cast::<PyDict>() else {
        errors.push(index, || RecordIssue {
            index,
            key: None,
            kind: RecordIssueKind::NotADict {
                got: type_name(record),
            },
        });
        return Ok(());
    };
    for (rule, is_required) in required
        .iter()
        .map(|r| (r, true))
        .chain(optional.iter().map(|r| (r, false)))
    {
        match dict.get_item(&rule.key)? {
            None if is_required => errors.push(index, || RecordIssue {
                index,
                key: Some(rule.name.clone()),
                kind: RecordIssueKind::Missing,
            }),
            None => {}
            Some(v) => {
                let ok = match &rule.exact {
                    Some(cls) if v.get_type().is(cls) => true,
                    _ => v.is_instance(&rule.types)?,
                };
                if !ok {
                    errors.push(index, || RecordIssue {
                        index,
                        key: Some(rule.name.clone()),
                        kind: RecordIssueKind::WrongType {
                            expected: rule.expected.clone(),
                            got: type_name(&v),
                        },
                    });
                }
            }
        }
    }
    Ok(())
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
            core_error(py, err)
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
                Err(core_error(
                    py,
                    CoreError::at(&format!("sequences[{index}]"), j, detail),
                ))
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

/// One record issue: `(index, key, kind, message)`.
type RecordIssueTuple = (usize, Option<String>, &'static str, String);

/// Checks each record: a dict holding every required key with a value of the
/// accepted types, and optional keys (when present) of theirs.
/// Returns `(records, bad_records, total_errors, issues)`.
#[pyfunction]
fn validate_records<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    required: Vec<(String, Bound<'py, PyAny>, String)>,
    optional: Vec<(String, Bound<'py, PyAny>, String)>,
    max_errors: usize,
) -> PyResult<(usize, usize, usize, Vec<RecordIssueTuple>)> {
    let required = rules(py, required);
    let optional = rules(py, optional);
    let mut errors = RecordErrors::new(max_errors);
    guarded(py, "validate_records", || {
        let mut index = 0usize;
        if let Ok(list) = records.cast::<pyo3::types::PyList>() {
            for record in list.iter() {
                check_record(index, &record, &required, &optional, &mut errors)?;
                index += 1;
            }
        } else {
            let iter = records.try_iter().map_err(|_| {
                core_error(
                    py,
                    CoreError::type_(format!(
                        "records: expected a list of dicts (or an iterable), got {}",
                        type_name(records)
                    )),
                )
            })?;
            for record in iter {
                check_record(index, &record?, &required, &optional, &mut errors)?;
                index += 1;
            }
        }
        errors.records = index;
        Ok(())
    })?;
    let issues = errors
        .issues
        .iter()
        .map(|i| (i.index, i.key.clone(), i.kind_name(), i.describe()))
        .collect();
    Ok((errors.records, errors.bad_records, errors.total, issues))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ragged_check, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_lengths, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_to_padded, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_from_padded, m)?)?;
    m.add_function(wrap_pyfunction!(ragged_from_lists, m)?)?;
    m.add_function(wrap_pyfunction!(validate_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(validate_records, m)?)?;
    Ok(())
}
