//! Stop-token check: whether a response ends on one of the stop ids.

use crate::batch::{check_nonempty, map_rows, score};
use crate::error::{CoreError, CoreResult};
use crate::ragged::{Ragged, TokenId};

/// 1 where the row's last token is one of `stop_ids`, else 0 (empty rows score 0).
pub fn stop_token_check<T: TokenId>(
    responses: &Ragged<'_, T>,
    stop_ids: &[i64],
) -> CoreResult<Vec<f32>> {
    check_nonempty("responses", responses.len())?;
    if stop_ids.is_empty() {
        return Err(CoreError::arg(
            "stop_ids",
            "empty: give at least one stop id",
        ));
    }
    map_rows("responses", responses.len(), |i| {
        score(
            responses
                .row(i)
                .last()
                .is_some_and(|t| stop_ids.contains(&t.to_i64())),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_token_in_stop_ids() {
        let v: Vec<i32> = vec![1, 2, 1, 2, 3, 1, 2, 3, 9];
        let r = Ragged::new(&v, &[0, 0, 2, 9], "offsets").unwrap();
        assert_eq!(stop_token_check(&r, &[9, 2]).unwrap(), vec![0.0, 1.0, 1.0]);
        assert!(stop_token_check(&r, &[]).is_err());
    }
}
