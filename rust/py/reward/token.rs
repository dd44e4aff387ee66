//! Bindings of `crate::reward::token`: token rewards over ragged batches.
//!
//! Inputs are borrowed zero-copy, kernels run with the GIL released, and each returns
//! one float32 array allocated once.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

use crate::error::CoreError;
use crate::py::arrays::slice_of;
use crate::py::arrays::TokenArray;
use crate::py::errors::run_detached;
use crate::py::ragged::{borrow_ragged, dispatch_ragged, RaggedArgs};
use crate::ragged::{Ragged, TokenId};
use crate::reward::token::{self, LengthPenalty};

type Pair<T> = for<'a> fn(&Ragged<'a, T>, &Ragged<'a, T>) -> crate::error::CoreResult<Vec<f32>>;

fn run_pair<'py, T: TokenId>(
    py: Python<'py>,
    op: &str,
    a: (&[T], &[i64], &str),
    b: (&[T], &[i64], &str),
    kernel: Pair<T>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let out = run_detached(py, op, || {
        let ra = Ragged::new(a.0, a.1, a.2)?;
        let rb = Ragged::new(b.0, b.1, b.2)?;
        kernel(&ra, &rb)
    })?;
    Ok(out.into_pyarray(py))
}

/// Scores a responses/references pair with `kernel` (one per dtype).
fn score_pair<'py>(
    py: Python<'py>,
    op: &str,
    args: [&Bound<'py, PyAny>; 4],
    k32: Pair<i32>,
    k64: Pair<i64>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let a: RaggedArgs<'py> = borrow_ragged(args[0], args[1], "responses")?;
    let b: RaggedArgs<'py> = borrow_ragged(args[2], args[3], "references")?;
    let ao = slice_of(&a.offsets, &a.offsets_name)?;
    let bo = slice_of(&b.offsets, &b.offsets_name)?;
    match (&a.values, &b.values) {
        (TokenArray::I32(av), TokenArray::I32(bv)) => run_pair(
            py,
            op,
            (slice_of(av, &a.values_name)?, ao, &a.offsets_name),
            (slice_of(bv, &b.values_name)?, bo, &b.offsets_name),
            k32,
        ),
        (TokenArray::I64(av), TokenArray::I64(bv)) => run_pair(
            py,
            op,
            (slice_of(av, &a.values_name)?, ao, &a.offsets_name),
            (slice_of(bv, &b.values_name)?, bo, &b.offsets_name),
            k64,
        ),
        (TokenArray::I32(_), TokenArray::I64(_)) | (TokenArray::I64(_), TokenArray::I32(_)) => {
            let (got, want) = match a.values {
                TokenArray::I32(_) => ("int64", "int32"),
                TokenArray::I64(_) => ("int32", "int64"),
            };
            Err(CoreError::type_(format!(
                "references.values: dtype {got} does not match responses.values ({want})"
            ))
            .into())
        }
    }
}

macro_rules! pair_reward {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[pyfunction]
        fn $name<'py>(
            py: Python<'py>,
            response_values: &Bound<'py, PyAny>,
            response_offsets: &Bound<'py, PyAny>,
            reference_values: &Bound<'py, PyAny>,
            reference_offsets: &Bound<'py, PyAny>,
        ) -> PyResult<Bound<'py, PyArray1<f32>>> {
            score_pair(
                py,
                stringify!($name),
                [
                    response_values,
                    response_offsets,
                    reference_values,
                    reference_offsets,
                ],
                |a, b| token::$name(a, b),
                |a, b| token::$name(a, b),
            )
        }
    };
}

pair_reward!(exact_match, "1 where response == reference.");
pair_reward!(
    prefix_match,
    "1 where the response starts with the reference."
);
pair_reward!(
    contains,
    "1 where the reference occurs contiguously in the response."
);
pair_reward!(token_f1, "Bag-of-tokens F1 with counts.");

/// `-|len - target| / scale` per row.
#[pyfunction]
fn length_penalty_linear<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    target: f64,
    scale: f64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let kind = LengthPenalty::linear(target, scale)?;
    let args = borrow_ragged(values, offsets, "responses")?;
    dispatch_ragged!(
        py,
        "length_penalty",
        args,
        |r| token::length_penalty(&r, kind),
        |out| Ok(out.into_pyarray(py))
    )
}

/// DAPO's overlong soft penalty per row.
#[pyfunction]
fn length_penalty_dapo<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    max_len: i64,
    cache_len: i64,
    penalty_factor: f64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let kind = LengthPenalty::dapo(max_len, cache_len, penalty_factor)?;
    let args = borrow_ragged(values, offsets, "responses")?;
    dispatch_ragged!(
        py,
        "length_penalty",
        args,
        |r| token::length_penalty(&r, kind),
        |out| Ok(out.into_pyarray(py))
    )
}

/// `max_penalty * (1 - unique / total)` over each row's n-grams.
#[pyfunction]
fn repetition_penalty<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    n: usize,
    max_penalty: f64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let args = borrow_ragged(values, offsets, "responses")?;
    dispatch_ragged!(
        py,
        "repetition_penalty",
        args,
        |r| token::repetition_penalty(&r, n, max_penalty),
        |out| Ok(out.into_pyarray(py))
    )
}

/// 1 where the row ends with one of `stop_ids`.
#[pyfunction]
fn stop_token_check<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    offsets: &Bound<'py, PyAny>,
    stop_ids: Vec<i64>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let args = borrow_ragged(values, offsets, "responses")?;
    dispatch_ragged!(
        py,
        "stop_token_check",
        args,
        |r| token::stop_token_check(&r, &stop_ids),
        |out| Ok(out.into_pyarray(py))
    )
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(exact_match, m)?)?;
    m.add_function(wrap_pyfunction!(prefix_match, m)?)?;
    m.add_function(wrap_pyfunction!(contains, m)?)?;
    m.add_function(wrap_pyfunction!(token_f1, m)?)?;
    m.add_function(wrap_pyfunction!(length_penalty_linear, m)?)?;
    m.add_function(wrap_pyfunction!(length_penalty_dapo, m)?)?;
    m.add_function(wrap_pyfunction!(repetition_penalty, m)?)?;
    m.add_function(wrap_pyfunction!(stop_token_check, m)?)?;
    Ok(())
}
