//! The scheduler's clock. Production reads the system clock; tests start the scheduler at a
//! chosen instant (hidden `--clock-start`) and let that clock run at real speed, so a weekly
//! schedule can be exercised in seconds and a "restart three hours later" is just a restart
//! with a later start.

use std::sync::{Arc, Mutex};

use jiff::{SignedDuration, Timestamp};

/// Where the scheduler reads the time.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The system clock moved by a fixed offset: it reads `start` when created and runs at real
/// speed from there.
#[derive(Clone, Copy, Debug)]
pub struct ShiftedClock {
    offset: SignedDuration,
}

impl ShiftedClock {
    /// A clock that reads `start` now.
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            offset: start.duration_since(Timestamp::now()),
        }
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.checked_add(self.offset).unwrap_or(now)
    }
}

/// A clock that moves only when told to (unit tests).
#[derive(Clone, Debug)]
pub struct ManualClock {
    now: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Sets the time (every clone sees it).
    pub fn set(&self, now: Timestamp) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shifted_clock_starts_where_told_and_runs_forward() {
        let start: Timestamp = "2026-11-22T01:59:58Z".parse().unwrap();
        let clock = ShiftedClock::starting_at(start);
        let first = clock.now();
        assert!(first >= start, "{first}");
        assert!(first.duration_since(start) < SignedDuration::from_secs(5));
        assert!(clock.now() >= first);
    }

    #[test]
    fn a_manual_clock_moves_only_when_set() {
        let clock = ManualClock::new("2026-11-22T00:00:00Z".parse().unwrap());
        let other = clock.clone();
        other.set("2026-11-22T03:00:00Z".parse().unwrap());
        assert_eq!(clock.now(), "2026-11-22T03:00:00Z".parse().unwrap());
    }
}
