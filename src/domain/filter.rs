//! What list filters read from a query string. Filters are lenient: a value
//! that makes no sense is dropped, as if not given, so a hand-made address
//! gets the unfiltered list rather than an error.

use std::ops::RangeInclusive;

use time::Date;
use time::macros::format_description;

/// The years a day filter may name; records are from this century.
pub const FILTER_YEARS: RangeInclusive<i32> = 2000..=9999;

/// A search text or a filter word: trimmed, at most `max` characters, with
/// control characters removed (none belongs in a search, and Postgres
/// refuses the NUL byte in text).
pub fn search_text(raw: &str, max: usize) -> String {
    raw.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(max)
        .collect()
}

/// A `YYYY-MM-DD` day within [`FILTER_YEARS`]; anything else is no filter.
pub fn filter_day(raw: &str) -> Option<Date> {
    let day = format_description!("[year]-[month]-[day]");
    sane_day(Date::parse(raw.trim(), &day).ok())
}

/// The day if it lies within [`FILTER_YEARS`] (outside them Postgres or the
/// conversion to UTC would refuse it).
pub fn sane_day(day: Option<Date>) -> Option<Date> {
    day.filter(|day| FILTER_YEARS.contains(&day.year()))
}

/// The order of the vendors' board: newest requests first, or the soonest
/// pickup first. `?sort=` takes `newest` or `pickup`; anything else is the
/// default, newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoardSort {
    #[default]
    Newest,
    Pickup,
}

impl BoardSort {
    pub const ALL: [BoardSort; 2] = [BoardSort::Newest, BoardSort::Pickup];

    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "pickup" => BoardSort::Pickup,
            _ => BoardSort::Newest,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BoardSort::Newest => "newest",
            BoardSort::Pickup => "pickup",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BoardSort::Newest => "Newest first",
            BoardSort::Pickup => "Pickup time",
        }
    }

    /// The value for links: empty for the default, so plain addresses stay plain.
    pub fn param(self) -> &'static str {
        match self {
            BoardSort::Newest => "",
            BoardSort::Pickup => self.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn board_sort_reads_pickup_and_defaults_to_newest() {
        assert_eq!(BoardSort::parse("pickup"), BoardSort::Pickup);
        assert_eq!(BoardSort::parse(" pickup "), BoardSort::Pickup);
        for raw in ["", "newest", "PICKUP", "price", "\0"] {
            assert_eq!(BoardSort::parse(raw), BoardSort::Newest, "{raw:?}");
        }
        for sort in BoardSort::ALL {
            assert_eq!(BoardSort::parse(sort.as_str()), sort);
        }
        assert_eq!(BoardSort::Newest.param(), "");
        assert_eq!(BoardSort::Pickup.param(), "pickup");
    }

    #[test]
    fn search_text_drops_control_characters_and_bounds_length() {
        assert_eq!(search_text("  ab\u{0}c  ", 10), "abc");
        assert_eq!(search_text("\u{0}", 10), "");
        assert_eq!(search_text("a\tb\nc", 10), "abc");
        assert_eq!(search_text("abcdef", 3), "abc");
        assert_eq!(search_text(" Kathmandu ", 60), "Kathmandu");
    }

    #[test]
    fn filter_day_keeps_sane_days_only() {
        assert_eq!(
            filter_day("2026-11-25"),
            Some(time::macros::date!(2026 - 11 - 25))
        );
        assert_eq!(
            filter_day(" 9999-12-31 "),
            Some(time::macros::date!(9999 - 12 - 31))
        );
        assert_eq!(filter_day("-9999-01-01"), None);
        assert_eq!(filter_day("-4713-01-01"), None);
        assert_eq!(filter_day("1999-12-31"), None);
        assert_eq!(filter_day("2026-02-30"), None);
        assert_eq!(filter_day("\u{0}"), None);
        assert_eq!(filter_day(""), None);
    }
}
