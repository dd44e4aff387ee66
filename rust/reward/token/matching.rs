//! Sequence matches of a response against its reference: equal, prefix, contained.

use super::check_pair;
use crate::alloc::{self, AllocError};
use crate::batch::{map_rows, map_rows_with, score};
use crate::error::CoreResult;
use crate::ragged::{Ragged, TokenId};

/// 1 where the response equals the reference token for token, else 0.
pub fn exact_match<T: TokenId>(
    responses: &Ragged<'_, T>,
    references: &Ragged<'_, T>,
) -> CoreResult<Vec<f32>> {
    check_pair(responses, references)?;
    map_rows("responses", responses.len(), |i| {
        // Lengths first (cheap), then a memcmp of the rows.
        score(
            responses.row_len(i) == references.row_len(i) && responses.row(i) == references.row(i),
        )
    })
}

/// 1 where the response starts with the reference (an empty reference always matches).
pub fn prefix_match<T: TokenId>(
    responses: &Ragged<'_, T>,
    references: &Ragged<'_, T>,
) -> CoreResult<Vec<f32>> {
    check_pair(responses, references)?;
    map_rows("responses", responses.len(), |i| {
        score(responses.row(i).starts_with(references.row(i)))
    })
}

/// 1 where the reference occurs as a contiguous run in the response (an empty
/// reference always does). Knuth–Morris–Pratt: O(len(response) + len(reference)).
pub fn contains<T: TokenId>(
    responses: &Ragged<'_, T>,
    references: &Ragged<'_, T>,
) -> CoreResult<Vec<f32>> {
    check_pair(responses, references)?;
    map_rows_with::<Vec<usize>, _, _>("responses", responses.len(), |i, fail| {
        kmp_contains(responses.row(i), references.row(i), fail)
            .map(score)
            .map_err(|e| e.named(&format!("references[{i}]"), "a KMP failure table"))
    })
}

fn kmp_contains<T: PartialEq>(
    hay: &[T],
    needle: &[T],
    fail: &mut Vec<usize>,
) -> Result<bool, AllocError> {
    let m = needle.len();
    if m == 0 {
        return Ok(true);
    }
    if m > hay.len() {
        return Ok(false);
    }
    if m == 1 {
        return Ok(hay.contains(&needle[0]));
    }
    // fail[j]: length of the longest proper border of needle[..=j].
    alloc::refill(fail, m, 0)?;
    let mut k = 0usize;
    for j in 1..m {
        while k > 0 && needle[j] != needle[k] {
            k = fail[k - 1];
        }
        if needle[j] == needle[k] {
            k += 1;
        }
        fail[j] = k;
    }
    let mut k = 0usize;
    for x in hay {
        while k > 0 && *x != needle[k] {
            k = fail[k - 1];
        }
        if *x == needle[k] {
            k += 1;
            if k == m {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reward::token::rg;

    #[test]
    fn match_family() {
        // responses: [1 2 3], [4], [], [5 6 5 6 7]
        let rv = [1, 2, 3, 4, 5, 6, 5, 6, 7];
        let ro = [0, 3, 4, 4, 9];
        // references: [1 2 3], [4 4], [], [5 6 7]
        let fv = [1, 2, 3, 4, 4, 5, 6, 7];
        let fo = [0, 3, 5, 5, 8];
        let (r, f) = (rg(&rv, &ro), rg(&fv, &fo));
        assert_eq!(exact_match(&r, &f).unwrap(), vec![1.0, 0.0, 1.0, 0.0]);
        assert_eq!(prefix_match(&r, &f).unwrap(), vec![1.0, 0.0, 1.0, 0.0]);
        assert_eq!(contains(&r, &f).unwrap(), vec![1.0, 0.0, 1.0, 1.0]);
    }

    #[test]
    fn kmp_handles_borders() {
        let mut f = Vec::new();
        let kmp_contains =
            |a: &[i32], b: &[i32], f: &mut Vec<usize>| kmp_contains(a, b, f).unwrap();
        assert!(kmp_contains(&[1, 1, 1, 2], &[1, 1, 2], &mut f));
        assert!(kmp_contains(&[1, 2, 1, 2, 1, 3], &[1, 2, 1, 3], &mut f));
        assert!(!kmp_contains(&[1, 2, 1, 2, 1], &[1, 2, 1, 3], &mut f));
        assert!(kmp_contains(&[], &[], &mut f));
        assert!(!kmp_contains(&[1], &[1, 1], &mut f));
    }
}
