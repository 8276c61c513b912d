//! Durations from untrusted seconds: a number that came from the wire, a flag, a file or a
//! user (ping timeouts, kill grace periods, failover timeouts) becomes a [`Duration`] here
//! and only here, so no input can reach `Duration::from_secs_f64`'s panics (NaN, negative,
//! infinite or larger than `u64::MAX` seconds) or overflow timer arithmetic later
//! (`Instant + d`, `d + grace`).

use std::time::Duration;

/// The longest duration accepted from input: ten years. Long enough for any timeout a
/// user means, short enough that `Instant::now() + d + d` cannot overflow.
pub const MAX_UNTRUSTED_SECS: f64 = 315_360_000.0;

/// Why a number of seconds is not a duration.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum SecsError {
    /// NaN.
    #[error("{0} is not a number of seconds")]
    NotANumber(f64),
    /// Below zero (or negative infinity).
    #[error("{0} seconds is negative")]
    Negative(f64),
    /// Above [`MAX_UNTRUSTED_SECS`] (or positive infinity).
    #[error("{0} seconds is more than the {MAX_UNTRUSTED_SECS} s (ten years) accepted")]
    TooLarge(f64),
}

/// `secs` as a duration if it is a number in `0..=MAX_UNTRUSTED_SECS`; an error saying
/// why not otherwise. Never panics.
pub fn secs(secs: f64) -> Result<Duration, SecsError> {
    if secs.is_nan() {
        return Err(SecsError::NotANumber(secs));
    }
    if secs < 0.0 {
        return Err(SecsError::Negative(secs));
    }
    if secs > MAX_UNTRUSTED_SECS {
        return Err(SecsError::TooLarge(secs));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| SecsError::TooLarge(secs))
}

/// `secs` clamped into `0..=MAX_UNTRUSTED_SECS` (NaN is zero): for inputs where any
/// value has a sensible reading, as a negative timeout meaning "now". Never panics.
pub fn secs_clamped(secs: f64) -> Duration {
    if secs.is_nan() {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs.clamp(0.0, MAX_UNTRUSTED_SECS)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_what_from_secs_f64_panics_on() {
        assert!(matches!(secs(f64::NAN), Err(SecsError::NotANumber(_))));
        assert_eq!(secs(-1.0), Err(SecsError::Negative(-1.0)));
        assert_eq!(
            secs(f64::NEG_INFINITY),
            Err(SecsError::Negative(f64::NEG_INFINITY))
        );
        assert_eq!(secs(1e300), Err(SecsError::TooLarge(1e300)));
        assert_eq!(secs(f64::INFINITY), Err(SecsError::TooLarge(f64::INFINITY)));
        assert_eq!(secs(1.5), Ok(Duration::from_millis(1500)));
        assert_eq!(secs(0.0), Ok(Duration::ZERO));
        assert_eq!(secs_clamped(1e300), Duration::from_secs(315_360_000));
        assert_eq!(secs_clamped(-3.0), Duration::ZERO);
        assert_eq!(secs_clamped(f64::NAN), Duration::ZERO);
    }

    proptest! {
        #[test]
        fn any_f64_is_a_bounded_duration_or_an_error(v in proptest::num::f64::ANY) {
            let max = Duration::from_secs_f64(MAX_UNTRUSTED_SECS);
            match secs(v) {
                Ok(d) => prop_assert!(d <= max && (0.0..=MAX_UNTRUSTED_SECS).contains(&v)),
                Err(_) => prop_assert!(!(0.0..=MAX_UNTRUSTED_SECS).contains(&v)),
            }
            let c = secs_clamped(v);
            prop_assert!(c <= max);
            // Timer arithmetic on the result cannot overflow.
            prop_assert!(std::time::Instant::now().checked_add(c + c).is_some());
        }
    }
}
