//! The byte tokenizer: text rows to token rows in Arrow's list layout, in one pass.
//!
//! Pure Rust. Every UTF-8 byte is a token (ids 0..=255); a row may be framed by a
//! begin-of-sequence id before and an end-of-sequence id after, and every row may start
//! with the same prefix (the agent's instructions). The Python `ByteTokenizer` encodes one
//! text at a time; a dataset of a million rows is encoded here in one call instead.

use crate::alloc;
use crate::error::{CoreError, CoreResult};

/// How each row is framed: `[bos] + prefix + text + [eos]`, the parts that are `None`
/// left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ByteFrame<'a> {
    pub prefix: &'a [u8],
    pub bos: Option<i32>,
    pub eos: Option<i32>,
}

impl ByteFrame<'_> {
    /// Tokens a row of `text_len` bytes takes: `text_len + len(prefix) + [bos] + [eos]`.
    #[inline]
    pub fn row_len(&self, text_len: usize) -> usize {
        text_len
            + self.prefix.len()
            + usize::from(self.bos.is_some())
            + usize::from(self.eos.is_some())
    }

    /// The token rows of `texts`: `values` (int32) and `offsets` (`n + 1` entries, from
    /// 0), row `i` = `[bos] + prefix + texts[i] + [eos]` with byte `b` as token `b`.
    /// `argument` names the input in an error (a size that cannot be allocated).
    pub fn encode(&self, texts: &[&[u8]], argument: &str) -> CoreResult<(Vec<i32>, Vec<i64>)> {
        let total = texts
            .iter()
            .try_fold(0usize, |acc, t| acc.checked_add(self.row_len(t.len())));
        let total =
            total.ok_or_else(|| CoreError::arg(argument, "more tokens than fit in memory"))?;
        let mut rows = ByteRows {
            values: alloc::output(argument, total)?,
            offsets: alloc::output(argument, texts.len() + 1)?,
        };
        rows.offsets.push(0);
        for text in texts {
            rows.push(self, text, argument)?;
        }
        Ok((rows.values, rows.offsets))
    }
}

/// Token rows built one text at a time, for a caller that walks its texts once (the
/// binding reads each Python str once, with no list of them in between).
#[derive(Debug)]
pub struct ByteRows {
    pub values: Vec<i32>,
    /// `offsets[0] == 0`, then one entry a row.
    pub offsets: Vec<i64>,
}

impl ByteRows {
    /// Room for `rows` rows (their tokens grow as they come).
    pub fn with_rows(rows: usize, argument: &str) -> CoreResult<Self> {
        let mut offsets = alloc::output(argument, rows + 1)?;
        offsets.push(0);
        Ok(ByteRows {
            values: Vec::new(),
            offsets,
        })
    }

    /// Appends the row of `text` framed by `frame`.
    pub fn push(&mut self, frame: &ByteFrame<'_>, text: &[u8], argument: &str) -> CoreResult<()> {
        let len = frame.row_len(text.len());
        // amortised growth, but an allocation failure is an error, not an abort
        self.values.try_reserve(len).map_err(|_| {
            alloc::AllocError::of::<i32>(self.values.len() + len).named(argument, "an output")
        })?;
        if let Some(bos) = frame.bos {
            self.values.push(bos);
        }
        self.values
            .extend(frame.prefix.iter().map(|&b| i32::from(b)));
        self.values.extend(text.iter().map(|&b| i32::from(b)));
        if let Some(eos) = frame.eos {
            self.values.push(eos);
        }
        self.offsets.push(self.values.len() as i64);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Python ByteTokenizer's rule, one row at a time.
    fn reference(frame: &ByteFrame<'_>, text: &str) -> Vec<i32> {
        let mut row = Vec::new();
        row.extend(frame.bos);
        row.extend(frame.prefix.iter().map(|&b| i32::from(b)));
        row.extend(text.bytes().map(i32::from));
        row.extend(frame.eos);
        row
    }

    #[test]
    fn rows_match_one_at_a_time_encoding() {
        let texts = ["12+34=", "", "héllo ∑ 🙂", "\u{0}\u{ff}"];
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        for frame in [
            ByteFrame::default(),
            ByteFrame {
                prefix: b"Solve:\n",
                bos: Some(257),
                eos: None,
            },
            ByteFrame {
                prefix: b"",
                bos: None,
                eos: Some(258),
            },
        ] {
            let (values, offsets) = frame.encode(&bytes, "texts").unwrap();
            assert_eq!(offsets.len(), texts.len() + 1);
            assert_eq!(offsets[0], 0);
            assert_eq!(*offsets.last().unwrap() as usize, values.len());
            for (i, text) in texts.iter().enumerate() {
                let row = &values[offsets[i] as usize..offsets[i + 1] as usize];
                assert_eq!(row, reference(&frame, text).as_slice(), "row {i}");
                assert_eq!(row.len(), frame.row_len(text.len()));
            }
        }
    }

    #[test]
    fn rows_pushed_one_at_a_time_match_encode() {
        let texts = ["a", "", "βγ", "1+1="];
        let bytes: Vec<&[u8]> = texts.iter().map(|t| t.as_bytes()).collect();
        let frame = ByteFrame {
            prefix: b"p\n",
            bos: Some(7),
            eos: Some(9),
        };
        let mut rows = ByteRows::with_rows(texts.len(), "texts").unwrap();
        for text in &bytes {
            rows.push(&frame, text, "texts").unwrap();
        }
        assert_eq!(
            (rows.values, rows.offsets),
            frame.encode(&bytes, "texts").unwrap()
        );
    }

    #[test]
    fn no_rows() {
        let (values, offsets) = ByteFrame::default().encode(&[], "texts").unwrap();
        assert!(values.is_empty());
        assert_eq!(offsets, [0]);
    }
}
