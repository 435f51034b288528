//! Demo data for `serve --demo` and `seed-demo`: accounts a newcomer can log
//! in with. Seeding is skipped when the database already has users.

use sqlx::PgPool;

use crate::domain::account::{NewAccount, SignupInput};
use crate::market::{self, MarketResult};

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "dhune-demo";

/// The demo logins: (role, email).
pub const DEMO_LOGINS: [(&str, &str); 4] = [
    ("admin", "admin@demo.dhune.test"),
    ("customer", "sita@demo.dhune.test"),
    ("vendor", "sparkle@demo.dhune.test"),
    ("vendor", "himalayan@demo.dhune.test"),
];

/// Seeds the demo when no user exists yet; returns whether it seeded.
pub async fn seed_if_empty(pool: &PgPool) -> MarketResult<bool> {
    if market::accounts::count_users(pool).await? > 0 {
        return Ok(false);
    }
    market::accounts::create_admin(pool, DEMO_LOGINS[0].1, DEMO_PASSWORD).await?;
    let people = [
        (
            "Sita Sharma",
            DEMO_LOGINS[1].1,
            "9801234567",
            "customer",
            "",
            "",
        ),
        (
            "Ram Thapa",
            DEMO_LOGINS[2].1,
            "9812345678",
            "vendor",
            "Sparkle Laundry",
            "Kathmandu",
        ),
        (
            "Maya Gurung",
            DEMO_LOGINS[3].1,
            "9823456789",
            "vendor",
            "Himalayan Dry Cleaners",
            "Lalitpur",
        ),
    ];
    for (name, email, phone, role, business_name, city) in people {
        let input = SignupInput {
            name,
            email,
            phone,
            password: DEMO_PASSWORD,
            role,
            business_name,
            city,
        };
        let account = NewAccount::parse(&input).map_err(market::MarketError::Invalid)?;
        market::accounts::sign_up(pool, account).await?;
    }
    Ok(true)
}
