//! Small formatting helpers the templates call.

use time::OffsetDateTime;

use crate::domain::filter::BoardSort;
use crate::domain::request::{format_local, format_local_input};
use crate::domain::when;
use crate::market::Paged;

/// A moment in Nepal time, for reading: "1 May 2026, 09:30".
pub fn when(at: &OffsetDateTime) -> String {
    format_local(*at)
}

/// A moment for `<time datetime>`, with Nepal's offset.
pub fn iso(at: &OffsetDateTime) -> String {
    when::iso(*at)
}

/// How long ago, read now: "5 min ago", "yesterday 14:30".
pub fn ago(at: &OffsetDateTime) -> String {
    when::ago(*at, OffsetDateTime::now_utc())
}

/// How long until, read now: "in 2 h".
pub fn until(at: &OffsetDateTime) -> String {
    when::until(*at, OffsetDateTime::now_utc())
}

/// The day and time, read now: "tomorrow 10:00".
pub fn day_time(at: &OffsetDateTime) -> String {
    when::day_time(*at, OffsetDateTime::now_utc())
}

/// A window, read now: "tomorrow 10:00–13:00".
pub fn window(from: &OffsetDateTime, to: &OffsetDateTime) -> String {
    when::window(*from, *to, OffsetDateTime::now_utc())
}

/// A phone number for a `tel:` link: its digits, and a leading `+`.
pub fn tel(phone: &str) -> String {
    let digits = phone.chars().filter(char::is_ascii_digit);
    if phone.trim_start().starts_with('+') {
        std::iter::once('+').chain(digits).collect()
    } else {
        digits.collect()
    }
}

/// A moment in Nepal time, for a `datetime-local` input.
pub fn input(at: &OffsetDateTime) -> String {
    format_local_input(*at)
}

/// An option of a status filter.
#[derive(Debug, Clone)]
pub struct FilterOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

/// The options for a filter over `all` statuses, `current` selected.
pub fn filter_options<T: Copy + PartialEq>(
    all: &[T],
    current: Option<T>,
    value: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
) -> Vec<FilterOption> {
    all.iter()
        .map(|&s| FilterOption {
            value: value(s),
            label: label(s),
            selected: current == Some(s),
        })
        .collect()
}

/// Links to the previous and next page of a list, keeping its filters;
/// by the rows at the page's edges where the list pages by rows.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: i64,
    prev: Option<String>,
    next: Option<String>,
}

impl Pager {
    pub fn new<T>(path: &str, filters: &[(&str, &str)], paged: &Paged<T>) -> Self {
        let query = serde_urlencoded::to_string(
            filters
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        let base = if query.is_empty() {
            format!("{path}?")
        } else {
            format!("{path}?{query}&")
        };
        let page = paged.page;
        let (before, after) = match paged.edges {
            Some((first, last)) => (format!("&before={first}"), format!("&after={last}")),
            None => (String::new(), String::new()),
        };
        Self {
            page,
            prev: paged
                .has_prev
                .then(|| format!("{base}page={}{before}", page - 1)),
            next: paged
                .has_next
                .then(|| format!("{base}page={}{after}", page + 1)),
        }
    }

    pub fn prev(&self) -> Option<&str> {
        self.prev.as_deref()
    }

    pub fn next(&self) -> Option<&str> {
        self.next.as_deref()
    }
}

/// `?status=...&page=...` of list pages; anything unreadable is ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub status: String,
    pub page: String,
    pub city: String,
    pub sort: String,
}

impl ListQuery {
    pub fn page(&self) -> Option<i64> {
        self.page.trim().parse().ok()
    }

    pub fn status<T: std::str::FromStr>(&self) -> Option<T> {
        self.status.parse().ok()
    }

    /// The order of the vendors' board.
    pub fn sort(&self) -> BoardSort {
        BoardSort::parse(&self.sort)
    }

    /// The city filter of the vendors' board.
    pub fn city(&self) -> String {
        crate::domain::filter::search_text(&self.city, 60)
    }
}

#[cfg(test)]
mod tests {
    use super::tel;

    #[test]
    fn tel_keeps_digits_and_a_leading_plus() {
        assert_eq!(tel("+977 980-1234567"), "+9779801234567");
        assert_eq!(tel("01-4412345"), "014412345");
        assert_eq!(tel("98012\"><script>"), "98012");
    }
}
