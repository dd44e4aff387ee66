//! A random key per process, mixed into the hash functions of the kernels' tables (group
//! ids, token counts, n-grams), so that ids crafted to collide cannot be prepared in
//! advance to make a table quadratic (hash flooding). Results never depend on it: equal
//! keys are always compared exactly.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// The process's key (random, drawn on first use from the OS-seeded `RandomState`).
pub fn process_key() -> u64 {
    static KEY: OnceLock<u64> = OnceLock::new();
    *KEY.get_or_init(|| RandomState::new().hash_one(0u64))
}

/// A hasher for i64 keys: the splitmix64 finaliser of `id ^ key`, which mixes every input
/// bit into every output bit (so ids sharing low bits, e.g. multiples of 2^20, do not
/// collide); the key is [`process_key`], so colliding ids cannot be crafted in advance.
pub struct Mix64(u64);

/// Builds [`Mix64`] hashers starting from the process key.
#[derive(Clone, Copy)]
pub struct KeyedMix64(u64);

impl KeyedMix64 {
    /// Hashers keyed with this process's [`process_key`].
    pub fn new() -> Self {
        KeyedMix64(process_key())
    }
}

impl Default for KeyedMix64 {
    fn default() -> Self {
        Self::new()
    }
}

impl BuildHasher for KeyedMix64 {
    type Hasher = Mix64;
    fn build_hasher(&self) -> Mix64 {
        Mix64(self.0)
    }
}

impl Hasher for Mix64 {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8)) ^ u64::from(b);
        }
    }

    fn write_i64(&mut self, i: i64) {
        self.0 ^= i as u64;
    }

    fn write_u64(&mut self, i: u64) {
        self.0 ^= i;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_key_is_stable_within_a_process() {
        assert_eq!(super::process_key(), super::process_key());
    }
}
