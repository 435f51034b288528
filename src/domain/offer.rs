//! A vendor's offer: the validated offer form and how long an offer stays open.

use time::{Duration, OffsetDateTime};

use super::money::Money;
use super::request::parse_local_datetime;
use super::stats::Rate;
use super::{FieldErrors, clean_text};

/// How far ahead a pickup may be offered.
const PICKUP_HORIZON: Duration = Duration::days(30);
/// How long after pickup the delivery may be.
const DELIVERY_MAX: Duration = Duration::days(14);
/// How long an offer stays open (never past its request's expiry).
const OFFER_LIFETIME: Duration = Duration::hours(24);

/// The offer form as typed.
#[derive(Debug, Clone)]
pub struct OfferInput<'a> {
    pub price: &'a str,
    pub pickup_at: &'a str,
    pub delivery_at: &'a str,
    pub message: &'a str,
    pub now: OffsetDateTime,
}

/// A validated offer.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOffer {
    pub price: Money,
    pub pickup_at: OffsetDateTime,
    pub delivery_at: OffsetDateTime,
    pub message: String,
}

impl NewOffer {
    pub fn parse(input: &OfferInput<'_>) -> Result<NewOffer, FieldErrors> {
        let now = input.now;
        let mut errors = FieldErrors::new();
        let price = errors.check("price", Money::parse_rupees(input.price));
        let pickup_at = errors.check(
            "pickup_at",
            parse_local_datetime(input.pickup_at).and_then(|at| {
                if at <= now {
                    Err("The pickup must be in the future.".into())
                } else if at - now > PICKUP_HORIZON {
                    Err("The pickup must be within the next 30 days.".into())
                } else {
                    Ok(at)
                }
            }),
        );
        let delivery_at = errors.check(
            "delivery_at",
            parse_local_datetime(input.delivery_at).and_then(|at| match pickup_at {
                Some(pickup) if at <= pickup => {
                    Err("The delivery must come after the pickup.".into())
                }
                Some(pickup) if at - pickup > DELIVERY_MAX => {
                    Err("The delivery must be within 14 days of the pickup.".into())
                }
                _ => Ok(at),
            }),
        );
        let message = errors.check("message", clean_text(input.message, 0, 1000, true));
        errors.finish(|| {
            Some(NewOffer {
                price: price?,
                pickup_at: pickup_at?,
                delivery_at: delivery_at?,
                message: message?,
            })
        })
    }
}

/// How long an offer made at `now` stays open: 24 hours, never past the
/// request's expiry.
pub fn offer_expiry(now: OffsetDateTime, request_expires_at: OffsetDateTime) -> OffsetDateTime {
    now.checked_add(OFFER_LIFETIME)
        .map_or(request_expires_at, |at| at.min(request_expires_at))
}

/// Fewer closed orders than this and a laundry's rates say "not enough
/// orders yet" instead of a figure (DESIGN.md, Statistics).
pub const MIN_SAMPLE: i64 = 5;

/// A laundry's record, as offer cards show it: completed orders, completion
/// rate (completed ÷ closed, closed being completed or cancelled) and the
/// median time from acceptance to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorRecord {
    pub completed: i64,
    pub closed: i64,
    pub median_turnaround: Option<Duration>,
}

impl VendorRecord {
    /// Whether there are enough closed orders to show rates.
    pub fn has_sample(&self) -> bool {
        self.closed >= MIN_SAMPLE
    }

    /// The completion rate in whole percent, as the statistics pages say
    /// it ([`Rate::percent`]); `None` on a small sample.
    pub fn completion_percent(&self) -> Option<i64> {
        Rate {
            hits: self.completed,
            n: self.closed,
        }
        .percent()
    }

    /// The median turnaround in words ("2 days 4 h", "20 h"); `None` on a
    /// small sample.
    pub fn turnaround(&self) -> Option<String> {
        let median = self.median_turnaround.filter(|_| self.has_sample())?;
        Some(span(median))
    }
}

/// A duration in days and hours, or hours and minutes under a day:
/// "2 days 4 h", "1 day", "3 h 20 min", "5 h", "45 min".
pub fn span(duration: Duration) -> String {
    let minutes = duration.whole_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, h) if minutes == 0 => format!("{h} h"),
        (0, h) => format!("{h} h {minutes} min"),
        (1, 0) => "1 day".into(),
        (1, h) => format!("1 day {h} h"),
        (d, 0) => format!("{d} days"),
        (d, h) => format!("{d} days {h} h"),
    }
}

/// When an offer's pickup falls, measured against the customer's pickup
/// window: "within the pickup window", "2 h after the pickup window",
/// "30 min before the pickup window".
pub fn pickup_fit(pickup_at: OffsetDateTime, from: OffsetDateTime, to: OffsetDateTime) -> String {
    if pickup_at < from {
        format!("{} before the pickup window", span(from - pickup_at))
    } else if pickup_at > to {
        format!("{} after the pickup window", span(pickup_at - to))
    } else {
        "within the pickup window".into()
    }
}

/// How the offers on a request are ordered (`?sort=`); live offers stay
/// first either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OfferSort {
    /// Cheapest first.
    #[default]
    Price,
    /// Earliest pickup first.
    Pickup,
}

impl OfferSort {
    /// Reads `?sort=`; anything else is the default.
    pub fn parse(raw: &str) -> Self {
        match raw {
            "pickup" => OfferSort::Pickup,
            _ => OfferSort::Price,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OfferSort::Price => "price",
            OfferSort::Pickup => "pickup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    /// 2026-05-01 12:00 in Kathmandu.
    const NOW: OffsetDateTime = datetime!(2026-05-01 06:15 UTC);

    fn input() -> OfferInput<'static> {
        OfferInput {
            price: "Rs 1,250.50",
            pickup_at: "2026-05-02T09:00",
            delivery_at: "2026-05-04T17:00",
            message: "  Ironed and folded.\r\nFree pickup.  ",
            now: NOW,
        }
    }

    fn refused(input: OfferInput<'static>, field: &str) -> String {
        match NewOffer::parse(&input) {
            Ok(offer) => panic!("{field} should be refused, got {offer:?}"),
            Err(errors) => errors
                .get(field)
                .unwrap_or_else(|| panic!("no error for {field}: {errors}"))
                .to_owned(),
        }
    }

    #[test]
    fn an_offer_is_parsed() {
        assert_eq!(
            NewOffer::parse(&input()),
            Ok(NewOffer {
                price: Money::from_paisa(125_050),
                pickup_at: datetime!(2026-05-02 09:00 +5:45),
                delivery_at: datetime!(2026-05-04 17:00 +5:45),
                message: "Ironed and folded.\nFree pickup.".into(),
            })
        );
        let offer = NewOffer::parse(&OfferInput {
            message: "",
            price: "450",
            ..input()
        })
        .expect("valid");
        assert_eq!((offer.price.paisa(), offer.message.as_str()), (45_000, ""));
    }

    #[test]
    fn the_price_is_checked() {
        assert_eq!(
            refused(
                OfferInput {
                    price: "",
                    ..input()
                },
                "price"
            ),
            "Please enter a price in rupees, like 450 or 450.50."
        );
        assert_eq!(
            refused(
                OfferInput {
                    price: "0",
                    ..input()
                },
                "price"
            ),
            "The price must be more than zero."
        );
        for bad in ["-5", "4.505", "1e3", "abc", "1000000.01", "\u{0}"] {
            refused(
                OfferInput {
                    price: bad,
                    ..input()
                },
                "price",
            );
        }
    }

    #[test]
    fn the_pickup_is_in_the_next_30_days() {
        for (at, message) in [
            ("2026-05-01T12:00", "The pickup must be in the future."),
            ("2026-04-01T12:00", "The pickup must be in the future."),
            (
                "2026-05-31T12:01",
                "The pickup must be within the next 30 days.",
            ),
            (
                "soon",
                "Please enter a date and time like 2026-05-01T09:30.",
            ),
            ("", "Please enter a date and time like 2026-05-01T09:30."),
        ] {
            assert_eq!(
                refused(
                    OfferInput {
                        pickup_at: at,
                        ..input()
                    },
                    "pickup_at"
                ),
                message,
                "{at:?}"
            );
        }
        let offer = NewOffer::parse(&OfferInput {
            pickup_at: "2026-05-31T12:00",
            delivery_at: "2026-06-14T12:00",
            ..input()
        })
        .expect("30 days ahead, delivered 14 days later");
        assert_eq!(offer.pickup_at, NOW + PICKUP_HORIZON);
        assert_eq!(offer.delivery_at, NOW + PICKUP_HORIZON + DELIVERY_MAX);
        assert!(
            NewOffer::parse(&OfferInput {
                pickup_at: "2026-05-01T12:01",
                delivery_at: "2026-05-01T12:02",
                ..input()
            })
            .is_ok()
        );
    }

    #[test]
    fn the_delivery_follows_the_pickup_within_14_days() {
        for (at, message) in [
            (
                "2026-05-02T09:00",
                "The delivery must come after the pickup.",
            ),
            (
                "2026-05-01T18:00",
                "The delivery must come after the pickup.",
            ),
            (
                "2026-05-16T09:01",
                "The delivery must be within 14 days of the pickup.",
            ),
            (
                "2026-05-04",
                "Please enter a date and time like 2026-05-01T09:30.",
            ),
        ] {
            assert_eq!(
                refused(
                    OfferInput {
                        delivery_at: at,
                        ..input()
                    },
                    "delivery_at"
                ),
                message,
                "{at:?}"
            );
        }
    }

    #[test]
    fn the_message_is_bounded() {
        let long = "m".repeat(1001);
        let errors = NewOffer::parse(&OfferInput {
            message: &long,
            ..input()
        })
        .unwrap_err();
        assert!(errors.get("message").is_some());
        assert!(
            NewOffer::parse(&OfferInput {
                message: &long[..1000],
                ..input()
            })
            .is_ok()
        );
        refused(
            OfferInput {
                message: "hi\u{0}",
                ..input()
            },
            "message",
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = NewOffer::parse(&OfferInput {
            price: "x",
            pickup_at: "x",
            delivery_at: "x",
            message: "\u{1b}",
            now: NOW,
        })
        .unwrap_err();
        for field in ["price", "pickup_at", "delivery_at", "message"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
    }

    #[test]
    fn an_offer_stays_open_a_day_but_not_past_its_request() {
        let far = NOW + Duration::days(5);
        assert_eq!(offer_expiry(NOW, far), NOW + Duration::hours(24));
        let soon = NOW + Duration::hours(3);
        assert_eq!(offer_expiry(NOW, soon), soon);
        let exactly = NOW + Duration::hours(24);
        assert_eq!(offer_expiry(NOW, exactly), exactly);
        let edge = datetime!(9999-12-31 12:00 UTC);
        assert_eq!(offer_expiry(edge, edge), edge);
    }

    #[test]
    fn rates_wait_for_five_closed_orders() {
        let small = VendorRecord {
            completed: 4,
            closed: 4,
            median_turnaround: Some(Duration::hours(30)),
        };
        assert_eq!(small.completion_percent(), None);
        assert_eq!(small.turnaround(), None);
        let enough = VendorRecord {
            completed: 5,
            closed: 6,
            median_turnaround: Some(Duration::hours(52)),
        };
        assert_eq!(enough.completion_percent(), Some(83));
        assert_eq!(enough.turnaround().as_deref(), Some("2 days 4 h"));
        let almost = VendorRecord {
            completed: 249,
            closed: 250,
            median_turnaround: None,
        };
        assert_eq!(
            almost.completion_percent(),
            Some(99),
            "never rounds up to 100"
        );
        assert_eq!(almost.turnaround(), None);
    }

    #[test]
    fn spans_read_in_days_hours_and_minutes() {
        assert_eq!(span(Duration::minutes(45)), "45 min");
        assert_eq!(span(Duration::minutes(300)), "5 h");
        assert_eq!(span(Duration::minutes(200)), "3 h 20 min");
        assert_eq!(span(Duration::hours(24)), "1 day");
        assert_eq!(span(Duration::hours(26)), "1 day 2 h");
        assert_eq!(span(Duration::hours(72)), "3 days");
        assert_eq!(span(Duration::hours(-3)), "0 min");
    }

    #[test]
    fn pickup_is_told_against_the_window() {
        let from = datetime!(2026-05-02 04:15 UTC);
        let to = datetime!(2026-05-02 07:15 UTC);
        assert_eq!(pickup_fit(from, from, to), "within the pickup window");
        assert_eq!(pickup_fit(to, from, to), "within the pickup window");
        assert_eq!(
            pickup_fit(datetime!(2026-05-02 09:15 UTC), from, to),
            "2 h after the pickup window"
        );
        assert_eq!(
            pickup_fit(datetime!(2026-05-02 03:45 UTC), from, to),
            "30 min before the pickup window"
        );
    }

    #[test]
    fn sort_reads_price_or_pickup() {
        assert_eq!(OfferSort::parse("pickup"), OfferSort::Pickup);
        assert_eq!(OfferSort::parse("price"), OfferSort::Price);
        assert_eq!(OfferSort::parse("<script>"), OfferSort::Price);
    }
}
