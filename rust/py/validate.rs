//! Bindings of `crate::validate`: token-batch validation, the GIL released, and the
//! report it returns as frozen pyclasses (`orbiter.train.data.DatasetReport`,
//! `TokenIssue`), built once from the core's report instead of as dicts.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::ragged::{with_ragged, PyRaggedTokens};
use crate::validate::{self, TokenIssueKind, TokenReport};

/// One problem with a row: `kind` is `"too_short"`, `"too_long"` or `"id_out_of_range"`
/// (then `position` and `value` give the row's first bad id).
#[pyclass(
    frozen,
    eq,
    get_all,
    module = "orbiter.train.data",
    name = "TokenIssue"
)]
#[derive(Clone, PartialEq)]
pub struct PyTokenIssue {
    row: usize,
    kind: &'static str,
    length: usize,
    position: Option<usize>,
    value: Option<i64>,
    message: String,
}

#[pymethods]
impl PyTokenIssue {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "TokenIssue(row={}, kind={}, length={}, position={}, value={}, message={})",
            self.row,
            py_repr(py, self.kind)?,
            self.length,
            none_or(self.position),
            none_or(self.value),
            py_repr(py, &self.message)?
        ))
    }
}

/// Statistics and the first problems of a token dataset (see `validate_tokens`).
#[pyclass(frozen, eq, module = "orbiter.train.data", name = "DatasetReport")]
#[derive(PartialEq)]
pub struct PyDatasetReport {
    report: TokenReport,
    #[pyo3(get)]
    vocab_size: i64,
    issues: Vec<PyTokenIssue>,
}

impl PyDatasetReport {
    fn new(report: TokenReport, vocab_size: i64) -> Self {
        let issues = report
            .errors
            .iter()
            .map(|e| {
                let (position, value) = match e.kind {
                    TokenIssueKind::IdOutOfRange { position, value } => {
                        (Some(position), Some(value))
                    }
                    _ => (None, None),
                };
                PyTokenIssue {
                    row: e.row,
                    kind: e.kind_name(),
                    length: e.length,
                    position,
                    value,
                    message: e.describe(vocab_size),
                }
            })
            .collect();
        PyDatasetReport {
            report,
            vocab_size,
            issues,
        }
    }
}

#[pymethods]
impl PyDatasetReport {
    #[getter]
    fn rows(&self) -> usize {
        self.report.rows
    }
    #[getter]
    fn tokens(&self) -> usize {
        self.report.tokens
    }
    #[getter]
    fn min_len(&self) -> usize {
        self.report.min_len
    }
    #[getter]
    fn max_len(&self) -> usize {
        self.report.max_len
    }
    #[getter]
    fn mean_len(&self) -> f64 {
        self.report.mean_len
    }
    #[getter]
    fn p50_len(&self) -> f64 {
        self.report.p50_len
    }
    #[getter]
    fn p95_len(&self) -> f64 {
        self.report.p95_len
    }
    #[getter]
    fn too_short(&self) -> usize {
        self.report.too_short
    }
    #[getter]
    fn too_long(&self) -> usize {
        self.report.too_long
    }
    #[getter]
    fn bad_ids(&self) -> usize {
        self.report.bad_ids
    }
    /// The first `max_errors` problems in row order.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.issues.iter().cloned())
    }
    /// True when no row is too short or too long and every id is in range.
    #[getter]
    fn ok(&self) -> bool {
        self.report.is_ok()
    }
    fn __str__(&self) -> String {
        self.report.summary(self.vocab_size)
    }
    fn __repr__(&self) -> String {
        let r = &self.report;
        format!(
            "DatasetReport(rows={}, tokens={}, vocab_size={}, min_len={}, max_len={}, \
             mean_len={:?}, p50_len={:?}, p95_len={:?}, too_short={}, too_long={}, bad_ids={}, \
             errors=<{} issues>)",
            r.rows,
            r.tokens,
            self.vocab_size,
            r.min_len,
            r.max_len,
            r.mean_len,
            r.p50_len,
            r.p95_len,
            r.too_short,
            r.too_long,
            r.bad_ids,
            self.issues.len()
        )
    }
}

/// `text` as Python's `repr` writes it (quotes and escapes).
pub fn py_repr(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(pyo3::types::PyString::new(py, text).repr()?.to_string())
}

/// `None` or the value, as Python writes it.
pub fn none_or<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "None".to_string(), |v| v.to_string())
}

/// Validates a batch's lengths and id range (see `crate::validate::validate_tokens`).
#[pyfunction]
#[pyo3(signature = (tokens, vocab_size, min_len, max_len, max_errors))]
fn validate_tokens(
    py: Python<'_>,
    tokens: &Bound<'_, PyRaggedTokens>,
    vocab_size: i64,
    min_len: i64,
    max_len: Option<i64>,
    max_errors: usize,
) -> PyResult<PyDatasetReport> {
    let b = tokens.get().borrow(py, "tokens")?;
    let report = with_ragged!(py, "validate_tokens", b, |r| {
        validate::validate_tokens(&r, vocab_size, min_len, max_len, max_errors)
    })?;
    Ok(PyDatasetReport::new(report, vocab_size))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTokenIssue>()?;
    m.add_class::<PyDatasetReport>()?;
    m.add_function(wrap_pyfunction!(validate_tokens, m)?)?;
    Ok(())
}
