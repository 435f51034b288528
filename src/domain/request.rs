//! A customer's request: local times, units and the validated new-request form.

use std::collections::HashMap;

use time::format_description::BorrowedFormatItem;
use time::macros::{format_description, offset};
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use super::{FieldErrors, clean_text, when};

/// Nepal time, UTC+05:45: the local time of form fields and of dates shown.
pub const LOCAL_OFFSET: UtcOffset = offset!(+5:45);

/// How far ahead a pickup may start.
const PICKUP_HORIZON: Duration = Duration::days(30);
/// How long a pickup window may be.
const PICKUP_WINDOW_MAX: Duration = Duration::days(3);
/// Hours a request stays open when the form leaves it blank.
const DEFAULT_EXPIRES_IN_HOURS: i64 = 24;
/// At most a week.
const MAX_EXPIRES_IN_HOURS: i64 = 168;

const INPUT_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]");
const INPUT_FORMAT_SECONDS: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// How a service is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Kg,
    Piece,
    Pair,
}

impl Unit {
    /// The catalog's word: `kg`, `piece` or `pair`.
    pub fn parse(s: &str) -> Option<Unit> {
        match s {
            "kg" => Some(Unit::Kg),
            "piece" => Some(Unit::Piece),
            "pair" => Some(Unit::Pair),
            _ => None,
        }
    }

    /// The most one request may ask for.
    pub fn max(self) -> i32 {
        match self {
            Unit::Kg => 100,
            Unit::Piece => 200,
            Unit::Pair => 50,
        }
    }

    /// The unit's name to follow `qty`: "kg", "piece"/"pieces", "pair"/"pairs".
    pub fn label(self, qty: i32) -> &'static str {
        match (self, qty == 1) {
            (Unit::Kg, _) => "kg",
            (Unit::Piece, true) => "piece",
            (Unit::Piece, false) => "pieces",
            (Unit::Pair, true) => "pair",
            (Unit::Pair, false) => "pairs",
        }
    }
}

/// One catalog entry as the parser needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub unit: Unit,
}

/// Parses a datetime-local field, `YYYY-MM-DDTHH:MM` (or with `:SS`), as
/// time at [`LOCAL_OFFSET`].
pub fn parse_local_datetime(raw: &str) -> Result<OffsetDateTime, String> {
    let text = raw.trim();
    let unsigned_year = text.starts_with(|c: char| c.is_ascii_digit());
    unsigned_year
        .then(|| {
            PrimitiveDateTime::parse(text, INPUT_FORMAT)
                .or_else(|_| PrimitiveDateTime::parse(text, INPUT_FORMAT_SECONDS))
                .ok()
        })
        .flatten()
        .map(|local| local.assume_offset(LOCAL_OFFSET))
        .ok_or_else(|| "Please enter a date and time like 2026-05-01T09:30.".into())
}

/// `at` in local time, for the value of a datetime-local input:
/// `2026-05-01T09:30`.
pub fn format_local_input(at: OffsetDateTime) -> String {
    let at = when::local(at);
    let mut out = String::with_capacity(16);
    when::write_date(&mut out, at.date());
    out.push('T');
    when::write_clock(&mut out, at.time());
    out
}

/// `at` in local time, for people: `1 May 2026, 09:30`.
pub fn format_local(at: OffsetDateTime) -> String {
    let at = when::local(at);
    let mut out = String::with_capacity(18);
    when::write_day(&mut out, at.date(), false);
    out.push_str(", ");
    when::write_clock(&mut out, at.time());
    out
}

/// The Nepal day `at` falls on, as a heading read at `now`: "Today",
/// "Yesterday" or "5 January 2026".
pub fn day_heading(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let day = when::nepal_date;
    let today = day(now);
    if day(at) == today {
        "Today".into()
    } else if today.previous_day() == Some(day(at)) {
        "Yesterday".into()
    } else {
        let mut out = String::with_capacity(17);
        when::write_day(&mut out, day(at), true);
        out
    }
}

/// How many characters of a request's notes the board shows.
pub const NOTES_PREVIEW_CHARS: usize = 120;

/// The start of a customer's notes for a list: on one line, at most `max`
/// characters, cut at a word where one is near and marked with "…".
pub fn notes_preview(notes: &str, max: usize) -> String {
    let line = notes.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let cut: String = line.chars().take(max).collect();
    let at_word = match cut.rfind(' ') {
        Some(space) if cut[..space].chars().count() > max / 2 => &cut[..space],
        _ => cut.as_str(),
    };
    let trimmed = at_word.trim_end_matches(|c: char| c.is_whitespace() || ",.;:-–".contains(c));
    format!("{trimmed}…")
}

/// Cities the request form suggests (any other may be typed): Nepal's largest.
pub const CITIES: &[&str] = &[
    "Kathmandu",
    "Lalitpur",
    "Bhaktapur",
    "Kirtipur",
    "Pokhara",
    "Bharatpur",
    "Biratnagar",
    "Birgunj",
    "Butwal",
    "Dharan",
    "Itahari",
    "Hetauda",
    "Janakpur",
    "Nepalgunj",
    "Dhangadhi",
    "Siddharthanagar",
    "Tulsipur",
    "Ghorahi",
    "Damak",
    "Birtamod",
];

/// The new-request form as typed.
#[derive(Debug, Clone)]
pub struct RequestInput<'a> {
    pub pickup_address: &'a str,
    pub city: &'a str,
    pub area: &'a str,
    pub pickup_from: &'a str,
    pub pickup_to: &'a str,
    pub notes: &'a str,
    /// Empty means 24.
    pub expires_in_hours: &'a str,
    /// (service code, typed quantity) for every `qty_<code>` field the form
    /// sent, the code without its `qty_` prefix. An empty or `0` quantity
    /// means the service is not wanted.
    pub quantities: Vec<(&'a str, &'a str)>,
    pub now: OffsetDateTime,
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRequest {
    pub pickup_address: String,
    pub city: String,
    pub area: String,
    pub pickup_from: OffsetDateTime,
    pub pickup_to: OffsetDateTime,
    pub notes: String,
    pub expires_at: OffsetDateTime,
    /// (code, quantity), in catalog order, every quantity at least 1.
    pub items: Vec<(String, i32)>,
}

impl NewRequest {
    /// Errors are keyed by form field; every quantity problem is reported
    /// under `services`, naming the service.
    pub fn parse(
        input: &RequestInput<'_>,
        catalog: &[CatalogEntry<'_>],
    ) -> Result<NewRequest, FieldErrors> {
        let now = input.now;
        let mut errors = FieldErrors::new();
        let pickup_address = errors.check(
            "pickup_address",
            clean_text(input.pickup_address, 1, 300, false),
        );
        let city = errors.check(
            "city",
            clean_text(input.city, 1, 60, false).map_err(|message| {
                if input.city.trim().is_empty() {
                    "Please enter the city: laundries find requests by it.".to_owned()
                } else {
                    message
                }
            }),
        );
        let area = errors.check("area", clean_text(input.area, 0, 60, false));
        let notes = errors.check("notes", clean_text(input.notes, 0, 2000, true));
        let expires_at = errors.check("expires_in_hours", expiry(input.expires_in_hours, now));

        let pickup_from = errors.check(
            "pickup_from",
            parse_local_datetime(input.pickup_from).and_then(|from| {
                if from <= now {
                    Err("The pickup must start in the future.".into())
                } else if from - now > PICKUP_HORIZON {
                    Err("The pickup must start within the next 30 days.".into())
                } else {
                    Ok(from)
                }
            }),
        );
        let pickup_to = errors.check(
            "pickup_to",
            parse_local_datetime(input.pickup_to).and_then(|to| match pickup_from {
                Some(from) if to <= from => {
                    Err("The pickup window must end after it starts.".into())
                }
                Some(from) if to - from > PICKUP_WINDOW_MAX => {
                    Err("The pickup window can be at most 3 days long.".into())
                }
                _ => Ok(to),
            }),
        );

        let items = errors.check("services", items(&input.quantities, catalog));

        errors.finish(|| {
            Some(NewRequest {
                pickup_address: pickup_address?,
                city: city?,
                area: area?,
                pickup_from: pickup_from?,
                pickup_to: pickup_to?,
                notes: notes?,
                expires_at: expires_at?,
                items: items?,
            })
        })
    }
}

/// When a request typed to stay open `raw` hours from `now` expires.
fn expiry(raw: &str, now: OffsetDateTime) -> Result<OffsetDateTime, String> {
    let text = raw.trim();
    let hours = if text.is_empty() {
        Some(DEFAULT_EXPIRES_IN_HOURS)
    } else {
        whole_number(text, MAX_EXPIRES_IN_HOURS).filter(|&hours| hours >= 1)
    };
    hours
        .and_then(|hours| now.checked_add(Duration::hours(hours)))
        .ok_or_else(|| "Offers can be taken for 1 to 168 hours (7 days).".into())
}

/// The wanted (code, quantity) pairs in catalog order, or the first problem.
fn items(
    quantities: &[(&str, &str)],
    catalog: &[CatalogEntry<'_>],
) -> Result<Vec<(String, i32)>, String> {
    let mut wanted: HashMap<&str, i32> = HashMap::new();
    for &(code, raw) in quantities {
        let entry = catalog
            .iter()
            .find(|entry| entry.code == code)
            .ok_or("Unknown service.")?;
        let unit = entry.unit;
        let text = raw.trim();
        let quantity = if text.is_empty() {
            Some(0)
        } else {
            whole_number(text, i64::from(unit.max())).and_then(|n| i32::try_from(n).ok())
        };
        let quantity = quantity.ok_or_else(|| {
            format!(
                "{}: enter a whole number of {} from 1 to {}.",
                entry.name,
                unit.label(2),
                unit.max()
            )
        })?;
        if wanted.insert(entry.code, quantity).is_some() {
            return Err(format!("{}: the quantity was sent twice.", entry.name));
        }
    }
    let items: Vec<(String, i32)> = catalog
        .iter()
        .filter_map(|entry| match wanted.get(entry.code) {
            Some(&quantity) if quantity > 0 => Some((entry.code.to_owned(), quantity)),
            _ => None,
        })
        .collect();
    if items.is_empty() {
        return Err("Choose at least one service and its quantity.".into());
    }
    Ok(items)
}

/// `text` as a whole number from 0 to `max`: ASCII digits only, no sign.
fn whole_number(text: &str, max: i64) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = text.trim_start_matches('0');
    // More digits than any bound here could need; keeps the parse in range.
    if significant.len() > 9 {
        return None;
    }
    let value = significant.parse::<i64>().unwrap_or(0);
    (value <= max).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_preview_keeps_short_notes_and_cuts_long_ones_at_a_word() {
        assert_eq!(notes_preview("", 120), "");
        assert_eq!(
            notes_preview("  Two shirts,\n\n ring   twice ", 120),
            "Two shirts, ring twice"
        );
        let long = "Please wash the white shirts separately, ".repeat(5);
        let preview = notes_preview(&long, 120);
        assert!(preview.ends_with("white shirts…"), "{preview}");
        assert!(preview.chars().count() <= 121, "{preview}");
        assert!(long.starts_with(preview.trim_end_matches('…')));
        // One long word is cut where the limit falls.
        let word = "ā".repeat(200);
        assert_eq!(notes_preview(&word, 10), format!("{}…", "ā".repeat(10)));
    }
    use time::macros::datetime;

    /// 2026-05-01 12:00 in Kathmandu.
    const NOW: OffsetDateTime = datetime!(2026-05-01 06:15 UTC);

    const CATALOG: &[CatalogEntry<'static>] = &[
        CatalogEntry {
            code: "wash_fold",
            name: "Wash & fold",
            unit: Unit::Kg,
        },
        CatalogEntry {
            code: "dry_clean",
            name: "Dry cleaning",
            unit: Unit::Piece,
        },
        CatalogEntry {
            code: "shoes",
            name: "Shoe cleaning",
            unit: Unit::Pair,
        },
    ];

    fn input() -> RequestInput<'static> {
        RequestInput {
            pickup_address: "  Jhamsikhel-3, near the school  ",
            city: " Lalitpur ",
            area: "Jhamsikhel",
            pickup_from: "2026-05-02T09:00",
            pickup_to: "2026-05-02T11:30",
            notes: "Gate is blue.\r\nRing twice.",
            expires_in_hours: "",
            quantities: vec![("wash_fold", "6"), ("dry_clean", ""), ("shoes", "0")],
            now: NOW,
        }
    }

    fn refused(input: RequestInput<'static>, field: &str) -> String {
        match NewRequest::parse(&input, CATALOG) {
            Ok(request) => panic!("{field} should be refused, got {request:?}"),
            Err(errors) => errors
                .get(field)
                .unwrap_or_else(|| panic!("no error for {field}: {errors}"))
                .to_owned(),
        }
    }

    #[test]
    fn a_request_is_parsed_and_normalised() {
        let request = NewRequest::parse(&input(), CATALOG).expect("valid");
        assert_eq!(
            request,
            NewRequest {
                pickup_address: "Jhamsikhel-3, near the school".into(),
                city: "Lalitpur".into(),
                area: "Jhamsikhel".into(),
                pickup_from: datetime!(2026-05-02 09:00 +5:45),
                pickup_to: datetime!(2026-05-02 11:30 +5:45),
                notes: "Gate is blue.\nRing twice.".into(),
                expires_at: datetime!(2026-05-02 06:15 UTC),
                items: vec![("wash_fold".into(), 6)],
            }
        );
    }

    #[test]
    fn the_city_is_required_and_the_area_is_not() {
        for city in ["", "   "] {
            let errors = NewRequest::parse(
                &RequestInput {
                    city,
                    area: "",
                    ..input()
                },
                CATALOG,
            )
            .unwrap_err();
            assert_eq!(
                errors.get("city"),
                Some("Please enter the city: laundries find requests by it.")
            );
            assert!(errors.get("area").is_none());
        }
    }

    #[test]
    fn items_come_in_catalog_order() {
        let request = NewRequest::parse(
            &RequestInput {
                quantities: vec![("shoes", "2"), ("wash_fold", " 100 "), ("dry_clean", "007")],
                expires_in_hours: "168",
                area: "",
                notes: "",
                ..input()
            },
            CATALOG,
        )
        .expect("valid");
        assert_eq!(
            request.items,
            vec![
                ("wash_fold".into(), 100),
                ("dry_clean".into(), 7),
                ("shoes".into(), 2)
            ]
        );
        assert_eq!(request.expires_at, NOW + Duration::days(7));
        assert_eq!(
            (request.city.as_str(), request.area.as_str()),
            ("Lalitpur", "")
        );
    }

    #[test]
    fn text_fields_are_bounded() {
        assert_eq!(
            refused(
                RequestInput {
                    pickup_address: "   ",
                    ..input()
                },
                "pickup_address"
            ),
            "This field is required."
        );
        let long_address = "a".repeat(301);
        let errors = NewRequest::parse(
            &RequestInput {
                pickup_address: &long_address,
                ..input()
            },
            CATALOG,
        )
        .unwrap_err();
        assert!(errors.get("pickup_address").is_some());
        assert!(
            NewRequest::parse(
                &RequestInput {
                    pickup_address: &long_address[..300],
                    ..input()
                },
                CATALOG
            )
            .is_ok()
        );
        refused(
            RequestInput {
                pickup_address: "line one\nline two",
                ..input()
            },
            "pickup_address",
        );
        refused(
            RequestInput {
                pickup_address: "nul\u{0}here",
                ..input()
            },
            "pickup_address",
        );
        let long_city = "c".repeat(61);
        let errors = NewRequest::parse(
            &RequestInput {
                city: &long_city,
                area: &long_city,
                ..input()
            },
            CATALOG,
        )
        .unwrap_err();
        assert!(errors.get("city").is_some() && errors.get("area").is_some());
        let long_notes = "n".repeat(2001);
        let errors = NewRequest::parse(
            &RequestInput {
                notes: &long_notes,
                ..input()
            },
            CATALOG,
        )
        .unwrap_err();
        assert!(errors.get("notes").is_some());
        refused(
            RequestInput {
                notes: "bell\u{7}",
                ..input()
            },
            "notes",
        );
    }

    #[test]
    fn expiry_is_one_hour_to_seven_days() {
        let expires = |raw| {
            NewRequest::parse(
                &RequestInput {
                    expires_in_hours: raw,
                    ..input()
                },
                CATALOG,
            )
            .map(|request| request.expires_at)
        };
        assert_eq!(expires("1"), Ok(NOW + Duration::hours(1)));
        assert_eq!(expires(" 48 "), Ok(NOW + Duration::hours(48)));
        assert_eq!(expires("168"), Ok(NOW + Duration::hours(168)));
        for bad in [
            "0",
            "169",
            "-1",
            "+5",
            "1.5",
            "24h",
            "abc",
            "99999999999999999999",
        ] {
            let errors = expires(bad).expect_err(bad);
            assert!(errors.get("expires_in_hours").is_some(), "{bad:?}");
        }
    }

    #[test]
    fn the_pickup_starts_in_the_next_30_days() {
        for (from, to) in [
            ("2026-05-01T12:00", "2026-05-01T13:00"), // exactly now
            ("2026-04-30T09:00", "2026-04-30T10:00"), // yesterday
            ("2026-05-31T12:01", "2026-05-31T13:00"), // 30 days and a minute
            ("tomorrow", "2026-05-02T11:30"),
            ("", "2026-05-02T11:30"),
            ("2026-02-30T09:00", "2026-05-02T11:30"),
            ("2026-05-02T25:00", "2026-05-02T11:30"),
            ("2026-05-02 09:00", "2026-05-02T11:30"),
            ("2026-05-02", "2026-05-02T11:30"),
        ] {
            refused(
                RequestInput {
                    pickup_from: from,
                    pickup_to: to,
                    ..input()
                },
                "pickup_from",
            );
        }
        let request = NewRequest::parse(
            &RequestInput {
                pickup_from: "2026-05-31T12:00",
                pickup_to: "2026-06-03T12:00",
                ..input()
            },
            CATALOG,
        )
        .expect("exactly 30 days ahead, a 3-day window");
        assert_eq!(request.pickup_from, NOW + PICKUP_HORIZON);
    }

    #[test]
    fn the_pickup_window_ends_after_it_starts_within_3_days() {
        for to in [
            "2026-05-02T09:00",
            "2026-05-02T08:59",
            "2026-05-05T09:01",
            "later",
            "",
        ] {
            refused(
                RequestInput {
                    pickup_to: to,
                    ..input()
                },
                "pickup_to",
            );
        }
        assert!(
            NewRequest::parse(
                &RequestInput {
                    pickup_to: "2026-05-02T09:01:00",
                    ..input()
                },
                CATALOG
            )
            .is_ok()
        );
    }

    #[test]
    fn quantities_are_whole_numbers_within_the_unit_maximum() {
        let cases = [
            (
                "wash_fold",
                "101",
                "Wash & fold: enter a whole number of kg from 1 to 100.",
            ),
            (
                "wash_fold",
                "-1",
                "Wash & fold: enter a whole number of kg from 1 to 100.",
            ),
            (
                "wash_fold",
                "+1",
                "Wash & fold: enter a whole number of kg from 1 to 100.",
            ),
            (
                "wash_fold",
                "2.5",
                "Wash & fold: enter a whole number of kg from 1 to 100.",
            ),
            (
                "wash_fold",
                "1e2",
                "Wash & fold: enter a whole number of kg from 1 to 100.",
            ),
            (
                "wash_fold",
                "six",
                "Wash & fold: enter a whole number of kg from 1 to 100.",
            ),
            (
                "wash_fold",
                "99999999999999999999999",
                "Wash & fold: enter a whole number of kg from 1 to 100.",
            ),
            (
                "dry_clean",
                "201",
                "Dry cleaning: enter a whole number of pieces from 1 to 200.",
            ),
            (
                "shoes",
                "51",
                "Shoe cleaning: enter a whole number of pairs from 1 to 50.",
            ),
            (
                "shoes",
                "3\u{0}",
                "Shoe cleaning: enter a whole number of pairs from 1 to 50.",
            ),
            ("curtains", "2", "Unknown service."),
            ("", "2", "Unknown service."),
            ("qty_wash_fold", "2", "Unknown service."),
        ];
        for (code, qty, message) in cases {
            let message_got = refused(
                RequestInput {
                    quantities: vec![("wash_fold", "6"), (code, qty)],
                    ..input()
                },
                "services",
            );
            assert_eq!(message_got, message, "{code}={qty:?}");
        }
        let both = |qty| {
            NewRequest::parse(
                &RequestInput {
                    quantities: vec![("dry_clean", qty), ("shoes", qty)],
                    ..input()
                },
                CATALOG,
            )
            .map(|request| request.items)
        };
        assert_eq!(
            both("50"),
            Ok(vec![("dry_clean".into(), 50), ("shoes".into(), 50)])
        );
        assert_eq!(
            both("1"),
            Ok(vec![("dry_clean".into(), 1), ("shoes".into(), 1)])
        );
    }

    #[test]
    fn at_least_one_service_is_wanted() {
        for quantities in [
            vec![],
            vec![("wash_fold", ""), ("dry_clean", "0"), ("shoes", "000")],
            vec![("wash_fold", "  ")],
        ] {
            assert_eq!(
                refused(
                    RequestInput {
                        quantities,
                        ..input()
                    },
                    "services"
                ),
                "Choose at least one service and its quantity."
            );
        }
    }

    #[test]
    fn a_service_sent_twice_is_refused() {
        assert_eq!(
            refused(
                RequestInput {
                    quantities: vec![("wash_fold", "6"), ("wash_fold", "2")],
                    ..input()
                },
                "services"
            ),
            "Wash & fold: the quantity was sent twice."
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = NewRequest::parse(
            &RequestInput {
                pickup_address: "",
                pickup_from: "x",
                pickup_to: "y",
                expires_in_hours: "0",
                quantities: vec![],
                ..input()
            },
            CATALOG,
        )
        .unwrap_err();
        for field in [
            "pickup_address",
            "pickup_from",
            "pickup_to",
            "expires_in_hours",
            "services",
        ] {
            assert!(errors.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn day_headings_follow_nepal_days() {
        let now = datetime!(2026-05-02 18:20 UTC); // 00:05 on 3 May in Nepal
        assert_eq!(day_heading(datetime!(2026-05-02 18:16 UTC), now), "Today");
        assert_eq!(
            day_heading(datetime!(2026-05-02 18:14 UTC), now),
            "Yesterday"
        );
        assert_eq!(
            day_heading(datetime!(2026-05-01 18:14 UTC), now),
            "1 May 2026"
        );
    }

    #[test]
    fn local_times_are_nepal_time() {
        assert_eq!(
            parse_local_datetime("2026-05-01T09:30"),
            Ok(datetime!(2026-05-01 03:45 UTC))
        );
        assert_eq!(
            parse_local_datetime(" 2026-05-01T09:30:15 "),
            Ok(datetime!(2026-05-01 09:30:15 +5:45))
        );
        for bad in [
            "",
            "2026-05-01",
            "09:30",
            "2026-5-1T9:30",
            "2026-05-01T09:30Z",
            "2026-05-01T09:30+05:45",
            "2026-05-01T09:30:15.5",
            "2026-13-01T09:30",
            "2026-05-01T09:60",
            "2026-05-01T09:30\u{0}",
            "01/05/2026 09:30",
            "+2026-05-01T09:30",
            "-2026-05-01T09:30",
            "02026-05-01T09:30",
            "2026-05-01t09:30",
            "2026-05-01T24:00",
        ] {
            assert_eq!(
                parse_local_datetime(bad),
                Err("Please enter a date and time like 2026-05-01T09:30.".into()),
                "{bad:?}"
            );
        }
        let at = datetime!(2026-05-01 03:45 UTC);
        assert_eq!(format_local_input(at), "2026-05-01T09:30");
        assert_eq!(format_local(at), "1 May 2026, 09:30");
        assert_eq!(
            format_local(datetime!(2026-12-31 18:15 UTC)),
            "1 Jan 2027, 00:00"
        );
        assert_eq!(
            parse_local_datetime(&format_local_input(at)),
            Ok(at),
            "round trip"
        );
        // The extreme edge of the calendar does not panic.
        let last = datetime!(9999-12-31 23:59 UTC);
        assert_eq!(format_local_input(last), "9999-12-31T23:59");
    }

    #[test]
    fn units_read_and_count() {
        assert_eq!(Unit::parse("kg"), Some(Unit::Kg));
        assert_eq!(Unit::parse("piece"), Some(Unit::Piece));
        assert_eq!(Unit::parse("pair"), Some(Unit::Pair));
        for bad in ["", "KG", "pieces", "pairs", "litre"] {
            assert_eq!(Unit::parse(bad), None, "{bad:?}");
        }
        assert_eq!(
            (Unit::Kg.max(), Unit::Piece.max(), Unit::Pair.max()),
            (100, 200, 50)
        );
        assert_eq!(Unit::Kg.label(1), "kg");
        assert_eq!(Unit::Kg.label(6), "kg");
        assert_eq!(Unit::Piece.label(1), "piece");
        assert_eq!(Unit::Piece.label(3), "pieces");
        assert_eq!(Unit::Pair.label(1), "pair");
        assert_eq!(Unit::Pair.label(0), "pairs");
    }
}
