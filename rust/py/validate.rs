//! Bindings of `crate::validate`: token-buffer validation, the GIL released.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::ragged::{borrow_ragged, dispatch_ragged};
use crate::validate::{self, TokenIssueKind};

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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(validate_tokens, m)?)?;
    Ok(())
}
