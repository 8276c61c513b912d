//! Inclusive integer interval sets (`ports:[31000-32000,40000-40010]`).
//!
//! A [`Ranges`] is always canonical: sorted, non-overlapping and coalesced
//! (adjacent intervals such as `1-2` and `3-4` become `1-4`), so equality is
//! structural and set operations are linear merges.

use super::ValueError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One inclusive interval `[begin, end]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Range {
    /// First value in the interval.
    pub begin: u64,
    /// Last value in the interval (inclusive).
    pub end: u64,
}

impl Range {
    /// Creates `[begin, end]`; fails if `begin > end`.
    pub fn new(begin: u64, end: u64) -> Result<Self, ValueError> {
        if begin > end {
            return Err(ValueError::BadRanges {
                text: format!("[{begin}-{end}]"),
                reason: format!("begin {begin} is greater than end {end}"),
            });
        }
        Ok(Range { begin, end })
    }

    /// Number of values in the interval (saturating at `u64::MAX`).
    pub fn count(&self) -> u64 {
        (self.end - self.begin).saturating_add(1)
    }
}

/// A canonical set of inclusive `u64` intervals.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<Range>", into = "Vec<Range>")]
pub struct Ranges(Vec<Range>);

impl Ranges {
    /// The empty set.
    pub const fn new() -> Self {
        Ranges(Vec::new())
    }

    /// A set holding the single interval `[begin, end]`; fails if `begin > end`.
    pub fn single(begin: u64, end: u64) -> Result<Self, ValueError> {
        Ok(Ranges(vec![Range::new(begin, end)?]))
    }

    /// Builds a set from `(begin, end)` pairs in any order, merging overlaps.
    ///
    /// Fails if any pair has `begin > end`.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u64)>) -> Result<Self, ValueError> {
        let mut out = Ranges::new();
        for (b, e) in pairs {
            out.insert(Range::new(b, e)?);
        }
        Ok(out)
    }

    /// True if the set holds no values.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical intervals, sorted.
    pub fn as_slice(&self) -> &[Range] {
        &self.0
    }

    /// Iterates over the canonical intervals.
    pub fn iter(&self) -> std::slice::Iter<'_, Range> {
        self.0.iter()
    }

    /// Total number of values across all intervals (saturating).
    pub fn count(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |acc, r| acc.saturating_add(r.count()))
    }

    /// True if `value` lies in one of the intervals.
    pub fn contains_value(&self, value: u64) -> bool {
        let idx = self.0.partition_point(|r| r.begin <= value);
        idx > 0 && self.0[idx - 1].end >= value
    }

    /// Adds one interval, keeping the set canonical. An inverted interval
    /// (`begin > end`, only constructible through the public fields) is ignored.
    pub fn insert(&mut self, range: Range) {
        if range.begin > range.end {
            return;
        }
        // First interval that could touch `range` (its end + 1 >= range.begin).
        let start = self
            .0
            .partition_point(|r| r.end.saturating_add(1) < range.begin);
        // One past the last interval that touches `range` (its begin <= range.end + 1).
        let stop = self
            .0
            .partition_point(|r| r.begin <= range.end.saturating_add(1));
        if start >= stop {
            self.0.insert(start, range);
            return;
        }
        let merged = Range {
            begin: range.begin.min(self.0[start].begin),
            end: range.end.max(self.0[stop - 1].end),
        };
        self.0[start] = merged;
        self.0.drain(start + 1..stop);
    }

    /// Union with `other`.
    pub fn add(&mut self, other: &Ranges) {
        for r in &other.0 {
            self.insert(*r);
        }
    }

    /// Removes every value of `other` from `self`.
    pub fn subtract(&mut self, other: &Ranges) {
        if self.0.is_empty() || other.0.is_empty() {
            return;
        }
        let o = &other.0;
        let mut out = Vec::with_capacity(self.0.len() + o.len());
        let mut j = 0;
        for r in &self.0 {
            let mut begin = r.begin;
            while j < o.len() && o[j].end < begin {
                j += 1;
            }
            let mut k = j;
            let mut alive = true;
            while k < o.len() && o[k].begin <= r.end {
                if o[k].begin > begin {
                    out.push(Range {
                        begin,
                        end: o[k].begin - 1,
                    });
                }
                if o[k].end >= r.end {
                    alive = false;
                    break;
                }
                begin = o[k].end + 1;
                k += 1;
            }
            if alive {
                out.push(Range { begin, end: r.end });
            }
        }
        self.0 = out;
    }

    /// True if every value of `other` is in `self`.
    pub fn contains(&self, other: &Ranges) -> bool {
        other.0.iter().all(|r| {
            let idx = self.0.partition_point(|s| s.begin <= r.begin);
            idx > 0 && self.0[idx - 1].end >= r.end
        })
    }

    /// The lowest `n` values of the set, or `None` if it holds fewer than `n`.
    ///
    /// Used to pick ports for a task out of an offer's port ranges.
    pub fn take(&self, n: u64) -> Option<Ranges> {
        let mut need = n;
        let mut out = Vec::new();
        for r in &self.0 {
            if need == 0 {
                break;
            }
            let here = r.count().min(need);
            out.push(Range {
                begin: r.begin,
                end: r.begin + (here - 1),
            });
            need -= here;
        }
        (need == 0).then_some(Ranges(out))
    }
}

impl TryFrom<Vec<Range>> for Ranges {
    type Error = ValueError;
    fn try_from(v: Vec<Range>) -> Result<Self, ValueError> {
        Ranges::from_pairs(v.into_iter().map(|r| (r.begin, r.end)))
    }
}

impl From<Ranges> for Vec<Range> {
    fn from(r: Ranges) -> Self {
        r.0
    }
}

impl fmt::Display for Ranges {
    /// Mesos syntax: `[31000-32000, 40000-40010]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}-{}", r.begin, r.end)?;
        }
        f.write_str("]")
    }
}

impl FromStr for Ranges {
    type Err = ValueError;

    /// Parses `[a-b,c-d]` (whitespace tolerant; a bare number `a` means `a-a`;
    /// overlapping intervals are merged).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = |reason: String| ValueError::BadRanges {
            text: text.to_owned(),
            reason,
        };
        let inner = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .ok_or_else(|| bad("missing enclosing brackets".to_owned()))?;
        let mut out = Ranges::new();
        for part in inner.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (b, e) = match part.split_once('-') {
                Some((b, e)) => (b.trim(), e.trim()),
                None => (part, part),
            };
            let num = |t: &str| {
                t.parse::<u64>()
                    .map_err(|_| bad(format!("'{t}' is not a non-negative integer")))
            };
            let (b, e) = (num(b)?, num(e)?);
            if b > e {
                return Err(bad(format!("begin {b} is greater than end {e}")));
            }
            out.insert(Range { begin: b, end: e });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Ranges {
        s.parse().unwrap()
    }

    #[test]
    fn insert_coalesces() {
        assert_eq!(r("[1-2,3-4]"), r("[1-4]"));
        assert_eq!(r("[5-9, 1-3, 2-6]").to_string(), "[1-9]");
        assert_eq!(r("[10-20,1-2,30-30]").to_string(), "[1-2, 10-20, 30-30]");
        assert_eq!(r("[0-18446744073709551615,5-6]").count(), u64::MAX);
    }

    #[test]
    fn subtract_and_contains() {
        let mut a = r("[1-10,20-30]");
        a.subtract(&r("[3-4,8-22,30-40]"));
        assert_eq!(a, r("[1-2,5-7,23-29]"));
        assert!(r("[1-10]").contains(&r("[2-3,5-10]")));
        assert!(!r("[1-10]").contains(&r("[2-11]")));
        assert!(!r("[1-4,6-10]").contains(&r("[4-6]")));
        assert!(r("[1-4]").contains(&Ranges::new()));
    }

    #[test]
    fn take_ports() {
        let p = r("[31000-31001,31005-31010]");
        assert_eq!(p.take(3).unwrap(), r("[31000-31001,31005-31005]"));
        assert_eq!(p.take(0).unwrap(), Ranges::new());
        assert!(p.take(9).is_none());
    }

    #[test]
    fn parse_errors() {
        let e = "[5-3]".parse::<Ranges>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed ranges '[5-3]': begin 5 is greater than end 3; \
             expected e.g. [31000-32000,40000-40010]"
        );
        let e = "1-3".parse::<Ranges>().unwrap_err();
        assert!(e.to_string().contains("missing enclosing brackets"));
        let e = "[a-3]".parse::<Ranges>().unwrap_err();
        assert!(e.to_string().contains("'a' is not a non-negative integer"));
        assert!("[1--3]".parse::<Ranges>().is_err());
    }

    #[test]
    fn serde_rejects_inverted() {
        assert!(serde_json::from_str::<Ranges>(r#"[{"begin":5,"end":3}]"#).is_err());
        let back: Ranges =
            serde_json::from_str(r#"[{"begin":3,"end":5},{"begin":1,"end":2}]"#).unwrap();
        assert_eq!(back, r("[1-5]"));
    }
}
