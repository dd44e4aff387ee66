//! Bindings of `crate::reward::math`: answer extraction and `math_equal`, the GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

use super::text::collect_strs;
use crate::py::errors::run_detached;
use crate::reward::math::extract::{self, ExtractStyle};
use crate::reward::math::{self, MathStyle};

/// The extracted answer of each text, or None.
#[pyfunction]
fn extract_answer<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    style: &str,
) -> PyResult<Vec<Option<String>>> {
    let style = ExtractStyle::parse(style)?;
    let t = collect_strs(texts, "texts")?;
    let ts = t.strs()?;
    run_detached(py, "extract_answer", || extract::extract_answers(ts, style))
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
    let (rs, as_) = (r.strs()?, a.strs()?);
    let (scores, status) = run_detached(py, "math_equal", || {
        math::math_equal(rs, as_, style, think_marker)
    })?;
    Ok((scores.into_pyarray(py), status.into_pyarray(py)))
}

/// The final answer `math_equal` reads from each response, or None.
#[pyfunction]
#[pyo3(signature = (responses, style, think_marker))]
fn math_answer<'py>(
    py: Python<'py>,
    responses: &Bound<'py, PyAny>,
    style: &str,
    think_marker: Option<&str>,
) -> PyResult<Vec<Option<String>>> {
    let style = MathStyle::parse(style)?;
    let r = collect_strs(responses, "responses")?;
    let rs = r.strs()?;
    run_detached(py, "math_answer", || {
        math::math_answers(rs, style, think_marker)
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(extract_answer, m)?)?;
    m.add_function(wrap_pyfunction!(math_equal, m)?)?;
    m.add_function(wrap_pyfunction!(math_answer, m)?)?;
    Ok(())
}
