//! Limits on login and sign-up attempts: what is counted, how many are
//! allowed per window, and what a refused visitor is told.

use std::net::IpAddr;

/// The window over which attempts are counted.
pub const WINDOW: time::Duration = time::Duration::minutes(15);
/// Failed logins allowed on one account from one client address per window.
pub const MAX_FAILED_LOGINS: i64 = 10;
/// Failed logins allowed on one account from all addresses together per
/// window: a ceiling against guessing from many addresses, high enough that
/// a stranger at one address cannot lock the owner out.
pub const MAX_FAILED_LOGINS_PER_ACCOUNT: i64 = 100;

/// Which limit an attempt ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Login attempts from one client address.
    LoginsFromAddress,
    /// Sign-up attempts from one client address.
    SignupsFromAddress,
    /// Failed logins on one account from one client address.
    FailuresFromAddress,
    /// Failed logins on one account from anywhere.
    FailuresOnAccount,
}

impl Limit {
    /// What the refused visitor is told.
    pub fn message(self, minutes: i64) -> String {
        let what = match self {
            Limit::LoginsFromAddress => "Too many login attempts from your network.",
            Limit::SignupsFromAddress => "Too many sign-ups from your network.",
            Limit::FailuresFromAddress | Limit::FailuresOnAccount => {
                "Too many failed attempts for this account."
            }
        };
        let plural = if minutes == 1 { "" } else { "s" };
        format!("{what} Please try again in {minutes} minute{plural}.")
    }
}

/// The part of a client address that is counted: the whole IPv4 address,
/// or the /64 network of an IPv6 address (what one subscriber gets).
pub fn address_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
    }
}

/// Whole minutes (at least 1) until the oldest counted attempt, made at
/// `oldest`, leaves the window and a slot frees up.
pub fn minutes_until_free(oldest: time::OffsetDateTime, now: time::OffsetDateTime) -> i64 {
    let seconds = (oldest + WINDOW - now).whole_seconds().max(1);
    (seconds + 59) / 60
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_slot_frees_when_the_oldest_attempt_leaves_the_window() {
        let now = datetime!(2026-01-01 12:00 UTC);
        assert_eq!(minutes_until_free(now, now), 15);
        assert_eq!(
            minutes_until_free(now - time::Duration::minutes(14), now),
            1
        );
        assert_eq!(
            minutes_until_free(now - time::Duration::seconds(61), now),
            14
        );
        assert_eq!(minutes_until_free(now - time::Duration::hours(1), now), 1);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_network() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(one), address_key(two));
        assert_eq!(address_key(one), "2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7");
    }

    #[test]
    fn messages_say_what_was_limited_and_for_how_long() {
        assert_eq!(
            Limit::FailuresFromAddress.message(15),
            "Too many failed attempts for this account. Please try again in 15 minutes."
        );
        assert_eq!(
            Limit::SignupsFromAddress.message(1),
            "Too many sign-ups from your network. Please try again in 1 minute."
        );
    }
}
