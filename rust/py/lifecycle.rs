//! `Lifecycle`: the Python face of `crate::lifecycle::Lifecycle`.

use std::time::Duration;

use pyo3::prelude::*;

use super::errors::{guarded, trainer_error};
use crate::error::CoreError;
use crate::lifecycle::{Lifecycle, State};

fn parse_state(text: &str) -> PyResult<State> {
    State::parse(text).ok_or_else(|| {
        PyErr::from(CoreError::arg(
            "target",
            format!(
                "'{text}' is not a trainer state (created, validated, training, completed, failed)"
            ),
        ))
    })
}

/// Thread-safe trainer lifecycle (CREATED → VALIDATED → TRAINING → COMPLETED | FAILED).
#[pyclass(frozen, name = "Lifecycle", module = "orbiter.train._core")]
pub struct PyLifecycle {
    inner: Lifecycle,
}

#[pymethods]
impl PyLifecycle {
    #[new]
    fn new() -> Self {
        PyLifecycle {
            inner: Lifecycle::new(),
        }
    }

    /// The current state's value ("created", …).
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state().as_str()
    }

    /// Moves to `target` if legal; returns the transition's time in ns since creation.
    fn transition(&self, py: Python<'_>, target: &str) -> PyResult<u64> {
        let target = parse_state(target)?;
        guarded(py, "Lifecycle.transition", || {
            self.inner
                .transition(target)
                .map(|t| duration_ns(t.at))
                .map_err(|e| trainer_error(py, e.to_string()))
        })
    }

    /// Raises `TrainerError` unless moving to `target` is legal now; moves nowhere.
    fn check(&self, py: Python<'_>, target: &str) -> PyResult<()> {
        let target = parse_state(target)?;
        self.inner
            .check(target)
            .map_err(|e| trainer_error(py, e.to_string()))
    }

    /// Accepted transitions as `(source, target, ns since creation)`.
    fn history(&self) -> Vec<(&'static str, &'static str, u64)> {
        self.inner
            .history()
            .into_iter()
            .map(|t| (t.source.as_str(), t.target.as_str(), duration_ns(t.at)))
            .collect()
    }

    /// Records one run of a validation check.
    fn record_check(&self, name: &str, passed: bool, duration_ns: u64) {
        self.inner
            .record_check(name, passed, Duration::from_nanos(duration_ns));
    }

    /// Check runs as `(name, passed, duration ns, ns since creation at its end)`.
    fn checks(&self) -> Vec<(String, bool, u64, u64)> {
        self.inner
            .checks()
            .into_iter()
            .map(|c| (c.name, c.passed, duration_ns(c.duration), duration_ns(c.at)))
            .collect()
    }

    /// Total ns spent in recorded checks.
    #[getter]
    fn validation_ns(&self) -> u64 {
        duration_ns(self.inner.validation_time())
    }

    /// Monotonic ns since this lifecycle was created.
    #[getter]
    fn elapsed_ns(&self) -> u64 {
        duration_ns(self.inner.elapsed())
    }

    fn __repr__(&self) -> String {
        format!("Lifecycle(state='{}')", self.inner.state())
    }
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLifecycle>()
}
