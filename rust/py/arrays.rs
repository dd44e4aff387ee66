//! Borrowing numpy arrays without copying, with errors that name the argument.
//!
//! Arrays are taken as they are: the dtype must match exactly and the data must be
//! C-contiguous. A silent cast or copy would hide a 2x memory cost (or a precision
//! change) from the caller, so the Python wrappers convert plain sequences and leave
//! ndarrays alone.
//!
//! An argument that may come in several dtypes is read by a `#[derive(FromPyObject)]`
//! enum ([`TokenDtype`], [`MaskDtype`]): pyo3 checks the dtype and the number of
//! dimensions, and only a refused argument is looked at again, to say why.

use numpy::ndarray::{Dimension, Ix1, Ix2};
use numpy::{
    dtype, Element, PyArray, PyArray1, PyArray2, PyArrayDescr, PyArrayDescrMethods, PyArrayMethods,
    PyReadonlyArray, PyReadonlyArray2, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::error::CoreError;
use crate::mask::Mask;
use crate::npbool::NpBool;

/// A numpy bool array `obj` viewed as `uint8` (same memory): its bytes are then borrowed
/// and read as [`crate::npbool::NpBool`], never as Rust `bool` (see that module).
pub fn bool_as_bytes<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    obj.call_method1("view", (dtype::<u8>(obj.py()),))
}

/// Borrows `obj` (argument `name`) as a read-only, C-contiguous `ndim`-D array of `T`.
pub fn borrow_array<'py, T: Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    let py = obj.py();
    let want = dtype::<T>(py);
    let ndim = D::NDIM.unwrap_or(0);
    let untyped = obj.cast::<PyUntypedArray>().map_err(|_| {
        let got = type_name(obj);
        PyErr::from(CoreError::type_(format!(
            "{name}: expected a {ndim}-D numpy.ndarray of {want}, got {got}"
        )))
    })?;
    let got = untyped.dtype();
    if !got.is_equiv_to(&want) {
        return Err(CoreError::type_(format!(
            "{name}: expected dtype {want}, got {got} (convert with .astype(numpy.{want}))"
        ))
        .into());
    }
    if untyped.ndim() != ndim {
        return Err(wrong_ndim(untyped, name, ndim));
    }
    let typed = obj
        .cast::<PyArray<T, D>>()
        .map_err(|e| PyErr::from(CoreError::type_(format!("{name}: {e}"))))?;
    readonly(typed, name)
}

/// "`name`: expected a 2-D array, got shape [3]".
fn wrong_ndim(array: &Bound<'_, PyUntypedArray>, name: &str, ndim: usize) -> PyErr {
    CoreError::arg(
        name,
        format!("expected a {ndim}-D array, got shape {:?}", array.shape()),
    )
    .into()
}

/// Borrows an array of the right dtype and ndim read-only, refusing a strided one.
fn readonly<'py, T: Element, D: Dimension>(
    array: &Bound<'py, PyArray<T, D>>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    if !array.is_c_contiguous() {
        return Err(CoreError::arg(
            name,
            "array is not C-contiguous (pass numpy.ascontiguousarray(...))",
        )
        .into());
    }
    array
        .try_readonly()
        .map_err(|e| PyErr::from(CoreError::arg(name, format!("cannot borrow array: {e}"))))
}

/// The name of `obj`'s type, for a message.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// The dtype of an ndarray, or the type of anything else, for a message.
pub fn dtype_name(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyUntypedArray>() {
        Ok(a) => a.dtype().to_string(),
        Err(_) => type_name(obj),
    }
}

/// Why a derived conversion refused `obj`: an ndarray of an `accepted` dtype has the
/// wrong number of dimensions (a value error, as [`borrow_array`] says it); anything
/// else gets `refusal`, a type error.
fn refused(
    obj: &Bound<'_, PyAny>,
    name: &str,
    ndim: usize,
    accepted: &[Bound<'_, PyArrayDescr>],
    refusal: impl FnOnce() -> String,
) -> PyErr {
    if let Ok(array) = obj.cast::<PyUntypedArray>() {
        let got = array.dtype();
        if accepted.iter().any(|want| got.is_equiv_to(want)) {
            return wrong_ndim(array, name, ndim);
        }
    }
    CoreError::type_(refusal()).into()
}

/// A 1-D token buffer's dtypes, told apart by pyo3 (dtype and ndim checked, no copy).
#[derive(FromPyObject)]
enum TokenDtype1<'py> {
    I32(Bound<'py, PyArray1<i32>>),
    I64(Bound<'py, PyArray1<i64>>),
}

/// The same for a 2-D (padded) token array.
#[derive(FromPyObject)]
enum TokenDtype2<'py> {
    I32(Bound<'py, PyArray2<i32>>),
    I64(Bound<'py, PyArray2<i64>>),
}

/// A borrowed token array of either supported dtype: `values` (1-D) or padded `ids` (2-D).
pub enum TokenArray<'py, D: Dimension = Ix1> {
    I32(PyReadonlyArray<'py, i32, D>),
    I64(PyReadonlyArray<'py, i64, D>),
}

impl<D: Dimension> TokenArray<'_, D> {
    /// The array's shape, whatever its dtype.
    pub fn shape(&self) -> &[usize] {
        match self {
            TokenArray::I32(a) => a.shape(),
            TokenArray::I64(a) => a.shape(),
        }
    }
}

/// The shapes a token array comes in, each read by its derived enum.
pub trait TokenDim: Dimension {
    fn borrow<'py>(obj: &Bound<'py, PyAny>, name: &str) -> Option<PyResult<TokenArray<'py, Self>>>;
}

impl TokenDim for Ix1 {
    fn borrow<'py>(obj: &Bound<'py, PyAny>, name: &str) -> Option<PyResult<TokenArray<'py, Ix1>>> {
        Some(match obj.extract::<TokenDtype1<'py>>().ok()? {
            TokenDtype1::I32(a) => readonly(&a, name).map(TokenArray::I32),
            TokenDtype1::I64(a) => readonly(&a, name).map(TokenArray::I64),
        })
    }
}

impl TokenDim for Ix2 {
    fn borrow<'py>(obj: &Bound<'py, PyAny>, name: &str) -> Option<PyResult<TokenArray<'py, Ix2>>> {
        Some(match obj.extract::<TokenDtype2<'py>>().ok()? {
            TokenDtype2::I32(a) => readonly(&a, name).map(TokenArray::I32),
            TokenDtype2::I64(a) => readonly(&a, name).map(TokenArray::I64),
        })
    }
}

/// Borrows an int32 or int64 token array named `name`, of `D`'s number of dimensions.
pub fn borrow_tokens<'py, D: TokenDim>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<TokenArray<'py, D>> {
    if let Some(borrowed) = D::borrow(obj, name) {
        return borrowed;
    }
    let py = obj.py();
    let ndim = D::NDIM.unwrap_or(0);
    Err(refused(
        obj,
        name,
        ndim,
        &[dtype::<i32>(py), dtype::<i64>(py)],
        || {
            format!(
                "{name}: expected a {ndim}-D numpy.ndarray of int32 or int64, got {}",
                dtype_name(obj)
            )
        },
    ))
}

/// Runs `$body` with `$t` bound to the token slice of a [`TokenArray`], whatever its
/// dtype (a closure cannot be generic over the element type, so the match is written out
/// once, here, as polars does with its `with_match_*` macros).
macro_rules! with_tokens {
    ($tokens:expr, $name:expr, |$t:ident| $body:expr) => {
        match $tokens {
            $crate::py::arrays::TokenArray::I32(a) => {
                let $t = $crate::py::arrays::slice_of(a, $name)?;
                $body
            }
            $crate::py::arrays::TokenArray::I64(a) => {
                let $t = $crate::py::arrays::slice_of(a, $name)?;
                $body
            }
        }
    };
}
pub(crate) use with_tokens;

/// A 2-D mask's dtypes: the union of those the advantage estimators and the padded ->
/// ragged gather take, told apart by pyo3.
#[derive(FromPyObject)]
enum MaskDtype<'py> {
    Bool(Bound<'py, PyArray2<bool>>),
    U8(Bound<'py, PyArray2<u8>>),
    I8(Bound<'py, PyArray2<i8>>),
    I16(Bound<'py, PyArray2<i16>>),
    I32(Bound<'py, PyArray2<i32>>),
    I64(Bound<'py, PyArray2<i64>>),
    F32(Bound<'py, PyArray2<f32>>),
}

/// A bool mask's bytes, read as [`NpBool`] (see `crate::npbool`).
pub struct BoolBytes<'py>(PyReadonlyArray2<'py, u8>);

/// A borrowed 2-D mask.
pub enum MaskArray<'py> {
    Bool(BoolBytes<'py>),
    U8(PyReadonlyArray2<'py, u8>),
    I8(PyReadonlyArray2<'py, i8>),
    I16(PyReadonlyArray2<'py, i16>),
    I32(PyReadonlyArray2<'py, i32>),
    I64(PyReadonlyArray2<'py, i64>),
    F32(PyReadonlyArray2<'py, f32>),
}

/// A borrowed mask's elements and `(rows, cols)`, whatever its dtype.
pub trait MaskElements {
    type Elem: Mask;
    fn elements(&self, name: &str) -> PyResult<&[Self::Elem]>;
    fn rows_cols(&self) -> (usize, usize);
}

impl MaskElements for BoolBytes<'_> {
    type Elem = NpBool;
    fn elements(&self, name: &str) -> PyResult<&[NpBool]> {
        slice_of(&self.0, name).map(NpBool::from_bytes)
    }
    fn rows_cols(&self) -> (usize, usize) {
        self.0.rows_cols()
    }
}

impl<T: Element + Mask> MaskElements for PyReadonlyArray2<'_, T> {
    type Elem = T;
    fn elements(&self, name: &str) -> PyResult<&[T]> {
        slice_of(self, name)
    }
    fn rows_cols(&self) -> (usize, usize) {
        let shape = self.shape();
        (shape[0], shape[1])
    }
}

/// Who borrows a mask: each takes its own dtypes and words its refusal as it always has.
#[derive(Clone, Copy)]
pub enum MaskUse {
    /// The advantage estimators: bool, int8, uint8 or float32, strictly 0/1.
    Advantage,
    /// `ragged_from_padded`: bool or any signed int, or uint8; set when non-zero.
    Gather,
}

impl MaskUse {
    fn accepts(self, mask: &MaskDtype<'_>) -> bool {
        match self {
            MaskUse::Advantage => matches!(
                mask,
                MaskDtype::Bool(_) | MaskDtype::U8(_) | MaskDtype::I8(_) | MaskDtype::F32(_)
            ),
            MaskUse::Gather => !matches!(mask, MaskDtype::F32(_)),
        }
    }

    fn refusal(self, obj: &Bound<'_, PyAny>, name: &str) -> PyErr {
        let py = obj.py();
        match self {
            MaskUse::Advantage => match obj.cast::<PyUntypedArray>() {
                Ok(array) => {
                    let accepted = [
                        dtype::<bool>(py),
                        dtype::<u8>(py),
                        dtype::<i8>(py),
                        dtype::<f32>(py),
                    ];
                    refused(obj, name, 2, &accepted, || {
                        format!(
                            "{name}: expected dtype bool, int8, uint8 or float32, got {}",
                            array.dtype()
                        )
                    })
                }
                // Not an ndarray: the plain borrow reports the type.
                Err(_) => match borrow_array::<f32, Ix2>(obj, name) {
                    Err(e) => e,
                    Ok(_) => CoreError::type_(format!("{name}: unsupported mask")).into(),
                },
            },
            MaskUse::Gather => {
                let accepted = [
                    dtype::<bool>(py),
                    dtype::<u8>(py),
                    dtype::<i8>(py),
                    dtype::<i16>(py),
                    dtype::<i32>(py),
                    dtype::<i64>(py),
                ];
                refused(obj, name, 2, &accepted, || {
                    format!(
                        "{name}: expected a 2-D numpy.ndarray of bool or \
                         int8/uint8/int16/int32/int64, got {}",
                        dtype_name(obj)
                    )
                })
            }
        }
    }
}

/// Borrows a 2-D mask named `name` for `user`, without copying (a bool mask as its bytes).
pub fn borrow_mask<'py>(
    obj: &Bound<'py, PyAny>,
    name: &str,
    user: MaskUse,
) -> PyResult<MaskArray<'py>> {
    let mask = match obj.extract::<MaskDtype<'py>>() {
        Ok(mask) if user.accepts(&mask) => mask,
        _ => return Err(user.refusal(obj, name)),
    };
    Ok(match mask {
        MaskDtype::Bool(a) => {
            let bytes = bool_as_bytes(a.as_any())?;
            MaskArray::Bool(BoolBytes(borrow_array::<u8, Ix2>(&bytes, name)?))
        }
        MaskDtype::U8(a) => MaskArray::U8(readonly(&a, name)?),
        MaskDtype::I8(a) => MaskArray::I8(readonly(&a, name)?),
        MaskDtype::I16(a) => MaskArray::I16(readonly(&a, name)?),
        MaskDtype::I32(a) => MaskArray::I32(readonly(&a, name)?),
        MaskDtype::I64(a) => MaskArray::I64(readonly(&a, name)?),
        MaskDtype::F32(a) => MaskArray::F32(readonly(&a, name)?),
    })
}

/// Runs `$body` with `$m` bound to a [`MaskArray`]'s elements (`&[impl Mask]`) and
/// `$dims` to its `(rows, cols)`, for the dtypes listed (the others cannot reach the call:
/// [`borrow_mask`] refused them for this [`MaskUse`]), so each kernel is compiled only
/// for the mask types it takes.
macro_rules! with_mask {
    ($mask:expr, $name:expr, [$($dtype:ident),+], |$m:ident, $dims:ident| $body:expr) => {{
        use $crate::py::arrays::{MaskArray, MaskElements};
        match &$mask {
            $(MaskArray::$dtype(a) => {
                let $dims = a.rows_cols();
                let $m = a.elements($name)?;
                $body
            })+
            #[allow(unreachable_patterns)]
            _ => Err($crate::error::CoreError::type_(format!(
                "{}: mask dtype not supported here",
                $name
            ))
            .into()),
        }
    }};
}
pub(crate) use with_mask;

/// The contiguous data of a borrowed array.
pub fn slice_of<'a, T: Element, D: Dimension>(
    array: &'a PyReadonlyArray<'_, T, D>,
    name: &str,
) -> PyResult<&'a [T]> {
    array
        .as_slice()
        .map_err(|e| PyErr::from(CoreError::arg(name, format!("{e}"))))
}
