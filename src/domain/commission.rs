//! The commission rate as admins type and read it: a percentage with at
//! most two decimals, held as basis points (1 bps = 0.01%).

use std::fmt;

const NOT_A_RATE: &str = "Enter the rate as a percentage, like 10 or 8.5.";
const NEGATIVE: &str = "The rate cannot be below 0%.";
const TOO_HIGH: &str = "The rate cannot be above 100%.";
const TOO_MANY_DECIMALS: &str = "Use at most two decimals, like 8.25.";

/// A commission rate in basis points, `0..=10000` (0% to 100%).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate(i32);

impl Rate {
    pub const MAX_BPS: i32 = 10_000;

    /// A rate read from the database or the configuration, clamped to
    /// `0..=10000` basis points.
    pub fn from_bps(bps: i32) -> Rate {
        Rate(bps.clamp(0, Self::MAX_BPS))
    }

    pub fn bps(self) -> i32 {
        self.0
    }

    /// Parses a percentage typed by an admin: `10`, `8.5`, `8.25`, ` 12 % `,
    /// `0`, `100`. Refuses anything below 0 or above 100, more than two
    /// decimals and anything that is not a number.
    pub fn parse_percent(raw: &str) -> Result<Rate, String> {
        let text = raw.trim();
        let text = text.strip_suffix('%').unwrap_or(text).trim_end();
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction)
        {
            return Err(NOT_A_RATE.into());
        }
        if fraction.len() > 2 {
            return Err(TOO_MANY_DECIMALS.into());
        }
        if negative && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
            return Err(NEGATIVE.into());
        }
        // Leading zeros carry no value; more than three digits is above 100.
        let whole = whole.trim_start_matches('0');
        if whole.len() > 3 {
            return Err(TOO_HIGH.into());
        }
        let value = |digits: &str| {
            digits
                .bytes()
                .fold(0, |value, digit| value * 10 + i32::from(digit - b'0'))
        };
        let bps = value(whole) * 100 + value(&format!("{fraction:0<2}"));
        if bps > Self::MAX_BPS {
            return Err(TOO_HIGH.into());
        }
        Ok(Rate(bps))
    }
}

impl fmt::Display for Rate {
    /// `10%`, `8.5%`, `8.25%`, `0%`: no trailing zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        match hundredths {
            0 => write!(f, "{whole}%"),
            h if h % 10 == 0 => write!(f, "{whole}.{}%", h / 10),
            h => write!(f, "{whole}.{h:02}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bps(raw: &str) -> Result<i32, String> {
        Rate::parse_percent(raw).map(Rate::bps)
    }

    #[test]
    fn percentages_become_basis_points() {
        assert_eq!(bps("10"), Ok(1_000));
        assert_eq!(bps("8.5"), Ok(850));
        assert_eq!(bps("8.50"), Ok(850));
        assert_eq!(bps("8.25"), Ok(825));
        assert_eq!(bps("0.01"), Ok(1));
        assert_eq!(bps(".5"), Ok(50));
        assert_eq!(bps("7."), Ok(700));
        assert_eq!(bps("0"), Ok(0));
        assert_eq!(bps("-0"), Ok(0));
        assert_eq!(bps("100"), Ok(10_000));
        assert_eq!(bps("100.00"), Ok(10_000));
        assert_eq!(bps("007.5"), Ok(750));
        assert_eq!(bps(" 12 % "), Ok(1_200));
        assert_eq!(bps("12.5%"), Ok(1_250));
    }

    #[test]
    fn out_of_range_rates_are_refused() {
        assert_eq!(bps("-1"), Err(NEGATIVE.into()));
        assert_eq!(bps("-0.01"), Err(NEGATIVE.into()));
        assert_eq!(bps("-1000"), Err(NEGATIVE.into()));
        assert_eq!(bps("100.01"), Err(TOO_HIGH.into()));
        assert_eq!(bps("101"), Err(TOO_HIGH.into()));
        assert_eq!(bps("1000"), Err(TOO_HIGH.into()));
        assert_eq!(bps("99999999999999999999"), Err(TOO_HIGH.into()));
    }

    #[test]
    fn more_than_two_decimals_are_refused() {
        assert_eq!(bps("8.125"), Err(TOO_MANY_DECIMALS.into()));
        assert_eq!(bps("0.001"), Err(TOO_MANY_DECIMALS.into()));
        assert_eq!(bps("-8.125"), Err(TOO_MANY_DECIMALS.into()));
    }

    #[test]
    fn garbage_is_refused() {
        for raw in [
            "", " ", "%", "ten", "10,5", "1e2", "+10", "10 5", "1.2.3", ".", "--1", "0x10", "١٠",
            "10%%", "Rs 10",
        ] {
            assert_eq!(bps(raw), Err(NOT_A_RATE.into()), "{raw:?}");
        }
    }

    #[test]
    fn rates_read_as_short_percentages() {
        let shown = |bps| Rate::from_bps(bps).to_string();
        assert_eq!(shown(1_000), "10%");
        assert_eq!(shown(850), "8.5%");
        assert_eq!(shown(825), "8.25%");
        assert_eq!(shown(5), "0.05%");
        assert_eq!(shown(0), "0%");
        assert_eq!(shown(10_000), "100%");
        assert_eq!(shown(20_000), "100%");
        assert_eq!(shown(-5), "0%");
    }

    #[test]
    fn every_rate_reads_back_as_itself() {
        for bps in 0..=Rate::MAX_BPS {
            let shown = Rate::from_bps(bps).to_string();
            assert_eq!(Rate::parse_percent(&shown), Ok(Rate::from_bps(bps)));
        }
    }
}
