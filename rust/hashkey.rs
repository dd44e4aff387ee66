//! A random key per process, mixed into the hash functions of the kernels' own tables
//! (token counts in `reward::token::f1`, n-grams in `reward::token::repetition`), so that
//! ids crafted to collide cannot be prepared in advance to make a table quadratic (hash
//! flooding). Results never depend on it: equal keys are always compared exactly.
//!
//! General-purpose maps (group ids, rank doubling's names) use `foldhash`, seeded per
//! map at random, for the same reason; it replaced a hand-written keyed splitmix64
//! hasher, being 8-10 % faster on the benches that stress those maps.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// The process's key (random, drawn on first use from the OS-seeded `RandomState`).
pub fn process_key() -> u64 {
    static KEY: OnceLock<u64> = OnceLock::new();
    *KEY.get_or_init(|| RandomState::new().hash_one(0u64))
}

/// wyhash's folded multiply: the 128-bit product's halves xor-ed, well mixed in all bits.
#[inline(always)]
pub fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The hash keys of this process: two odd words from [`process_key`].
#[inline]
pub fn seeds() -> (u64, u64) {
    let key = process_key();
    (key | 1, folded_multiply(key, 0x9E37_79B9_7F4A_7C15) | 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_is_stable_within_a_process() {
        assert_eq!(super::process_key(), super::process_key());
    }
}
