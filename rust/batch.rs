//! What every batch kernel shares: when to go parallel, how to map rows to outputs, and
//! the checks on a batch's row count.
//!
//! Pure Rust. Each kernel used to carry its own copy of these (three names for the same
//! threshold, two `map_rows`); they live here once so that a change of policy is made in
//! one place.

use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::Mutex;

use crate::alloc;
use crate::error::{CoreError, CoreResult};

/// Builds rayon's global pool once (the first call wins; later ones return at once) with
/// the calling thread as a worker of its own: `RAYON_NUM_THREADS` (else one per CPU) pool
/// threads, plus this thread, which then works on the kernels it calls instead of waiting
/// for the pool. With one thread wanted, rayon's default pool is left as it is.
///
/// Why: a kernel called from a thread outside the pool hands its work over and sleeps,
/// and the pool's threads, asleep since the last call, must be woken first. On the 2-core
/// VM, after 400 ms of single-threaded work between calls (what a training step does),
/// the advantage kernels took 1.5 to 1.9 times their back-to-back time that way. With the
/// caller working, they ran as fast as back to back (gae 11.6-13.7 ms -> 7.4-7.9 ms).
///
/// Built at the first kernel call, not at import: a process forked before any call (a
/// DataLoader worker) builds its own pool rather than inherit one without its threads.
pub fn ensure_pool() {
    static POOL: std::sync::Once = std::sync::Once::new();
    POOL.call_once(|| {
        let wanted = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if wanted < 2 {
            return;
        }
        // An error means the pool exists already (rayon was used first): keep it.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(wanted + 1)
            .use_current_thread()
            .build_global();
    });
}

/// Rows (rewards) or elements (advantage grids) from which a kernel splits its work over
/// rayon's threads; smaller batches run on the calling thread and pay no synchronisation.
pub const PAR_MIN: usize = 16 * 1024;

/// Padded elements from which the ragged <-> padded copies go parallel: an element there
/// is a plain copy, cheaper than a row's score, so it takes more of them to pay for the
/// threads.
pub const PAR_MIN_COPY: usize = 4 * PAR_MIN;

/// Token ids from which dataset validation's id-range scan goes parallel: one compare per
/// id, the cheapest pass of all.
pub const PAR_MIN_SCAN: usize = 16 * PAR_MIN;

/// Rows per rayon task in [`map_rows_with`]: enough that a worker's scratch buffers
/// (hash tables, index lists) are built once and reused over many rows.
const ROWS_PER_TASK: usize = 1024;

/// `out[i] = f(i, scratch)` for rows `0..n` of the batch `name`, in parallel from
/// [`PAR_MIN`] rows. Each worker gets one `S::default()` scratch and reuses it over its
/// rows. The output is allocated fallibly (an error naming `name`), and a row's error
/// (a scratch table that cannot be allocated) is returned for the first such row, so
/// the result does not depend on the thread count.
pub fn map_rows_with<S, T, F>(name: &str, n: usize, f: F) -> CoreResult<Vec<T>>
where
    S: Default + Send,
    T: Default + Send,
    F: Fn(usize, &mut S) -> CoreResult<T> + Sync + Send,
{
    let first_error: Mutex<Option<(usize, CoreError)>> = Mutex::new(None);
    let keep = |i: usize, e: CoreError| {
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().is_none_or(|(j, _)| i < *j) {
            *slot = Some((i, e));
        }
    };
    let out = fill_rows(name, n, S::default, |i, s| match f(i, s) {
        Ok(v) => v,
        Err(e) => {
            keep(i, e);
            T::default()
        }
    })?;
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

/// `out[i] = f(i)` for rows `0..n` of the batch `name`, in parallel from [`PAR_MIN`]
/// rows (no scratch, no per-row error).
pub fn map_rows<T, F>(name: &str, n: usize, f: F) -> CoreResult<Vec<T>>
where
    T: Send,
    F: Fn(usize) -> T + Sync + Send,
{
    fill_rows(name, n, || (), |i, _| f(i))
}

/// The one row loop: a fallibly reserved output whose slots are written once each, in
/// chunks of [`ROWS_PER_TASK`] rows (one `init()` scratch per worker), in parallel from
/// [`PAR_MIN`] rows. Writing into the spare capacity skips the fill a `vec![x; n]` or a
/// `collect` would make first, which costs as much as a cheap kernel itself.
fn fill_rows<S, T, I, G>(name: &str, n: usize, init: I, row: G) -> CoreResult<Vec<T>>
where
    T: Send,
    I: Fn() -> S + Sync + Send,
    G: Fn(usize, &mut S) -> T + Sync + Send,
{
    let mut out = alloc::output::<T>(name, n)?;
    let fill = |first: usize, chunk: &mut [MaybeUninit<T>], s: &mut S| {
        for (j, slot) in chunk.iter_mut().enumerate() {
            slot.write(row(first + j, s));
        }
    };
    let spare = &mut out.spare_capacity_mut()[..n];
    if n >= PAR_MIN {
        spare
            .par_chunks_mut(ROWS_PER_TASK)
            .enumerate()
            .for_each_init(&init, |s, (c, chunk)| fill(c * ROWS_PER_TASK, chunk, s));
    } else {
        fill(0, spare, &mut init());
    }
    // SAFETY: the chunks cover the first `n` slots and `fill` writes every slot it is
    // given (a panic in `row` unwinds before this, leaving `out` empty).
    unsafe { out.set_len(n) };
    Ok(out)
}

/// 1.0 for true, 0.0 for false: the score of a yes/no reward.
#[inline]
pub fn score(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Errors on an empty batch: "`name`: empty batch (0 rows)".
pub fn check_nonempty(name: &str, rows: usize) -> CoreResult<()> {
    if rows == 0 {
        return Err(CoreError::arg(name, "empty batch (0 rows)"));
    }
    Ok(())
}

/// Checks that batch `a` is not empty and that `b` has as many rows:
/// "`b`: has 3 rows but `a` has 4".
pub fn check_same_len(a: (&str, usize), b: (&str, usize)) -> CoreResult<()> {
    check_nonempty(a.0, a.1)?;
    if a.1 != b.1 {
        return Err(CoreError::arg(
            b.0,
            format!("has {} rows but {} has {}", b.1, a.0, a.1),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_and_serial_paths_agree() {
        for n in [0, 5, PAR_MIN - 1, PAR_MIN + 3] {
            let got = map_rows_with::<Vec<usize>, _, _>("x", n, |i, seen| {
                seen.push(i);
                Ok(i as u64 * 3)
            });
            assert_eq!(
                got.unwrap(),
                (0..n as u64).map(|i| i * 3).collect::<Vec<_>>()
            );
            assert_eq!(map_rows("x", n, |i| i).unwrap(), (0..n).collect::<Vec<_>>());
            // The first failing row's error, whatever the thread count.
            let failing = map_rows_with::<(), u8, _>("x", n, |i, _| {
                if i % 5 == 3 {
                    Err(CoreError::at("x", i, "bad"))
                } else {
                    Ok(0)
                }
            });
            if n > 3 {
                assert_eq!(failing.unwrap_err().message, "x[3]: bad");
            }
        }
        let e = map_rows::<u64, _>("texts", 1 << 61, |_| 0).unwrap_err();
        assert!(
            e.message.starts_with("texts: an output of"),
            "{}",
            e.message
        );
    }

    #[test]
    fn length_checks_name_the_arguments() {
        assert_eq!(
            check_nonempty("texts", 0).unwrap_err().message,
            "texts: empty batch (0 rows)"
        );
        assert_eq!(
            check_same_len(("predictions", 4), ("references", 3))
                .unwrap_err()
                .message,
            "references: has 3 rows but predictions has 4"
        );
        assert!(check_same_len(("a", 2), ("b", 2)).is_ok());
        assert_eq!(score(true), 1.0);
        assert_eq!(score(false), 0.0);
    }
}
