//! orbiter-train's Rust core.
//!
//! Every module except `py` is pure Rust, knows nothing of Python and is tested with
//! `cargo test`. `py` (behind the `python` feature, which maturin enables) is the thin
//! PyO3 layer: it borrows numpy arrays, releases the GIL around the kernels, allocates
//! outputs and maps errors.

pub mod advantage;
pub mod alloc;
pub mod batch;
pub mod error;
pub mod hashkey;
pub mod lifecycle;
pub mod mask;
pub mod npbool;
pub mod ragged;
pub mod records;
pub mod reward;
pub mod tokenize;
pub mod trajectory;
pub mod validate;

#[cfg(feature = "python")]
mod py;

/// The core's allocator, for every Rust allocation of the extension (and of `cargo test`
/// and the criterion benches, so they measure what Python gets). mimalloc keeps freed
/// segments for reuse: the 16 MiB outputs a training step frees are the next step's
/// outputs, where glibc's malloc would return them to the kernel and fault them back in
/// page by page, which on a 4096 x 1024 GAE cost about as long as the kernel itself.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testing {
    /// xorshift64: deterministic test data, `next(m)` in `0..m`.
    pub fn xorshift(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut state = seed;
        move |m| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % m
        }
    }
}
