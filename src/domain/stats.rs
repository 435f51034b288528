//! Statistics' calendar and rules, pure (DESIGN.md, "Statistics"): the range
//! a page covers in Nepal days, its UTC bounds, its buckets (days, or
//! Sunday–Saturday weeks), the previous period of the same length, the
//! change in per cent, and the small-sample rule. `market::stats` counts.
//!
//! Percentiles (median, 90th percentile) are the interpolated kind
//! (Postgres `percentile_cont`): with the n values sorted, the p-th
//! percentile lies at position p·(n−1), between its two neighbours in
//! proportion.

use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Time};

use super::FieldErrors;
use super::filter::sane_day;
use super::payouts::week_start;
use super::request::LOCAL_OFFSET;

/// The preset ranges, in days ending today.
pub const PRESETS: [i64; 4] = [7, 28, 90, 365];
/// The preset shown when the query names none.
pub const DEFAULT_DAYS: i64 = 28;
/// The longest range a page covers, in days (a leap year).
pub const MAX_DAYS: i64 = 366;
/// Up to this many days a range is drawn per day, beyond it per week.
pub const DAILY_UP_TO: i64 = 31;
/// A rate or a time on fewer closed items than this says "not enough
/// orders yet" instead of a figure: the offer cards' rule.
pub use super::offer::MIN_SAMPLE;

/// The Nepal day `at` falls on.
pub fn nepal_day(at: OffsetDateTime) -> Date {
    at.checked_to_offset(LOCAL_OFFSET)
        .map_or(at.date(), |local| local.date())
}

/// The moment a Nepal day begins (00:00 in Nepal), in UTC terms.
pub fn day_begins(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_offset(LOCAL_OFFSET)
}

/// How a range is cut into buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Day,
    Week,
    Month,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Day => "day",
            Step::Week => "week",
            Step::Month => "month",
        }
    }
}

/// The days a page covers, both ends included, in Nepal days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub first: Date,
    pub last: Date,
    /// The preset chosen (7, 28, 90 or 365), `None` for from/to dates.
    pub preset: Option<i64>,
    pub step: Step,
    /// Today in Nepal, when the range was read: its bucket is partial.
    pub today: Date,
}

/// One bar of a series: the days it covers (a day, or a week clipped to
/// the range) and whether it is still going on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub first: Date,
    pub last: Date,
    pub partial: bool,
    pub step: Step,
}

impl Bucket {
    /// "26 Nov" for a day, "22–28 Nov" for a week ("29 Nov–5 Dec" across
    /// a month), "Nov 2026" for a month.
    pub fn label(&self) -> String {
        if self.step == Step::Month {
            let month = format_description!("[month repr:short] [year]");
            return self.first.format(month).unwrap_or_default();
        }
        let day = format_description!("[day padding:none] [month repr:short]");
        let first = self.first.format(day).unwrap_or_default();
        if self.first == self.last {
            first
        } else if self.first.month() == self.last.month() {
            format!(
                "{}–{}",
                self.first.day(),
                self.last.format(day).unwrap_or_default()
            )
        } else {
            format!("{first}–{}", self.last.format(day).unwrap_or_default())
        }
    }
}

impl Range {
    /// The range a query asks for at `now`: `range=7d|28d|90d|365d`, or
    /// `from` and `to` (`YYYY-MM-DD`, Nepal dates, both ends included);
    /// `by=day|week` chooses the buckets (otherwise days up to
    /// [`DAILY_UP_TO`] days, weeks beyond). Nothing given: the last 28
    /// days. Errors are keyed by field (`range`, `from`, `to`, `by`).
    pub fn parse(
        range: &str,
        from: &str,
        to: &str,
        by: &str,
        now: OffsetDateTime,
    ) -> Result<Range, FieldErrors> {
        let today = nepal_day(now);
        let mut errors = FieldErrors::new();
        let (from, to, range) = (from.trim(), to.trim(), range.trim());
        let dates = if from.is_empty() && to.is_empty() {
            let days = if range.is_empty() {
                Some(DEFAULT_DAYS)
            } else {
                let preset = range
                    .strip_suffix('d')
                    .and_then(|days| days.parse::<i64>().ok())
                    .filter(|days| PRESETS.contains(days));
                if preset.is_none() {
                    errors.add("range", "Choose 7, 28, 90 or 365 days, or give dates.");
                }
                preset
            };
            days.and_then(|days| {
                let first = today.checked_sub(Duration::days(days - 1))?;
                Some((first, today, Some(days)))
            })
        } else {
            let first = errors.check("from", date(from, "start"));
            let last = errors.check("to", date(to, "end"));
            match (first, last) {
                (Some(first), Some(last)) if first > last => {
                    errors.add("to", "The end date is before the start date.");
                    None
                }
                (Some(first), Some(last)) if (last - first).whole_days() + 1 > MAX_DAYS => {
                    errors.add(
                        "to",
                        format!("Please choose at most {MAX_DAYS} days between the dates."),
                    );
                    None
                }
                (Some(first), Some(last)) => Some((first, last, None)),
                _ => None,
            }
        };
        let step = match by.trim() {
            "" => None,
            "day" => Some(Step::Day),
            "week" => Some(Step::Week),
            "month" => Some(Step::Month),
            _ => {
                errors.add("by", "Choose per day, per week or per month.");
                None
            }
        };
        errors.finish(|| {
            let (first, last, preset) = dates?;
            let days = (last - first).whole_days() + 1;
            let step = step.unwrap_or(if days <= DAILY_UP_TO {
                Step::Day
            } else {
                Step::Week
            });
            Some(Range {
                first,
                last,
                preset,
                step,
                today,
            })
        })
    }

    /// How many days the range covers.
    pub fn days(&self) -> i64 {
        (self.last - self.first).whole_days() + 1
    }

    /// The first moment of the range: 00:00 of its first day in Nepal.
    pub fn start(&self) -> OffsetDateTime {
        day_begins(self.first)
    }

    /// The moment after the range: 00:00 in Nepal of the day after its
    /// last day (a range is `start <= at < end`).
    pub fn end(&self) -> OffsetDateTime {
        day_begins(self.last.next_day().unwrap_or(self.last))
    }

    /// The same number of days just before this range, cut the same way.
    pub fn previous(&self) -> Range {
        let back = |day: Date| day.checked_sub(Duration::days(self.days())).unwrap_or(day);
        Range {
            first: back(self.first),
            last: back(self.last),
            ..*self
        }
    }

    /// The buckets of the range in order: every day, or every Sunday–
    /// Saturday week with the first and last clipped to the range. The
    /// one holding today is partial.
    pub fn buckets(&self) -> Vec<Bucket> {
        let mut buckets = Vec::new();
        let mut first = self.first;
        while first <= self.last {
            let last = match self.step {
                Step::Day => first,
                Step::Week => {
                    let saturday = week_start(day_begins(first))
                        .checked_add(Duration::days(6))
                        .unwrap_or(self.last);
                    saturday.min(self.last)
                }
                Step::Month => {
                    let days = i64::from(first.month().length(first.year()));
                    let month_end = first
                        .replace_day(1)
                        .ok()
                        .and_then(|start| start.checked_add(Duration::days(days - 1)))
                        .unwrap_or(self.last);
                    month_end.min(self.last)
                }
            };
            buckets.push(Bucket {
                first,
                last,
                partial: first <= self.today && self.today <= last,
                step: self.step,
            });
            match last.next_day() {
                Some(next) => first = next,
                None => break,
            }
        }
        buckets
    }

    /// The index of the bucket `day` falls in, if it is in the range.
    pub fn bucket_of(&self, day: Date) -> Option<usize> {
        if day < self.first || day > self.last {
            return None;
        }
        let index = match self.step {
            Step::Day => (day - self.first).whole_days(),
            Step::Week => {
                let week = |d: Date| week_start(day_begins(d));
                (week(day) - week(self.first)).whole_days() / 7
            }
            Step::Month => {
                let months = |d: Date| i64::from(d.year()) * 12 + i64::from(u8::from(d.month()));
                months(day) - months(self.first)
            }
        };
        usize::try_from(index).ok()
    }

    /// Per-day figures (Nepal day, value) summed into the buckets, every
    /// bucket present (zero when nothing happened).
    pub fn series(&self, per_day: &[(Date, i64)]) -> Vec<i64> {
        let mut values = vec![0; self.buckets().len()];
        for (day, value) in per_day {
            if let Some(slot) = self.bucket_of(*day).and_then(|i| values.get_mut(i)) {
                *slot += value;
            }
        }
        values
    }

    /// The query that asks for this range again (`range=28d`, or
    /// `from=…&to=…`), with the step when it is not the default one.
    pub fn query(&self) -> String {
        let mut query = match self.preset {
            Some(days) => format!("range={days}d"),
            None => format!("from={}&to={}", self.first, self.last),
        };
        let default = if self.days() <= DAILY_UP_TO {
            Step::Day
        } else {
            Step::Week
        };
        if self.step != default {
            query.push_str("&by=");
            query.push_str(self.step.as_str());
        }
        query
    }
}

/// A `YYYY-MM-DD` date, with a message naming which end is wrong.
fn date(raw: &str, end: &str) -> Result<Date, String> {
    if raw.is_empty() {
        return Err(format!("Please give the {end} date."));
    }
    let format = format_description!("[year]-[month]-[day]");
    sane_day(Date::parse(raw, &format).ok())
        .ok_or_else(|| format!("The {end} date should be a date like 2026-11-26."))
}

/// The change from `previous` to `current` in whole per cent, rounded
/// half away from zero; `None` when there was nothing before to compare.
pub fn change_percent(current: i64, previous: i64) -> Option<i64> {
    if previous == 0 {
        return None;
    }
    let diff = i128::from(current) - i128::from(previous);
    let base = i128::from(previous).abs();
    let scaled = diff * 100;
    let rounded = (scaled.abs() + base / 2) / base * scaled.signum();
    i64::try_from(rounded).ok()
}

/// "+12%", "−3%", "0%", or "—" when there is nothing to compare with.
pub fn change_words(change: Option<i64>) -> String {
    match change {
        None => "—".into(),
        Some(c) if c > 0 => format!("+{c}%"),
        Some(c) if c < 0 => format!("−{}%", c.unsigned_abs()),
        Some(_) => "0%".into(),
    }
}

/// A share of a sample: `hits` of `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate {
    pub hits: i64,
    pub n: i64,
}

impl Rate {
    /// Whether the sample is large enough to show the figure.
    pub fn enough(&self) -> bool {
        enough(self.n)
    }

    /// The share in whole per cent, rounded half up but 100% and 0% only
    /// when exact (199 of 200 reads 99%, 1 of 300 reads 1%); `None` on too
    /// small a sample. Offer cards and statistics pages both say it so.
    pub fn percent(&self) -> Option<i64> {
        if !self.enough() {
            return None;
        }
        let rounded = (self.hits * 200 + self.n) / (self.n * 2);
        Some(match rounded {
            100 if self.hits < self.n => 99,
            0 if self.hits > 0 => 1,
            p => p,
        })
    }

    /// "80%", or "not enough orders yet".
    pub fn words(&self) -> String {
        self.percent()
            .map_or_else(|| NOT_ENOUGH.into(), |p| format!("{p}%"))
    }
}

/// What a figure on too small a sample says instead.
pub const NOT_ENOUGH: &str = "not enough orders yet";

/// Whether a sample of `n` is large enough to show a rate or a time.
pub fn enough(n: i64) -> bool {
    n >= MIN_SAMPLE
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    // Thursday 26 Nov 2026, 10:00 in Nepal.
    const NOW: OffsetDateTime = datetime!(2026-11-26 04:15 UTC);

    fn parse(range: &str, from: &str, to: &str, by: &str) -> Result<Range, FieldErrors> {
        Range::parse(range, from, to, by, NOW)
    }

    #[test]
    fn stats_presets_end_today_in_nepal() {
        let range = parse("", "", "", "").unwrap();
        assert_eq!(
            (range.first, range.last),
            (date!(2026 - 10 - 30), date!(2026 - 11 - 26))
        );
        assert_eq!(
            (range.days(), range.preset, range.step),
            (28, Some(28), Step::Day)
        );
        let week = parse("7d", "", "", "").unwrap();
        assert_eq!(week.first, date!(2026 - 11 - 20));
        assert_eq!(parse("90d", "", "", "").unwrap().step, Step::Week);
        assert_eq!(parse("365d", "", "", "").unwrap().days(), 365);
        // 18:20 UTC on the 26th is already the 27th in Nepal.
        let late = Range::parse("7d", "", "", "", datetime!(2026-11-26 18:20 UTC)).unwrap();
        assert_eq!(late.last, date!(2026 - 11 - 27));
        for bad in ["5d", "28", "x", "-7d"] {
            let err = parse(bad, "", "", "").unwrap_err();
            assert!(err.get("range").is_some(), "{bad}");
        }
    }

    #[test]
    fn stats_dates_are_checked_with_a_message_per_field() {
        let range = parse("7d", "2026-11-01", "2026-11-10", "").unwrap();
        assert_eq!(
            (range.first, range.last, range.preset),
            (date!(2026 - 11 - 01), date!(2026 - 11 - 10), None)
        );
        assert_eq!(range.query(), "from=2026-11-01&to=2026-11-10");
        let err = parse("", "2026-11-10", "2026-11-01", "").unwrap_err();
        assert!(err.get("to").unwrap().contains("before"));
        let err = parse("", "2025-01-01", "2026-11-01", "").unwrap_err();
        assert!(err.get("to").unwrap().contains("366"));
        assert!(parse("", "2025-01-01", "2026-01-01", "").is_ok());
        let err = parse("", "yesterday", "", "").unwrap_err();
        assert!(err.get("from").unwrap().contains("like 2026-11-26"));
        assert!(err.get("to").unwrap().contains("end date"));
        assert!(parse("", "2026-02-30", "2026-03-01", "").is_err());
        assert!(parse("", "", "", "year").unwrap_err().get("by").is_some());
    }

    #[test]
    fn stats_bounds_are_nepal_midnights() {
        let range = parse("", "2026-11-22", "2026-11-28", "").unwrap();
        assert_eq!(range.start(), datetime!(2026-11-21 18:15 UTC));
        assert_eq!(range.end(), datetime!(2026-11-28 18:15 UTC));
        assert_eq!(
            nepal_day(datetime!(2026-11-21 18:14:59 UTC)),
            date!(2026 - 11 - 21)
        );
        assert_eq!(
            nepal_day(datetime!(2026-11-21 18:15 UTC)),
            date!(2026 - 11 - 22)
        );
        let previous = range.previous();
        assert_eq!(
            (previous.first, previous.last),
            (date!(2026 - 11 - 15), date!(2026 - 11 - 21))
        );
    }

    #[test]
    fn stats_weeks_run_sunday_to_saturday_clipped_to_the_range() {
        // Wed 18 Nov to Thu 3 Dec: Wed–Sat, a whole week, Sun–Thu.
        let range = parse("", "2026-11-18", "2026-12-03", "week").unwrap();
        let buckets = range.buckets();
        let spans: Vec<_> = buckets
            .iter()
            .map(|b| (b.first, b.last, b.partial))
            .collect();
        assert_eq!(
            spans,
            [
                (date!(2026 - 11 - 18), date!(2026 - 11 - 21), false),
                (date!(2026 - 11 - 22), date!(2026 - 11 - 28), true),
                (date!(2026 - 11 - 29), date!(2026 - 12 - 03), false),
            ]
        );
        assert_eq!(buckets[0].label(), "18–21 Nov");
        assert_eq!(buckets[2].label(), "29 Nov–3 Dec");
        assert_eq!(range.bucket_of(date!(2026 - 11 - 21)), Some(0));
        assert_eq!(range.bucket_of(date!(2026 - 11 - 22)), Some(1));
        assert_eq!(range.bucket_of(date!(2026 - 12 - 03)), Some(2));
        assert_eq!(range.bucket_of(date!(2026 - 12 - 04)), None);
        assert_eq!(range.bucket_of(date!(2026 - 11 - 17)), None);
        assert_eq!(range.query(), "from=2026-11-18&to=2026-12-03&by=week");
    }

    #[test]
    fn stats_series_are_zero_filled_and_today_is_partial() {
        let range = parse("7d", "", "", "").unwrap();
        let buckets = range.buckets();
        assert_eq!(buckets.len(), 7);
        assert!(buckets[6].partial && buckets[..6].iter().all(|b| !b.partial));
        assert_eq!(buckets[6].label(), "26 Nov");
        let series = range.series(&[
            (date!(2026 - 11 - 20), 2),
            (date!(2026 - 11 - 26), 3),
            (date!(2026 - 11 - 19), 100),
        ]);
        assert_eq!(series, [2, 0, 0, 0, 0, 0, 3]);
        let weekly = parse("90d", "", "", "").unwrap();
        let sums = weekly.series(&[(date!(2026 - 11 - 22), 1), (date!(2026 - 11 - 26), 2)]);
        assert_eq!(sums.last(), Some(&3));
        assert_eq!(sums.iter().sum::<i64>(), 3);
    }

    #[test]
    fn stats_months_are_calendar_months_clipped_to_the_range() {
        let range = parse("", "2026-01-15", "2026-03-10", "month").unwrap();
        let spans: Vec<_> = range
            .buckets()
            .iter()
            .map(|b| (b.first, b.last, b.label()))
            .collect();
        assert_eq!(
            spans,
            [
                (
                    date!(2026 - 01 - 15),
                    date!(2026 - 01 - 31),
                    "Jan 2026".to_owned()
                ),
                (
                    date!(2026 - 02 - 01),
                    date!(2026 - 02 - 28),
                    "Feb 2026".to_owned()
                ),
                (
                    date!(2026 - 03 - 01),
                    date!(2026 - 03 - 10),
                    "Mar 2026".to_owned()
                ),
            ]
        );
        assert_eq!(range.bucket_of(date!(2026 - 02 - 28)), Some(1));
        assert_eq!(range.bucket_of(date!(2026 - 03 - 01)), Some(2));
        let year = parse("365d", "", "", "month").unwrap();
        assert_eq!(year.buckets().len(), 13);
        assert!(year.buckets().last().unwrap().partial);
        assert_eq!(
            year.series(&[(date!(2026 - 11 - 01), 2), (date!(2026 - 11 - 26), 1)])
                .last(),
            Some(&3)
        );
    }

    #[test]
    fn stats_change_is_none_without_a_previous_figure() {
        assert_eq!(change_percent(5, 0), None);
        assert_eq!(change_percent(0, 0), None);
        assert_eq!(change_percent(15, 10), Some(50));
        assert_eq!(change_percent(5, 10), Some(-50));
        assert_eq!(change_percent(2, 3), Some(-33));
        assert_eq!(change_percent(1, 3), Some(-67));
        assert_eq!(change_percent(-5, -10), Some(50));
        assert_eq!(change_words(Some(12)), "+12%");
        assert_eq!(change_words(Some(-3)), "−3%");
        assert_eq!(change_words(None), "—");
    }

    #[test]
    fn stats_small_samples_say_not_enough() {
        assert_eq!(Rate { hits: 4, n: 4 }.words(), NOT_ENOUGH);
        assert_eq!(Rate { hits: 0, n: 0 }.percent(), None);
        assert_eq!(Rate { hits: 4, n: 5 }.words(), "80%");
        assert_eq!(
            Rate {
                hits: 2,
                n: 3 * 2 + 1
            }
            .percent(),
            Some(29)
        );
        assert_eq!(Rate { hits: 1, n: 8 }.percent(), Some(13));
        assert!(!enough(4) && enough(5));
        assert_eq!(Rate { hits: 199, n: 200 }.percent(), Some(99));
        assert_eq!(Rate { hits: 200, n: 200 }.percent(), Some(100));
        assert_eq!(Rate { hits: 1, n: 300 }.percent(), Some(1));
        assert_eq!(Rate { hits: 0, n: 300 }.percent(), Some(0));
    }
}
