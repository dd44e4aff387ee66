//! Token-level rewards over ragged batches: one float32 score per row, one reward
//! family per file.
//!
//! Every kernel checks its batches (same number of rows, not empty), then maps rows to
//! scores with [`crate::batch::map_rows_with`]: rayon takes over from
//! [`crate::batch::PAR_MIN`] rows, and per-row scratch buffers (hash tables, index lists)
//! are allocated once per worker and reused.

mod distinct;
pub mod f1;
pub mod length;
pub mod matching;
pub mod repetition;
pub mod stop;

pub use f1::{token_f1, CountTable, F1Scratch};
pub use length::{length_penalty, LengthPenalty};
pub use matching::{contains, exact_match, prefix_match};
pub use repetition::{repetition_penalty, Doubling, NgramSet};
pub use stop::stop_token_check;

use crate::batch::check_nonempty;
use crate::error::{CoreError, CoreResult};
use crate::ragged::{Ragged, TokenId};

/// Checks a responses/references pair: responses not empty, as many rows in both.
/// (Its message, "references: has 1 rows, responses has 2", predates the text rewards'
/// [`crate::batch::check_same_len`] and is kept as callers see it.)
fn check_pair<T: TokenId>(responses: &Ragged<'_, T>, references: &Ragged<'_, T>) -> CoreResult<()> {
    check_nonempty("responses", responses.len())?;
    if references.len() != responses.len() {
        return Err(CoreError::arg(
            "references",
            format!(
                "has {} rows, responses has {}",
                references.len(),
                responses.len()
            ),
        ));
    }
    Ok(())
}

/// A ragged int32 batch for the tests of every reward family.
#[cfg(test)]
fn rg<'a>(v: &'a [i32], o: &'a [i64]) -> Ragged<'a, i32> {
    Ragged::new(v, o, "offsets").unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::PAR_MIN;

    #[test]
    fn pair_checks() {
        let v = [1, 2];
        let a = rg(&v, &[0, 1, 2]);
        let b = rg(&v, &[0, 2]);
        let e = exact_match(&a, &b).unwrap_err();
        assert!(e.message.starts_with("references: has 1 rows"), "{e}");
        let empty = rg(&[], &[0]);
        assert!(token_f1(&empty, &empty)
            .unwrap_err()
            .message
            .starts_with("responses"));
    }

    #[test]
    fn parallel_path_agrees() {
        let n = PAR_MIN + 10;
        let v: Vec<i64> = (0..n as i64 * 3).map(|x| x % 7).collect();
        let o: Vec<i64> = (0..=n as i64).map(|i| i * 3).collect();
        let r = Ragged::new(&v, &o, "offsets").unwrap();
        let f = token_f1(&r, &r).unwrap();
        assert!(f.iter().all(|&x| x == 1.0));
        let c = contains(&r, &r).unwrap();
        assert!(c.iter().all(|&x| x == 1.0));
    }
}
