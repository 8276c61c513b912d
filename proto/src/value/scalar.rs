//! Fixed-point scalar quantities (cpus, mem, disk, gpus, custom scalars).
//!
//! Mesos compares scalar resource values to three decimal places; storing
//! them as integer thousandths makes arithmetic exact, comparisons total and
//! the type `Eq + Hash + Ord`.

use super::ValueError;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A scalar value stored as an integer number of thousandths ("milli-units").
///
/// `Scalar::from_f64(0.5)` holds 500 milli-units. Arithmetic saturates
/// instead of overflowing. Serializes as a floating-point number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Scalar(i64);

impl Scalar {
    /// Zero.
    pub const ZERO: Scalar = Scalar(0);

    /// The largest magnitude accepted from floating point or text (10^15).
    pub const MAX_ABS: f64 = 1e15;

    /// Creates a scalar from integer thousandths.
    pub const fn from_milli(milli: i64) -> Self {
        Scalar(milli)
    }

    /// Creates a scalar holding a whole number of units.
    pub const fn from_units(units: i64) -> Self {
        Scalar(units.saturating_mul(1000))
    }

    /// Converts a float, rounding to three decimal places.
    ///
    /// Fails on NaN, infinities and magnitudes above [`Scalar::MAX_ABS`].
    pub fn from_f64(value: f64) -> Result<Self, ValueError> {
        if !value.is_finite() {
            return Err(ValueError::NotFinite {
                text: value.to_string(),
            });
        }
        if value.abs() > Self::MAX_ABS {
            return Err(ValueError::OutOfRange {
                text: value.to_string(),
            });
        }
        // In range by the check above, so the cast cannot saturate.
        Ok(Scalar((value * 1000.0).round() as i64))
    }

    /// The value in thousandths.
    pub const fn milli(self) -> i64 {
        self.0
    }

    /// The value as a float (exact to three decimal places).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// True if the value is exactly zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// True if the value is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Saturating addition.
    pub const fn saturating_add(self, other: Scalar) -> Scalar {
        Scalar(self.0.saturating_add(other.0))
    }

    /// Saturating subtraction (may go below zero; see [`Scalar::sub_floor_zero`]).
    pub const fn saturating_sub(self, other: Scalar) -> Scalar {
        Scalar(self.0.saturating_sub(other.0))
    }

    /// Subtraction clamped at zero, as resource subtraction requires.
    pub const fn sub_floor_zero(self, other: Scalar) -> Scalar {
        let v = self.0.saturating_sub(other.0);
        Scalar(if v < 0 { 0 } else { v })
    }
}

impl fmt::Display for Scalar {
    /// Prints the shortest exact decimal: `2`, `0.5`, `1.125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / 1000, abs % 1000);
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let mut digits = format!("{frac:03}");
            while digits.ends_with('0') {
                digits.pop();
            }
            write!(f, "{sign}{whole}.{digits}")
        }
    }
}

impl FromStr for Scalar {
    type Err = ValueError;

    /// Parses a decimal number such as `2`, `0.5` or `1e3`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let value: f64 = text.parse().map_err(|_| ValueError::BadNumber {
            text: text.to_owned(),
        })?;
        // Report errors with the caller's spelling (e.g. `NaN`, `1e300`).
        Scalar::from_f64(value).map_err(|e| match e {
            ValueError::OutOfRange { .. } => ValueError::OutOfRange {
                text: text.to_owned(),
            },
            _ => ValueError::NotFinite {
                text: text.to_owned(),
            },
        })
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(deserializer)?;
        Scalar::from_f64(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_display() {
        assert_eq!(Scalar::from_f64(0.1).unwrap().milli(), 100);
        assert_eq!(Scalar::from_f64(0.0004).unwrap(), Scalar::ZERO);
        assert_eq!(Scalar::from_f64(1.0005).unwrap().milli(), 1001);
        assert_eq!(Scalar::from_milli(2000).to_string(), "2");
        assert_eq!(Scalar::from_milli(500).to_string(), "0.5");
        assert_eq!(Scalar::from_milli(1125).to_string(), "1.125");
        assert_eq!(Scalar::from_milli(-50).to_string(), "-0.05");
        assert_eq!(
            Scalar::from_milli(i64::MIN).to_string(),
            "-9223372036854775.808"
        );
    }

    #[test]
    fn parse_errors() {
        assert_eq!("1e3".parse::<Scalar>().unwrap(), Scalar::from_units(1000));
        let e = "abc".parse::<Scalar>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "'abc' is not a number; expected a decimal such as 2 or 0.5"
        );
        assert!(matches!(
            "inf".parse::<Scalar>(),
            Err(ValueError::NotFinite { .. })
        ));
        assert!(matches!(
            "banana".parse::<Scalar>(),
            Err(ValueError::BadNumber { .. })
        ));
        assert!(matches!(
            "-Infinity".parse::<Scalar>(),
            Err(ValueError::NotFinite { .. })
        ));
        assert!(matches!(
            "NaN".parse::<Scalar>(),
            Err(ValueError::NotFinite { .. })
        ));
        assert!(matches!(
            "1e300".parse::<Scalar>(),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn arithmetic_saturates() {
        let max = Scalar::from_milli(i64::MAX);
        assert_eq!(max.saturating_add(Scalar::from_milli(1)), max);
        assert_eq!(
            Scalar::from_units(1).sub_floor_zero(Scalar::from_units(2)),
            Scalar::ZERO
        );
    }
}
