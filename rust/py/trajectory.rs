//! The `TrajectoryBatch` pyclass: a batch of agent trajectories checked once, then trusted.
//!
//! The batch holds its prompts and responses as `RaggedTokens` (the caller's token arrays,
//! no copy, and their read-only offsets), the caller's trainable mask (a bool mask as its
//! bytes) and logprobs as they are, and its own read-only copies of what kernels index by
//! or rely on without looking again: the turn ends, the per-turn rewards and the rewards.
//! Each kernel borrows the buffers, checks their lengths (O(1)) and runs with the GIL
//! released (`crate::trajectory`).

use numpy::ndarray::{Array2, Ix1};
use numpy::{
    Element, IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArray,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use super::arrays::{bool_as_bytes, borrow_array, dtype_name, slice_of, TokenArray};
use super::errors::run_detached;
use super::ragged::PyRaggedTokens;
use crate::alloc;
use crate::error::{CoreError, CoreResult};
use crate::mask::Mask;
use crate::ragged::{self, check_offsets, Ragged, Side, TokenId};
use crate::trajectory::{
    self, AggMode, Buffers, Column, Norms, Parts, Per, PerToken, Trajectories,
};

/// A batch of trajectories (see `orbiter.train.trajectories.TrajectoryBatch`).
#[pyclass(frozen, module = "orbiter.train._core", name = "TrajectoryBatch")]
pub struct PyTrajectoryBatch {
    prompts: Py<PyRaggedTokens>,
    responses: Py<PyRaggedTokens>,
    /// 0/1 bytes on the response offsets: the caller's uint8 array or a bool array's bytes
    /// as given, else the batch's own copy.
    mask: Py<PyArray1<u8>>,
    logprobs: Py<PyArray1<f32>>,
    /// int64 turn ends, owned and read-only.
    turns: Py<PyRaggedTokens>,
    turn_rewards: Option<Py<PyArray1<f32>>>,
    rewards: Option<Py<PyArray1<f32>>>,
    vocab_size: Option<i64>,
}

/// A 1-D trainable mask's dtypes, told apart by pyo3.
#[derive(FromPyObject)]
enum MaskDtype<'py> {
    Bool(Bound<'py, PyArray1<bool>>),
    U8(Bound<'py, PyArray1<u8>>),
    I8(Bound<'py, PyArray1<i8>>),
    I64(Bound<'py, PyArray1<i64>>),
    F32(Bound<'py, PyArray1<f32>>),
}

/// A borrowed mask: bytes the batch can hold as they are, or values it converts.
enum MaskIn<'py> {
    Bytes(Bound<'py, PyArray1<u8>>, PyReadonlyArray1<'py, u8>),
    I8(PyReadonlyArray1<'py, i8>),
    I64(PyReadonlyArray1<'py, i64>),
    F32(PyReadonlyArray1<'py, f32>),
}

/// "`name`: expected `what`, got float64 with shape [2, 3]" (or the type of a non-array).
fn refusal(obj: &Bound<'_, PyAny>, name: &str, what: &str) -> PyErr {
    let shape = obj
        .cast::<PyUntypedArray>()
        .map(|a| format!(" with shape {:?}", a.shape()))
        .unwrap_or_default();
    CoreError::type_(format!(
        "{name}: expected {what}, got {}{shape}",
        dtype_name(obj)
    ))
    .into()
}

fn borrow_mask1<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<MaskIn<'py>> {
    let Ok(mask) = obj.extract::<MaskDtype<'py>>() else {
        let what = "a 1-D numpy.ndarray of bool, int8, uint8, int64 or float32";
        return Err(refusal(obj, name, what));
    };
    Ok(match mask {
        MaskDtype::Bool(a) => {
            let bytes = bool_as_bytes(a.as_any())?.cast_into::<PyArray1<u8>>()?;
            let view = borrow_array::<u8, Ix1>(bytes.as_any(), name)?;
            MaskIn::Bytes(bytes, view)
        }
        MaskDtype::U8(a) => {
            let view = borrow_array::<u8, Ix1>(a.as_any(), name)?;
            MaskIn::Bytes(a, view)
        }
        MaskDtype::I8(a) => MaskIn::I8(borrow_array::<i8, Ix1>(a.as_any(), name)?),
        MaskDtype::I64(a) => MaskIn::I64(borrow_array::<i64, Ix1>(a.as_any(), name)?),
        MaskDtype::F32(a) => MaskIn::F32(borrow_array::<f32, Ix1>(a.as_any(), name)?),
    })
}

fn borrow_opt<'py, T: Element>(
    obj: Option<&Bound<'py, PyAny>>,
    name: &str,
) -> PyResult<Option<PyReadonlyArray1<'py, T>>> {
    obj.map(|o| borrow_array::<T, Ix1>(o, name)).transpose()
}

fn slice_opt<'a, T: Element>(
    array: &'a Option<PyReadonlyArray1<'_, T>>,
    name: &str,
) -> PyResult<Option<&'a [T]>> {
    array.as_ref().map(|a| slice_of(a, name)).transpose()
}

/// The slices a batch is checked on, other than the ids and the mask.
#[derive(Clone, Copy)]
struct Rest<'a> {
    logprobs: Column<'a, f32>,
    /// None: read off the mask, one turn per run of trainable tokens.
    turn_ends: Option<Ragged<'a, i64>>,
    turn_rewards: Option<Column<'a, f32>>,
    rewards: Option<&'a [f32]>,
    vocab_size: Option<i64>,
}

/// What the check hands back: the batch's own copies.
struct Checked {
    mask: Option<Vec<u8>>,
    turn_ends: Vec<i64>,
    turn_offsets: Vec<i64>,
    turn_rewards: Option<Vec<f32>>,
    rewards: Option<Vec<f32>>,
}

fn copy<T: Copy>(name: &str, values: &[T]) -> CoreResult<Vec<T>> {
    let mut out = alloc::output(name, values.len())?;
    out.extend_from_slice(values);
    Ok(out)
}

/// Makes the batch's own copies of what kernels index by or rely on (turn ends, rewards),
/// then checks everything (`crate::trajectory::validate`) on those copies, so that what was
/// checked is what the batch keeps; a mask that is not 0/1 bytes already becomes one. Turn
/// ends not given are read off the mask once it passed its own check.
fn check<T: TokenId, M: Mask>(
    prompts: Ragged<'_, T>,
    responses: Ragged<'_, T>,
    mask: Column<'_, M>,
    convert: bool,
    rest: Rest<'_>,
) -> CoreResult<Checked> {
    let (turn_ends, turn_offsets) = match rest.turn_ends {
        Some(given) => (
            copy("turn_ends", given.values())?,
            copy("turn_ends", given.offsets())?,
        ),
        None => {
            trajectory::check_mask(&responses, &mask)?;
            trajectory::turn_ends_from_mask(mask.values, responses.offsets())?
        }
    };
    let turn_rewards = rest
        .turn_rewards
        .map(|c| copy("turn_rewards", c.values))
        .transpose()?;
    let rewards = rest.rewards.map(|r| copy("rewards", r)).transpose()?;
    // The copied offsets are checked again: the caller's array may have changed meanwhile.
    check_offsets(&turn_offsets, turn_ends.len(), "turn_ends.offsets")?;
    trajectory::validate(&Parts {
        prompt_ids: prompts,
        response_ids: responses,
        trainable_mask: mask,
        logprobs: rest.logprobs,
        turn_ends: Ragged::trusted(&turn_ends, &turn_offsets, "turn_ends.offsets")?,
        turn_rewards: turn_rewards.as_deref().map(|values| Column {
            values,
            offsets: rest.turn_rewards.and_then(|c| c.offsets),
        }),
        rewards: rewards.as_deref(),
        vocab_size: rest.vocab_size,
    })?;
    let mask = if convert {
        let mut bytes = alloc::output("trainable_mask", mask.values.len())?;
        bytes.extend(mask.values.iter().map(|m| u8::from(m.is_set())));
        Some(bytes)
    } else {
        None
    };
    Ok(Checked {
        mask,
        turn_ends,
        turn_offsets,
        turn_rewards,
        rewards,
    })
}

/// [`check`] with the GIL released, on a borrowed mask of any of its dtypes.
fn check_detached<T: TokenId, M: Mask + Element>(
    py: Python<'_>,
    (prompts, responses): (Ragged<'_, T>, Ragged<'_, T>),
    mask: &PyReadonlyArray1<'_, M>,
    offsets: Option<&[i64]>,
    convert: bool,
    rest: Rest<'_>,
) -> PyResult<Checked> {
    let column = Column {
        values: slice_of(mask, "trainable_mask")?,
        offsets,
    };
    run_detached(py, "TrajectoryBatch", || {
        check(prompts, responses, column, convert, rest)
    })
}

/// Turn ends read off a borrowed mask of any of its dtypes, with the GIL released.
fn mask_turns<M: Mask + Element>(
    py: Python<'_>,
    mask: &PyReadonlyArray1<'_, M>,
    offsets: &[i64],
) -> PyResult<(Vec<i64>, Vec<i64>)> {
    let m = slice_of(mask, "trainable_mask")?;
    run_detached(py, "turn_ends_from_mask", || {
        trajectory::turn_ends_from_mask(m, offsets)
    })
}

/// `values` as a read-only numpy array owned by the batch.
fn frozen<'py, T: Element>(py: Python<'py>, values: Vec<T>) -> PyResult<Bound<'py, PyArray1<T>>> {
    let array = values.into_pyarray(py);
    array.getattr("flags")?.setattr("writeable", false)?;
    Ok(array)
}

/// The borrowed buffers of a batch, for one kernel call.
struct Held<'py> {
    offsets: PyReadonlyArray1<'py, i64>,
    mask: PyReadonlyArray1<'py, u8>,
    logprobs: PyReadonlyArray1<'py, f32>,
    turn_offsets: PyReadonlyArray1<'py, i64>,
    turn_ends: PyReadonlyArray1<'py, i64>,
    turn_rewards: Option<PyReadonlyArray1<'py, f32>>,
    rewards: Option<PyReadonlyArray1<'py, f32>>,
}

impl Held<'_> {
    fn buffers(&self) -> PyResult<Buffers<'_>> {
        Ok(Buffers {
            response_offsets: slice_of(&self.offsets, "response_ids.offsets")?,
            trainable_mask: slice_of(&self.mask, "trainable_mask")?,
            logprobs: slice_of(&self.logprobs, "logprobs")?,
            turn_offsets: slice_of(&self.turn_offsets, "turn_ends.offsets")?,
            turn_ends: slice_of(&self.turn_ends, "turn_ends")?,
            turn_rewards: slice_opt(&self.turn_rewards, "turn_rewards")?,
            rewards: slice_opt(&self.rewards, "rewards")?,
        })
    }
}

fn readonly<'py, T: Element>(
    array: &Py<PyArray1<T>>,
    py: Python<'py>,
    name: &str,
) -> PyResult<PyReadonlyArray1<'py, T>> {
    array
        .bind(py)
        .try_readonly()
        .map_err(|e| PyErr::from(CoreError::arg(name, format!("cannot borrow array: {e}"))))
}

fn norms(
    dp_size: i64,
    batch_num_tokens: Option<f64>,
    global_batch_size: Option<f64>,
    loss_scale_factor: Option<f64>,
) -> Norms {
    Norms {
        dp_size,
        batch_num_tokens,
        global_batch_size,
        loss_scale_factor,
    }
}

/// A per-token array to aggregate: flat or padded.
#[derive(FromPyObject)]
enum Values<'py> {
    Flat(Bound<'py, PyArray1<f32>>),
    Padded(Bound<'py, PyArray2<f32>>),
}

/// A per-token array to pad: float32 values or 0/1 bytes.
#[derive(FromPyObject)]
enum PadValues<'py> {
    F32(Bound<'py, PyArray1<f32>>),
    U8(Bound<'py, PyArray1<u8>>),
}

fn to_2d<'py, T: Element>(py: Python<'py>, p: ragged::Grid<T>) -> PyResult<Bound<'py, PyAny>> {
    Array2::from_shape_vec((p.rows, p.width), p.values)
        .map(|a| a.into_pyarray(py).into_any())
        .map_err(|e| PyErr::from(CoreError::value(format!("internal shape error: {e}"))))
}

impl PyTrajectoryBatch {
    fn hold<'py>(&self, py: Python<'py>) -> PyResult<Held<'py>> {
        let turns = self.turns.get();
        let turn_ends = turns.values_array(py).cast::<PyArray1<i64>>()?.readonly();
        Ok(Held {
            offsets: self.responses.get().offsets_array(py).readonly(),
            mask: readonly(&self.mask, py, "trainable_mask")?,
            logprobs: readonly(&self.logprobs, py, "logprobs")?,
            turn_offsets: turns.offsets_array(py).readonly(),
            turn_ends,
            turn_rewards: self
                .turn_rewards
                .as_ref()
                .map(|a| readonly(a, py, "turn_rewards"))
                .transpose()?,
            rewards: self
                .rewards
                .as_ref()
                .map(|a| readonly(a, py, "rewards"))
                .transpose()?,
        })
    }

    /// Runs `kernel` on the batch with the GIL released.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        operation: &str,
        kernel: impl FnOnce(&Trajectories<'_>) -> CoreResult<T> + Send,
    ) -> PyResult<T> {
        let held = self.hold(py)?;
        let buffers = held.buffers()?;
        run_detached(py, operation, || kernel(&Trajectories::trusted(buffers)?))
    }

    fn flat<'py>(
        &self,
        py: Python<'py>,
        operation: &str,
        kernel: impl FnOnce(&Trajectories<'_>) -> CoreResult<Vec<f32>> + Send,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        Ok(self.run(py, operation, kernel)?.into_pyarray(py))
    }
}

/// Borrows a 1-D int64 group-id array.
fn borrow_groups<'py>(obj: &Bound<'py, PyAny>) -> PyResult<PyReadonlyArray1<'py, i64>> {
    borrow_array::<i64, Ix1>(obj, "group_ids")
}

#[pymethods]
impl PyTrajectoryBatch {
    /// Checks the whole batch once (see `crate::trajectory::validate`); `*_offsets` are
    /// given when a column came in rows of its own, so a row of another length is named.
    /// Without `turn_ends` (and `turn_offsets`), each run of trainable tokens is a turn.
    #[new]
    #[pyo3(signature = (
        prompt_ids, response_ids, trainable_mask, logprobs, turn_ends = None,
        turn_offsets = None, *, mask_offsets = None, logprob_offsets = None,
        turn_rewards = None, turn_reward_offsets = None, rewards = None, vocab_size = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        prompt_ids: Py<PyRaggedTokens>,
        response_ids: Py<PyRaggedTokens>,
        trainable_mask: &Bound<'_, PyAny>,
        logprobs: &Bound<'_, PyAny>,
        turn_ends: Option<&Bound<'_, PyAny>>,
        turn_offsets: Option<&Bound<'_, PyAny>>,
        mask_offsets: Option<&Bound<'_, PyAny>>,
        logprob_offsets: Option<&Bound<'_, PyAny>>,
        turn_rewards: Option<&Bound<'_, PyAny>>,
        turn_reward_offsets: Option<&Bound<'_, PyAny>>,
        rewards: Option<&Bound<'_, PyAny>>,
        vocab_size: Option<i64>,
    ) -> PyResult<Self> {
        let p = prompt_ids.get().borrow(py, "prompt_ids")?;
        let r = response_ids.get().borrow(py, "response_ids")?;
        let mask = borrow_mask1(trainable_mask, "trainable_mask")?;
        let lp = borrow_array::<f32, Ix1>(logprobs, "logprobs")?;
        if turn_ends.is_some() != turn_offsets.is_some() {
            let detail = "turn_ends and turn_offsets come together, or neither";
            return Err(CoreError::arg("turn_offsets", detail).into());
        }
        let ends = borrow_opt::<i64>(turn_ends, "turn_ends")?;
        let ends_offsets = borrow_opt::<i64>(turn_offsets, "turn_ends.offsets")?;
        let mask_offsets = borrow_opt::<i64>(mask_offsets, "trainable_mask.offsets")?;
        let lp_offsets = borrow_opt::<i64>(logprob_offsets, "logprobs.offsets")?;
        let tr = borrow_opt::<f32>(turn_rewards, "turn_rewards")?;
        let tr_offsets = borrow_opt::<i64>(turn_reward_offsets, "turn_rewards.offsets")?;
        let rw = borrow_opt::<f32>(rewards, "rewards")?;
        let turn_ends_ragged = match (
            slice_opt(&ends, "turn_ends")?,
            slice_opt(&ends_offsets, "turn_ends.offsets")?,
        ) {
            (Some(values), Some(offsets)) => {
                check_offsets(offsets, values.len(), "turn_ends.offsets")?;
                Some(Ragged::trusted(values, offsets, "turn_ends.offsets")?)
            }
            _ => None,
        };
        let tr_offsets = slice_opt(&tr_offsets, "turn_rewards.offsets")?;
        let rest = Rest {
            logprobs: Column {
                values: slice_of(&lp, "logprobs")?,
                offsets: slice_opt(&lp_offsets, "logprobs.offsets")?,
            },
            turn_ends: turn_ends_ragged,
            turn_rewards: slice_opt(&tr, "turn_rewards")?.map(|values| Column {
                values,
                offsets: tr_offsets,
            }),
            rewards: slice_opt(&rw, "rewards")?,
            vocab_size,
        };
        let m_offsets = slice_opt(&mask_offsets, "trainable_mask.offsets")?;
        let p_offsets = slice_of(&p.offsets, &p.offsets_name)?;
        let r_offsets = slice_of(&r.offsets, &r.offsets_name)?;
        macro_rules! checked {
            ($pv:expr, $rv:expr) => {{
                let prompts = Ragged::trusted($pv, p_offsets, &p.offsets_name)?;
                let responses = Ragged::trusted($rv, r_offsets, &r.offsets_name)?;
                let ids = (prompts, responses);
                match &mask {
                    MaskIn::Bytes(_, view) => check_detached(py, ids, view, m_offsets, false, rest),
                    MaskIn::I8(view) => check_detached(py, ids, view, m_offsets, true, rest),
                    MaskIn::I64(view) => check_detached(py, ids, view, m_offsets, true, rest),
                    MaskIn::F32(view) => check_detached(py, ids, view, m_offsets, true, rest),
                }
            }};
        }
        let checked = match (&p.values, &r.values) {
            (TokenArray::I32(pa), TokenArray::I32(ra)) => {
                checked!(slice_of(pa, &p.values_name)?, slice_of(ra, &r.values_name)?)
            }
            (TokenArray::I64(pa), TokenArray::I64(ra)) => {
                checked!(slice_of(pa, &p.values_name)?, slice_of(ra, &r.values_name)?)
            }
            (TokenArray::I32(_), TokenArray::I64(_)) | (TokenArray::I64(_), TokenArray::I32(_)) => {
                let dtype = |t: &TokenArray<'_>| match t {
                    TokenArray::I32(_) => "int32",
                    TokenArray::I64(_) => "int64",
                };
                return Err(CoreError::type_(format!(
                    "response_ids: dtype {} differs from prompt_ids' {}",
                    dtype(&r.values),
                    dtype(&p.values)
                ))
                .into());
            }
        }?;
        let mask = match (checked.mask, &mask) {
            (Some(bytes), _) => frozen(py, bytes)?.unbind(),
            (None, MaskIn::Bytes(array, _)) => array.clone().unbind(),
            (None, _) => {
                let detail = "internal error: an unconverted mask that is not bytes";
                return Err(CoreError::arg("trainable_mask", detail).into());
            }
        };
        let lp_array = logprobs.cast::<PyArray1<f32>>()?.clone().unbind();
        let turn_values = frozen(py, checked.turn_ends)?.into_any();
        let turns = PyRaggedTokens::from_valid(py, turn_values, checked.turn_offsets)?;
        Ok(PyTrajectoryBatch {
            prompts: prompt_ids.clone_ref(py),
            responses: response_ids.clone_ref(py),
            mask,
            logprobs: lp_array,
            turns: Py::new(py, turns)?,
            turn_rewards: checked
                .turn_rewards
                .map(|v| frozen(py, v).map(Bound::unbind))
                .transpose()?,
            rewards: checked
                .rewards
                .map(|v| frozen(py, v).map(Bound::unbind))
                .transpose()?,
            vocab_size,
        })
    }

    #[getter]
    fn prompt_ids(&self, py: Python<'_>) -> Py<PyRaggedTokens> {
        self.prompts.clone_ref(py)
    }

    #[getter]
    fn response_ids(&self, py: Python<'_>) -> Py<PyRaggedTokens> {
        self.responses.clone_ref(py)
    }

    #[getter]
    fn trainable_mask<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u8>> {
        self.mask.bind(py).clone()
    }

    #[getter]
    fn logprobs<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        self.logprobs.bind(py).clone()
    }

    #[getter]
    fn turn_ends(&self, py: Python<'_>) -> Py<PyRaggedTokens> {
        self.turns.clone_ref(py)
    }

    #[getter]
    fn turn_rewards<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f32>>> {
        self.turn_rewards.as_ref().map(|a| a.bind(py).clone())
    }

    #[getter]
    fn rewards<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyArray1<f32>>> {
        self.rewards.as_ref().map(|a| a.bind(py).clone())
    }

    #[getter]
    fn vocab_size(&self) -> Option<i64> {
        self.vocab_size
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.responses
            .get()
            .offsets_array(py)
            .len()
            .saturating_sub(1)
    }

    /// Token-level rewards, flat on the response offsets.
    #[pyo3(signature = (per = "trajectory"))]
    fn token_rewards<'py>(
        &self,
        py: Python<'py>,
        per: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let per = Per::parse(per)?;
        self.flat(py, "token_rewards", |t| trajectory::token_rewards(t, per))
    }

    /// Each trajectory's outcome score.
    #[pyo3(signature = (per = "trajectory"))]
    fn outcome_scores<'py>(
        &self,
        py: Python<'py>,
        per: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let per = Per::parse(per)?;
        self.flat(py, "outcome_scores", |t| trajectory::outcome_scores(t, per))
    }

    /// GRPO advantages on the trainable tokens, flat on the response offsets.
    #[pyo3(signature = (group_ids, per = "trajectory", normalize_std = true, eps = 1e-6))]
    fn grpo<'py>(
        &self,
        py: Python<'py>,
        group_ids: &Bound<'py, PyAny>,
        per: &str,
        normalize_std: bool,
        eps: f64,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let per = Per::parse(per)?;
        let g = borrow_groups(group_ids)?;
        let gs = slice_of(&g, "group_ids")?;
        self.flat(py, "grpo", |t| {
            trajectory::grpo(t, per, gs, normalize_std, eps)
        })
    }

    /// RLOO advantages on the trainable tokens, flat on the response offsets.
    #[pyo3(signature = (group_ids, per = "trajectory"))]
    fn rloo<'py>(
        &self,
        py: Python<'py>,
        group_ids: &Bound<'py, PyAny>,
        per: &str,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let per = Per::parse(per)?;
        let g = borrow_groups(group_ids)?;
        let gs = slice_of(&g, "group_ids")?;
        self.flat(py, "rloo", |t| trajectory::rloo(t, per, gs))
    }

    /// One value per trajectory onto its trainable tokens.
    fn broadcast<'py>(
        &self,
        py: Python<'py>,
        advantages: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let a = borrow_array::<f32, Ix1>(advantages, "advantages")?;
        let a = slice_of(&a, "advantages")?;
        self.flat(py, "broadcast", |t| trajectory::broadcast(t, a))
    }

    /// Per-token loss weights of an aggregation mode, flat on the response offsets.
    #[pyo3(signature = (
        mode, dp_size = 1, batch_num_tokens = None, global_batch_size = None,
        loss_scale_factor = None
    ))]
    fn loss_weights<'py>(
        &self,
        py: Python<'py>,
        mode: &str,
        dp_size: i64,
        batch_num_tokens: Option<f64>,
        global_batch_size: Option<f64>,
        loss_scale_factor: Option<f64>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let mode = AggMode::parse(mode)?;
        let n = norms(
            dp_size,
            batch_num_tokens,
            global_batch_size,
            loss_scale_factor,
        );
        self.flat(py, "loss_weights", |t| trajectory::loss_weights(t, mode, n))
    }

    /// The aggregate of a per-token array (flat, or padded `(B, W)` on the right).
    #[pyo3(signature = (
        values, mode, dp_size = 1, batch_num_tokens = None, global_batch_size = None,
        loss_scale_factor = None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn aggregate(
        &self,
        py: Python<'_>,
        values: &Bound<'_, PyAny>,
        mode: &str,
        dp_size: i64,
        batch_num_tokens: Option<f64>,
        global_batch_size: Option<f64>,
        loss_scale_factor: Option<f64>,
    ) -> PyResult<f64> {
        let mode = AggMode::parse(mode)?;
        let n = norms(
            dp_size,
            batch_num_tokens,
            global_batch_size,
            loss_scale_factor,
        );
        let refused = || refusal(values, "values", "a 1-D or 2-D numpy.ndarray of float32");
        match values.extract::<Values<'_>>().map_err(|_| refused())? {
            Values::Flat(a) => {
                let a = borrow_array::<f32, Ix1>(a.as_any(), "values")?;
                let v = slice_of(&a, "values")?;
                self.run(py, "aggregate", |t| {
                    trajectory::aggregate(t, PerToken::Flat(v), mode, n)
                })
            }
            Values::Padded(a) => {
                let a = borrow_array::<f32, numpy::ndarray::Ix2>(a.as_any(), "values")?;
                let (rows, width) = (a.shape()[0], a.shape()[1]);
                let v = slice_of(&a, "values")?;
                self.run(py, "aggregate", |t| {
                    let values = PerToken::Padded {
                        values: v,
                        rows,
                        width,
                    };
                    trajectory::aggregate(t, values, mode, n)
                })
            }
        }
    }

    /// verl's `num_turns` of each trajectory.
    fn num_turns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        Ok(self
            .run(py, "num_turns", trajectory::num_turns)?
            .into_pyarray(py))
    }

    /// Pads a per-token array (float32, or uint8 0/1) on the response offsets to `(B, W)`.
    #[pyo3(signature = (values, fill, side = "right", max_len = None))]
    fn pad<'py>(
        &self,
        py: Python<'py>,
        values: &Bound<'py, PyAny>,
        fill: f64,
        side: &str,
        max_len: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let side = Side::parse(side)?;
        let offsets = self.responses.get().offsets_array(py).readonly();
        let offsets_slice = slice_of(&offsets, "response_ids.offsets")?;
        let tokens = offsets_slice.last().copied().unwrap_or(0);
        let refused = || refusal(values, "values", "a 1-D numpy.ndarray of float32 or uint8");
        macro_rules! padded {
            ($array:expr, $fill:expr, $dtype:expr) => {{
                let a = borrow_array::<_, Ix1>(($array).as_any(), "values")?;
                let v = slice_of(&a, "values")?;
                if v.len() as i64 != tokens {
                    return Err(CoreError::arg(
                        "values",
                        format!(
                            "has {} values but response_ids has {tokens} tokens",
                            v.len()
                        ),
                    )
                    .into());
                }
                let p = run_detached(py, "pad", || {
                    let rows = Ragged::trusted(v, offsets_slice, "values")?;
                    ragged::pad_rows(&rows, $fill, side, max_len, $dtype)
                })?;
                to_2d(py, p)
            }};
        }
        match values.extract::<PadValues<'_>>().map_err(|_| refused())? {
            PadValues::F32(a) => {
                if !(fill as f32).is_finite() {
                    let detail = format!("{fill:?} is not a finite float32 value");
                    return Err(CoreError::arg("fill", detail).into());
                }
                padded!(a, fill as f32, "float32")
            }
            PadValues::U8(a) => {
                if !(0.0..=255.0).contains(&fill) || fill.fract() != 0.0 {
                    return Err(
                        CoreError::arg("fill", format!("{fill:?} is not a uint8 value")).into(),
                    );
                }
                padded!(a, fill as u8, "uint8")
            }
        }
    }

    /// Turn ends read off a trainable mask: one turn per run of trainable tokens.
    #[staticmethod]
    fn turn_ends_from_mask(
        py: Python<'_>,
        mask: &Bound<'_, PyAny>,
        offsets: &Bound<'_, PyAny>,
    ) -> PyResult<PyRaggedTokens> {
        let o = borrow_array::<i64, Ix1>(offsets, "trainable_mask.offsets")?;
        let os = slice_of(&o, "trainable_mask.offsets")?;
        let (ends, turn_offsets) = match borrow_mask1(mask, "trainable_mask")? {
            MaskIn::Bytes(_, view) => mask_turns(py, &view, os),
            MaskIn::I8(view) => mask_turns(py, &view, os),
            MaskIn::I64(view) => mask_turns(py, &view, os),
            MaskIn::F32(view) => mask_turns(py, &view, os),
        }?;
        PyRaggedTokens::from_valid(py, frozen(py, ends)?.into_any(), turn_offsets)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTrajectoryBatch>()?;
    Ok(())
}
