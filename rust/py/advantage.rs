//! Bindings of `crate::advantage`: borrow the numpy arrays (exact dtype, C-contiguous,
//! no copy), run the kernel with the GIL released, hand the output `Vec` to numpy
//! without copying.

use numpy::ndarray::{Array2, Ix1, Ix2};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2};
use pyo3::prelude::*;

use super::arrays::{borrow_array, borrow_mask, slice_of, with_mask, MaskElements, MaskUse};
use super::errors::run_detached;
use crate::advantage::{self, KlKind, Shape};
use crate::error::CoreError;

fn to_2d<'py>(
    py: Python<'py>,
    data: Vec<f32>,
    shape: Shape,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    Array2::from_shape_vec((shape.rows, shape.cols), data)
        .map(|a| a.into_pyarray(py))
        .map_err(|e| PyErr::from(CoreError::value(format!("internal shape error: {e}"))))
}

type Pair<'py> = (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<f32>>);

/// GRPO advantages, one per response (see `orbiter.train.advantages.grpo`).
#[pyfunction]
#[pyo3(signature = (scores, group_ids, normalize_std = true, eps = 1e-6))]
fn grpo<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    group_ids: &Bound<'py, PyAny>,
    normalize_std: bool,
    eps: f64,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let s = borrow_array::<f32, Ix1>(scores, "scores")?;
    let g = borrow_array::<i64, Ix1>(group_ids, "group_ids")?;
    let (ss, gs) = (slice_of(&s, "scores")?, slice_of(&g, "group_ids")?);
    let out = run_detached(py, "grpo", || advantage::grpo(ss, gs, normalize_std, eps))?;
    Ok(out.into_pyarray(py))
}

/// GRPO advantages broadcast onto a `(n, T)` response mask in one pass.
#[pyfunction]
#[pyo3(signature = (scores, group_ids, mask, normalize_std = true, eps = 1e-6))]
fn grpo_broadcast<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    group_ids: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    normalize_std: bool,
    eps: f64,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let s = borrow_array::<f32, Ix1>(scores, "scores")?;
    let g = borrow_array::<i64, Ix1>(group_ids, "group_ids")?;
    let (ss, gs) = (slice_of(&s, "scores")?, slice_of(&g, "group_ids")?);
    let mask = borrow_mask(mask, "mask", MaskUse::Advantage)?;
    with_mask!(mask, "mask", [Bool, U8, I8, F32], |m, dims| {
        let shape = Shape::new(dims.0, dims.1);
        let out = run_detached(py, "grpo", || {
            advantage::grpo_broadcast(ss, gs, m, shape, normalize_std, eps)
        })?;
        to_2d(py, out, shape)
    })
}

/// RLOO advantages, one per response.
#[pyfunction]
fn rloo<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    group_ids: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray1<f32>>> {
    let s = borrow_array::<f32, Ix1>(scores, "scores")?;
    let g = borrow_array::<i64, Ix1>(group_ids, "group_ids")?;
    let (ss, gs) = (slice_of(&s, "scores")?, slice_of(&g, "group_ids")?);
    let out = run_detached(py, "rloo", || advantage::rloo(ss, gs))?;
    Ok(out.into_pyarray(py))
}

/// RLOO advantages broadcast onto a `(n, T)` response mask in one pass.
#[pyfunction]
fn rloo_broadcast<'py>(
    py: Python<'py>,
    scores: &Bound<'py, PyAny>,
    group_ids: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let s = borrow_array::<f32, Ix1>(scores, "scores")?;
    let g = borrow_array::<i64, Ix1>(group_ids, "group_ids")?;
    let (ss, gs) = (slice_of(&s, "scores")?, slice_of(&g, "group_ids")?);
    let mask = borrow_mask(mask, "mask", MaskUse::Advantage)?;
    with_mask!(mask, "mask", [Bool, U8, I8, F32], |m, dims| {
        let shape = Shape::new(dims.0, dims.1);
        let out = run_detached(py, "rloo", || advantage::rloo_broadcast(ss, gs, m, shape))?;
        to_2d(py, out, shape)
    })
}

/// `advantages[:, None] * mask` as float32.
#[pyfunction]
fn broadcast<'py>(
    py: Python<'py>,
    advantages: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let a = borrow_array::<f32, Ix1>(advantages, "advantages")?;
    let aslice = slice_of(&a, "advantages")?;
    let mask = borrow_mask(mask, "mask", MaskUse::Advantage)?;
    with_mask!(mask, "mask", [Bool, U8, I8, F32], |m, dims| {
        let shape = Shape::new(dims.0, dims.1);
        let out = run_detached(py, "broadcast", || advantage::broadcast(aslice, m, shape))?;
        to_2d(py, out, shape)
    })
}

fn borrow_grid<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<(PyReadonlyArray2<'py, f32>, Shape)> {
    let _ = py;
    let a = borrow_array::<f32, Ix2>(obj, name)?;
    let (rows, cols) = a.rows_cols();
    Ok((a, Shape::new(rows, cols)))
}

/// Discounted returns (REINFORCE++'s recursion).
#[pyfunction]
fn discounted_returns<'py>(
    py: Python<'py>,
    rewards: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    gamma: f64,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (r, shape) = borrow_grid(py, rewards, "rewards")?;
    let rs = slice_of(&r, "rewards")?;
    let mask = borrow_mask(mask, "mask", MaskUse::Advantage)?;
    with_mask!(mask, "mask", [Bool, U8, I8, F32], |m, dims| {
        let mshape = Shape::new(dims.0, dims.1);
        let out = run_detached(py, "discounted_returns", || {
            advantage::discounted_returns(rs, shape, m, mshape, gamma)
        })?;
        to_2d(py, out, shape)
    })
}

/// REINFORCE++ `(advantages, returns)`.
#[pyfunction]
fn reinforce_pp<'py>(
    py: Python<'py>,
    rewards: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    gamma: f64,
) -> PyResult<Pair<'py>> {
    let (r, shape) = borrow_grid(py, rewards, "rewards")?;
    let rs = slice_of(&r, "rewards")?;
    let mask = borrow_mask(mask, "mask", MaskUse::Advantage)?;
    with_mask!(mask, "mask", [Bool, U8, I8, F32], |m, dims| {
        let mshape = Shape::new(dims.0, dims.1);
        let (adv, ret) = run_detached(py, "reinforce_pp", || {
            advantage::reinforce_pp(rs, shape, m, mshape, gamma)
        })?;
        Ok((to_2d(py, adv, shape)?, to_2d(py, ret, shape)?))
    })
}

/// GAE `(advantages, returns)`.
#[pyfunction]
#[pyo3(signature = (rewards, values, mask, gamma, lam, whiten = true))]
fn gae<'py>(
    py: Python<'py>,
    rewards: &Bound<'py, PyAny>,
    values: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    gamma: f64,
    lam: f64,
    whiten: bool,
) -> PyResult<Pair<'py>> {
    let (r, shape) = borrow_grid(py, rewards, "rewards")?;
    let (v, vshape) = borrow_grid(py, values, "values")?;
    let (rs, vs) = (slice_of(&r, "rewards")?, slice_of(&v, "values")?);
    let mask = borrow_mask(mask, "mask", MaskUse::Advantage)?;
    with_mask!(mask, "mask", [Bool, U8, I8, F32], |m, dims| {
        let mshape = Shape::new(dims.0, dims.1);
        let (adv, ret) = run_detached(py, "gae", || {
            advantage::gae(rs, shape, vs, vshape, m, mshape, gamma, lam, whiten)
        })?;
        Ok((to_2d(py, adv, shape)?, to_2d(py, ret, shape)?))
    })
}

/// verl's `masked_whiten`.
#[pyfunction]
#[pyo3(signature = (x, mask, shift_mean = true))]
fn whiten<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    mask: &Bound<'py, PyAny>,
    shift_mean: bool,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let (a, shape) = borrow_grid(py, x, "x")?;
    let xs = slice_of(&a, "x")?;
    let mask = borrow_mask(mask, "mask", MaskUse::Advantage)?;
    with_mask!(mask, "mask", [Bool, U8, I8, F32], |m, dims| {
        let mshape = Shape::new(dims.0, dims.1);
        let out = run_detached(py, "whiten", || {
            advantage::whiten(xs, shape, m, mshape, shift_mean)
        })?;
        to_2d(py, out, shape)
    })
}

/// Per-token KL estimate.
#[pyfunction]
#[pyo3(signature = (logp, ref_logp, kind = "k1"))]
fn kl_divergence<'py>(
    py: Python<'py>,
    logp: &Bound<'py, PyAny>,
    ref_logp: &Bound<'py, PyAny>,
    kind: &str,
) -> PyResult<Bound<'py, PyArray2<f32>>> {
    let kind = KlKind::parse(kind)?;
    let (a, shape) = borrow_grid(py, logp, "logp")?;
    let (b, rshape) = borrow_grid(py, ref_logp, "ref_logp")?;
    let (aslice, bslice) = (slice_of(&a, "logp")?, slice_of(&b, "ref_logp")?);
    let out = run_detached(py, "kl_divergence", || {
        advantage::kl_divergence(aslice, bslice, shape, rshape, kind)
    })?;
    to_2d(py, out, shape)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(grpo, m)?)?;
    m.add_function(wrap_pyfunction!(grpo_broadcast, m)?)?;
    m.add_function(wrap_pyfunction!(rloo, m)?)?;
    m.add_function(wrap_pyfunction!(rloo_broadcast, m)?)?;
    m.add_function(wrap_pyfunction!(broadcast, m)?)?;
    m.add_function(wrap_pyfunction!(discounted_returns, m)?)?;
    m.add_function(wrap_pyfunction!(reinforce_pp, m)?)?;
    m.add_function(wrap_pyfunction!(gae, m)?)?;
    m.add_function(wrap_pyfunction!(whiten, m)?)?;
    m.add_function(wrap_pyfunction!(kl_divergence, m)?)?;
    Ok(())
}
