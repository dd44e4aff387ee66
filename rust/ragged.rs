//! Ragged token batches in Arrow's list layout: `values` + `offsets`.
//!
//! Row `i` is `values[offsets[i]..offsets[i + 1]]`. `offsets` has `n + 1` entries,
//! starts at 0, never decreases and ends at `values.len()`. [`Ragged::new`] checks
//! all of that in one O(n) pass, so every later row access is in bounds.

use crate::alloc;
use crate::error::{CoreError, CoreResult};
use crate::mask::Mask;

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
}

impl TokenId for i32 {
    const DTYPE: &'static str = "int32";
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
        let (Some(&a), Some(&b)) = (self.offsets.get(i), self.offsets.get(i + 1)) else {
            return &[];
        };
        self.values.get(a as usize..b as usize).unwrap_or(&[])
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
    pad_rows(tokens, pad, side, max_len, T::DTYPE)
}

/// [`to_padded`] for rows of any element (`dtype` names it in messages): `(n, width)`
/// with `width = max_len` if given, else the longest row; padding holds `pad`.
pub fn pad_rows<T: Copy + Send + Sync>(
    rows: &Ragged<'_, T>,
    pad: T,
    side: Side,
    max_len: Option<i64>,
    dtype: &str,
) -> CoreResult<Padded<T>> {
    let width = match max_len {
        Some(m) if m < 0 => {
            return Err(CoreError::arg("max_len", format!("must be >= 0, got {m}")))
        }
        Some(m) => usize::try_from(m).map_err(|_| CoreError::arg("max_len", "too large"))?,
        None => rows.max_len(),
    };
    let n = rows.len();
    // An array's strides are byte offsets (isize): a row wider than isize::MAX bytes cannot
    // be described, even with no rows to allocate, and numpy would index past memory.
    let row_bytes = width.checked_mul(std::mem::size_of::<T>());
    if !matches!(row_bytes, Some(b) if b <= isize::MAX as usize) {
        return Err(CoreError::arg(
            "max_len",
            format!("{width} is too wide: a row of {dtype} takes more than isize::MAX bytes"),
        ));
    }
    let total = n
        .checked_mul(width)
        .ok_or_else(|| CoreError::arg("max_len", "padded size overflows"))?;
    // A huge `max_len` must be an error, not an allocation failure that aborts the process.
    let what = format!("a ({n}, {width}) padded output");
    let mut ids = alloc::filled(total, pad).map_err(|e| e.named("max_len", &what))?;
    let mut mask = alloc::zeros::<bool>(total).map_err(|e| e.named("max_len", &what))?;
    if width == 0 {
        return Ok(Padded {
            rows: n,
            width,
            ids,
            mask,
        });
    }
    let fill = |i: usize, id_row: &mut [T], mask_row: &mut [bool]| {
        let row = rows.row(i);
        let row = &row[..row.len().min(width)];
        let start = match side {
            Side::Right => 0,
            Side::Left => width - row.len(),
        };
        id_row[start..start + row.len()].copy_from_slice(row);
        mask_row[start..start + row.len()].fill(true);
    };
    if total >= crate::batch::PAR_MIN_COPY {
        use rayon::prelude::*;
        ids.par_chunks_mut(width)
            .zip(mask.par_chunks_mut(width))
            .enumerate()
            .for_each(|(i, (a, b))| fill(i, a, b));
    } else {
        ids.chunks_mut(width)
            .zip(mask.chunks_mut(width))
            .enumerate()
            .for_each(|(i, (a, b))| fill(i, a, b));
    }
    Ok(Padded {
        rows: n,
        width,
        ids,
        mask,
    })
}

/// Gathers the tokens of `ids (rows, width)` where `mask` is set, row by row, into a
/// ragged batch `(values, offsets)`. Any padding pattern works (left, right, holes).
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
    let mut offsets = alloc::reserve(rows.saturating_add(1))
        .map_err(|e| e.named("ids", &format!("the offsets of {rows} rows")))?;
    offsets.push(0i64);
    let mut count = 0i64;
    if width > 0 {
        for m in mask.chunks_exact(width) {
            count += m.iter().map(|&x| i64::from(x.is_set())).sum::<i64>();
            offsets.push(count);
        }
    } else {
        offsets.resize(rows + 1, 0);
    }
    let mut values = alloc::output("mask", count as usize)?;
    values.extend(
        ids.iter()
            .zip(mask.iter())
            .filter(|(_, m)| m.is_set())
            .map(|(&v, _)| v),
    );
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
