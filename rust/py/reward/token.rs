//! Bindings of `crate::reward::token`: token rewards over ragged batches.
//!
//! Inputs are borrowed zero-copy, kernels run with the GIL released, and each returns
//! one float32 array allocated once.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

use crate::error::{CoreError, CoreResult};
use crate::py::arrays::{slice_of, TokenArray};
use crate::py::errors::run_detached;
use crate::py::ragged::{with_ragged, BorrowedRagged, PyRaggedTokens};
use crate::ragged::{Ragged, TokenId};
use crate::reward::token::{self, LengthPenalty};

/// The rewards that compare each response with its reference.
#[derive(Clone, Copy)]
enum PairReward {
    ExactMatch,
    PrefixMatch,
    Contains,
    TokenF1,
}

impl PairReward {
    fn parse(name: &str) -> PyResult<Self> {
        Ok(match name {
            "exact_match" => PairReward::ExactMatch,
            "prefix_match" => PairReward::PrefixMatch,
            "contains" => PairReward::Contains,
            "token_f1" => PairReward::TokenF1,
            other => {
                let msg = format!(
                    "must be exact_match, prefix_match, contains or token_f1, got {other:?}"
                );
                return Err(CoreError::arg("reward", msg).into());
            }
        })
    }

    fn score<T: TokenId>(self, a: &Ragged<'_, T>, b: &Ragged<'_, T>) -> CoreResult<Vec<f32>> {
        match self {
            PairReward::ExactMatch => token::exact_match(a, b),
            PairReward::PrefixMatch => token::prefix_match(a, b),
            PairReward::Contains => token::contains(a, b),
            PairReward::TokenF1 => token::token_f1(a, b),
        }
    }
}

/// Scores two borrowed batches of one dtype.
fn run_pair<'py, T: TokenId>(
    py: Python<'py>,
    reward: PairReward,
    a: (&[T], &BorrowedRagged<'_>),
    b: (&[T], &BorrowedRagged<'_>),
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let ao = slice_of(&a.1.offsets, &a.1.offsets_name)?;
    let bo = slice_of(&b.1.offsets, &b.1.offsets_name)?;
    let (an, bn): (&str, &str) = (&a.1.offsets_name, &b.1.offsets_name);
    let (av, bv) = (a.0, b.0);
    let out = run_detached(py, "token pair reward", || {
        let ra = Ragged::trusted(av, ao, an)?;
        let rb = Ragged::trusted(bv, bo, bn)?;
        reward.score(&ra, &rb)
    })?;
    Ok(out.into_pyarray(py))
}

/// `reward` (exact_match, prefix_match, contains or token_f1) of each response against
/// its reference; both batches must hold the same dtype.
#[pyfunction]
fn token_pair_reward<'py>(
    py: Python<'py>,
    reward: &str,
    responses: &Bound<'py, PyRaggedTokens>,
    references: &Bound<'py, PyRaggedTokens>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let reward = PairReward::parse(reward)?;
    let a = responses.get().borrow(py, "responses")?;
    let b = references.get().borrow(py, "references")?;
    match (&a.values, &b.values) {
        (TokenArray::I32(av), TokenArray::I32(bv)) => run_pair(
            py,
            reward,
            (slice_of(av, &a.values_name)?, &a),
            (slice_of(bv, &b.values_name)?, &b),
        ),
        (TokenArray::I64(av), TokenArray::I64(bv)) => run_pair(
            py,
            reward,
            (slice_of(av, &a.values_name)?, &a),
            (slice_of(bv, &b.values_name)?, &b),
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

/// `-|len - target| / scale` per row.
#[pyfunction]
fn length_penalty_linear<'py>(
    py: Python<'py>,
    responses: &Bound<'py, PyRaggedTokens>,
    target: f64,
    scale: f64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let kind = LengthPenalty::linear(target, scale)?;
    let b = responses.get().borrow(py, "responses")?;
    let out = with_ragged!(py, "length_penalty", b, |r| token::length_penalty(&r, kind))?;
    Ok(out.into_pyarray(py))
}

/// DAPO's overlong soft penalty per row.
#[pyfunction]
fn length_penalty_dapo<'py>(
    py: Python<'py>,
    responses: &Bound<'py, PyRaggedTokens>,
    max_len: i64,
    cache_len: i64,
    penalty_factor: f64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let kind = LengthPenalty::dapo(max_len, cache_len, penalty_factor)?;
    let b = responses.get().borrow(py, "responses")?;
    let out = with_ragged!(py, "length_penalty", b, |r| token::length_penalty(&r, kind))?;
    Ok(out.into_pyarray(py))
}

/// `max_penalty * (1 - unique / total)` over each row's n-grams.
#[pyfunction]
fn repetition_penalty<'py>(
    py: Python<'py>,
    responses: &Bound<'py, PyRaggedTokens>,
    n: usize,
    max_penalty: f64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let b = responses.get().borrow(py, "responses")?;
    let out = with_ragged!(py, "repetition_penalty", b, |r| token::repetition_penalty(
        &r,
        n,
        max_penalty
    ))?;
    Ok(out.into_pyarray(py))
}

/// 1 where the row ends with one of `stop_ids`.
#[pyfunction]
fn stop_token_check<'py>(
    py: Python<'py>,
    responses: &Bound<'py, PyRaggedTokens>,
    stop_ids: Vec<i64>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let b = responses.get().borrow(py, "responses")?;
    let out = with_ragged!(py, "stop_token_check", b, |r| token::stop_token_check(
        &r, &stop_ids
    ))?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(token_pair_reward, m)?)?;
    m.add_function(wrap_pyfunction!(length_penalty_linear, m)?)?;
    m.add_function(wrap_pyfunction!(length_penalty_dapo, m)?)?;
    m.add_function(wrap_pyfunction!(repetition_penalty, m)?)?;
    m.add_function(wrap_pyfunction!(stop_token_check, m)?)?;
    Ok(())
}
