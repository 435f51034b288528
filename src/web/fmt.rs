//! Small formatting helpers the templates call.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::domain::request::{LOCAL_OFFSET, format_local, format_local_input};

/// A moment in Nepal time, for reading: "1 May 2026, 09:30".
pub fn when(at: &OffsetDateTime) -> String {
    format_local(*at)
}

/// A moment in Nepal time, for the `datetime` attribute of `<time>`:
/// "2026-05-01T09:30+05:45".
pub fn datetime(at: &OffsetDateTime) -> String {
    let format = format_description!(
        "[year]-[month]-[day]T[hour]:[minute][offset_hour sign:mandatory]:[offset_minute]"
    );
    let local = at.checked_to_offset(LOCAL_OFFSET).unwrap_or(*at);
    local.format(format).unwrap_or_default()
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

/// Links to the previous and next page of a list, keeping its filters.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: i64,
    pub has_next: bool,
    /// The path and the filters, e.g. `/requests?status=OPEN`.
    base: String,
}

impl Pager {
    pub fn new(path: &str, filters: &[(&str, &str)], page: i64, has_next: bool) -> Self {
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
        Self {
            page,
            has_next,
            base,
        }
    }

    pub fn prev(&self) -> Option<String> {
        (self.page > 1).then(|| format!("{}page={}", self.base, self.page - 1))
    }

    pub fn next(&self) -> Option<String> {
        self.has_next
            .then(|| format!("{}page={}", self.base, self.page + 1))
    }
}

/// `?status=...&page=...` of list pages; anything unreadable is ignored.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub status: String,
    pub page: String,
    pub city: String,
}

impl ListQuery {
    pub fn page(&self) -> Option<i64> {
        self.page.trim().parse().ok()
    }

    pub fn status<T: std::str::FromStr>(&self) -> Option<T> {
        self.status.parse().ok()
    }

    /// The city filter of the vendors' board.
    pub fn city(&self) -> String {
        crate::domain::filter::search_text(&self.city, 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn datetime_is_nepal_time_with_its_offset() {
        assert_eq!(
            datetime(&datetime!(2026-05-01 03:45 UTC)),
            "2026-05-01T09:30+05:45"
        );
    }
}
