//! Business dates: days since 1970-01-01 (proleptic Gregorian), and the civil calendar on them.
//!
//! The credit engine never reads a clock: the business date is state, advanced only by the
//! day-close command. This module only converts between day numbers and year/month/day.

/// A business date as the number of days since 1970-01-01.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub u32);

impl Date {
    /// The date of a civil year/month/day; `None` if the day does not exist or precedes 1970.
    #[must_use]
    pub fn from_ymd(year: u32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        // Howard Hinnant's days_from_civil, shifted so March is the first month.
        let y = i64::from(year) - i64::from(month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        u32::try_from(days).ok().map(Date)
    }

    /// Year, month (1-12) and day (1-31) of this date.
    #[must_use]
    pub fn ymd(self) -> (u32, u32, u32) {
        let z = i64::from(self.0) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let narrow = |v: i64| u32::try_from(v).expect("a u32 day number has a u32 civil date");
        (narrow(year), narrow(month), narrow(day))
    }

    #[must_use]
    pub fn day_of_month(self) -> u32 {
        self.ymd().2
    }

    /// The date `days` later, saturating at the last representable day.
    #[must_use]
    pub fn plus(self, days: u32) -> Date {
        Date(self.0.saturating_add(days))
    }

    /// Whole years of age on `self` of someone born on `birth` (0 if `birth` is later).
    #[must_use]
    pub fn years_since(self, birth: Date) -> u32 {
        if birth > self {
            return 0;
        }
        let (y, m, d) = self.ymd();
        let (by, bm, bd) = birth.ymd();
        let years = y - by;
        if (m, d) < (bm, bd) { years - 1 } else { years }
    }

    /// The first date after `self` whose day of the month is `day` (1-28).
    #[must_use]
    pub fn next_with_day(self, day: u32) -> Date {
        debug_assert!((1..=28).contains(&day));
        let (y, m, d) = self.ymd();
        let (y, m) = if d < day {
            (y, m)
        } else if m == 12 {
            (y + 1, 1)
        } else {
            (y, m + 1)
        };
        Date::from_ymd(y, m, day).unwrap_or(Date(u32::MAX))
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl std::str::FromStr for Date {
    type Err = &'static str;

    /// Parses `YYYY-MM-DD`.
    fn from_str(text: &str) -> Result<Date, &'static str> {
        let mut parts = text.splitn(3, '-');
        let mut next = |width: usize| {
            parts
                .next()
                .filter(|p| p.len() == width && p.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|p| p.parse::<u32>().ok())
        };
        let (Some(y), Some(m), Some(d)) = (next(4), next(2), next(2)) else {
            return Err("expected a date as YYYY-MM-DD");
        };
        Date::from_ymd(y, m, d).ok_or("no such date (or before 1970)")
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: day numbers and civil dates convert both ways, including leap days.
    #[test]
    fn civil_round_trip() {
        assert_eq!(Date::from_ymd(1970, 1, 1), Some(Date(0)));
        assert_eq!(Date::from_ymd(2000, 3, 1), Some(Date(11_017)));
        assert_eq!(
            Date::from_ymd(2026, 11, 11).map(|d| d.ymd()),
            Some((2026, 11, 11))
        );
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        assert_eq!(Date::from_ymd(1969, 12, 31), None);
        for n in (0..80_000).step_by(7) {
            let (y, m, d) = Date(n).ymd();
            assert_eq!(Date::from_ymd(y, m, d), Some(Date(n)));
        }
        assert_eq!(
            "2024-02-29"
                .parse::<Date>()
                .map(|d| d.to_string())
                .as_deref(),
            Ok("2024-02-29")
        );
        assert!("2024-2-29".parse::<Date>().is_err());
    }

    // Goal: ages count whole years, birthdays included.
    #[test]
    fn age_in_whole_years() {
        let birth = Date::from_ymd(2008, 11, 12).unwrap();
        assert_eq!(Date::from_ymd(2026, 11, 11).unwrap().years_since(birth), 17);
        assert_eq!(Date::from_ymd(2026, 11, 12).unwrap().years_since(birth), 18);
        assert_eq!(birth.years_since(Date::from_ymd(2030, 1, 1).unwrap()), 0);
    }

    // Goal: the next due or statement date rolls into the next month and year.
    #[test]
    fn next_day_of_month() {
        let d = |y, m, day| Date::from_ymd(y, m, day).unwrap();
        assert_eq!(d(2026, 11, 1).next_with_day(10), d(2026, 11, 10));
        assert_eq!(d(2026, 11, 10).next_with_day(10), d(2026, 12, 10));
        assert_eq!(d(2026, 12, 20).next_with_day(1), d(2027, 1, 1));
    }
}
