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

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_is_stable_within_a_process() {
        assert_eq!(super::process_key(), super::process_key());
    }
}
