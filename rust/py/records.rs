//! Bindings of `crate::records`: record validation over Python dicts.
//!
//! Records are Python objects, so the walk holds the GIL; the checks themselves are the
//! core's, which sees each dict through [`RecordView`].

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple, PyType};

use super::arrays::type_name;
use super::errors::guarded;
use super::validate::py_repr;
use crate::error::CoreError;
use crate::records::{check_record, Field, RecordErrors, RecordView};

/// One field rule: the key (interned) and the accepted types (a type, tuple or union).
struct Rule<'py> {
    key: Bound<'py, PyString>,
    types: Bound<'py, PyAny>,
    /// A single exact class: `type(v) is cls` short-cuts `isinstance`.
    exact: Option<Bound<'py, PyType>>,
}

/// The rules and the core's view of them, required fields first.
fn rules<'py>(
    py: Python<'py>,
    required: Vec<(String, Bound<'py, PyAny>, String)>,
    optional: Vec<(String, Bound<'py, PyAny>, String)>,
) -> (Vec<Rule<'py>>, Vec<Field>) {
    let spec = required
        .into_iter()
        .map(|r| (r, true))
        .chain(optional.into_iter().map(|r| (r, false)));
    spec.map(|((name, types, expected), required)| {
        let field = Field {
            name: name.clone(),
            expected: expected.clone(),
            required,
        };
        let rule = Rule {
            key: PyString::intern(py, &name),
            exact: types.cast::<PyType>().ok().cloned(),
            types,
        };
        (rule, field)
    })
    .unzip()
}

/// A dict record as the core's [`RecordView`]: field `i` is `rules[i]`.
struct DictRecord<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
    rules: &'a [Rule<'py>],
}

impl<'py> RecordView for DictRecord<'_, 'py> {
    type Value = Bound<'py, PyAny>;
    type Error = PyErr;

    fn get(&self, i: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.dict.get_item(&self.rules[i].key)
    }

    fn accepts(&self, i: usize, value: &Bound<'py, PyAny>) -> PyResult<bool> {
        let rule = &self.rules[i];
        match &rule.exact {
            Some(cls) if value.get_type().is(cls) => Ok(true),
            _ => value.is_instance(&rule.types),
        }
    }

    fn type_name(&self, value: &Bound<'py, PyAny>) -> String {
        type_name(value)
    }
}

/// Checks one record against the rules (see `crate::records::check_record`).
fn check_one(
    index: usize,
    record: &Bound<'_, PyAny>,
    rules: &[Rule<'_>],
    fields: &[Field],
    errors: &mut RecordErrors,
) -> PyResult<()> {
    match record.cast::<PyDict>() {
        Ok(dict) => check_record(index, Ok(&DictRecord { dict, rules }), fields, errors),
        Err(_) => check_record::<DictRecord>(index, Err(type_name(record)), fields, errors),
    }
}

/// One problem with a record: `kind` is `"not_a_dict"`, `"missing_key"` or
/// `"wrong_type"`; `key` is `None` for `"not_a_dict"`.
#[pyclass(
    frozen,
    eq,
    get_all,
    module = "orbiter.train.data",
    name = "RecordIssue"
)]
#[derive(Clone, PartialEq)]
pub struct PyRecordIssue {
    index: usize,
    key: Option<String>,
    kind: &'static str,
    message: String,
}

#[pymethods]
impl PyRecordIssue {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let key = match &self.key {
            Some(k) => py_repr(py, k)?,
            None => "None".to_string(),
        };
        Ok(format!(
            "RecordIssue(index={}, key={key}, kind={}, message={})",
            self.index,
            py_repr(py, self.kind)?,
            py_repr(py, &self.message)?
        ))
    }
}

/// The result of `validate_records`: counts of all problems, and the first ones.
#[pyclass(frozen, eq, module = "orbiter.train.data", name = "RecordReport")]
#[derive(PartialEq)]
pub struct PyRecordReport {
    #[pyo3(get)]
    records: usize,
    #[pyo3(get)]
    bad_records: usize,
    #[pyo3(get)]
    total_errors: usize,
    issues: Vec<PyRecordIssue>,
    summary: String,
}

#[pymethods]
impl PyRecordReport {
    /// The first `max_errors` problems, in record order.
    #[getter]
    fn errors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.issues.iter().cloned())
    }
    /// True when every record passed.
    #[getter]
    fn ok(&self) -> bool {
        self.total_errors == 0
    }
    fn __str__(&self) -> String {
        self.summary.clone()
    }
    fn __repr__(&self) -> String {
        format!(
            "RecordReport(records={}, bad_records={}, total_errors={}, errors=<{} issues>)",
            self.records,
            self.bad_records,
            self.total_errors,
            self.issues.len()
        )
    }
}

/// Checks each record: a dict holding every required key with a value of the
/// accepted types, and optional keys (when present) of theirs.
#[pyfunction]
fn validate_records<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyAny>,
    required: Vec<(String, Bound<'py, PyAny>, String)>,
    optional: Vec<(String, Bound<'py, PyAny>, String)>,
    max_errors: usize,
) -> PyResult<PyRecordReport> {
    let (rules, fields) = rules(py, required, optional);
    let mut errors = RecordErrors::new(max_errors);
    guarded(py, "validate_records", || {
        let mut index = 0usize;
        if let Ok(list) = records.cast::<pyo3::types::PyList>() {
            for record in list.iter() {
                check_one(index, &record, &rules, &fields, &mut errors)?;
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
                check_one(index, &record?, &rules, &fields, &mut errors)?;
                index += 1;
            }
        }
        errors.records = index;
        Ok(())
    })?;
    let issues = errors
        .issues
        .iter()
        .map(|i| PyRecordIssue {
            index: i.index,
            key: i.key.clone(),
            kind: i.kind_name(),
            message: i.describe(),
        })
        .collect();
    Ok(PyRecordReport {
        records: errors.records,
        bad_records: errors.bad_records,
        total_errors: errors.total,
        issues,
        summary: errors.summary(),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRecordIssue>()?;
    m.add_class::<PyRecordReport>()?;
    m.add_function(wrap_pyfunction!(validate_records, m)?)?;
    Ok(())
}
