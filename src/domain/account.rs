//! Accounts: roles, statuses and the validated sign-up input.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

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

/// A password of 8 to 128 characters, kept as typed: not one of the 10,000
/// commonest passwords (whatever its case), and not containing the user's
/// own name or email address.
#[derive(Clone)]
pub struct Password(String);

/// The 10,000 commonest passwords, one a line (see the README for the source).
const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

fn is_common(password: &str) -> bool {
    static COMMON: OnceLock<HashSet<String>> = OnceLock::new();
    COMMON
        .get_or_init(|| {
            COMMON_PASSWORDS
                .lines()
                .map(|line| line.trim().to_lowercase())
                .filter(|line| !line.is_empty())
                .collect()
        })
        .contains(&password.to_lowercase())
}

/// The lower-cased pieces of a name or email address that a password must
/// not contain: the whole (without separators) and each word of at least
/// four characters. An email counts by its local part.
fn personal_pieces(text: &str) -> Vec<String> {
    let text = text.trim().to_lowercase();
    let text = text
        .split_once('@')
        .map_or(text.as_str(), |(local, _)| local);
    let mut pieces: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() >= 4)
        .map(str::to_owned)
        .collect();
    let joined: String = text.chars().filter(|c| c.is_alphanumeric()).collect();
    if joined.chars().count() >= 4 {
        pieces.push(joined);
    }
    pieces
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    /// Checks a new password for the user with this email and name (as
    /// typed).
    pub fn parse(raw: &str, email: &str, name: &str) -> Result<Self, String> {
        let len = raw.chars().count();
        if len < Self::MIN {
            return Err(format!("Use at least {} characters.", Self::MIN));
        }
        if len > Self::MAX {
            return Err(format!("Use at most {} characters.", Self::MAX));
        }
        if is_common(raw) {
            return Err(
                "This is one of the most common passwords, so it is easy to guess. \
                 Please choose another."
                    .into(),
            );
        }
        let lower = raw.to_lowercase();
        let compact: String = lower.chars().filter(|c| c.is_alphanumeric()).collect();
        let personal = [email, name]
            .iter()
            .flat_map(|text| personal_pieces(text))
            .any(|piece| lower.contains(&piece) || compact.contains(&piece));
        if personal {
            return Err(
                "A password must not contain your name or email address. Please choose another."
                    .into(),
            );
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
        let password = errors.check(
            "password",
            Password::parse(input.password, input.email, input.name),
        );
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
        let parse = |raw: &str| Password::parse(raw, "c@example.com", "Sita");
        assert!(parse("1234567").is_err());
        assert!(parse("k3x!9qzw").is_ok());
        assert!(parse(&"x".repeat(128)).is_ok());
        assert!(parse(&"x".repeat(129)).is_err());
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "12345678",
            "iloveyou",
            "PassWord1",
            "QWERTYUIOP",
        ] {
            let err = Password::parse(common, "c@example.com", "Sita").unwrap_err();
            assert!(err.contains("most common"), "{common}: {err}");
        }
        assert!(Password::parse("laundry-day-42", "c@example.com", "Sita").is_ok());
    }

    #[test]
    fn a_password_may_not_contain_the_users_name_or_email() {
        let email = "Sita.Devi@example.com";
        let name = "Sita Sharma";
        for personal in [
            "sita.devi@example.com",
            "sitadevi-2024",
            "i-am-SHARMA!",
            "xSitaSharmax",
            "devi-devi-devi",
        ] {
            let err = Password::parse(personal, email, name).unwrap_err();
            assert!(err.contains("name or email"), "{personal}: {err}");
        }
        // Short names and local parts are not words to avoid.
        assert!(Password::parse("a-ram-bold-river", "ab@example.com", "Ram").is_ok());
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
