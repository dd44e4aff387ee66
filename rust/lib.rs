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
pub mod lengths;
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

/// mimalloc's `mi_option_purge_delay` (the same index in its v2 and v3 `mimalloc.h`;
/// libmimalloc-sys names no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps memory the core frees committed for reuse, unless `MIMALLOC_PURGE_DELAY` is set
/// (then that value holds). mimalloc returns freed memory to the kernel after 1 s by
/// default, and a training step is longer than that: every step's 2 x 16 MiB GAE outputs
/// were then faulted in afresh (about 200 faults, 4 ms, a third of the kernel). Kept,
/// the core holds at most its peak live memory, as the caching allocators of torch do.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option; mimalloc reads options atomically.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// mimalloc's purge delay in milliseconds (-1: freed memory stays committed).
#[allow(clippy::useless_conversion)] // `c_long` is 32 bits on Windows
pub fn purge_delay_ms() -> i64 {
    // SAFETY: reads one integer option.
    i64::from(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) })
}

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
