//! Moments as people read them, in Nepal time and relative to now:
//! "5 min ago", "in 2 h", "tomorrow 10:00", "tomorrow 10:00–13:00".

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

use super::request::LOCAL_OFFSET;

const CLOCK: &[BorrowedFormatItem<'static>] = format_description!("[hour]:[minute]");
const DAY_THIS_YEAR: &[BorrowedFormatItem<'static>] =
    format_description!("[weekday repr:short] [day padding:none] [month repr:short]");
const DAY_OTHER_YEAR: &[BorrowedFormatItem<'static>] =
    format_description!("[day padding:none] [month repr:short] [year]");
const ISO: &[BorrowedFormatItem<'static>] = format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
);

fn local(at: OffsetDateTime) -> OffsetDateTime {
    // Only the first and last hours of year -9999/9999 cannot be shifted.
    at.checked_to_offset(LOCAL_OFFSET).unwrap_or(at)
}

/// The Nepal date `at` falls on (Dhune's days: statements, statistics).
pub fn nepal_date(at: OffsetDateTime) -> time::Date {
    local(at).date()
}

/// The machine-readable form for `<time datetime>`, with Nepal's offset:
/// `2026-05-01T09:30:00+05:45`.
pub fn iso(at: OffsetDateTime) -> String {
    local(at).format(ISO).unwrap_or_default()
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
    } else if at.year() == today.year() {
        at.format(DAY_THIS_YEAR).unwrap_or_default()
    } else {
        at.format(DAY_OTHER_YEAR).unwrap_or_default()
    }
}

/// The day and the clock time: "today 14:30", "tomorrow 10:00",
/// "Fri 1 May 10:00".
pub fn day_time(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let at = local(at);
    format!(
        "{} {}",
        day_name(at.date(), local(now).date()),
        at.format(CLOCK).unwrap_or_default()
    )
}

/// The clock time in Nepal: "14:30".
pub fn clock(at: OffsetDateTime) -> String {
    local(at).format(CLOCK).unwrap_or_default()
}

/// A span of time as a window: "tomorrow 10:00–13:00" on one day,
/// "today 18:00 – tomorrow 09:00" across days.
pub fn window(from: OffsetDateTime, to: OffsetDateTime, now: OffsetDateTime) -> String {
    if local(from).date() == local(to).date() {
        format!(
            "{}–{}",
            day_time(from, now),
            local(to).format(CLOCK).unwrap_or_default()
        )
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
}
