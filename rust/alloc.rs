//! Fallible allocation: every buffer whose size comes from the caller's input is reserved
//! with `try_reserve_exact`, so a size the machine cannot hold is a `TrainerValueError`
//! naming the argument and the size, not an abort of the whole process (the global
//! allocator aborts on failure, and a panic must not cross into Python anyway).
//!
//! Pure Rust.

use crate::error::{CoreError, CoreResult};

/// A failed allocation of `bytes` bytes (saturated at `usize::MAX`), not yet attributed
/// to an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    pub elements: usize,
    pub bytes: usize,
}

impl AllocError {
    pub fn of<T>(elements: usize) -> Self {
        AllocError {
            elements,
            bytes: elements.saturating_mul(std::mem::size_of::<T>()),
        }
    }

    /// "`argument`: `what` of N elements (B bytes) cannot be allocated".
    pub fn named(self, argument: &str, what: &str) -> CoreError {
        CoreError::arg(
            argument,
            format!(
                "{what} of {} elements ({} bytes) cannot be allocated",
                self.elements, self.bytes
            ),
        )
    }
}

/// Types whose all-zero bit pattern is their zero (`0`, `0.0`, `false`).
///
/// # Safety
/// Implement only for types where every byte 0 is a valid value equal to zero.
pub unsafe trait ZeroBits: Copy {}
// SAFETY: IEEE 754 +0.0, integer 0 and `false` are all-zero bits.
unsafe impl ZeroBits for f32 {}
unsafe impl ZeroBits for f64 {}
unsafe impl ZeroBits for bool {}
unsafe impl ZeroBits for u8 {}
unsafe impl ZeroBits for i32 {}
unsafe impl ZeroBits for i64 {}
unsafe impl ZeroBits for u64 {}

/// `n` zeros from the allocator's zeroed memory: a large block comes as fresh pages that
/// are zero already (calloc), so nothing is written up front, as `vec![0; n]` does; but a
/// failure is an error instead of an abort.
pub fn zeros<T: ZeroBits>(n: usize) -> Result<Vec<T>, AllocError> {
    let size = std::mem::size_of::<T>();
    if n == 0 || size == 0 {
        return Ok(vec![]);
    }
    let layout = std::alloc::Layout::array::<T>(n).map_err(|_| AllocError::of::<T>(n))?;
    // SAFETY: the layout has a non-zero size; a null pointer is the failure.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(AllocError::of::<T>(n));
    }
    // SAFETY: allocated by the global allocator with `Layout::array::<T>(n)`, as a Vec of
    // capacity `n` is; all `n` elements are initialised (zero bits are a valid T).
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// [`zeros`], with the error naming `argument`: an output of `n` elements.
pub fn output_zeros<T: ZeroBits>(argument: &str, n: usize) -> CoreResult<Vec<T>> {
    zeros(n).map_err(|e| e.named(argument, "an output"))
}

/// An empty vector with room for exactly `n` elements.
pub fn reserve<T>(n: usize) -> Result<Vec<T>, AllocError> {
    let mut out = Vec::new();
    out.try_reserve_exact(n)
        .map_err(|_| AllocError::of::<T>(n))?;
    Ok(out)
}

/// `n` copies of `value`.
pub fn filled<T: Clone>(n: usize, value: T) -> Result<Vec<T>, AllocError> {
    let mut out = reserve(n)?;
    out.resize(n, value);
    Ok(out)
}

/// Sizes a worker's hash table for `items` keys: `slots_per_item * max(items, 4)` rounded up
/// to a power of two (so a probe masks instead of dividing). `slots` grows to that size
/// with default slots when it is smaller and is otherwise kept (its first `want` slots
/// serve, so small rows stay in a small, hot prefix). Returns `(want, grew)`.
pub fn size_table<T: Clone + Default>(
    slots: &mut Vec<T>,
    items: usize,
    slots_per_item: usize,
) -> Result<(usize, bool), AllocError> {
    let want = items
        .max(4)
        .checked_mul(slots_per_item)
        .and_then(usize::checked_next_power_of_two)
        .ok_or(AllocError::of::<T>(usize::MAX))?;
    let grew = want > slots.len();
    if grew {
        *slots = filled(want, T::default())?;
    }
    Ok((want, grew))
}

/// Makes `v` hold exactly `n` copies of `value`, reusing its memory when it has room
/// (a worker's scratch table, reused over rows).
pub fn refill<T: Clone>(v: &mut Vec<T>, n: usize, value: T) -> Result<(), AllocError> {
    v.clear();
    v.try_reserve_exact(n).map_err(|_| AllocError::of::<T>(n))?;
    v.resize(n, value);
    Ok(())
}

/// [`reserve`], with the error naming `argument`: an output of `n` elements.
pub fn output<T>(argument: &str, n: usize) -> CoreResult<Vec<T>> {
    reserve(n).map_err(|e| e.named(argument, "an output"))
}

/// [`filled`], with the error naming `argument`: an output of `n` elements.
pub fn output_filled<T: Clone>(argument: &str, n: usize, value: T) -> CoreResult<Vec<T>> {
    filled(n, value).map_err(|e| e.named(argument, "an output"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_are_zero_and_impossible_sizes_are_errors() {
        let z = zeros::<f32>(70_000).unwrap();
        assert_eq!(z.len(), 70_000);
        assert!(z.iter().all(|&x| x == 0.0 && x.is_sign_positive()));
        assert!(zeros::<bool>(3).unwrap().iter().all(|&b| !b));
        assert!(zeros::<f64>(0).unwrap().is_empty());
        let e = output_zeros::<f32>("rewards", 1 << 61).unwrap_err();
        assert!(
            e.message.starts_with("rewards: an output of"),
            "{}",
            e.message
        );
    }

    #[test]
    fn impossible_sizes_are_errors_naming_the_argument() {
        let e = output::<f32>("mask", 1 << 60).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "mask: an output of {} elements ({} bytes) cannot be allocated",
                1u64 << 60,
                1u64 << 62
            )
        );
        assert!(output_filled("x", usize::MAX, 0u8).is_err());
        // The byte count saturates instead of overflowing.
        assert_eq!(reserve::<u64>(usize::MAX).unwrap_err().bytes, usize::MAX);
        let e = filled(1 << 61, (0u64, 0u32)).unwrap_err();
        assert_eq!(
            e.named("responses[3]", "an n-gram table").message,
            format!(
                "responses[3]: an n-gram table of {} elements ({} bytes) cannot be allocated",
                1u64 << 61,
                usize::MAX
            )
        );
    }

    #[test]
    fn possible_sizes_are_allocated() {
        let mut v = vec![1u8; 4];
        refill(&mut v, 2, 9).unwrap();
        assert_eq!(v, vec![9, 9]);
        assert!(refill(&mut v, usize::MAX, 0).is_err());
        assert_eq!(filled(3, 7i32).unwrap(), vec![7, 7, 7]);
        let v = output::<f32>("x", 10).unwrap();
        assert!(v.is_empty() && v.capacity() == 10);
    }
}
