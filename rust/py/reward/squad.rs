//! Bindings of `crate::reward::squad`: SQuAD-normalised exact match and word F1.

use numpy::PyArray1;
use pyo3::prelude::*;

use super::text::score_text_pairs;
use crate::reward::squad;

/// 1.0 where prediction and reference are equal after stripping surrounding whitespace.
#[pyfunction]
fn exact_text_match<'py>(
    predictions: &Bound<'py, PyAny>,
    references: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    score_text_pairs(
        predictions,
        references,
        "exact_text_match",
        squad::exact_text_match,
    )
}

/// 1.0 where SQuAD-normalised prediction and reference are equal.
#[pyfunction]
fn normalized_exact_match<'py>(
    predictions: &Bound<'py, PyAny>,
    references: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    score_text_pairs(
        predictions,
        references,
        "normalized_exact_match",
        squad::normalized_exact_match,
    )
}

/// SQuAD word F1 per row.
#[pyfunction]
fn word_f1<'py>(
    predictions: &Bound<'py, PyAny>,
    references: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    score_text_pairs(predictions, references, "word_f1", squad::word_f1)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(exact_text_match, m)?)?;
    m.add_function(wrap_pyfunction!(normalized_exact_match, m)?)?;
    m.add_function(wrap_pyfunction!(word_f1, m)?)?;
    Ok(())
}
