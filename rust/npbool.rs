//! numpy's `bool`: one byte, true when non-zero.
//!
//! numpy stores bools as bytes and treats any non-zero byte as true, while a Rust `bool`
//! must be exactly 0 or 1: a mask made with `np.frombuffer(..., bool)` or
//! `uint8_array.view(bool)` can hold 2 or 255, and reading that as `&[bool]` would be
//! undefined behaviour. The bindings therefore borrow bool arrays as bytes and hand the
//! kernels `&[NpBool]`.

/// One numpy bool.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NpBool(pub u8);

impl NpBool {
    /// numpy's truth value: any non-zero byte.
    #[inline(always)]
    pub fn get(self) -> bool {
        self.0 != 0
    }

    /// The bytes of a numpy bool array, as `NpBool`s (same memory, no copy).
    pub fn from_bytes(bytes: &[u8]) -> &[NpBool] {
        // SAFETY: `NpBool` is `repr(transparent)` over `u8` (same size, alignment and
        // validity: every byte value is a valid `NpBool`), so the slice reinterprets as is.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<NpBool>(), bytes.len()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_nonzero_byte_is_true() {
        let bools = NpBool::from_bytes(&[0, 1, 2, 255]);
        assert_eq!(
            bools.iter().map(|b| b.get()).collect::<Vec<_>>(),
            [false, true, true, true]
        );
    }
}
