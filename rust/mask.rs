//! One mask abstraction for every kernel that takes a mask: the advantage estimators'
//! response masks and the padded -> ragged gather.
//!
//! numpy's truth value is "non-zero", and that is what [`Mask::is_set`] reads. The
//! advantage kernels are stricter: a mask there must hold exactly 0 or 1
//! ([`Mask::is_binary`]), because a 2 or a 0.5 in a float mask is almost always a weight
//! passed by mistake, and treating it as "on" would train silently wrong. Bool masks
//! arrive as [`NpBool`] bytes (see `crate::npbool`).

use crate::npbool::NpBool;

/// One element of a mask.
pub trait Mask: Copy + Send + Sync {
    /// Whether the position counts: the element is true, or non-zero.
    fn is_set(self) -> bool;
    /// Whether the element is exactly 0 or 1 (every bool is).
    fn is_binary(self) -> bool;
    /// The element, for an error message.
    fn show(self) -> String;

    /// Sixteen elements at once: of the elements `i` at `ptr.add(i)` whose bit `i` is set
    /// in `valid` (no other is read), bit `i` of the first result is set where the element
    /// [`is_set`](Mask::is_set), and of the second where it is not
    /// [`is_binary`](Mask::is_binary). The types used as masks in practice (float32,
    /// bytes, bools) override this with AVX-512 masked loads and compares; the others read
    /// element by element.
    ///
    /// # Safety
    /// Every element whose bit is set in `valid` must be readable at `ptr.add(i)`, and the
    /// CPU must have AVX-512 F, BW, DQ and VL (see `advantage::moments512::available`).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn classify16(ptr: *const Self, valid: u16) -> (u16, u16) {
        let (mut set, mut odd) = (0u16, 0u16);
        for i in 0..16 {
            if valid >> i & 1 != 0 {
                // SAFETY: element `i` is valid, so readable (the caller's promise).
                let m = unsafe { *ptr.add(i) };
                set |= u16::from(m.is_set()) << i;
                odd |= u16::from(!m.is_binary()) << i;
            }
        }
        (set, odd)
    }
}

/// [`Mask::classify16`] for one-byte masks: set where non-zero, and odd (not binary) where
/// also not 1 when `check_binary`.
///
/// # Safety
/// As [`Mask::classify16`].
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn classify16_bytes(ptr: *const u8, valid: u16, check_binary: bool) -> (u16, u16) {
    use std::arch::x86_64::{
        _mm_mask_cmpneq_epi8_mask, _mm_mask_test_epi8_mask, _mm_maskz_loadu_epi8, _mm_set1_epi8,
    };
    // SAFETY: a masked load reads (and may fault on) only the valid elements; AVX-512 BW
    // and VL are the caller's promise.
    unsafe {
        let v = _mm_maskz_loadu_epi8(valid, ptr.cast());
        let set = _mm_mask_test_epi8_mask(valid, v, v);
        let odd = if check_binary {
            _mm_mask_cmpneq_epi8_mask(set, v, _mm_set1_epi8(1))
        } else {
            0
        };
        (set, odd)
    }
}

impl Mask for bool {
    #[inline(always)]
    fn is_set(self) -> bool {
        self
    }
    #[inline(always)]
    fn is_binary(self) -> bool {
        true
    }
    fn show(self) -> String {
        self.to_string()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn classify16(ptr: *const Self, valid: u16) -> (u16, u16) {
        // SAFETY: a bool is one byte, 0 or 1; the rest is the caller's promise.
        unsafe { classify16_bytes(ptr.cast(), valid, false) }
    }
}

impl Mask for NpBool {
    #[inline(always)]
    fn is_set(self) -> bool {
        self.get()
    }
    #[inline(always)]
    fn is_binary(self) -> bool {
        true
    }
    fn show(self) -> String {
        self.get().to_string()
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn classify16(ptr: *const Self, valid: u16) -> (u16, u16) {
        // SAFETY: `NpBool` is one byte (`repr(transparent)`); the rest is the caller's promise.
        unsafe { classify16_bytes(ptr.cast(), valid, false) }
    }
}

/// Integer masks: set when non-zero, binary when 0 or 1. The one-byte ones (`bytes:`) take
/// sixteen at a time with AVX-512.
macro_rules! int_mask {
    (@impl $t:ty { $($classify:tt)* }) => {
        impl Mask for $t {
            #[inline(always)]
            fn is_set(self) -> bool {
                self != 0
            }
            #[inline(always)]
            fn is_binary(self) -> bool {
                self == 0 || self == 1
            }
            fn show(self) -> String {
                self.to_string()
            }
            $($classify)*
        }
    };
    (bytes: $($t:ty),*) => {$(
        int_mask!(@impl $t {
            #[cfg(target_arch = "x86_64")]
            #[inline(always)]
            unsafe fn classify16(ptr: *const Self, valid: u16) -> (u16, u16) {
                // SAFETY: one-byte elements; the rest is the caller's promise.
                unsafe { classify16_bytes(ptr.cast(), valid, true) }
            }
        });
    )*};
    ($($t:ty),*) => {$( int_mask!(@impl $t {}); )*};
}
int_mask!(i16, i32, i64);
int_mask!(bytes: i8, u8);

impl Mask for f32 {
    #[inline(always)]
    fn is_set(self) -> bool {
        self != 0.0
    }
    #[inline(always)]
    fn is_binary(self) -> bool {
        self == 0.0 || self == 1.0
    }
    fn show(self) -> String {
        format!("{self:?}")
    }
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn classify16(ptr: *const Self, valid: u16) -> (u16, u16) {
        use std::arch::x86_64::{
            _mm512_mask_cmp_ps_mask, _mm512_maskz_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps,
            _CMP_EQ_OQ, _CMP_NEQ_UQ,
        };
        // SAFETY: a masked load reads only the valid elements; AVX-512 F is the caller's
        // promise. NEQ_UQ is `!=` (true for NaN), EQ_OQ is `==` (false for NaN).
        unsafe {
            let v = _mm512_maskz_loadu_ps(valid, ptr);
            let zero = _mm512_setzero_ps();
            let set = _mm512_mask_cmp_ps_mask::<_CMP_NEQ_UQ>(valid, v, zero);
            let zero_or_one = _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(valid, v, zero)
                | _mm512_mask_cmp_ps_mask::<_CMP_EQ_OQ>(valid, v, _mm512_set1_ps(1.0));
            (set, valid & !zero_or_one)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_elements() {
        assert!(true.is_set() && !false.is_set() && false.is_binary());
        assert!(1u8.is_set() && 1u8.is_binary() && !2u8.is_binary() && !0u8.is_set());
        assert!(2u8.is_set() && (-3i64).is_set() && !0i16.is_set());
        assert!(!(-1i8).is_binary() && 1i8.is_set() && 0i8.is_binary());
        assert!(1.0f32.is_set() && (-0.0f32).is_binary() && !(-0.0f32).is_set());
        assert!(!0.5f32.is_binary() && !f32::NAN.is_binary());
        assert!(NpBool(255).is_set() && NpBool(255).is_binary() && !NpBool(0).is_set());
        assert_eq!((0.5f32).show(), "0.5");
        assert_eq!(NpBool(2).show(), "true");
    }
}
