//! The emulator's clock: wall-clock time that can run faster or slower than real time.
//!
//! Job latencies are expressed in emulated time, so a demo can use realistic latencies
//! (`--job-latency 30s`) and still run quickly (`--time-scale 10`). The clock is anchored at a
//! real instant and an emulated timestamp; changing the scale re-anchors it so emulated time
//! never jumps. With the default scale of 1 the emulated time is the wall clock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};

#[derive(Debug, Clone, Copy)]
struct Anchor {
    real: Instant,
    emulated: Timestamp,
    scale: f64,
}

/// A scalable clock shared by the job engine and every handler.
#[derive(Debug)]
pub struct Clock {
    anchor: Mutex<Anchor>,
}

/// Checks that a time scale is usable: a finite number greater than zero.
pub fn validate_scale(scale: f64) -> Result<f64, String> {
    if scale.is_finite() && scale > 0.0 {
        Ok(scale)
    } else {
        Err(format!(
            "time scale must be a number greater than 0, got {scale}"
        ))
    }
}

impl Clock {
    /// A clock starting at the current wall-clock time. `scale` is emulated seconds per real
    /// second and must have passed [`validate_scale`].
    pub fn new(scale: f64) -> Self {
        Self {
            anchor: Mutex::new(Anchor {
                real: Instant::now(),
                emulated: Timestamp::now(),
                scale,
            }),
        }
    }

    fn anchor(&self) -> Anchor {
        // A poisoned lock only means another thread panicked while holding a plain copy; the
        // anchor itself is always consistent, so keep using it.
        *self.anchor.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn emulated_at(anchor: &Anchor, real: Instant) -> Timestamp {
        let elapsed = real.saturating_duration_since(anchor.real).as_secs_f64() * anchor.scale;
        let elapsed = SignedDuration::try_from_secs_f64(elapsed).unwrap_or(SignedDuration::MAX);
        anchor
            .emulated
            .checked_add(elapsed)
            .unwrap_or(Timestamp::MAX)
    }

    /// The current emulated time.
    pub fn now(&self) -> Timestamp {
        let anchor = self.anchor();
        Self::emulated_at(&anchor, Instant::now())
    }

    /// Emulated seconds per real second.
    pub fn scale(&self) -> f64 {
        self.anchor().scale
    }

    /// Changes the speed of emulated time from now on.
    pub fn set_scale(&self, scale: f64) {
        let mut anchor = self.anchor.lock().unwrap_or_else(|e| e.into_inner());
        let real = Instant::now();
        let emulated = Self::emulated_at(&anchor, real);
        *anchor = Anchor {
            real,
            emulated,
            scale,
        };
    }

    /// How long to wait in real time until the emulated clock reaches `at` (zero if it already
    /// has).
    pub fn real_until(&self, at: Timestamp) -> Duration {
        let anchor = self.anchor();
        let now = Self::emulated_at(&anchor, Instant::now());
        let ahead = at.duration_since(now);
        if ahead <= SignedDuration::ZERO {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(ahead.as_secs_f64() / anchor.scale).unwrap_or(Duration::MAX)
    }

    /// The emulated instant `delay` (emulated time) from now.
    pub fn after(&self, delay: Duration) -> Timestamp {
        let delay = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
        self.now().checked_add(delay).unwrap_or(Timestamp::MAX)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_faster_clock_needs_less_real_time_to_reach_a_deadline() {
        let clock = Clock::new(10.0);
        let deadline = clock.after(Duration::from_secs(20));
        let wait = clock.real_until(deadline);
        assert!(wait <= Duration::from_secs(2), "{wait:?}");
        assert!(wait >= Duration::from_millis(1900), "{wait:?}");
    }

    #[test]
    fn changing_the_scale_keeps_emulated_time_continuous() {
        let clock = Clock::new(1000.0);
        let before = clock.now();
        clock.set_scale(1.0);
        let after = clock.now();
        assert!(after >= before);
        assert!(after.duration_since(before) < SignedDuration::from_secs(5));
    }

    #[test]
    fn scales_must_be_positive_and_finite() {
        assert!(validate_scale(0.0).is_err());
        assert!(validate_scale(-1.0).is_err());
        assert!(validate_scale(f64::NAN).is_err());
        assert!(validate_scale(f64::INFINITY).is_err());
        assert_eq!(validate_scale(0.5), Ok(0.5));
    }

    #[test]
    fn a_past_deadline_needs_no_wait() {
        let clock = Clock::new(1.0);
        let past = clock
            .now()
            .checked_sub(SignedDuration::from_secs(1))
            .unwrap();
        assert_eq!(clock.real_until(past), Duration::ZERO);
    }
}
