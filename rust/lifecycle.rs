//! The trainer lifecycle state machine.
//!
//! CREATED → VALIDATED → TRAINING → COMPLETED | FAILED. Every transition is a
//! compare-and-set under one mutex, so racing threads see exactly one winner, and
//! each accepted transition is recorded with a monotonic timestamp. The machine also
//! keeps which validation checks ran, whether they passed and how long they took:
//! the raw data for measuring validation overhead.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A lifecycle state. The string forms are the values of Python's `TrainerState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Created,
    Validated,
    Training,
    Completed,
    Failed,
}

impl State {
    pub const ALL: [State; 5] = [
        State::Created,
        State::Validated,
        State::Training,
        State::Completed,
        State::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Validated => "validated",
            State::Training => "training",
            State::Completed => "completed",
            State::Failed => "failed",
        }
    }

    /// Parses the string form; `None` for anything that is not a state.
    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether `self → target` is a legal transition.
    pub fn can_move_to(self, target: State) -> bool {
        matches!(
            (self, target),
            (State::Created, State::Validated)
                | (State::Validated, State::Training)
                | (State::Training, State::Completed)
                | (State::Training, State::Failed)
        )
    }

    /// Whether no transition leaves this state.
    pub fn is_terminal(self) -> bool {
        matches!(self, State::Completed | State::Failed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused transition: where the machine was and where it was asked to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransitionError {
    pub current: State,
    pub target: State,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (current, target) = (self.current, self.target);
        match target {
            State::Validated => write!(
                f,
                "Cannot validate trainer in state '{current}': validation is only allowed \
                 from 'created' (attempted transition {current} -> {target})"
            ),
            State::Training => write!(
                f,
                "Trainer must be validated before training: current state is '{current}', \
                 call mark_validated() after the checks pass (attempted transition \
                 {current} -> {target})"
            ),
            _ => {
                let allowed: Vec<&str> = State::ALL
                    .into_iter()
                    .filter(|s| current.can_move_to(*s))
                    .map(State::as_str)
                    .collect();
                let allowed = if allowed.is_empty() {
                    "none, it is terminal".to_string()
                } else {
                    allowed.join(", ")
                };
                write!(
                    f,
                    "Illegal trainer state transition {current} -> {target}: current state is \
                     '{current}', allowed next states: {allowed}"
                )
            }
        }
    }
}

impl std::error::Error for TransitionError {}

/// One accepted transition, timestamped from the machine's creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub source: State,
    pub target: State,
    /// Monotonic time since the machine was created.
    pub at: Duration,
}

/// One run of a validation check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRecord {
    pub name: String,
    pub passed: bool,
    pub duration: Duration,
    /// Monotonic time since the machine was created, at the end of the check.
    pub at: Duration,
}

#[derive(Debug)]
struct Inner {
    state: State,
    history: Vec<Transition>,
    checks: Vec<CheckRecord>,
}

/// The thread-safe lifecycle of one trainer.
#[derive(Debug)]
pub struct Lifecycle {
    created: Instant,
    inner: Mutex<Inner>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self::new()
    }
}

impl Lifecycle {
    pub fn new() -> Self {
        Lifecycle {
            created: Instant::now(),
            inner: Mutex::new(Inner {
                state: State::Created,
                history: Vec::new(),
                checks: Vec::new(),
            }),
        }
    }

    // A panic while the lock is held cannot leave `Inner` half-updated (every update
    // is a single push or assignment), so a poisoned lock is still consistent.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> State {
        self.lock().state
    }

    /// Whether `target` is legal from the current state, without moving there.
    pub fn check(&self, target: State) -> Result<(), TransitionError> {
        let current = self.state();
        if current.can_move_to(target) {
            Ok(())
        } else {
            Err(TransitionError { current, target })
        }
    }

    /// Moves to `target` if that is legal from the current state, atomically.
    pub fn transition(&self, target: State) -> Result<Transition, TransitionError> {
        let mut inner = self.lock();
        let current = inner.state;
        if !current.can_move_to(target) {
            return Err(TransitionError { current, target });
        }
        let record = Transition {
            source: current,
            target,
            at: self.created.elapsed(),
        };
        inner.state = target;
        inner.history.push(record);
        Ok(record)
    }

    pub fn history(&self) -> Vec<Transition> {
        self.lock().history.clone()
    }

    pub fn record_check(&self, name: &str, passed: bool, duration: Duration) {
        let at = self.created.elapsed();
        self.lock().checks.push(CheckRecord {
            name: name.to_string(),
            passed,
            duration,
            at,
        });
    }

    pub fn checks(&self) -> Vec<CheckRecord> {
        self.lock().checks.clone()
    }

    /// Total time spent in checks that ran, passed or not.
    pub fn validation_time(&self) -> Duration {
        self.lock().checks.iter().map(|c| c.duration).sum()
    }

    pub fn elapsed(&self) -> Duration {
        self.created.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn legal_path_to_completed_and_failed() {
        for end in [State::Completed, State::Failed] {
            let lc = Lifecycle::new();
            assert_eq!(lc.state(), State::Created);
            lc.transition(State::Validated).unwrap();
            lc.transition(State::Training).unwrap();
            lc.transition(end).unwrap();
            assert_eq!(lc.state(), end);
            let h = lc.history();
            assert_eq!(h.len(), 3);
            assert!(h.windows(2).all(|w| w[0].at <= w[1].at));
            assert_eq!(h[2].source, State::Training);
            assert_eq!(h[2].target, end);
        }
    }

    #[test]
    fn only_four_transitions_are_legal() {
        let legal: Vec<(State, State)> = State::ALL
            .into_iter()
            .flat_map(|a| State::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_move_to(*b))
            .collect();
        assert_eq!(
            legal,
            vec![
                (State::Created, State::Validated),
                (State::Validated, State::Training),
                (State::Training, State::Completed),
                (State::Training, State::Failed),
            ]
        );
    }

    #[test]
    fn illegal_transition_leaves_state_and_history_alone() {
        let lc = Lifecycle::new();
        let err = lc.transition(State::Training).unwrap_err();
        assert_eq!(err.current, State::Created);
        assert!(err.to_string().contains("must be validated"));
        assert!(err.to_string().contains("created -> training"));
        assert_eq!(lc.state(), State::Created);
        assert!(lc.history().is_empty());
        assert!(lc.check(State::Validated).is_ok());
        assert_eq!(
            lc.check(State::Completed).unwrap_err().current,
            State::Created
        );
    }

    #[test]
    fn messages_name_state_and_transition() {
        let e = TransitionError {
            current: State::Training,
            target: State::Validated,
        };
        assert!(e.to_string().starts_with("Cannot validate"));
        assert!(e.to_string().contains("'training'"));
        let e = TransitionError {
            current: State::Completed,
            target: State::Failed,
        };
        let text = e.to_string();
        assert!(text.contains("completed -> failed"), "{text}");
        assert!(text.contains("terminal"), "{text}");
    }

    #[test]
    fn parse_round_trips() {
        for s in State::ALL {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("CREATED"), None);
    }

    #[test]
    fn racing_threads_have_one_winner() {
        for _ in 0..200 {
            let lc = Arc::new(Lifecycle::new());
            let barrier = Arc::new(std::sync::Barrier::new(16));
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    let (lc, barrier) = (lc.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        lc.transition(State::Validated).is_ok()
                    })
                })
                .collect();
            let wins = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|w| *w)
                .count();
            assert_eq!(wins, 1);
            assert_eq!(lc.history().len(), 1);
        }
    }

    #[test]
    fn checks_are_recorded_and_summed() {
        let lc = Lifecycle::new();
        lc.record_check("check_agent", true, Duration::from_micros(5));
        lc.record_check("check_dataset", false, Duration::from_micros(7));
        let checks = lc.checks();
        assert_eq!(checks.len(), 2);
        assert!(!checks[1].passed);
        assert_eq!(lc.validation_time(), Duration::from_micros(12));
    }
}
