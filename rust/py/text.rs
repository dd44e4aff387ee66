//! Text rewards: `normalized_exact_match`, `word_f1`, `regex_match`, `extract_answer`,
//! `math_equal` over sequences of `str`.
//!
//! Each row's `&str` is borrowed from its Python string with the GIL held (the strings
//! are kept alive by the `Bound` references collected first); the kernel then runs with
//! the GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::errors::run_detached;
use crate::error::{CoreError, CoreResult};
use crate::reward::math::extract::{self, ExtractStyle};
use crate::reward::math::{self, MathStyle};
use crate::reward::{regex, squad};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// The items of a list / tuple / 1-D numpy array of `str` (subclasses such as
/// `numpy.str_` included), each checked to be a `str`.
fn collect_strs<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<Vec<Bound<'py, PyString>>> {
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
fn as_strs<'a>(items: &'a [Bound<'_, PyString>], name: &str) -> PyResult<Vec<&'a str>> {
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
fn score_text_pairs<'py>(
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

/// 1.0 where `pattern` matches the text (anywhere, or all of it with `full`).
#[pyfunction]
fn regex_match<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    pattern: &str,
    full: bool,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let t = collect_strs(texts, "texts")?;
    let ts = as_strs(&t, "texts")?;
    let out = run_detached(py, "regex_match", || regex::regex_match(&ts, pattern, full))?;
    Ok(out.into_pyarray(py))
}

/// The extracted answer of each text, or None.
#[pyfunction]
fn extract_answer<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    style: &str,
) -> PyResult<Vec<Option<String>>> {
    let style = ExtractStyle::parse(style)?;
    let t = collect_strs(texts, "texts")?;
    let ts = as_strs(&t, "texts")?;
    run_detached(py, "extract_answer", || {
        Ok(extract::extract_answers(&ts, style))
    })
}

/// Float32 scores and their uint8 statuses.
type ScoresAndStatus<'py> = (Bound<'py, PyArray1<f32>>, Bound<'py, PyArray1<u8>>);

/// Scores (1.0 / 0.0) and statuses (`math::Status` as uint8) of each response's final
/// answer against its gold answer; `think_marker` cuts the reasoning off (None: keep all).
#[pyfunction]
#[pyo3(signature = (responses, answers, style, think_marker))]
fn math_equal<'py>(
    py: Python<'py>,
    responses: &Bound<'py, PyAny>,
    answers: &Bound<'py, PyAny>,
    style: &str,
    think_marker: Option<&str>,
) -> PyResult<ScoresAndStatus<'py>> {
    let style = MathStyle::parse(style)?;
    let r = collect_strs(responses, "responses")?;
    let a = collect_strs(answers, "answers")?;
    let (rs, as_) = (as_strs(&r, "responses")?, as_strs(&a, "answers")?);
    let (scores, status) = run_detached(py, "math_equal", || {
        math::math_equal(&rs, &as_, style, think_marker)
    })?;
    Ok((scores.into_pyarray(py), status.into_pyarray(py)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(exact_text_match, m)?)?;
    m.add_function(wrap_pyfunction!(normalized_exact_match, m)?)?;
    m.add_function(wrap_pyfunction!(word_f1, m)?)?;
    m.add_function(wrap_pyfunction!(regex_match, m)?)?;
    m.add_function(wrap_pyfunction!(extract_answer, m)?)?;
    m.add_function(wrap_pyfunction!(math_equal, m)?)?;
    Ok(())
}
