//! What every batch kernel shares: when to go parallel, how to map rows to outputs, and
//! the checks on a batch's row count.
//!
//! Pure Rust. Each kernel used to carry its own copy of these (three names for the same
//! threshold, two `map_rows`); they live here once so that a change of policy is made in
//! one place.

use rayon::prelude::*;
use std::sync::Mutex;

use crate::alloc;
use crate::error::{CoreError, CoreResult};

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
    T: Default + Clone + Send,
    F: Fn(usize, &mut S) -> CoreResult<T> + Sync + Send,
{
    let mut out = alloc::output_filled(name, n, T::default())?;
    let first_error: Mutex<Option<(usize, CoreError)>> = Mutex::new(None);
    let keep = |i: usize, e: CoreError| {
        let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.as_ref().map_or(true, |(j, _)| i < *j) {
            *slot = Some((i, e));
        }
    };
    let row = |i: usize, o: &mut T, s: &mut S| match f(i, s) {
        Ok(v) => *o = v,
        Err(e) => keep(i, e),
    };
    if n >= PAR_MIN {
        out.par_iter_mut()
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .for_each_init(S::default, |s, (i, o)| row(i, o, s));
    } else {
        let mut s = S::default();
        for (i, o) in out.iter_mut().enumerate() {
            row(i, o, &mut s);
        }
    }
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

/// `out[i] = f(i)` for rows `0..n` of the batch `name`, in parallel from [`PAR_MIN`]
/// rows (no scratch, no per-row error).
pub fn map_rows<T, F>(name: &str, n: usize, f: F) -> CoreResult<Vec<T>>
where
    T: Default + Clone + Send,
    F: Fn(usize) -> T + Sync + Send,
{
    map_rows_with::<(), T, _>(name, n, |i, _| Ok(f(i)))
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
