//! Bindings of `crate::ragged` and `crate::validate`: ragged token batches and dataset
//! validation.
//!
//! Token arrays are borrowed zero-copy (int32 or int64, C-contiguous, exact dtype);
//! every kernel runs with the GIL released. Record validation walks Python objects and
//! so holds the GIL, but loops in Rust.

use numpy::ndarray::{Array2, Ix1, Ix2};
use numpy::{Element, IntoPyArray, PyArray1, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyOverflowError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString, PyTuple, PyType};

use super::arrays::{
    borrow_array, borrow_mask, borrow_tokens, with_mask, with_tokens, MaskUse, TokenArray,
};
use super::errors::{guarded, run_detached};
use crate::error::CoreError;
use crate::ragged::{self, Side, TokenId};
use crate::validate::{self, RecordErrors, RecordIssue, RecordIssueKind, TokenIssueKind};

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
                PyErr::from(CoreError::type_(format!(
                    "records: expected a list of dicts (or an iterable), got {}",
                    type_name(records)
                )))
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
