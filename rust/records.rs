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
}
