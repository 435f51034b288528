//! Payout statements' calendar, pure: the Nepal week (Sunday–Saturday in
//! Asia/Kathmandu, UTC+05:45 with no daylight saving) a moment falls in, and
//! whether a week has ended. `market::payouts` issues the statements.

use time::{Date, Duration, OffsetDateTime, Time};

use super::FieldErrors;
use super::money::Money;
use super::request::LOCAL_OFFSET;
use super::status::status_enum;

status_enum! {
    /// Where a payout statement stands (`payout_statements.status`).
    StatementStatus, "statement status", 2 {
        Issued => "ISSUED", "Issued";
        Paid => "PAID", "Paid";
    }
}

status_enum! {
    /// What a statement line records (`payout_statement_lines.kind`).
    LineKind, "statement line kind", 6 {
        Capture => "capture", "Paid online";
        CashCommission => "cash_commission", "Commission on a cash order";
        Refund => "refund", "Refund";
        Clawback => "clawback", "Refund after payout (clawback)";
        Adjustment => "adjustment", "Adjustment";
        Carried => "carried", "Carried from an earlier statement";
    }
}

/// An admin's adjustment as typed: `direction` is `credit` (Dhune owes the
/// laundry more) or `debit` (the laundry owes Dhune), `amount` rupees more
/// than zero. The signed paisa (positive for a credit), or the errors on
/// the `direction` and `amount` fields.
pub fn adjustment_paisa(direction: &str, amount: &str, errors: &mut FieldErrors) -> Option<i64> {
    let sign = match direction {
        "credit" => Some(1),
        "debit" => Some(-1),
        _ => {
            errors.add(
                "direction",
                "Choose whether Dhune owes the laundry more or the laundry owes Dhune.",
            );
            None
        }
    };
    let amount = errors.check("amount", Money::parse_rupees(amount));
    Some(sign? * amount?.paisa())
}

/// The Sunday (a Nepal date) that starts the week `at` falls in: `at`'s date
/// in Nepal, or the Sunday before it.
pub fn week_start(at: OffsetDateTime) -> Date {
    week_of_date(super::when::nepal_date(at))
}

/// The Sunday that starts the week of the Nepal date `date`.
pub fn week_of_date(date: Date) -> Date {
    let back = i64::from(date.weekday().number_days_from_sunday());
    date.checked_sub(Duration::days(back)).unwrap_or(date)
}

/// The Saturday that ends the week starting on `start`.
pub fn week_end(start: Date) -> Date {
    start.checked_add(Duration::days(6)).unwrap_or(start)
}

/// The moment the week starting on `start` begins: 00:00 Sunday in Nepal.
pub fn week_begins(start: Date) -> OffsetDateTime {
    start.with_time(Time::MIDNIGHT).assume_offset(LOCAL_OFFSET)
}

/// Whether the week starting on `start` has ended at `now` (Nepal's next
/// Sunday has begun).
pub fn week_ended(start: Date, now: OffsetDateTime) -> bool {
    start < week_start(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn payouts_a_week_runs_sunday_to_saturday_in_nepal() {
        // Saturday 28 Nov 2026, 23:50 in Nepal is 18:05 UTC.
        let saturday_late = datetime!(2026-11-28 18:05 UTC);
        assert_eq!(week_start(saturday_late), date!(2026 - 11 - 22));
        // Sunday 29 Nov, 00:10 in Nepal is Saturday 18:25 UTC: the next week.
        let sunday_early = datetime!(2026-11-28 18:25 UTC);
        assert_eq!(week_start(sunday_early), date!(2026 - 11 - 29));
        assert_eq!(
            week_start(datetime!(2026-11-22 00:00 +5:45)),
            date!(2026 - 11 - 22)
        );
        assert_eq!(week_end(date!(2026 - 11 - 22)), date!(2026 - 11 - 28));
        assert_eq!(
            week_begins(date!(2026 - 11 - 29)),
            datetime!(2026-11-28 18:15 UTC)
        );
    }

    #[test]
    fn payouts_an_adjustment_is_a_signed_amount_in_paisa() {
        let typed = |direction, amount| {
            let mut errors = FieldErrors::new();
            let paisa = adjustment_paisa(direction, amount, &mut errors);
            (
                paisa,
                errors.get("direction").is_some(),
                errors.get("amount").is_some(),
            )
        };
        assert_eq!(typed("credit", "250.50"), (Some(25_050), false, false));
        assert_eq!(typed("debit", "100"), (Some(-10_000), false, false));
        assert_eq!(typed("debit", "-100"), (None, false, true));
        assert_eq!(typed("debit", "0"), (None, false, true));
        assert_eq!(typed("", "100"), (None, true, false));
        assert_eq!(typed("both", "x"), (None, true, true));
    }

    #[test]
    fn payouts_a_week_ends_when_nepals_sunday_begins() {
        let week = date!(2026 - 11 - 22);
        assert!(!week_ended(week, datetime!(2026-11-28 18:05 UTC)));
        assert!(!week_ended(week, datetime!(2026-11-28 18:14:59 UTC)));
        assert!(week_ended(week, datetime!(2026-11-28 18:15 UTC)));
        assert!(week_ended(week, datetime!(2026-11-28 18:25 UTC)));
        assert!(!week_ended(
            date!(2026 - 11 - 29),
            datetime!(2026-11-28 18:25 UTC)
        ));
    }
}
