//! The emulator's controllable clock.
//!
//! `now = start + elapsed_real_time * speed + offset`. Every time-dependent behaviour of the
//! emulator reads this clock: signature timestamps (`x-acs-date` / `Timestamp`), the nonce
//! window, the 15-minute validity of video URLs, the 30-minute video deletion, the 30-day
//! retention of results and "process not completed" deadlines. Tests step past those limits in
//! milliseconds with [`Clock::advance`] or run the clock faster with [`Clock::set_speed`].
//!
//! Clients sign requests with their own (real) time. Once the emulator clock has moved away
//! from real time by more than 15 minutes, signed requests fail with `InvalidTimeStamp.Expired`
//! unless the client signs with [`Clock::now`] or the emulator runs with
//! `check_timestamps = false`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// Initial clock settings (the `[clock]` table of a scenario file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClockConfig {
    /// Emulated time at start-up; defaults to the real time.
    pub start: Option<DateTime<Utc>>,
    /// Added to the emulated time at start-up (e.g. `"1h"`).
    #[serde(with = "humantime_serde")]
    pub offset: Option<Duration>,
    /// How many emulated seconds pass per real second (`0` freezes the clock).
    pub speed: f64,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self {
            start: None,
            offset: None,
            speed: 1.0,
        }
    }
}

/// A snapshot of the clock's settings, as shown by the admin API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockStatus {
    /// The emulated time now.
    pub now: DateTime<Utc>,
    /// The real time now.
    pub real_now: DateTime<Utc>,
    /// Emulated seconds per real second.
    pub speed: f64,
    /// The manual offset added on top of `start + elapsed * speed`, in milliseconds.
    pub offset_ms: i64,
}

#[derive(Debug)]
struct ClockState {
    base: DateTime<Utc>,
    anchor: Instant,
    speed: f64,
    offset: TimeDelta,
}

impl ClockState {
    fn scaled_elapsed(&self) -> TimeDelta {
        let nanos = self.anchor.elapsed().as_nanos() as f64 * self.speed;
        TimeDelta::nanoseconds(nanos.min(i64::MAX as f64) as i64)
    }

    fn now(&self) -> DateTime<Utc> {
        self.base + self.scaled_elapsed() + self.offset
    }
}

/// The emulator clock: settable offset and speed, shared by every request handler.
#[derive(Debug)]
pub struct Clock {
    state: Mutex<ClockState>,
}

impl Clock {
    /// A clock from its initial settings.
    ///
    /// A negative, NaN or infinite speed is replaced by `1.0`.
    pub fn new(config: &ClockConfig) -> Self {
        let offset = config
            .offset
            .and_then(|d| TimeDelta::from_std(d).ok())
            .unwrap_or_default();
        Self {
            state: Mutex::new(ClockState {
                base: config.start.unwrap_or_else(Utc::now),
                anchor: Instant::now(),
                speed: sanitize_speed(config.speed).unwrap_or(1.0),
                offset,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The emulated time now.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
        let mut s = self.lock();
        s.offset = s.offset.checked_add(&by).unwrap_or(TimeDelta::MAX);
    }

    /// Sets the manual offset (may be negative), replacing earlier offsets and advances.
    pub fn set_offset(&self, offset: TimeDelta) {
        self.lock().offset = offset;
    }

    /// The manual offset currently applied.
    pub fn offset(&self) -> TimeDelta {
        self.lock().offset
    }

    /// Jumps to `now` (by adjusting the offset); the clock keeps running at its speed.
    pub fn set_now(&self, now: DateTime<Utc>) {
        let mut s = self.lock();
        let delta = now - s.now();
        s.offset += delta;
    }

    /// Sets how many emulated seconds pass per real second, without a jump in time.
    ///
    /// Returns `false` (and changes nothing) for a negative, NaN or infinite speed.
    pub fn set_speed(&self, speed: f64) -> bool {
        let Some(speed) = sanitize_speed(speed) else {
            return false;
        };
        let mut s = self.lock();
        let elapsed = s.scaled_elapsed();
        s.base += elapsed;
        s.anchor = Instant::now();
        s.speed = speed;
        true
    }

    /// Emulated seconds per real second.
    pub fn speed(&self) -> f64 {
        self.lock().speed
    }

    /// The clock's settings and current time.
    pub fn status(&self) -> ClockStatus {
        let s = self.lock();
        ClockStatus {
            now: s.now(),
            real_now: Utc::now(),
            speed: s.speed,
            offset_ms: s.offset.num_milliseconds(),
        }
    }
}

fn sanitize_speed(speed: f64) -> Option<f64> {
    (speed.is_finite() && speed >= 0.0).then_some(speed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_and_offset_move_time() {
        let clock = Clock::new(&ClockConfig {
            speed: 0.0,
            ..ClockConfig::default()
        });
        let t0 = clock.now();
        clock.advance(Duration::from_secs(16 * 60));
        assert_eq!(clock.now() - t0, TimeDelta::minutes(16));
        clock.set_offset(TimeDelta::minutes(-5));
        assert_eq!(clock.now() - t0, TimeDelta::minutes(-5));
        let target = t0 + TimeDelta::days(31);
        clock.set_now(target);
        assert_eq!(clock.now(), target);
    }

    #[test]
    fn speed_scales_elapsed_time_without_jumps() {
        let start: DateTime<Utc> = "2025-01-15T08:30:00Z".parse().unwrap();
        let clock = Clock::new(&ClockConfig {
            start: Some(start),
            offset: None,
            speed: 1000.0,
        });
        std::thread::sleep(Duration::from_millis(20));
        let elapsed = clock.now() - start;
        assert!(elapsed >= TimeDelta::seconds(20), "{elapsed}");
        assert!(clock.set_speed(0.0));
        let frozen = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), frozen);
        assert!(!clock.set_speed(-1.0));
        assert!(!clock.set_speed(f64::NAN));
        assert_eq!(clock.speed(), 0.0);
    }

    #[test]
    fn config_offset_and_start_apply() {
        let start: DateTime<Utc> = "2025-01-15T08:30:00Z".parse().unwrap();
        let clock = Clock::new(&ClockConfig {
            start: Some(start),
            offset: Some(Duration::from_secs(3600)),
            speed: 0.0,
        });
        assert_eq!(clock.now(), start + TimeDelta::hours(1));
        assert_eq!(clock.status().offset_ms, 3_600_000);
    }
}
