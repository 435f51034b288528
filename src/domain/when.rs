//! Moments as people read them, in Nepal time and relative to now:
//! "5 min ago", "in 2 h", "tomorrow 10:00", "tomorrow 10:00–13:00".

//!
//! Dates and times are written here digit by digit: lists show several per
//! row, and `time`'s general formatter (a format description read item by
//! item, after a pass to measure it) was a tenth of a page's own CPU.

use time::{Date, OffsetDateTime, Time, UtcOffset};

use super::request::LOCAL_OFFSET;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

pub(super) fn local(at: OffsetDateTime) -> OffsetDateTime {
    // Only the first and last hours of year -9999/9999 cannot be shifted.
    at.checked_to_offset(LOCAL_OFFSET).unwrap_or(at)
}

/// `n` (below 100) in two digits.
fn two(out: &mut String, n: u8) {
    out.push(char::from(b'0' + n / 10 % 10));
    out.push(char::from(b'0' + n % 10));
}

/// A year in at least four digits, `-` before a year before 1 BC.
fn year(out: &mut String, year: i32) {
    if year < 0 {
        out.push('-');
    }
    let year = year.unsigned_abs();
    if year > 9999 {
        out.push_str(&year.to_string());
    } else {
        two(out, (year / 100) as u8);
        two(out, (year % 100) as u8);
    }
}

/// `2026-05-01`.
pub(super) fn write_date(out: &mut String, date: Date) {
    year(out, date.year());
    out.push('-');
    two(out, u8::from(date.month()));
    out.push('-');
    two(out, date.day());
}

/// `09:30`.
pub(super) fn write_clock(out: &mut String, time: Time) {
    two(out, time.hour());
    out.push(':');
    two(out, time.minute());
}

/// `1 May`, or `1 January` with `long`.
fn write_day_month(out: &mut String, date: Date, long: bool) {
    let day = date.day();
    if day >= 10 {
        two(out, day);
    } else {
        out.push(char::from(b'0' + day));
    }
    out.push(' ');
    let month = MONTHS[usize::from(u8::from(date.month())) - 1];
    out.push_str(if long { month } else { &month[..3] });
}

/// `1 May 2026`, or `1 January 2026` with `long`.
pub(super) fn write_day(out: &mut String, date: Date, long: bool) {
    write_day_month(out, date, long);
    out.push(' ');
    year(out, date.year());
}

/// `+05:45`.
fn write_offset(out: &mut String, offset: UtcOffset) {
    out.push(if offset.is_negative() { '-' } else { '+' });
    two(out, offset.whole_hours().unsigned_abs());
    out.push(':');
    two(out, offset.minutes_past_hour().unsigned_abs());
}

/// The Nepal date `at` falls on (Dhune's days: statements, statistics).
pub fn nepal_date(at: OffsetDateTime) -> time::Date {
    local(at).date()
}

/// The machine-readable form for `<time datetime>`, with Nepal's offset:
/// `2026-05-01T09:30:00+05:45`.
pub fn iso(at: OffsetDateTime) -> String {
    let at = local(at);
    let mut out = String::with_capacity(25);
    write_date(&mut out, at.date());
    out.push('T');
    write_clock(&mut out, at.time());
    out.push(':');
    two(&mut out, at.second());
    write_offset(&mut out, at.offset());
    out
}

/// The day `at` falls on, as read on `today`: "today", "tomorrow",
/// "yesterday", "Fri 1 May", or "1 May 2027" in another year.
fn day_name(at: Date, today: Date) -> String {
    if at == today {
        "today".into()
    } else if today.next_day() == Some(at) {
        "tomorrow".into()
    } else if today.previous_day() == Some(at) {
        "yesterday".into()
    } else {
        let mut out = String::with_capacity(12);
        if at.year() == today.year() {
            out.push_str(WEEKDAYS[usize::from(at.weekday().number_days_from_monday())]);
            out.push(' ');
            write_day_month(&mut out, at, false);
        } else {
            write_day(&mut out, at, false);
        }
        out
    }
}

/// The day and the clock time: "today 14:30", "tomorrow 10:00",
/// "Fri 1 May 10:00".
pub fn day_time(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let at = local(at);
    let mut out = day_name(at.date(), local(now).date());
    out.push(' ');
    write_clock(&mut out, at.time());
    out
}

/// The clock time in Nepal: "14:30".
pub fn clock(at: OffsetDateTime) -> String {
    let mut out = String::with_capacity(5);
    write_clock(&mut out, local(at).time());
    out
}

/// A span of time as a window: "tomorrow 10:00–13:00" on one day,
/// "today 18:00 – tomorrow 09:00" across days.
pub fn window(from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) -> String {
    if local(from).date() == local(to).date() {
        let mut out = day_time(from, now);
        out.push('–');
        write_clock(&mut out, local(to).time());
        out
    } else {
        format!("{} – {}", day_time(from, now), day_time(to, now))
    }
}

/// A distance in time, rounded down to what a person counts in:
/// "5 min", "2 h", "3 days".
fn distance(seconds: i64) -> Option<String> {
    let minutes = seconds / 60;
    let hours = minutes / 60;
    let days = hours / 24;
    match (minutes, hours, days) {
        (m, _, _) if m < 1 => None,
        (m, 0, _) => Some(format!("{m} min")),
        (_, h, 0) => Some(format!("{h} h")),
        (_, _, 1) => Some("1 day".into()),
        (_, _, d) => Some(format!("{d} days")),
    }
}

/// How long ago `at` was: "just now", "5 min ago", "2 h ago"; after a day
/// the day and time ("yesterday 14:30", "Fri 1 May 14:30"). A moment in the
/// future reads as [`until`] does.
pub fn ago(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (now - at).whole_seconds();
    if seconds < 0 {
        return until(at, now);
    }
    match distance(seconds) {
        None => "just now".into(),
        Some(_) if seconds >= 24 * 3600 => day_time(at, now),
        Some(span) => format!("{span} ago"),
    }
}

/// How long until `at`: "in 5 min", "in 2 h", "in 3 days"; a moment
/// already past reads as [`ago`] does.
pub fn until(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let seconds = (at - now).whole_seconds();
    if seconds < 0 {
        return ago(at, now);
    }
    match distance(seconds) {
        None => "in less than a minute".into(),
        Some(span) => format!("in {span}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    // 2026-05-02 12:00 in Kathmandu, a Saturday.
    const NOW: OffsetDateTime = datetime!(2026-05-02 06:15 UTC);

    #[test]
    fn iso_carries_nepal_offset() {
        assert_eq!(
            iso(datetime!(2026-05-01 03:45 UTC)),
            "2026-05-01T09:30:00+05:45"
        );
    }

    #[test]
    fn ago_counts_minutes_then_hours_then_names_the_day() {
        let cases = [
            (datetime!(2026-05-02 06:14:30 UTC), "just now"),
            (datetime!(2026-05-02 06:10 UTC), "5 min ago"),
            (datetime!(2026-05-02 05:16 UTC), "59 min ago"),
            (datetime!(2026-05-02 04:15 UTC), "2 h ago"),
            (datetime!(2026-05-01 06:16 UTC), "23 h ago"),
            (datetime!(2026-05-01 06:15 UTC), "yesterday 12:00"),
            (datetime!(2026-04-28 03:45 UTC), "Tue 28 Apr 09:30"),
            (datetime!(2025-12-31 03:45 UTC), "31 Dec 2025 09:30"),
        ];
        for (at, text) in cases {
            assert_eq!(ago(at, NOW), text, "{at}");
        }
    }

    #[test]
    fn until_counts_forward_and_past_moments_read_as_ago() {
        assert_eq!(
            until(datetime!(2026-05-02 06:15:20 UTC), NOW),
            "in less than a minute"
        );
        assert_eq!(until(datetime!(2026-05-02 06:20 UTC), NOW), "in 5 min");
        assert_eq!(until(datetime!(2026-05-02 08:45 UTC), NOW), "in 2 h");
        assert_eq!(until(datetime!(2026-05-03 08:15 UTC), NOW), "in 1 day");
        assert_eq!(until(datetime!(2026-05-05 06:15 UTC), NOW), "in 3 days");
        assert_eq!(until(datetime!(2026-05-02 06:10 UTC), NOW), "5 min ago");
        assert_eq!(ago(datetime!(2026-05-02 08:45 UTC), NOW), "in 2 h");
    }

    #[test]
    fn clock_reads_nepal_time() {
        assert_eq!(clock(NOW), "12:00");
        assert_eq!(clock(datetime!(2026-05-02 18:14 UTC)), "23:59");
    }

    #[test]
    fn days_follow_nepal_midnight() {
        // 18:14 UTC is 23:59 in Kathmandu; 18:15 UTC is 00:00 the next day.
        assert_eq!(
            day_time(datetime!(2026-05-02 18:14 UTC), NOW),
            "today 23:59"
        );
        assert_eq!(
            day_time(datetime!(2026-05-02 18:15 UTC), NOW),
            "tomorrow 00:00"
        );
        assert_eq!(
            day_time(datetime!(2026-05-04 04:15 UTC), NOW),
            "Mon 4 May 10:00"
        );
    }

    #[test]
    fn a_window_on_one_day_names_the_day_once() {
        assert_eq!(
            window(
                datetime!(2026-05-03 04:15 UTC),
                datetime!(2026-05-03 07:15 UTC),
                NOW
            ),
            "tomorrow 10:00–13:00"
        );
        assert_eq!(
            window(
                datetime!(2026-05-02 12:15 UTC),
                datetime!(2026-05-03 03:15 UTC),
                NOW
            ),
            "today 18:00 – tomorrow 09:00"
        );
    }

    /// The digit-by-digit writers say what `time`'s formatter says, over
    /// three years of moments (every day, at a clock time that moves) and
    /// the years at the edges.
    #[test]
    fn dates_are_written_as_time_formats_them() {
        use time::macros::format_description;
        let iso = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
        );
        let input = format_description!("[year]-[month]-[day]T[hour]:[minute]");
        let display =
            format_description!("[day padding:none] [month repr:short] [year], [hour]:[minute]");
        let this_year =
            format_description!("[weekday repr:short] [day padding:none] [month repr:short]");
        let long_day = format_description!("[day padding:none] [month repr:long] [year]");
        let mut moments: Vec<OffsetDateTime> = (0..3 * 366)
            .map(|n| NOW - time::Duration::days(400) + time::Duration::minutes(n * (24 * 60 + 37)))
            .collect();
        moments.extend([
            datetime!(0001-01-01 00:00 UTC),
            datetime!(0999-12-31 23:59:59 UTC),
            datetime!(9999-06-01 07:05:09 UTC),
        ]);
        for at in moments {
            let shifted = local(at);
            assert_eq!(super::iso(at), shifted.format(iso).unwrap(), "{at}");
            assert_eq!(
                crate::domain::request::format_local_input(at),
                shifted.format(input).unwrap()
            );
            assert_eq!(
                crate::domain::request::format_local(at),
                shifted.format(display).unwrap()
            );
            let mut day = String::new();
            write_day(&mut day, shifted.date(), true);
            assert_eq!(day, shifted.format(long_day).unwrap());
            let read_on = local(NOW).date();
            if shifted.date().year() == read_on.year()
                && (shifted.date() - read_on).whole_days().abs() > 1
            {
                assert_eq!(
                    day_name(shifted.date(), read_on),
                    shifted.format(this_year).unwrap()
                );
            }
        }
    }
}
