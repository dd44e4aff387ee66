//! Bindings of `crate::reward::pipeline`: weighted combination of reward components.

use numpy::ndarray::Ix1;
use numpy::{IntoPyArray, PyArray1};
use pyo3::prelude::*;

use crate::error::CoreError;
use crate::py::arrays::{borrow_array, slice_of};
use crate::py::errors::run_detached;
use crate::reward::pipeline::{combine, Component};

/// `clip(Σ_k weight_k * scores_k)`; each `scores_k` a 1-D float32 array named `names[k]`.
#[pyfunction]
#[pyo3(signature = (names, scores, weights, clip=None))]
fn combine_rewards<'py>(
    py: Python<'py>,
    names: Vec<String>,
    scores: Vec<Bound<'py, PyAny>>,
    weights: Vec<f64>,
    clip: Option<(f64, f64)>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    if names.len() != scores.len() || weights.len() != scores.len() {
        return Err(CoreError::arg(
            "weights",
            format!(
                "{} names, {} score arrays and {} weights: expected one of each per component",
                names.len(),
                scores.len(),
                weights.len()
            ),
        )
        .into());
    }
    let arrays = names
        .iter()
        .zip(&scores)
        .map(|(n, s)| borrow_array::<f32, Ix1>(s, n))
        .collect::<PyResult<Vec<_>>>()?;
    let slices = names
        .iter()
        .zip(&arrays)
        .map(|(n, a)| slice_of(a, n))
        .collect::<PyResult<Vec<_>>>()?;
    let components: Vec<Component<'_>> = names
        .iter()
        .zip(slices)
        .zip(&weights)
        .map(|((name, scores), &weight)| Component {
            name,
            scores,
            weight,
        })
        .collect();
    let out = run_detached(py, "combine_rewards", || combine(&components, clip))?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(combine_rewards, m)?)?;
    Ok(())
}
