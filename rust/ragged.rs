//! Ragged token batches in Arrow's list layout: `values` + `offsets`.
//!
//! Row `i` is `values[offsets[i]..offsets[i + 1]]`. `offsets` has `n + 1` entries,
//! starts at 0, never decreases and ends at `values.len()`. [`Ragged::new`] checks
//! all of that in one O(n) pass, so every later row access is in bounds.

use crate::alloc;
use crate::error::{CoreError, CoreResult};
use crate::mask::Mask;
use std::mem::MaybeUninit;

/// A token id type: the integer dtypes a token buffer may hold (int32, int64).
pub trait TokenId:
    Copy + Default + Send + Sync + PartialEq + Eq + Ord + std::hash::Hash + 'static
{
    /// numpy's name of the dtype, for messages.
    const DTYPE: &'static str;
    fn to_i64(self) -> i64;
    /// `Some(v)` when `v` fits this type.
    fn from_i64(v: i64) -> Option<Self>;
    /// How many ids of `chunk` lie outside `[0, vocab_size)` (`vocab_size > 0`).
    ///
    /// Branch-free so that it vectorises: a negative id seen as unsigned is huge.
    fn count_out_of_range(chunk: &[Self], vocab_size: i64) -> usize;
    /// `chunk` as int32 ids when `Self` is int32 (for kernels written for 32-bit lanes).
    fn as_i32s(chunk: &[Self]) -> Option<&[i32]>;
}

impl TokenId for i32 {
    const DTYPE: &'static str = "int32";
    fn as_i32s(chunk: &[i32]) -> Option<&[i32]> {
        Some(chunk)
    }
    #[inline]
    fn to_i64(self) -> i64 {
        i64::from(self)
    }
    fn from_i64(v: i64) -> Option<Self> {
        i32::try_from(v).ok()
    }
    fn count_out_of_range(chunk: &[i32], vocab_size: i64) -> usize {
        // Ids >= 2^31 do not exist in int32, so a larger vocabulary only rejects negatives.
        let limit = vocab_size.clamp(0, 1 << 31) as u32;
        chunk
            .iter()
            .map(|&v| usize::from((v as u32) >= limit))
            .sum()
    }
}

impl TokenId for i64 {
    const DTYPE: &'static str = "int64";
    fn as_i32s(_: &[i64]) -> Option<&[i32]> {
        None
    }
    #[inline]
    fn to_i64(self) -> i64 {
        self
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
    fn count_out_of_range(chunk: &[i64], vocab_size: i64) -> usize {
        let limit = vocab_size.max(0) as u64;
        chunk
            .iter()
            .map(|&v| usize::from((v as u64) >= limit))
            .sum()
    }
}

/// `true` when `v` lies outside `[0, vocab_size)`.
#[inline]
pub fn out_of_range<T: TokenId>(v: T, vocab_size: i64) -> bool {
    let v = v.to_i64();
    v < 0 || v >= vocab_size
}

/// A validated, borrowed ragged batch.
#[derive(Clone, Copy, Debug)]
pub struct Ragged<'a, T> {
    values: &'a [T],
    offsets: &'a [i64],
}

/// Checks Arrow's list invariants; errors name `name` (e.g. `offsets` or
/// `responses.offsets`) and the first bad index.
pub fn check_offsets(offsets: &[i64], values_len: usize, name: &str) -> CoreResult<()> {
    let Some(&first) = offsets.first() else {
        return Err(CoreError::arg(
            name,
            "needs n + 1 >= 1 entries (offsets[0] == 0), got an empty array",
        ));
    };
    if first != 0 {
        return Err(CoreError::at(name, 0, format!("must be 0, got {first}")));
    }
    let len = i64::try_from(values_len).unwrap_or(i64::MAX);
    // Fast path: one branch-light pass; the slow path below finds the first bad index.
    let ok = offsets.windows(2).all(|w| w[0] <= w[1]) && offsets.last() == Some(&len);
    if ok {
        return Ok(());
    }
    let mut prev = 0i64;
    for (i, &o) in offsets.iter().enumerate() {
        if o < prev {
            return Err(CoreError::at(
                name,
                i,
                format!(
                    "offsets decrease: {o} is less than {name}[{}] = {prev}",
                    i - 1
                ),
            ));
        }
        if o > len {
            return Err(CoreError::at(
                name,
                i,
                format!("{o} is past the end of values (len {len})"),
            ));
        }
        prev = o;
    }
    Err(CoreError::at(
        name,
        offsets.len() - 1,
        format!("last offset {prev} != len(values) {len}"),
    ))
}

// Any element type: the same layout carries token ids, masks, logprobs and turn ends.
impl<'a, T> Ragged<'a, T> {
    /// Validates `offsets` against `values`; `name` prefixes error messages
    /// (`"offsets"` or e.g. `"responses.offsets"`).
    pub fn new(values: &'a [T], offsets: &'a [i64], name: &str) -> CoreResult<Self> {
        check_offsets(offsets, values.len(), name)?;
        Ok(Ragged { values, offsets })
    }

    /// Wraps offsets that [`Ragged::new`] already checked and that cannot have changed
    /// since (a `RaggedTokens` owns them, read-only). Only the O(1) part is checked again:
    /// the values may have been resized, and then the batch is refused, naming `name`.
    pub fn trusted(values: &'a [T], offsets: &'a [i64], name: &str) -> CoreResult<Self> {
        let last = offsets.last().copied().unwrap_or(-1);
        if usize::try_from(last).ok() != Some(values.len()) {
            return Err(CoreError::arg(
                name,
                format!(
                    "values hold {} tokens but the offsets end at {last}: the values array \
                     was resized after the batch was built",
                    values.len()
                ),
            ));
        }
        Ok(Ragged { values, offsets })
    }

    /// Number of rows.
    #[inline]
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub fn values(&self) -> &'a [T] {
        self.values
    }

    #[inline]
    pub fn offsets(&self) -> &'a [i64] {
        self.offsets
    }

    /// Row `i` (empty when `i` is out of range; validated offsets make every row in bounds).
    #[inline]
    pub fn row(&self, i: usize) -> &'a [T] {
        &self.values[self.row_range(i)]
    }

    /// Where row `i` lies in [`Self::values`] (`0..0` when `i` is out of range).
    #[inline]
    pub fn row_range(&self, i: usize) -> std::ops::Range<usize> {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) if 0 <= a && a <= b && b as usize <= self.values.len() => {
                a as usize..b as usize
            }
            _ => 0..0,
        }
    }

    /// Length of row `i`.
    #[inline]
    pub fn row_len(&self, i: usize) -> usize {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => (b - a) as usize,
            _ => 0,
        }
    }

    /// Row lengths as int64.
    pub fn lengths(&self) -> Vec<i64> {
        self.offsets.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// Longest row (0 for an empty batch).
    pub fn max_len(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }
}

/// Which side padding goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub fn parse(text: &str) -> CoreResult<Side> {
        match text {
            "left" => Ok(Side::Left),
            "right" => Ok(Side::Right),
            other => Err(CoreError::arg(
                "side",
                format!("must be 'left' or 'right', got '{other}'"),
            )),
        }
    }
}

/// A padded `(rows, width)` batch, row-major.
#[derive(Debug, PartialEq)]
pub struct Padded<T> {
    pub rows: usize,
    pub width: usize,
    pub ids: Vec<T>,
    pub mask: Vec<bool>,
}

/// A `(rows, width)` grid of per-token values, row-major, without a mask.
#[derive(Debug, PartialEq)]
pub struct Grid<T> {
    pub rows: usize,
    pub width: usize,
    pub values: Vec<T>,
}

/// Padded elements per parallel task of the ragged <-> padded copies: a few hundred rows
/// of a typical width, enough to pay for a task, few enough to balance two threads.
const ELEMENTS_PER_TASK: usize = 32 * 1024;

/// Rows per task for rows of `width` elements (at least one).
fn rows_per_task(width: usize) -> usize {
    (ELEMENTS_PER_TASK / width.max(1)).max(1)
}

/// Pads `tokens` to `(n, width)` where `width = max_len` if given, else the longest
/// row. Rows longer than `max_len` keep their first `max_len` tokens. Padding holds
/// `pad_id` and mask `false`.
pub fn to_padded<T: TokenId>(
    tokens: &Ragged<'_, T>,
    pad_id: i64,
    side: Side,
    max_len: Option<i64>,
) -> CoreResult<Padded<T>> {
    let pad = T::from_i64(pad_id).ok_or_else(|| {
        CoreError::arg(
            "pad_id",
            format!("{pad_id} does not fit the tokens' dtype {}", T::DTYPE),
        )
    })?;
    let width = padded_width(tokens, max_len, T::DTYPE)?;
    let (ids, mask) = pad_into_grids(tokens, pad, side, width, true)?;
    Ok(Padded {
        rows: tokens.len(),
        width,
        ids,
        mask,
    })
}

/// [`to_padded`]'s grid without the mask, for rows of any element (`dtype` names it in
/// messages): `(n, width)` with `width = max_len` if given, else the longest row;
/// padding holds `pad`.
pub fn pad_rows<T: Copy + Send + Sync>(
    rows: &Ragged<'_, T>,
    pad: T,
    side: Side,
    max_len: Option<i64>,
    dtype: &str,
) -> CoreResult<Grid<T>> {
    let width = padded_width(rows, max_len, dtype)?;
    let (values, _) = pad_into_grids(rows, pad, side, width, false)?;
    Ok(Grid {
        rows: rows.len(),
        width,
        values,
    })
}

/// The padded width: `max_len` if given (`>= 0`), else the longest row; refused when a
/// row of it could not be described by an array's byte strides.
fn padded_width<T>(rows: &Ragged<'_, T>, max_len: Option<i64>, dtype: &str) -> CoreResult<usize> {
    let width = match max_len {
        Some(m) if m < 0 => {
            return Err(CoreError::arg("max_len", format!("must be >= 0, got {m}")))
        }
        Some(m) => usize::try_from(m).map_err(|_| CoreError::arg("max_len", "too large"))?,
        None => rows.max_len(),
    };
    // An array's strides are byte offsets (isize): a row wider than isize::MAX bytes cannot
    // be described, even with no rows to allocate, and numpy would index past memory.
    let row_bytes = width.checked_mul(std::mem::size_of::<T>());
    if !matches!(row_bytes, Some(b) if b <= isize::MAX as usize) {
        return Err(CoreError::arg(
            "max_len",
            format!("{width} is too wide: a row of {dtype} takes more than isize::MAX bytes"),
        ));
    }
    Ok(width)
}

/// The `(n, width)` grid of `rows` padded with `pad`, and its mask when `with_mask`
/// (empty otherwise). Every element is written exactly once: a row's tokens are one
/// copy, its padding one fill, into memory that was never initialised before.
fn pad_into_grids<T: Copy + Send + Sync>(
    rows: &Ragged<'_, T>,
    pad: T,
    side: Side,
    width: usize,
    with_mask: bool,
) -> CoreResult<(Vec<T>, Vec<bool>)> {
    let n = rows.len();
    let total = n
        .checked_mul(width)
        .ok_or_else(|| CoreError::arg("max_len", "padded size overflows"))?;
    let mask_total = if with_mask { total } else { 0 };
    // A huge `max_len` must be an error, not an allocation failure that aborts the process.
    let what = format!("a ({n}, {width}) padded output");
    let mut ids = alloc::reserve::<T>(total).map_err(|e| e.named("max_len", &what))?;
    let mut mask = alloc::reserve::<bool>(mask_total).map_err(|e| e.named("max_len", &what))?;
    let parallel = total >= crate::batch::PAR_MIN_COPY;
    let per_task = rows_per_task(width);
    let kept = |i: usize| {
        let row = rows.row(i);
        &row[..row.len().min(width)]
    };
    for_row_chunks(
        &mut ids.spare_capacity_mut()[..total],
        width,
        per_task,
        parallel,
        |i, out| write_padded_row(out, kept(i), pad, side),
    );
    for_row_chunks(
        &mut mask.spare_capacity_mut()[..mask_total],
        width,
        per_task,
        parallel,
        |i, out| write_mask_row(out, kept(i).len(), side),
    );
    // SAFETY: `for_row_chunks` hands every row of `width` slots of each grid to the
    // writers, which write every slot of the row they are given. A panic unwinds before
    // this, leaving both empty.
    unsafe {
        ids.set_len(total);
        mask.set_len(mask_total);
    }
    Ok((ids, mask))
}

/// Calls `write(i, row_i)` for each row of `per_row` slots of `out`, in tasks of
/// `per_task` rows, in parallel when `parallel`. Results do not depend on the
/// thread count: each row is written by one call, from its index alone.
fn for_row_chunks<U, F>(
    out: &mut [MaybeUninit<U>],
    per_row: usize,
    per_task: usize,
    parallel: bool,
    write: F,
) where
    U: Send,
    F: Fn(usize, &mut [MaybeUninit<U>]) + Sync,
{
    if per_row == 0 {
        return;
    }
    let task = |t: usize, chunk: &mut [MaybeUninit<U>]| {
        for (j, row) in chunk.chunks_exact_mut(per_row).enumerate() {
            write(t * per_task + j, row);
        }
    };
    if parallel {
        use rayon::prelude::*;
        out.par_chunks_mut(per_row * per_task)
            .enumerate()
            .for_each(|(t, chunk)| task(t, chunk));
    } else {
        out.chunks_mut(per_row * per_task)
            .enumerate()
            .for_each(|(t, chunk)| task(t, chunk));
    }
}

/// `out` (one padded row, `row.len() <= out.len()`) = `row` then `pad` on the right,
/// or `pad` then `row` on the left.
#[inline]
fn write_padded_row<T: Copy>(out: &mut [MaybeUninit<T>], row: &[T], pad: T, side: Side) {
    let (tokens, padding) = match side {
        Side::Right => out.split_at_mut(row.len()),
        Side::Left => {
            let (padding, tokens) = out.split_at_mut(out.len() - row.len());
            (tokens, padding)
        }
    };
    // Both loops compile to a memcpy and a fill.
    for (slot, &v) in tokens.iter_mut().zip(row) {
        slot.write(v);
    }
    for slot in padding {
        slot.write(pad);
    }
}

/// `out` (one mask row) = `len` trues on the tokens' side, falses on the padding's.
#[inline]
fn write_mask_row(out: &mut [MaybeUninit<bool>], len: usize, side: Side) {
    let (set, unset) = match side {
        Side::Right => out.split_at_mut(len),
        Side::Left => {
            let (unset, set) = out.split_at_mut(out.len() - len);
            (set, unset)
        }
    };
    for slot in set {
        slot.write(true);
    }
    for slot in unset {
        slot.write(false);
    }
}

/// How the set positions of one mask row lie: none, one contiguous run (left or right
/// padding, or a run in the middle), or anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowShape {
    Run { start: usize, len: usize },
    Scattered { len: usize },
}

impl RowShape {
    fn len(self) -> usize {
        match self {
            RowShape::Run { len, .. } | RowShape::Scattered { len } => len,
        }
    }
}

/// The shape of one mask row, from two branch-free counts (set positions, and changes
/// between set and unset, counting the row's ends as unset): one run changes twice.
fn row_shape<M: Mask>(m: &[M]) -> RowShape {
    let len = count_chunked(m, m, |a, _| a.is_set());
    if len == 0 {
        return RowShape::Run { start: 0, len };
    }
    let inner = count_chunked(m, &m[1..], |a, b| a.is_set() != b.is_set());
    let ends = usize::from(m[0].is_set()) + usize::from(m[m.len() - 1].is_set());
    if inner + ends != 2 {
        return RowShape::Scattered { len };
    }
    let start = if m[0].is_set() {
        0
    } else if m[m.len() - 1].is_set() {
        m.len() - len
    } else {
        m.iter().position(|x| x.is_set()).unwrap_or(0)
    };
    RowShape::Run { start, len }
}

/// How many `i` have `test(a[i], b[i])`, over the shorter of the two. Counted in byte
/// lanes, 255 elements at a time, so that it vectorises (a count in `usize` lanes does
/// not, without AVX2).
#[inline]
fn count_chunked<M: Mask>(a: &[M], b: &[M], test: impl Fn(M, M) -> bool) -> usize {
    const CHUNK: usize = u8::MAX as usize;
    a.chunks(CHUNK)
        .zip(b.chunks(CHUNK))
        .map(|(x, y)| {
            let hits = x
                .iter()
                .zip(y)
                .fold(0u8, |n, (&p, &q)| n + u8::from(test(p, q)));
            usize::from(hits)
        })
        .sum()
}

/// Gathers the tokens of `ids (rows, width)` where `mask` is set, row by row, into a
/// ragged batch `(values, offsets)`. Any padding pattern works (left, right, holes).
///
/// Two passes over row chunks (in parallel from [`crate::batch::PAR_MIN_COPY`]
/// elements): the first reads only the mask, finding each row's count and whether its
/// tokens are one run; the second copies a run as one memcpy and gathers other rows
/// element by element, into the disjoint part of the output the offsets give each chunk.
pub fn from_padded<T: TokenId, M: Mask>(
    ids: &[T],
    mask: &[M],
    rows: usize,
    width: usize,
) -> CoreResult<(Vec<T>, Vec<i64>)> {
    let total = rows.saturating_mul(width);
    if ids.len() != total {
        return Err(CoreError::arg(
            "ids",
            format!("has {} elements, expected {rows} x {width}", ids.len()),
        ));
    }
    if mask.len() != total {
        return Err(CoreError::arg(
            "mask",
            format!("has {} elements, ids has {rows} x {width}", mask.len()),
        ));
    }
    // `rows` can be huge with no memory behind it (a `(10**12, 0)` array): the offsets'
    // allocation must fail as an error, not abort the process.
    let mut offsets = alloc::zeros::<i64>(rows.saturating_add(1))
        .map_err(|e| e.named("ids", &format!("the offsets of {rows} rows")))?;
    if width == 0 {
        return Ok((Vec::new(), offsets));
    }
    let mut shapes = alloc::reserve::<RowShape>(rows)
        .map_err(|e| e.named("mask", &format!("the row shapes of {rows} rows")))?;
    let parallel = total >= crate::batch::PAR_MIN_COPY;
    let per_task = rows_per_task(width);
    for_row_chunks(
        &mut shapes.spare_capacity_mut()[..rows],
        1,
        per_task,
        parallel,
        |i, out| {
            out[0].write(row_shape(&mask[i * width..(i + 1) * width]));
        },
    );
    // SAFETY: `for_row_chunks` hands over every slot, and each is written.
    unsafe { shapes.set_len(rows) };
    let mut count = 0i64;
    for (slot, shape) in offsets[1..].iter_mut().zip(&shapes) {
        count += shape.len() as i64;
        *slot = count;
    }
    let mut values = alloc::output::<T>("mask", count as usize)?;
    {
        // Each task's rows own the output between their first and last offsets.
        let mut rest = &mut values.spare_capacity_mut()[..count as usize];
        let mut parts = Vec::with_capacity(rows.div_ceil(per_task));
        for (t, bounds) in offsets.chunks(per_task).enumerate() {
            let end = offsets[((t + 1) * per_task).min(rows)] - bounds[0];
            let (part, tail) = std::mem::take(&mut rest).split_at_mut(end as usize);
            parts.push(part);
            rest = tail;
        }
        let gather = |task: usize, out: &mut [MaybeUninit<T>]| {
            let first = task * per_task;
            let last = (first + per_task).min(rows);
            let mut k = 0usize;
            for (i, shape) in shapes[first..last].iter().enumerate() {
                let at = (first + i) * width;
                match *shape {
                    RowShape::Run { start, len } => {
                        let src = &ids[at + start..at + start + len];
                        for (slot, &v) in out[k..k + len].iter_mut().zip(src) {
                            slot.write(v);
                        }
                        k += len;
                    }
                    RowShape::Scattered { .. } => {
                        let row = ids[at..at + width].iter().zip(&mask[at..at + width]);
                        for (&v, _) in row.filter(|(_, m)| m.is_set()) {
                            out[k].write(v);
                            k += 1;
                        }
                    }
                }
            }
        };
        if parallel {
            use rayon::prelude::*;
            parts
                .into_par_iter()
                .enumerate()
                .for_each(|(t, out)| gather(t, out));
        } else {
            parts
                .into_iter()
                .enumerate()
                .for_each(|(t, out)| gather(t, out));
        }
    }
    // SAFETY: the parts tile the first `count` slots, and each row writes exactly its
    // shape's `len` values (counted from the same mask) into its own part.
    unsafe { values.set_len(count as usize) };
    Ok((values, offsets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_width_no_array_can_describe_is_an_error_even_with_no_rows() {
        let values: [i64; 0] = [];
        let offsets = [0i64];
        let tokens = Ragged::new(&values, &offsets, "responses").unwrap();
        let err = to_padded(&tokens, 0, Side::Left, Some(1 << 62)).unwrap_err();
        assert!(err.message.starts_with("max_len: "), "{}", err.message);
        assert!(to_padded(&tokens, 0, Side::Left, Some(1 << 20)).is_ok());
    }

    #[test]
    fn an_unallocatable_width_is_an_error() {
        let values = [1i32, 2, 3];
        let offsets = [0i64, 2, 3];
        let tokens = Ragged::new(&values, &offsets, "responses").unwrap();
        let err = to_padded(&tokens, 0, Side::Right, Some(1 << 60)).unwrap_err();
        assert!(err.message.starts_with("max_len:"), "{}", err.message);
    }

    #[test]
    fn offsets_checks_name_first_bad_index() {
        let v = [1i32, 2, 3, 4];
        assert!(Ragged::new(&v, &[0, 2, 4], "offsets").is_ok());
        assert!(Ragged::new(&v[..0], &[0], "offsets").is_ok());
        let e = Ragged::new(&v, &[], "offsets").unwrap_err();
        assert!(e.message.starts_with("offsets: "), "{e}");
        let e = Ragged::new(&v, &[1, 2, 4], "offsets").unwrap_err();
        assert!(e.message.starts_with("offsets[0]: must be 0"), "{e}");
        let e = Ragged::new(&v, &[0, 3, 2, 4], "offsets").unwrap_err();
        assert!(e.message.starts_with("offsets[2]: offsets decrease"), "{e}");
        let e = Ragged::new(&v, &[0, 5, 6], "x.offsets").unwrap_err();
        assert!(
            e.message.starts_with("x.offsets[1]: 5 is past the end"),
            "{e}"
        );
        let e = Ragged::new(&v, &[0, 2, 3], "offsets").unwrap_err();
        assert!(e.message.starts_with("offsets[2]: last offset 3"), "{e}");
    }

    #[test]
    fn trusted_offsets_still_refuse_resized_values() {
        let v = [1i32, 2, 3];
        let r = Ragged::trusted(&v, &[0, 1, 3], "responses.offsets").unwrap();
        assert_eq!(r.row(1), &[2, 3]);
        let e = Ragged::trusted(&v[..2], &[0, 1, 3], "responses.offsets").unwrap_err();
        assert!(
            e.message
                .starts_with("responses.offsets: values hold 2 tokens"),
            "{e}"
        );
        assert!(Ragged::<i32>::trusted(&[], &[], "offsets").is_err());
    }

    #[test]
    fn rows_and_lengths() {
        let v = [1i64, 2, 3, 4, 5];
        let r = Ragged::new(&v, &[0, 2, 2, 5], "offsets").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r.row(0), &[1, 2]);
        assert!(r.row(1).is_empty());
        assert_eq!(r.row(2), &[3, 4, 5]);
        assert!(r.row(3).is_empty());
        assert_eq!(r.lengths(), vec![2, 0, 3]);
        assert_eq!(r.max_len(), 3);
    }

    #[test]
    fn padding_round_trips_both_sides() {
        let v = [1i32, 2, 3, 4, 5];
        let r = Ragged::new(&v, &[0, 2, 2, 5], "offsets").unwrap();
        let p = to_padded(&r, -1, Side::Right, None).unwrap();
        assert_eq!(p.width, 3);
        assert_eq!(p.ids, vec![1, 2, -1, -1, -1, -1, 3, 4, 5]);
        let l = to_padded(&r, 0, Side::Left, None).unwrap();
        assert_eq!(l.ids, vec![0, 1, 2, 0, 0, 0, 3, 4, 5]);
        for p in [p, l] {
            let (values, offsets) = from_padded(&p.ids, &p.mask, p.rows, p.width).unwrap();
            assert_eq!(values, v);
            assert_eq!(offsets, vec![0, 2, 2, 5]);
        }
        let t = to_padded(&r, 0, Side::Left, Some(2)).unwrap();
        assert_eq!(t.ids, vec![1, 2, 0, 0, 3, 4]);
        assert!(to_padded(&r, 1 << 40, Side::Left, None).is_err());
        assert!(to_padded(&r, 0, Side::Left, Some(-1)).is_err());
        let z = to_padded(&r, 0, Side::Left, Some(0)).unwrap();
        assert_eq!((z.rows, z.width, z.ids.len()), (3, 0, 0));
    }

    /// Element by element, as the padding is defined.
    fn naive_pad(rows: &Ragged<'_, i64>, pad: i64, side: Side, width: usize) -> Padded<i64> {
        let mut ids = vec![pad; rows.len() * width];
        let mut mask = vec![false; rows.len() * width];
        for i in 0..rows.len() {
            let row = rows.row(i);
            let kept = row.len().min(width);
            for (j, &v) in row[..kept].iter().enumerate() {
                let col = match side {
                    Side::Right => j,
                    Side::Left => width - kept + j,
                };
                ids[i * width + col] = v;
                mask[i * width + col] = true;
            }
        }
        Padded {
            rows: rows.len(),
            width,
            ids,
            mask,
        }
    }

    #[test]
    fn padding_matches_element_by_element_on_both_paths() {
        let mut next = crate::testing::xorshift(0x2545_F491_4F6C_DD1D);
        // Small batches run serially, the large ones (>= PAR_MIN_COPY elements) in tasks.
        for rows in [0usize, 1, 7, 300, 3000] {
            let mut offsets = vec![0i64];
            for _ in 0..rows {
                let len = if next(5) == 0 { 0 } else { next(60) as i64 };
                offsets.push(offsets.last().unwrap() + len);
            }
            let values: Vec<i64> = (0..*offsets.last().unwrap())
                .map(|_| next(1000) as i64 - 500)
                .collect();
            let r = Ragged::new(&values, &offsets, "offsets").unwrap();
            for side in [Side::Left, Side::Right] {
                for max_len in [None, Some(0), Some(1), Some(17), Some(80)] {
                    let pad = next(9) as i64 - 4;
                    let got = to_padded(&r, pad, side, max_len).unwrap();
                    let width = max_len.map_or(r.max_len(), |m| m as usize);
                    assert_eq!(got, naive_pad(&r, pad, side, width), "{rows} {side:?}");
                    let grid = pad_rows(&r, pad, side, max_len, "int64").unwrap();
                    assert_eq!((grid.rows, grid.width), (got.rows, got.width));
                    assert_eq!(grid.values, got.ids);
                    let (back, back_offsets) =
                        from_padded(&got.ids, &got.mask, got.rows, got.width).unwrap();
                    let kept: Vec<i64> = (0..rows)
                        .flat_map(|i| r.row(i)[..r.row_len(i).min(width)].to_vec())
                        .collect();
                    assert_eq!(back, kept);
                    assert_eq!(back_offsets.len(), rows + 1);
                }
            }
        }
    }

    #[test]
    fn row_shapes() {
        let shape = |m: &[u8]| row_shape(m);
        assert_eq!(shape(&[0, 0, 0]), RowShape::Run { start: 0, len: 0 });
        assert_eq!(shape(&[1, 1, 0]), RowShape::Run { start: 0, len: 2 });
        assert_eq!(shape(&[0, 2, 7]), RowShape::Run { start: 1, len: 2 });
        assert_eq!(shape(&[0, 1, 1, 0]), RowShape::Run { start: 1, len: 2 });
        assert_eq!(shape(&[1, 1, 1]), RowShape::Run { start: 0, len: 3 });
        assert_eq!(shape(&[1]), RowShape::Run { start: 0, len: 1 });
        assert_eq!(shape(&[1, 0, 1]), RowShape::Scattered { len: 2 });
        assert_eq!(shape(&[0, 1, 0, 1, 0]), RowShape::Scattered { len: 2 });
    }

    #[test]
    fn gathers_match_element_by_element_on_both_paths() {
        let mut next = crate::testing::xorshift(0x9E37_79B9_7F4A_7C15);
        // Rows of every shape: empty, full, left and right padded, a run in the middle,
        // holes; a small batch (serial) and one above PAR_MIN_COPY (in tasks).
        for (rows, width) in [(9usize, 5usize), (5000, 37), (2, 1), (40, 2000)] {
            let ids: Vec<i32> = (0..rows * width).map(|_| next(1 << 20) as i32).collect();
            let mut mask = vec![0i16; rows * width];
            for (i, row) in mask.chunks_mut(width).enumerate() {
                let (a, b) = {
                    let x = next(width as u64 + 1) as usize;
                    let y = next(width as u64 + 1) as usize;
                    (x.min(y), x.max(y))
                };
                match i % 6 {
                    0 => {}
                    1 => row.fill(3),
                    2 => row[..b].fill(1),
                    3 => row[a..].fill(-1),
                    4 => row[a..b].fill(1),
                    _ => row.iter_mut().for_each(|m| *m = (next(3) == 0) as i16),
                }
            }
            let (values, offsets) = from_padded(&ids, &mask, rows, width).unwrap();
            let mut want = Vec::new();
            let mut want_offsets = vec![0i64];
            for (row, m) in ids.chunks(width).zip(mask.chunks(width)) {
                want.extend(row.iter().zip(m).filter(|(_, &m)| m != 0).map(|(&v, _)| v));
                want_offsets.push(want.len() as i64);
            }
            assert_eq!(values, want, "{rows} x {width}");
            assert_eq!(offsets, want_offsets);
        }
    }

    #[test]
    fn from_padded_checks_sizes() {
        let ids = [1i32, 2, 3, 4];
        assert!(from_padded(&ids, &[1u8, 0, 0], 2, 2).is_err());
        assert!(from_padded(&ids[..3], &[1u8, 0, 0], 2, 2).is_err());
        let (v, o) = from_padded(&ids, &[0i64, 1, 1, 0], 2, 2).unwrap();
        assert_eq!((v, o), (vec![2, 3], vec![0, 1, 2]));
        let (v, o) = from_padded::<i32, bool>(&[], &[], 3, 0).unwrap();
        assert_eq!((v.len(), o), (0, vec![0, 0, 0, 0]));
    }

    #[test]
    fn range_counts() {
        assert_eq!(i32::count_out_of_range(&[-1, 0, 5, 9, 10], 10), 2);
        assert_eq!(i32::count_out_of_range(&[-1, i32::MAX], i64::MAX), 1);
        assert_eq!(i64::count_out_of_range(&[-1, 0, 1 << 40], 1 << 40), 2);
        assert!(out_of_range(-3i32, 5) && !out_of_range(4i64, 5));
    }
}
