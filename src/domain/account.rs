//! Accounts: roles, statuses and the validated sign-up input.

use std::fmt;
use std::str::FromStr;

use super::{FieldErrors, clean_text};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Vendor,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Vendor => "vendor",
            Role::Admin => "admin",
        }
    }

    /// Where a user of this role lands after logging in.
    pub fn home(self) -> &'static str {
        match self {
            Role::Customer => "/requests",
            Role::Vendor => "/board",
            Role::Admin => "/admin",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(Role::Customer),
            "vendor" => Ok(Role::Vendor),
            "admin" => Ok(Role::Admin),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Suspended,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Suspended => "SUSPENDED",
        }
    }
}

impl FromStr for UserStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ACTIVE" => Ok(UserStatus::Active),
            "SUSPENDED" => Ok(UserStatus::Suspended),
            other => Err(format!("unknown user status {other:?}")),
        }
    }
}

/// An email address, trimmed and lower-cased (addresses are unique
/// case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("Please enter your email address.".into());
        }
        if email.chars().count() > 254 {
            return Err("That email address is too long.".into());
        }
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid {
            Ok(Self(email))
        } else {
            Err("Please enter an email address like name@example.com.".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password of 8 to 128 characters, kept as typed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < Self::MIN {
            return Err(format!("Use at least {} characters.", Self::MIN));
        }
        if len > Self::MAX {
            return Err(format!("Use at most {} characters.", Self::MAX));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A phone number: digits with an optional leading `+`; spaces and dashes
/// are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
            .collect();
        let digits = compact.strip_prefix('+').unwrap_or(&compact);
        if compact.is_empty() {
            return Err("Please enter a phone number.".into());
        }
        if !digits.chars().all(|c| c.is_ascii_digit()) || !(7..=15).contains(&digits.len()) {
            return Err("Please enter a phone number of 7 to 15 digits, like 98XXXXXXXX.".into());
        }
        Ok(Self(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a vendor adds at sign-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorProfile {
    pub business_name: String,
    pub city: String,
}

/// A validated sign-up.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub email: Email,
    pub phone: Phone,
    pub password: Password,
    pub role: Role,
    /// Present exactly when `role` is `Vendor`.
    pub vendor: Option<VendorProfile>,
}

/// The sign-up form as typed.
#[derive(Debug, Clone, Default)]
pub struct SignupInput<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub phone: &'a str,
    pub password: &'a str,
    pub role: &'a str,
    pub business_name: &'a str,
    pub city: &'a str,
}

impl NewAccount {
    pub fn parse(input: &SignupInput<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = errors.check("name", clean_text(input.name, 1, 100, false));
        let email = errors.check("email", Email::parse(input.email));
        let phone = errors.check("phone", Phone::parse(input.phone));
        let password = errors.check("password", Password::parse(input.password));
        let role = match input.role {
            "customer" => Some(Role::Customer),
            "vendor" => Some(Role::Vendor),
            _ => {
                errors.add("role", "Choose whether you are a customer or a laundry.");
                None
            }
        };
        let vendor = if role == Some(Role::Vendor) {
            let business_name = errors.check(
                "business_name",
                clean_text(input.business_name, 1, 100, false),
            );
            let city = errors.check("city", clean_text(input.city, 1, 60, false));
            business_name
                .zip(city)
                .map(|(business_name, city)| VendorProfile {
                    business_name,
                    city,
                })
        } else {
            None
        };
        errors.finish(|| {
            let role = role?;
            if role == Role::Vendor && vendor.is_none() {
                return None;
            }
            Some(NewAccount {
                name: name?,
                email: email?,
                phone: phone?,
                password: password?,
                role,
                vendor,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SignupInput<'static> {
        SignupInput {
            name: "Sita Sharma",
            email: " Sita@Example.COM ",
            phone: "+977 980-1234567",
            password: "correct horse",
            role: "customer",
            business_name: "",
            city: "",
        }
    }

    #[test]
    fn a_customer_signs_up_with_normalised_fields() {
        let account = NewAccount::parse(&input()).expect("valid");
        assert_eq!(account.email.as_str(), "sita@example.com");
        assert_eq!(account.phone.as_str(), "+9779801234567");
        assert_eq!(account.role, Role::Customer);
        assert!(account.vendor.is_none());
    }

    #[test]
    fn a_vendor_needs_a_business_name_and_city() {
        let errors = NewAccount::parse(&SignupInput {
            role: "vendor",
            ..input()
        })
        .unwrap_err();
        assert!(errors.get("business_name").is_some());
        assert!(errors.get("city").is_some());
        let account = NewAccount::parse(&SignupInput {
            role: "vendor",
            business_name: "Fresh Fold",
            city: "Lalitpur",
            ..input()
        })
        .expect("valid vendor");
        assert_eq!(account.vendor.map(|v| v.city), Some("Lalitpur".into()));
    }

    #[test]
    fn nobody_signs_up_as_admin() {
        let errors = NewAccount::parse(&SignupInput {
            role: "admin",
            ..input()
        })
        .unwrap_err();
        assert!(errors.get("role").is_some());
    }

    #[test]
    fn password_length_is_bounded() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(128)).is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn emails_are_checked() {
        for bad in [
            "",
            "plain",
            "a@b",
            "@x.com",
            "a b@x.com",
            "a@.com",
            "a@x.com.",
            "a@@x.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@x.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn phones_are_checked() {
        for bad in ["", "12345", "98abc45678", "+", "1234567890123456"] {
            assert!(Phone::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(
            Phone::parse("01-5550123").map(|p| p.0),
            Ok("015550123".into())
        );
    }

    #[test]
    fn roles_round_trip() {
        for role in [Role::Customer, Role::Vendor, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        for status in [UserStatus::Active, UserStatus::Suspended] {
            assert_eq!(status.as_str().parse::<UserStatus>(), Ok(status));
        }
    }
}

/// Failed logins allowed per account within [`LOGIN_WINDOW`].
pub const MAX_FAILED_LOGINS: i64 = 10;
/// The window over which failed logins are counted.
pub const LOGIN_WINDOW: time::Duration = time::Duration::minutes(15);

/// Whole minutes (at least 1) until an account with `recent_failures` failed
/// logins in the window, the oldest of the last ten at `oldest`, may try again;
/// `None` when it may try now.
pub fn login_lockout(
    recent_failures: i64,
    oldest: Option<time::OffsetDateTime>,
    now: time::OffsetDateTime,
) -> Option<i64> {
    if recent_failures < MAX_FAILED_LOGINS {
        return None;
    }
    let remaining = oldest? + LOGIN_WINDOW - now;
    let seconds = remaining.whole_seconds().max(1);
    Some((seconds + 59) / 60)
}

#[cfg(test)]
mod lockout_tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn nine_failures_do_not_lock() {
        let now = datetime!(2026-01-01 12:00 UTC);
        assert_eq!(login_lockout(9, Some(now), now), None);
    }

    #[test]
    fn ten_failures_lock_until_the_oldest_leaves_the_window() {
        let now = datetime!(2026-01-01 12:00 UTC);
        assert_eq!(login_lockout(10, Some(now), now), Some(15));
        assert_eq!(
            login_lockout(10, Some(now - time::Duration::minutes(14)), now),
            Some(1)
        );
        assert_eq!(
            login_lockout(10, Some(now - time::Duration::seconds(61)), now),
            Some(14)
        );
    }
}
