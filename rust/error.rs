//! The core's error type: what went wrong, with the argument and index at fault.
//!
//! Pure Rust; the bindings map `Kind::Value` to a `TrainerError` that is also a
//! `ValueError`, and `Kind::Type` to one that is also a `TypeError`.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The value is of the right type but not acceptable (range, shape, NaN, order).
    Value,
    /// The value has the wrong type, dtype or layout.
    Type,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreError {
    pub kind: Kind,
    pub message: String,
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn value(message: impl Into<String>) -> Self {
        CoreError {
            kind: Kind::Value,
            message: message.into(),
        }
    }

    pub fn type_(message: impl Into<String>) -> Self {
        CoreError {
            kind: Kind::Type,
            message: message.into(),
        }
    }

    /// A value error about `argument[index]`: "`offsets`[3]: offsets decrease (5 < 7)".
    pub fn at(argument: &str, index: usize, detail: impl fmt::Display) -> Self {
        CoreError::value(format!("{argument}[{index}]: {detail}"))
    }

    /// A value error about `argument` as a whole.
    pub fn arg(argument: &str, detail: impl fmt::Display) -> Self {
        CoreError::value(format!("{argument}: {detail}"))
    }
}

/// The detail of an error about a result that finite inputs took beyond float32:
/// "`what` overflows float32 (inf)", the value shown as float32 shows it.
#[derive(Clone, Copy, Debug)]
pub struct Overflow<'a> {
    pub what: &'a str,
    pub value: f32,
}

impl fmt::Display for Overflow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} overflows float32 ({})", self.what, self.value)
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CoreError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_argument_and_index() {
        let e = CoreError::at("offsets", 3, "offsets decrease (5 < 7)");
        assert_eq!(e.kind, Kind::Value);
        assert_eq!(e.to_string(), "offsets[3]: offsets decrease (5 < 7)");
        assert_eq!(
            CoreError::arg("scores", "empty").to_string(),
            "scores: empty"
        );
        assert_eq!(CoreError::type_("x").kind, Kind::Type);
        let detail = Overflow {
            what: "the group mean",
            value: f32::NEG_INFINITY,
        };
        assert_eq!(
            CoreError::at("scores", 3, detail).to_string(),
            "scores[3]: the group mean overflows float32 (-inf)"
        );
    }
}
