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
}

/// Integer masks: set when non-zero, binary when 0 or 1.
macro_rules! int_mask {
    ($($t:ty),*) => {$(
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
        }
    )*};
}
int_mask!(i8, u8, i16, i32, i64);

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
