//! ISO 8601 as Chronos uses it: repeating intervals `R[n]/<start>/<period>` (`R` forever,
//! `Rn` n times, empty start = now), durations `PnYnMnDTnHnMnS` and `PnW`, and the
//! instants a schedule names in a time zone.
//!
//! Instant `k` is `start + k × period`, computed from the start each time (so `P1M` from
//! January 31st gives February 28th and then March 31st, never drifting): the calendar part
//! (years, months, weeks, days) is added to the wall-clock time in the schedule's zone, and
//! the clock part (hours, minutes, seconds) as elapsed time. So `P1D` at 09:00 Europe/Berlin
//! stays at 09:00 through daylight-saving changes while `PT24H` moves by the hour. A wall
//! time that does not exist (the spring-forward gap) runs at the first instant after the
//! gap, one that exists twice at the first of the two.

use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, LocalResult, Months, NaiveDateTime, Offset,
    TimeZone, Utc,
};
use chrono_tz::Tz;

/// A parse error, with the reason shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError(msg.into()))
}

/// An ISO 8601 duration, kept in its fields (months and years are not a fixed length).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Period {
    /// Years.
    pub years: u32,
    /// Months.
    pub months: u32,
    /// Weeks.
    pub weeks: u32,
    /// Days.
    pub days: u32,
    /// Hours.
    pub hours: u64,
    /// Minutes.
    pub minutes: u64,
    /// Seconds (with milliseconds).
    pub millis: u64,
}

impl Period {
    /// Parses `PnYnMnWnDTnHnMnS` (fractional seconds allowed, e.g. `PT0.5S`).
    pub fn parse(text: &str) -> Result<Period, ParseError> {
        let t = text.trim();
        let Some(rest) = t.strip_prefix('P') else {
            return err(format!(
                "'{t}' is not an ISO 8601 duration: it must start with P"
            ));
        };
        if rest.is_empty() || rest == "T" {
            return err(format!("'{t}' is not an ISO 8601 duration: no fields"));
        }
        let mut p = Period::default();
        let mut in_time = false;
        let mut number = String::new();
        let mut any = false;
        for c in rest.chars() {
            match c {
                'T' if !in_time && number.is_empty() => in_time = true,
                '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
                _ => {
                    if number.is_empty() {
                        return err(format!("'{t}': a number must come before '{c}'"));
                    }
                    let whole = |n: &str| -> Result<u64, ParseError> {
                        n.parse::<u64>().map_err(|_| {
                            ParseError(format!("'{t}': '{n}{c}' is not a whole number"))
                        })
                    };
                    let small = |n: &str| -> Result<u32, ParseError> {
                        whole(n).and_then(|v| {
                            u32::try_from(v)
                                .ok()
                                .filter(|v| *v <= 100_000)
                                .ok_or_else(|| ParseError(format!("'{t}': {n}{c} is too large")))
                        })
                    };
                    match (in_time, c) {
                        (false, 'Y') => p.years = small(&number)?,
                        (false, 'M') => p.months = small(&number)?,
                        (false, 'W') => p.weeks = small(&number)?,
                        (false, 'D') => p.days = small(&number)?,
                        (true, 'H') => p.hours = whole(&number)?.min(1 << 32),
                        (true, 'M') => p.minutes = whole(&number)?.min(1 << 36),
                        (true, 'S') => {
                            let secs: f64 = number.parse().map_err(|_| {
                                ParseError(format!("'{t}': '{number}S' is not a number"))
                            })?;
                            if !secs.is_finite() || !(0.0..1e12).contains(&secs) {
                                return err(format!("'{t}': {number}S is out of range"));
                            }
                            p.millis = (secs * 1000.0).round() as u64;
                        }
                        (false, _) if "HS".contains(c) => {
                            return err(format!(
                                "'{t}': hours, minutes and seconds need a T before them (e.g. PT{number}{c})"
                            ))
                        }
                        _ => return err(format!("'{t}': unexpected '{c}'")),
                    }
                    number.clear();
                    any = true;
                }
            }
        }
        if !number.is_empty() || !any {
            return err(format!("'{t}': a number without a unit at the end"));
        }
        if t.ends_with('T') {
            return err(format!("'{t}': nothing after T"));
        }
        Ok(p)
    }

    /// Whether every field is zero.
    pub fn is_zero(&self) -> bool {
        *self == Period::default()
    }

    /// The clock part as elapsed time.
    fn clock(&self) -> Duration {
        Duration::hours(self.hours as i64)
            + Duration::minutes(self.minutes as i64)
            + Duration::milliseconds(self.millis as i64)
    }

    /// The period as elapsed time, counting a day as 24 h, a month as 30 days, a year as
    /// 365 days (for epsilons and sanity checks, never for schedules).
    pub fn approx(&self) -> Duration {
        let days = self.years as i64 * 365
            + self.months as i64 * 30
            + self.weeks as i64 * 7
            + self.days as i64;
        Duration::days(days) + self.clock()
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P")?;
        for (v, u) in [
            (self.years, 'Y'),
            (self.months, 'M'),
            (self.weeks, 'W'),
            (self.days, 'D'),
        ] {
            if v > 0 {
                write!(f, "{v}{u}")?;
            }
        }
        if self.hours > 0 || self.minutes > 0 || self.millis > 0 || self.is_zero() {
            f.write_str("T")?;
            if self.hours > 0 {
                write!(f, "{}H", self.hours)?;
            }
            if self.minutes > 0 {
                write!(f, "{}M", self.minutes)?;
            }
            if self.millis > 0 || self.is_zero() {
                if self.millis % 1000 == 0 {
                    write!(f, "{}S", self.millis / 1000)?;
                } else {
                    write!(f, "{}.{:03}S", self.millis / 1000, self.millis % 1000)?;
                }
            }
        }
        Ok(())
    }
}

/// The zone a schedule's wall-clock arithmetic happens in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// The offset written in the start (`Z` = UTC).
    Fixed(FixedOffset),
    /// A tz database zone (`scheduleTimeZone`).
    Named(Tz),
}

impl Zone {
    /// Parses a tz database name such as `Europe/Berlin` (or `UTC`).
    pub fn named(name: &str) -> Result<Zone, ParseError> {
        name.trim().parse::<Tz>().map(Zone::Named).map_err(|_| {
            ParseError(format!(
                "unknown time zone '{name}' (use a tz database name such as Europe/Berlin)"
            ))
        })
    }

    fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Fixed(o) => t.with_timezone(o).naive_local(),
            Zone::Named(z) => t.with_timezone(z).naive_local(),
        }
    }

    /// The instant of a wall-clock time: the earlier one if it exists twice, the first
    /// instant after the gap if it does not exist.
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        fn pick<Z: TimeZone>(z: &Z, local: NaiveDateTime) -> DateTime<Utc> {
            match z.from_local_datetime(&local) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
                LocalResult::None => {
                    // Inside a gap: read the wall time with the offset in force before
                    // the gap, which lands as far past the gap's end as it was past its
                    // start (02:30 in a 02:00-03:00 gap runs at 03:30).
                    let before = z
                        .from_local_datetime(&(local - Duration::hours(26)))
                        .earliest()
                        .map(|b| b.fixed_offset().offset().local_minus_utc())
                        .unwrap_or(0);
                    Utc.from_utc_datetime(&(local - Duration::seconds(i64::from(before))))
                }
            }
        }
        match self {
            Zone::Fixed(o) => pick(o, local),
            Zone::Named(z) => pick(z, local),
        }
    }
}

/// A parsed `R[n]/<start>/<period>` schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// How many instants (`None`: forever).
    pub repeat: Option<u64>,
    /// The first instant (`None`: "now", fixed when the job is stored).
    pub start: Option<DateTime<Utc>>,
    /// The wall-clock start in `zone` (fields kept when `scheduleTimeZone` overrides the
    /// written offset).
    start_local: Option<NaiveDateTime>,
    /// The period.
    pub period: Period,
    /// The zone of the wall-clock arithmetic.
    pub zone: Zone,
}

/// Parses an ISO 8601 date-time with an offset or `Z`: `2014-09-25T17:22:00Z`,
/// `2014-09-25T17:22:00.000+02:00`, or without seconds `2014-09-25T17:22Z`.
pub fn parse_datetime(text: &str) -> Result<DateTime<FixedOffset>, ParseError> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y%m%dT%H%M%S%#z",
    ] {
        if let Ok(d) = DateTime::parse_from_str(&t.replace('Z', "+00:00"), fmt) {
            return Ok(d);
        }
    }
    err(format!(
        "'{t}' is not an ISO 8601 date-time with an offset (e.g. 2014-09-25T17:22:00Z)"
    ))
}

impl Schedule {
    /// Parses `schedule`, with `time_zone` (a tz database name, may be empty) overriding
    /// the offset written in the start.
    pub fn parse(schedule: &str, time_zone: &str) -> Result<Schedule, ParseError> {
        let s = schedule.trim();
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() != 3 {
            return err(format!(
                "schedule '{s}' must be R[n]/<start>/<period>, e.g. R/2014-09-25T17:22:00Z/PT2M"
            ));
        }
        let Some(rep) = parts[0].strip_prefix('R') else {
            return err(format!("schedule '{s}' must start with R or Rn"));
        };
        let repeat = if rep.is_empty() || rep == "-1" {
            None
        } else {
            Some(rep.parse::<u64>().map_err(|_| {
                ParseError(format!(
                    "schedule '{s}': '{}' is not R or Rn with a whole n",
                    parts[0]
                ))
            })?)
        };
        let period = Period::parse(parts[2])
            .map_err(|e| ParseError(format!("schedule '{s}': period {e}")))?;
        if period.is_zero() {
            return err(format!("schedule '{s}': the period must not be zero"));
        }
        let named = if time_zone.trim().is_empty() {
            None
        } else {
            Some(Zone::named(time_zone)?)
        };
        let (start, start_local, zone) = if parts[1].trim().is_empty() {
            (None, None, named.unwrap_or(Zone::Fixed(Utc.fix())))
        } else {
            let d = parse_datetime(parts[1])
                .map_err(|e| ParseError(format!("schedule '{s}': start {e}")))?;
            match named {
                // The zone overrides the written offset: same wall-clock fields, its zone.
                Some(z) => {
                    let local = d.naive_local();
                    (Some(z.instant(local)), Some(local), z)
                }
                None => (
                    Some(d.with_timezone(&Utc)),
                    Some(d.naive_local()),
                    Zone::Fixed(*d.offset()),
                ),
            }
        };
        Ok(Schedule {
            repeat,
            start,
            start_local,
            period,
            zone,
        })
    }

    /// The same schedule starting at `now` (for an empty start).
    pub fn anchored(mut self, now: DateTime<Utc>) -> Schedule {
        if self.start.is_none() {
            self.start = Some(now);
            self.start_local = Some(self.zone.local(now));
        }
        self
    }

    /// The `k`-th instant (0-based): `None` past `Rn` or without a start.
    pub fn instant(&self, k: u64) -> Option<DateTime<Utc>> {
        if self.repeat.is_some_and(|n| k >= n) {
            return None;
        }
        let local = self.start_local?;
        let p = &self.period;
        let k32 = u32::try_from(k).ok()?;
        let months = (p.years.checked_mul(12)?.checked_add(p.months)?).checked_mul(k32)?;
        let days = (p.weeks as i64 * 7 + p.days as i64).checked_mul(k as i64)?;
        let mut wall = local;
        if months > 0 {
            // Clamp to the month's end (Jan 31 + 1M = Feb 28/29), always from the start.
            wall = wall.checked_add_months(Months::new(months))?;
        }
        if days > 0 {
            wall = wall.checked_add_signed(Duration::try_days(days)?)?;
        }
        let base = if months == 0 && days == 0 {
            self.start?
        } else {
            self.zone.instant(wall)
        };
        let clock = p.clock();
        let clock_k = Duration::try_milliseconds(clock.num_milliseconds().checked_mul(k as i64)?)?;
        base.checked_add_signed(clock_k)
    }

    /// The first instant index whose time is at or after `t` (a bounded search: the
    /// instants are increasing).
    pub fn first_at_or_after(&self, t: DateTime<Utc>) -> u64 {
        // Exponential then binary search.
        let mut hi = 1u64;
        while self.instant(hi - 1).is_some_and(|x| x < t) {
            hi = hi.saturating_mul(2);
            if hi > 1 << 40 {
                break;
            }
        }
        let mut lo = hi / 2;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.instant(mid).is_some_and(|x| x < t) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Formats an instant as Chronos does (`2014-09-25T17:22:00.000Z`).
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The local date of an instant in a zone (for tests and the UI).
pub fn local_date(t: DateTime<Utc>, zone: &Zone) -> (i32, u32, u32, String) {
    let l = zone.local(t);
    (
        l.year(),
        l.month(),
        l.day(),
        l.format("%H:%M:%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_datetime(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn periods() {
        let p = Period::parse("P1Y2M3DT4H5M6S").unwrap();
        assert_eq!(
            (p.years, p.months, p.days, p.hours, p.minutes, p.millis),
            (1, 2, 3, 4, 5, 6000)
        );
        assert_eq!(Period::parse("P2W").unwrap().weeks, 2);
        assert_eq!(Period::parse("PT0.5S").unwrap().millis, 500);
        assert_eq!(Period::parse("PT24H").unwrap().to_string(), "PT24H");
        assert_eq!(Period::parse("P1DT1M").unwrap().to_string(), "P1DT1M");
        for bad in [
            "", "P", "PT", "1D", "P1H", "PTD", "P1", "PxD", "P1DT", "P-1D",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(Period::parse("P1H").unwrap_err().0.contains("need a T"));
    }

    #[test]
    fn schedules() {
        let s = Schedule::parse("R5/2014-09-25T17:22:00Z/PT2M", "").unwrap();
        assert_eq!(s.repeat, Some(5));
        assert_eq!(s.instant(0), Some(utc("2014-09-25T17:22:00Z")));
        assert_eq!(s.instant(4), Some(utc("2014-09-25T17:30:00Z")));
        assert_eq!(s.instant(5), None);
        let f = Schedule::parse("R/2014-09-25T17:22:00+02:00/P1D", "").unwrap();
        assert_eq!(f.repeat, None);
        assert_eq!(f.instant(1), Some(utc("2014-09-26T15:22:00Z")));
        let now = Schedule::parse("R//PT5S", "").unwrap();
        assert_eq!(now.start, None);
        assert_eq!(now.instant(0), None);
        let a = now.anchored(utc("2020-01-01T00:00:00Z"));
        assert_eq!(a.instant(2), Some(utc("2020-01-01T00:00:10Z")));
        assert_eq!(a.first_at_or_after(utc("2020-01-01T00:00:09Z")), 2);
        assert_eq!(a.first_at_or_after(utc("2020-01-01T00:00:10Z")), 2);
        assert_eq!(a.first_at_or_after(utc("2019-01-01T00:00:00Z")), 0);
        for bad in [
            "",
            "R",
            "R/2014-09-25T17:22:00Z",
            "X/2014-09-25T17:22:00Z/PT1M",
            "Rx/2014-09-25T17:22:00Z/PT1M",
            "R/yesterday/PT1M",
            "R/2014-09-25T17:22:00Z/PT0S",
            "R/2014-09-25T17:22:00Z/1M",
        ] {
            assert!(Schedule::parse(bad, "").is_err(), "{bad} should be refused");
        }
        assert!(Schedule::parse("R/2014-09-25T17:22:00Z/PT1M", "Mars/Olympus").is_err());
    }

    #[test]
    fn months_clamp_from_the_start() {
        let s = Schedule::parse("R/2021-01-31T10:00:00Z/P1M", "").unwrap();
        assert_eq!(s.instant(1), Some(utc("2021-02-28T10:00:00Z")));
        assert_eq!(s.instant(2), Some(utc("2021-03-31T10:00:00Z")));
    }

    #[test]
    fn time_zone_keeps_the_wall_clock_across_dst() {
        // Europe/Berlin: CET (+1) in winter, CEST (+2) from 2021-03-28.
        let s = Schedule::parse("R/2021-03-27T09:00:00Z/P1D", "Europe/Berlin").unwrap();
        assert_eq!(s.instant(0), Some(utc("2021-03-27T08:00:00Z")));
        assert_eq!(s.instant(1), Some(utc("2021-03-28T07:00:00Z")));
        // PT24H is elapsed time: it moves by the hour on the wall clock.
        let h = Schedule::parse("R/2021-03-27T09:00:00Z/PT24H", "Europe/Berlin").unwrap();
        assert_eq!(h.instant(1), Some(utc("2021-03-28T08:00:00Z")));
        // 02:30 does not exist on 2021-03-28 in Berlin: the first instant after the gap.
        let g = Schedule::parse("R/2021-03-27T02:30:00Z/P1D", "Europe/Berlin").unwrap();
        assert_eq!(g.instant(1), Some(utc("2021-03-28T01:30:00Z")));
        assert_eq!(g.instant(2), Some(utc("2021-03-29T00:30:00Z")));
        // 02:30 exists twice on 2021-10-31: the first (still CEST).
        let a = Schedule::parse("R/2021-10-30T02:30:00Z/P1D", "Europe/Berlin").unwrap();
        assert_eq!(a.instant(1), Some(utc("2021-10-31T00:30:00Z")));
        assert_eq!(a.instant(2), Some(utc("2021-11-01T01:30:00Z")));
    }
}
