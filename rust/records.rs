//! Record validation: each record a dict holding every required field, and every field it
//! holds of an accepted type.
//!
//! Pure Rust. Records live in Python, so the checker sees one through [`RecordView`]
//! (the binding's view of a dict, a map in the tests) and reports each problem to a
//! [`RecordErrors`] collector, which counts them all and keeps the first few.

/// One field of the record schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The key.
    pub name: String,
    /// The accepted types, as messages name them ("str", "int or float").
    pub expected: String,
    /// Whether a record must hold it.
    pub required: bool,
}

/// What the checker needs of one record; field `i` is `fields[i]` of [`check_record`].
pub trait RecordView {
    type Value;
    type Error;
    /// The value under field `i`'s key, if the record holds it.
    fn get(&self, i: usize) -> Result<Option<Self::Value>, Self::Error>;
    /// Whether `value` is of one of field `i`'s accepted types.
    fn accepts(&self, i: usize, value: &Self::Value) -> Result<bool, Self::Error>;
    /// The name of `value`'s type, for a message.
    fn type_name(&self, value: &Self::Value) -> String;
}

/// Checks record `index`: `Err(type name)` for a record that is not a dict, else its
/// view. Required fields first, in `fields`' order, as the messages list them.
pub fn check_record<R: RecordView>(
    index: usize,
    record: Result<&R, String>,
    fields: &[Field],
    errors: &mut RecordErrors,
) -> Result<(), R::Error> {
    let record = match record {
        Ok(record) => record,
        Err(got) => {
            errors.push(index, || RecordIssue {
                index,
                key: None,
                kind: RecordIssueKind::NotADict { got },
            });
            return Ok(());
        }
    };
    for (i, field) in fields.iter().enumerate() {
        let Some(value) = record.get(i)? else {
            if field.required {
                errors.push(index, || RecordIssue {
                    index,
                    key: Some(field.name.clone()),
                    kind: RecordIssueKind::Missing,
                });
            }
            continue;
        };
        if !record.accepts(i, &value)? {
            errors.push(index, || RecordIssue {
                index,
                key: Some(field.name.clone()),
                kind: RecordIssueKind::WrongType {
                    expected: field.expected.clone(),
                    got: record.type_name(&value),
                },
            });
        }
    }
    Ok(())
}

/// What is wrong with a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordIssueKind {
    /// The record is not a dict; `got` is its type's name.
    NotADict { got: String },
    /// A required key is absent.
    Missing,
    /// The key's value has the wrong type.
    WrongType { expected: String, got: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordIssue {
    pub index: usize,
    /// The key at fault (`None` for a record that is not a dict).
    pub key: Option<String>,
    pub kind: RecordIssueKind,
}

impl RecordIssue {
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            RecordIssueKind::NotADict { .. } => "not_a_dict",
            RecordIssueKind::Missing => "missing_key",
            RecordIssueKind::WrongType { .. } => "wrong_type",
        }
    }

    /// "record 12: key 'answer' is missing", …
    pub fn describe(&self) -> String {
        let key = self.key.as_deref().unwrap_or("");
        match &self.kind {
            RecordIssueKind::NotADict { got } => {
                format!("record {}: expected a dict, got {got}", self.index)
            }
            RecordIssueKind::Missing => format!("record {}: key '{key}' is missing", self.index),
            RecordIssueKind::WrongType { expected, got } => format!(
                "record {}: key '{key}' should be {expected}, got {got}",
                self.index
            ),
        }
    }
}

/// Collects record problems: counts all of them, keeps the first `max_errors`.
#[derive(Clone, Debug, Default)]
pub struct RecordErrors {
    pub max_errors: usize,
    pub records: usize,
    /// Records with at least one problem.
    pub bad_records: usize,
    /// All problems found (a record may have several).
    pub total: usize,
    pub issues: Vec<RecordIssue>,
    last_bad: Option<usize>,
}

impl RecordErrors {
    pub fn new(max_errors: usize) -> Self {
        RecordErrors {
            max_errors,
            ..Default::default()
        }
    }

    /// `true` once the kept list is full: callers may skip building detail strings.
    #[inline]
    pub fn full(&self) -> bool {
        self.issues.len() >= self.max_errors
    }

    /// "OK: <n> records", or "FAILED: …" followed by the first problems, one per line.
    pub fn summary(&self) -> String {
        if self.total == 0 {
            return format!("OK: {} records", self.records);
        }
        let mut lines = vec![format!(
            "FAILED: {} of {} records have problems ({} in all); first problems:",
            self.bad_records, self.records, self.total
        )];
        lines.extend(self.issues.iter().map(|i| format!("  - {}", i.describe())));
        lines.join("\n")
    }

    /// Records one problem; `detail` builds the issue only while there is room.
    pub fn push(&mut self, index: usize, detail: impl FnOnce() -> RecordIssue) {
        self.total += 1;
        if self.last_bad != Some(index) {
            self.bad_records += 1;
            self.last_bad = Some(index);
        }
        if !self.full() {
            self.issues.push(detail());
        }
    }
}

/// Where a record of exactly two keys holds its prompt and its answer, when those are
/// all it holds: `prompt` and `answer` index the candidate key lists, and `answer_first`
/// tells the keys' order (the record's `keys` in errors). Such a record needs no
/// per-record Python: its prompt and answer are its two values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextLayout {
    pub prompt: usize,
    pub answer: usize,
    pub answer_first: bool,
}

impl TextLayout {
    /// The code of a record that is not two-key text: the caller reads it itself.
    pub const OTHER: u8 = u8::MAX;

    /// Codes needed for `prompts` × `answers` candidate keys, both orders; they must stay
    /// below [`TextLayout::OTHER`].
    pub fn codes(prompts: usize, answers: usize) -> usize {
        prompts.saturating_mul(answers).saturating_mul(2)
    }

    /// `(prompt * answers + answer) * 2 + answer_first`, for `answers` answer keys.
    pub fn code(self, answers: usize) -> u8 {
        ((self.prompt * answers + self.answer) * 2 + usize::from(self.answer_first)) as u8
    }

    /// The layout of a record whose keys are `first` then `second`: one of them a prompt
    /// key and the other an answer key. A key found in both lists, or two keys of one
    /// kind, is not a layout (the record's own reader decides what it means).
    pub fn of_keys(
        first: &[u8],
        second: &[u8],
        prompts: &[&[u8]],
        answers: &[&[u8]],
    ) -> Option<Self> {
        Self::of_roles(
            KeyRole::of(first, prompts, answers)?,
            KeyRole::of(second, prompts, answers)?,
        )
    }

    /// The layout of a record whose keys play `first` then `second`.
    pub fn of_roles(first: KeyRole, second: KeyRole) -> Option<Self> {
        match (first, second) {
            (KeyRole::Prompt(prompt), KeyRole::Answer(answer)) => Some(TextLayout {
                prompt,
                answer,
                answer_first: false,
            }),
            (KeyRole::Answer(answer), KeyRole::Prompt(prompt)) => Some(TextLayout {
                prompt,
                answer,
                answer_first: true,
            }),
            _ => None,
        }
    }
}

/// What a key of a record is: the `i`-th candidate prompt key or answer key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRole {
    Prompt(usize),
    Answer(usize),
}

impl KeyRole {
    /// The role of `key`; `None` for a key in neither list or in both.
    pub fn of(key: &[u8], prompts: &[&[u8]], answers: &[&[u8]]) -> Option<Self> {
        let p = prompts.iter().position(|k| *k == key);
        let a = answers.iter().position(|k| *k == key);
        match (p, a) {
            (Some(p), None) => Some(KeyRole::Prompt(p)),
            (None, Some(a)) => Some(KeyRole::Answer(a)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A record as a map from key to the name of its value's type.
    struct Fake<'a> {
        map: HashMap<&'a str, &'a str>,
        fields: &'a [Field],
    }

    impl RecordView for Fake<'_> {
        type Value = String;
        type Error = ();
        fn get(&self, i: usize) -> Result<Option<String>, ()> {
            Ok(self
                .map
                .get(self.fields[i].name.as_str())
                .map(|t| t.to_string()))
        }
        fn accepts(&self, i: usize, value: &String) -> Result<bool, ()> {
            Ok(self.fields[i].expected.split(" or ").any(|t| t == value))
        }
        fn type_name(&self, value: &String) -> String {
            value.clone()
        }
    }

    fn field(name: &str, expected: &str, required: bool) -> Field {
        Field {
            name: name.into(),
            expected: expected.into(),
            required,
        }
    }

    #[test]
    fn missing_wrong_type_and_not_a_dict() {
        let fields = [
            field("prompt", "str", true),
            field("answer", "str", true),
            field("weight", "int or float", false),
        ];
        let mut errors = RecordErrors::new(10);
        let good = Fake {
            map: HashMap::from([("prompt", "str"), ("answer", "str"), ("weight", "float")]),
            fields: &fields,
        };
        let bad = Fake {
            map: HashMap::from([("answer", "int"), ("weight", "str")]),
            fields: &fields,
        };
        check_record(0, Ok(&good), &fields, &mut errors).unwrap();
        check_record(1, Ok(&bad), &fields, &mut errors).unwrap();
        check_record::<Fake>(2, Err("list".into()), &fields, &mut errors).unwrap();
        let said: Vec<String> = errors.issues.iter().map(|i| i.describe()).collect();
        assert_eq!(
            said,
            [
                "record 1: key 'prompt' is missing",
                "record 1: key 'answer' should be str, got int",
                "record 1: key 'weight' should be int or float, got str",
                "record 2: expected a dict, got list",
            ]
        );
        assert_eq!((errors.total, errors.bad_records), (4, 2));
        let kinds: Vec<&str> = errors.issues.iter().map(|i| i.kind_name()).collect();
        assert_eq!(
            kinds,
            ["missing_key", "wrong_type", "wrong_type", "not_a_dict"]
        );
    }

    #[test]
    fn record_errors_count_and_cap() {
        let mut e = RecordErrors::new(1);
        let issue = |i| RecordIssue {
            index: i,
            key: Some("a".into()),
            kind: RecordIssueKind::Missing,
        };
        e.push(0, || issue(0));
        e.push(0, || issue(0));
        e.push(3, || issue(3));
        assert_eq!((e.total, e.bad_records, e.issues.len()), (3, 2, 1));
        assert_eq!(e.issues[0].describe(), "record 0: key 'a' is missing");
    }

    #[test]
    fn text_layouts_of_two_keys() {
        let prompts: [&[u8]; 2] = [b"input", b"prompt"];
        let answers: [&[u8]; 3] = [b"answer", b"expected", b"output"];
        let of = |a: &[u8], b: &[u8]| TextLayout::of_keys(a, b, &prompts, &answers);
        let layout = of(b"prompt", b"output").unwrap();
        assert_eq!(
            (layout.prompt, layout.answer, layout.answer_first),
            (1, 2, false)
        );
        assert!(of(b"answer", b"input").unwrap().answer_first);
        assert_eq!(of(b"input", b"prompt"), None);
        assert_eq!(of(b"answer", b"expected"), None);
        assert_eq!(of(b"input", b"id"), None);
        // a key that could be either is left to the record's reader
        assert_eq!(TextLayout::of_keys(b"q", b"q", &[b"q"], &[b"q"]), None);
        // every layout has its own code, below OTHER
        let mut codes = std::collections::HashSet::new();
        for prompt in 0..2 {
            for answer in 0..3 {
                for answer_first in [false, true] {
                    let code = TextLayout {
                        prompt,
                        answer,
                        answer_first,
                    }
                    .code(3);
                    assert!((code as usize) < TextLayout::codes(2, 3));
                    assert!(codes.insert(code));
                }
            }
        }
        assert!(TextLayout::codes(2, 3) < TextLayout::OTHER as usize);
    }
}
