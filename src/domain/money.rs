//! Money: Nepali rupees held as whole paisa (1 rupee = 100 paisa).

use std::fmt;

/// An amount of money in paisa. Prices typed by users are parsed with
/// [`Money::parse_rupees`] and are always more than zero and at most
/// [`Money::MAX`]; amounts read from the database are taken as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

const NOT_A_PRICE: &str = "Please enter a price in rupees, like 450 or 450.50.";
const NOT_POSITIVE: &str = "The price must be more than zero.";
const TOO_MANY_DECIMALS: &str = "Use at most two decimals (paisa).";
const TOO_HIGH: &str = "That price is too high (at most Rs 10,00,000).";

impl Money {
    /// Rs 10,00,000.00; any typed price above it is refused as absurd.
    pub const MAX: Money = Money(100_000_000);

    pub fn from_paisa(paisa: i64) -> Money {
        Money(paisa)
    }

    pub fn paisa(self) -> i64 {
        self.0
    }

    /// Parses a price typed in rupees: `450`, `450.5`, `450.50`,
    /// ` 1,250.50 `, `Rs 450`, `Rs. 450`. Commas may separate groups of
    /// digits in the rupee part (both `1,000,000` and `10,00,000` are read).
    pub fn parse_rupees(raw: &str) -> Result<Money, String> {
        if raw.chars().any(char::is_control) {
            return Err(NOT_A_PRICE.into());
        }
        let text = raw.trim();
        let text = strip_rupee_sign(text).trim_start();
        if text.starts_with('-') {
            return Err(NOT_POSITIVE.into());
        }
        let (rupees, fraction) = match text.split_once('.') {
            Some((rupees, fraction)) => (rupees, fraction),
            None => (text, ""),
        };
        let rupee_digits: String = rupees.chars().filter(|&c| c != ',').collect();
        let all_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if (rupee_digits.is_empty() && fraction.is_empty())
            || !commas_well_placed(rupees)
            || !all_digits(&rupee_digits)
            || !all_digits(fraction)
        {
            return Err(NOT_A_PRICE.into());
        }
        if fraction.len() > 2 {
            return Err(TOO_MANY_DECIMALS.into());
        }
        // Leading zeros carry no value; more than 7 digits is above MAX anyway
        // (and this keeps the arithmetic below far from overflowing).
        let significant = rupee_digits.trim_start_matches('0');
        if significant.len() > 7 {
            return Err(TOO_HIGH.into());
        }
        let paisa = digits_value(significant) * 100 + digits_value(&format!("{fraction:0<2}"));
        if paisa == 0 {
            return Err(NOT_POSITIVE.into());
        }
        if paisa > Self::MAX.0 {
            return Err(TOO_HIGH.into());
        }
        Ok(Money(paisa))
    }

    /// The platform's commission at `bps` basis points (1000 = 10%), rounded
    /// half up to the paisa; `bps` is clamped to `0..=10000`.
    pub fn commission(self, bps: i32) -> Money {
        let bps = i128::from(bps.clamp(0, 10_000));
        let scaled = i128::from(self.0) * bps;
        let rounded = (scaled + 5_000).div_euclid(10_000);
        // |rounded| <= |self.0| since bps <= 10000, so this always fits.
        Money(i64::try_from(rounded).unwrap_or(self.0))
    }

    /// Rupees with exactly two decimals and no sign or grouping, for files
    /// a spreadsheet reads as numbers: `1250.50`, `-5.00`.
    pub fn decimal(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Commas, if any, separate digit groups: the first of 1 to 3 digits, the
/// last of 3, those between of 2 or 3 (so `1,000,000` and `10,00,000` pass,
/// while a decimal comma such as `450,50` does not).
fn commas_well_placed(rupees: &str) -> bool {
    let groups: Vec<&str> = rupees.split(',').collect();
    match groups.as_slice() {
        [_] => true,
        [first, middle @ .., last] => {
            (1..=3).contains(&first.len())
                && middle.iter().all(|group| (2..=3).contains(&group.len()))
                && last.len() == 3
        }
        [] => false,
    }
}

/// Drops a leading "Rs" or "Rs." in any letter case.
fn strip_rupee_sign(text: &str) -> &str {
    match text.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("rs") => {
            let rest = &text[2..];
            rest.strip_prefix('.').unwrap_or(rest)
        }
        _ => text,
    }
}

/// The value of at most 7 ASCII digits (the caller checks both).
fn digits_value(digits: &str) -> i64 {
    digits
        .bytes()
        .fold(0, |value, digit| value * 10 + i64::from(digit - b'0'))
}

impl fmt::Display for Money {
    /// `Rs 1,250.50`: thousands grouped by three, always two decimals;
    /// a negative amount is written `-Rs 5.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let rupees = (abs / 100).to_string();
        let mut grouped = String::with_capacity(rupees.len() + rupees.len() / 3);
        for (i, digit) in rupees.chars().enumerate() {
            if i > 0 && (rupees.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        write!(f, "{sign}Rs {grouped}.{:02}", abs % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<i64, String> {
        Money::parse_rupees(raw).map(Money::paisa)
    }

    #[test]
    fn typed_prices_are_read_as_paisa() {
        assert_eq!(parse("450"), Ok(45_000));
        assert_eq!(parse("450.5"), Ok(45_050));
        assert_eq!(parse("450.50"), Ok(45_050));
        assert_eq!(parse("450.05"), Ok(45_005));
        assert_eq!(parse("1,250.50"), Ok(125_050));
        assert_eq!(parse(" 1,250.50 "), Ok(125_050));
        assert_eq!(parse("Rs 450"), Ok(45_000));
        assert_eq!(parse("Rs. 450"), Ok(45_000));
        assert_eq!(parse("Rs.450"), Ok(45_000));
        assert_eq!(parse("rs450"), Ok(45_000));
        assert_eq!(parse("0.05"), Ok(5));
        assert_eq!(parse(".5"), Ok(50));
        assert_eq!(parse("450."), Ok(45_000));
        assert_eq!(parse("007"), Ok(700));
        assert_eq!(parse("10,00,000"), Ok(100_000_000));
        assert_eq!(parse("1,000,000.00"), Ok(100_000_000));
        assert_eq!(parse("4,50,000"), Ok(45_000_000));
        assert_eq!(parse("0000000001000000"), Ok(100_000_000));
    }

    #[test]
    fn zero_and_negative_prices_are_refused() {
        for raw in ["0", "0.00", "0.0", "000", "Rs 0", "-5", "-0.01", "Rs -5"] {
            assert_eq!(parse(raw), Err(NOT_POSITIVE.into()), "{raw:?}");
        }
    }

    #[test]
    fn malformed_prices_are_refused() {
        for raw in [
            "",
            "   ",
            "abc",
            "1e3",
            "1E3",
            "NaN",
            "nan",
            "inf",
            "infinity",
            "+5",
            "4 50",
            "4.5.0",
            ".",
            "Rs",
            "Rs.",
            ",450",
            "450,",
            "4,,50",
            "450,50",
            "450,50.",
            "1.2,5",
            "1,2,3",
            "1234,567",
            "1,0000",
            "1,000,0",
            "\u{0}",
            "45\u{0}0",
            "450\n",
            "\t450",
            "४५०",
            "0x10",
            "1_000",
            "Rs 4 50",
            "$450",
        ] {
            assert_eq!(parse(raw), Err(NOT_A_PRICE.into()), "{raw:?}");
        }
    }

    #[test]
    fn more_than_two_decimals_are_refused() {
        assert_eq!(parse("4.505"), Err(TOO_MANY_DECIMALS.into()));
        assert_eq!(parse("4.500"), Err(TOO_MANY_DECIMALS.into()));
    }

    #[test]
    fn absurd_prices_are_refused() {
        assert_eq!(parse("1000000"), Ok(Money::MAX.paisa()));
        assert_eq!(parse("1000000.01"), Err(TOO_HIGH.into()));
        assert_eq!(parse("1000001"), Err(TOO_HIGH.into()));
        assert_eq!(parse("9999999.99"), Err(TOO_HIGH.into()));
        assert_eq!(parse("99999999999999999999"), Err(TOO_HIGH.into()));
        assert_eq!(parse(&"9".repeat(400)), Err(TOO_HIGH.into()));
    }

    #[test]
    fn money_is_shown_in_rupees() {
        assert_eq!(Money::from_paisa(125_050).to_string(), "Rs 1,250.50");
        assert_eq!(Money::from_paisa(5).to_string(), "Rs 0.05");
        assert_eq!(Money::from_paisa(0).to_string(), "Rs 0.00");
        assert_eq!(Money::from_paisa(99_900).to_string(), "Rs 999.00");
        assert_eq!(Money::from_paisa(100_000).to_string(), "Rs 1,000.00");
        assert_eq!(Money::MAX.to_string(), "Rs 1,000,000.00");
        assert_eq!(
            Money::from_paisa(123_456_789).to_string(),
            "Rs 1,234,567.89"
        );
        assert_eq!(Money::from_paisa(-500).to_string(), "-Rs 5.00");
        assert_eq!(
            Money::from_paisa(i64::MIN).to_string(),
            "-Rs 92,233,720,368,547,758.08"
        );
    }

    #[test]
    fn money_as_a_plain_decimal() {
        assert_eq!(Money::from_paisa(125_050).decimal(), "1250.50");
        assert_eq!(Money::from_paisa(5).decimal(), "0.05");
        assert_eq!(Money::from_paisa(0).decimal(), "0.00");
        assert_eq!(Money::from_paisa(-500).decimal(), "-5.00");
        assert_eq!(
            Money::from_paisa(i64::MIN).decimal(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn shown_prices_parse_back() {
        for paisa in [1, 5, 99, 100, 45_050, 125_050, 99_999_999, 100_000_000] {
            let money = Money::from_paisa(paisa);
            assert_eq!(Money::parse_rupees(&money.to_string()), Ok(money));
        }
    }

    #[test]
    fn commission_rounds_half_up_to_the_paisa() {
        let commission = |paisa, bps| Money::from_paisa(paisa).commission(bps).paisa();
        assert_eq!(commission(99_995, 1_000), 10_000); // 9999.5 paisa
        assert_eq!(commission(99_994, 1_000), 9_999); // 9999.4 paisa
        assert_eq!(commission(45_000, 1_000), 4_500);
        assert_eq!(commission(5, 1_000), 1); // 0.5 paisa
        assert_eq!(commission(4, 1_000), 0); // 0.4 paisa
        assert_eq!(commission(12_345, 250), 309); // 308.625 paisa
        assert_eq!(commission(45_000, 0), 0);
        assert_eq!(commission(45_000, 10_000), 45_000);
        assert_eq!(commission(45_000, -5), 0);
        assert_eq!(commission(45_000, 20_000), 45_000);
        assert_eq!(commission(i64::MAX, 10_000), i64::MAX);
        assert_eq!(commission(i64::MAX, 5_000), i64::MAX / 2 + 1);
        assert_eq!(commission(i64::MIN, 10_000), i64::MIN);
        assert_eq!(commission(-5, 1_000), 0); // -0.5 rounds up to 0
    }
}
