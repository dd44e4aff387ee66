//! Bindings of `crate::reward::regex`: regex match over texts, the GIL released.

use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

use super::text::collect_strs;
use crate::py::errors::run_detached;
use crate::reward::regex;

/// 1.0 where `pattern` matches the text (anywhere, or all of it with `full`).
#[pyfunction]
fn regex_match<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    pattern: &str,
    full: bool,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let t = collect_strs(texts, "texts")?;
    let ts = t.strs()?;
    let out = run_detached(py, "regex_match", || regex::regex_match(ts, pattern, full))?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(regex_match, m)?)?;
    Ok(())
}
