//! Bindings of `crate::records`: record validation over Python dicts.
//!
//! Records are Python objects, so the walk holds the GIL; the checks themselves are the
//! core's, which sees each dict through [`RecordView`].

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple, PyType};

use super::arrays::type_name;
use super::errors::guarded;
use super::validate::py_repr;
use crate::error::CoreError;
use crate::records::{check_record, Field, KeyRole, RecordErrors, RecordView, TextLayout};

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

/// The roles of the key objects seen so far. Records built alike share their key
/// objects (a dict literal's interned keys), so most keys are found by identity, without
/// reading their text; the cache holds a reference to each, so none is freed and its
/// address reused while it is cached.
struct KeyRoles<'a, 'py> {
    prompts: &'a [&'a [u8]],
    answers: &'a [&'a [u8]],
    seen: Vec<(Bound<'py, PyString>, Option<KeyRole>)>,
}

impl<'py> KeyRoles<'_, 'py> {
    /// Distinct key objects kept; beyond them, keys are read each time.
    const KEPT: usize = 16;

    fn of(&mut self, key: &Bound<'py, PyString>) -> PyResult<Option<KeyRole>> {
        if let Some((_, role)) = self.seen.iter().find(|(k, _)| k.is(key)) {
            return Ok(*role);
        }
        let role = KeyRole::of(key.to_str()?.as_bytes(), self.prompts, self.answers);
        if self.seen.len() < Self::KEPT {
            self.seen.push((key.clone(), role));
        }
        Ok(role)
    }
}

/// A record of two text keys: its layout, its prompt and its answer.
type TextRecord<'py> = (TextLayout, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// The layout of one record when it is a dict of exactly two str keys, a prompt key and
/// an answer key, both holding a str (the exact types: a subclass is left to Python);
/// the two values then.
fn text_record<'py>(
    record: &Bound<'py, PyAny>,
    roles: &mut KeyRoles<'_, 'py>,
) -> PyResult<Option<TextRecord<'py>>> {
    let Ok(dict) = record.cast_exact::<PyDict>() else {
        return Ok(None);
    };
    if dict.len() != 2 {
        return Ok(None);
    }
    let mut items = dict.iter();
    let (Some((k0, v0)), Some((k1, v1))) = (items.next(), items.next()) else {
        return Ok(None);
    };
    let (Ok(k0), Ok(k1)) = (k0.cast_exact::<PyString>(), k1.cast_exact::<PyString>()) else {
        return Ok(None);
    };
    let (Some(r0), Some(r1)) = (roles.of(k0)?, roles.of(k1)?) else {
        return Ok(None);
    };
    let Some(layout) = TextLayout::of_roles(r0, r1) else {
        return Ok(None);
    };
    let (prompt, answer) = if layout.answer_first {
        (v1, v0)
    } else {
        (v0, v1)
    };
    if !(prompt.is_exact_instance_of::<PyString>() && answer.is_exact_instance_of::<PyString>()) {
        return Ok(None);
    }
    Ok(Some((layout, prompt, answer)))
}

/// One walk over a list of records: for each record of two str keys, a prompt key of
/// `prompt_keys` and an answer key of `answer_keys`, holding str values, its prompt, its
/// answer and its layout code (`TextLayout::code`); `None`, `None` and
/// `TextLayout::OTHER` for every other record, which the caller parses itself.
#[pyfunction]
fn scan_text_records<'py>(
    py: Python<'py>,
    records: &Bound<'py, PyList>,
    prompt_keys: Vec<String>,
    answer_keys: Vec<String>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>, Bound<'py, PyAny>)> {
    if TextLayout::codes(prompt_keys.len(), answer_keys.len()) >= usize::from(TextLayout::OTHER) {
        return Err(CoreError::arg("prompt_keys", "too many candidate keys").into());
    }
    let prompts: Vec<&[u8]> = prompt_keys.iter().map(|k| k.as_bytes()).collect();
    let answers: Vec<&[u8]> = answer_keys.iter().map(|k| k.as_bytes()).collect();
    let n = records.len();
    let (prompt_values, answer_values, codes) = guarded(py, "scan_text_records", || {
        let mut prompt_values = Vec::with_capacity(n);
        let mut answer_values = Vec::with_capacity(n);
        let mut codes = Vec::with_capacity(n);
        let mut roles = KeyRoles {
            prompts: &prompts,
            answers: &answers,
            seen: Vec::new(),
        };
        for record in records.iter() {
            match text_record(&record, &mut roles)? {
                Some((layout, prompt, answer)) => {
                    prompt_values.push(prompt);
                    answer_values.push(answer);
                    codes.push(layout.code(answers.len()));
                }
                None => {
                    prompt_values.push(py.None().into_bound(py));
                    answer_values.push(py.None().into_bound(py));
                    codes.push(TextLayout::OTHER);
                }
            }
        }
        Ok((prompt_values, answer_values, codes))
    })?;
    Ok((
        PyList::new(py, prompt_values)?,
        PyList::new(py, answer_values)?,
        codes.into_pyarray(py).into_any(),
    ))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRecordIssue>()?;
    m.add_class::<PyRecordReport>()?;
    m.add_function(wrap_pyfunction!(validate_records, m)?)?;
    m.add_function(wrap_pyfunction!(scan_text_records, m)?)?;
    Ok(())
}
