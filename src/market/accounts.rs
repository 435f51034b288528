//! Accounts: sign-up, login with throttling, lookup, admins.

use std::net::IpAddr;

use anyhow::Context;
use sqlx::PgPool;

use super::throttle::{self, Counted};
use super::{MarketError, MarketResult, audit, identity, password, record, unique_as};
use crate::domain::account::{Email, NewAccount, Password, Role, UserStatus};
use crate::domain::audit::AuditAction;
use crate::domain::throttle::{
    Limit, MAX_FAILED_LOGINS, MAX_FAILED_LOGINS_PER_ACCOUNT, address_key,
};
use crate::domain::{FieldErrors, clean_text};
use crate::events::{EventKind, NewEvent};

/// A signed-up user as the app sees them.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    /// Changes when the password or the status changes, which ends the
    /// user's sessions.
    pub session_hash: Vec<u8>,
}

pub(super) struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub password_hash: String,
}

impl TryFrom<UserRow> for User {
    type Error = MarketError;

    fn try_from(row: UserRow) -> MarketResult<Self> {
        let role = row.role.parse().map_err(anyhow::Error::msg)?;
        let status = row.status.parse().map_err(anyhow::Error::msg)?;
        let session_hash = format!("{}|{}", row.password_hash, row.status).into_bytes();
        Ok(User {
            id: row.id,
            email: row.email,
            name: row.name,
            role,
            status,
            session_hash,
        })
    }
}

impl User {
    /// How others see this user in notes: a laundry by its business name,
    /// an admin as Dhune, a customer by their name.
    pub fn shown_as(&self, business_name: Option<&str>) -> String {
        match (self.role, business_name) {
            (Role::Admin, _) => crate::events::DHUNE.to_owned(),
            (Role::Vendor, Some(business)) => business.to_owned(),
            _ => self.name.clone(),
        }
    }
}

const DUPLICATE_EMAIL: &str =
    "This email is already registered. Log in instead, or use another address.";
const ADMIN_NAME: &str = "Administrator";
const BAD_LOGIN: &str = "The email or password is not right. Please try again.";

/// Creates a customer or vendor account (with the vendor's profile).
pub async fn sign_up(pool: &PgPool, account: NewAccount) -> MarketResult<User> {
    let password_hash = password::hash(&account.password).await?;
    let mut tx = pool.begin().await?;
    let row = sqlx::query_as!(
        UserRow,
        r#"INSERT INTO users (email, name, phone, password_hash, role)
           VALUES ($1, $2, $3, $4, $5)
           RETURNING id, email, name, role, status, password_hash"#,
        account.email.as_str(),
        account.name,
        account.phone.as_str(),
        password_hash,
        account.role.as_str(),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(unique_as("users_email_key", || {
        MarketError::Invalid(FieldErrors::single("email", DUPLICATE_EMAIL))
    }))?;
    if let Some(vendor) = &account.vendor {
        sqlx::query!(
            "INSERT INTO vendors (user_id, business_name, city) VALUES ($1, $2, $3)",
            row.id,
            vendor.business_name,
            vendor.city,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    row.try_into()
}

/// Signs up a visitor at the client address `client`: at most
/// `limit_per_address` sign-up attempts per address and window are tried.
pub async fn sign_up_from(
    pool: &PgPool,
    account: NewAccount,
    client: IpAddr,
    limit_per_address: i64,
) -> MarketResult<User> {
    let counted = Counted::from_address(
        Limit::SignupsFromAddress,
        "signup",
        client,
        limit_per_address,
    );
    throttle::attempt(pool, &[counted]).await?;
    sign_up(pool, account).await
}

/// Checks an email and password typed at the client address `client`. At
/// most `limit_per_address` attempts per address and window are tried, and
/// at most [`MAX_FAILED_LOGINS`] failures per account and address, and
/// [`MAX_FAILED_LOGINS_PER_ACCOUNT`] per account from anywhere, are
/// evaluated, whatever the parallelism. The messages never tell whether an
/// account exists.
pub async fn log_in(
    pool: &PgPool,
    email: &str,
    password_typed: &str,
    client: IpAddr,
    limit_per_address: i64,
) -> MarketResult<User> {
    let email = Email::parse(email)
        .map_err(|msg| MarketError::Invalid(FieldErrors::single("email", msg)))?;
    let pair = format!("login-pair:{} {}", email.as_str(), address_key(client));
    let counted = [
        Counted::from_address(Limit::LoginsFromAddress, "login", client, limit_per_address),
        Counted {
            limit: Limit::FailuresFromAddress,
            key: pair.clone(),
            max: MAX_FAILED_LOGINS,
        },
        Counted {
            limit: Limit::FailuresOnAccount,
            key: format!("login-account:{}", email.as_str()),
            max: MAX_FAILED_LOGINS_PER_ACCOUNT,
        },
    ];
    let recorded = throttle::attempt(pool, &counted).await?;
    // The attempt stays counted against the address; the two failure rows
    // stay only if the password is wrong.
    let failure_rows = &recorded.ids()[1..];

    let row = sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, role, status, password_hash FROM users WHERE lower(email) = $1",
        email.as_str(),
    )
    .fetch_optional(pool)
    .await?;
    let stored = row.as_ref().map(|row| row.password_hash.clone());
    let verified = match password::verify(password_typed, stored).await {
        Ok(verified) => verified,
        Err(err) => {
            throttle::forget(pool, failure_rows).await?;
            return Err(err);
        }
    };
    if !verified {
        return Err(MarketError::Invalid(FieldErrors::single(
            "password", BAD_LOGIN,
        )));
    }
    // The right password clears this address's failures on the account.
    throttle::forget_with_key(pool, failure_rows, Some(&pair)).await?;
    let user: User = row
        .context("verified password without an account")?
        .try_into()?;
    if user.status == UserStatus::Suspended {
        return Err(MarketError::Forbidden(
            "This account is suspended. Please contact Dhune support.".into(),
        ));
    }
    Ok(user)
}

/// The user with this id, whatever their status.
pub async fn find_user(pool: &PgPool, id: i64) -> MarketResult<Option<User>> {
    let row = sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, role, status, password_hash FROM users WHERE id = $1",
        id,
    )
    .fetch_optional(pool)
    .await?;
    row.map(User::try_from).transpose()
}

/// The account with this email (any case), if there is one.
pub async fn find_user_by_email(pool: &PgPool, email: &str) -> MarketResult<Option<User>> {
    let row = sqlx::query_as!(
        UserRow,
        "SELECT id, email, name, role, status, password_hash FROM users WHERE lower(email) = lower($1)",
        email,
    )
    .fetch_optional(pool)
    .await?;
    row.map(User::try_from).transpose()
}

/// Creates an admin, or resets the password of the admin with this email.
pub async fn create_admin(
    pool: &PgPool,
    email_typed: &str,
    password_typed: &str,
) -> MarketResult<User> {
    let mut errors = FieldErrors::new();
    let email = errors.check("email", Email::parse(email_typed));
    let password_ok = errors.check(
        "password",
        Password::parse(password_typed, email_typed, ADMIN_NAME),
    );
    let (email, password_ok) = match (email, password_ok) {
        (Some(email), Some(password_ok)) if errors.is_empty() => (email, password_ok),
        _ => return Err(MarketError::Invalid(errors)),
    };
    let password_hash = password::hash(&password_ok).await?;
    let row = sqlx::query_as!(
        UserRow,
        r#"INSERT INTO users (email, name, phone, password_hash, role)
           VALUES ($1, $3, '0000000', $2, 'admin')
           ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash,
               updated_at = now()
           WHERE users.role = 'admin'
           RETURNING id, email, name, role, status, password_hash"#,
        email.as_str(),
        password_hash,
        ADMIN_NAME,
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => row.try_into(),
        None => Err(MarketError::Conflict(format!(
            "{} already belongs to a customer or vendor account.",
            email.as_str()
        ))),
    }
}

/// How many accounts exist.
pub async fn count_users(pool: &PgPool) -> MarketResult<i64> {
    Ok(
        sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM users"#)
            .fetch_one(pool)
            .await?,
    )
}

/// An admin suspends an account (with a reason): the user's sessions end at
/// once (the session hash includes the status), login is refused, and a
/// suspended vendor's pending offers are withdrawn. Admins cannot be
/// suspended. Recorded in the audit log in the same transaction.
pub async fn suspend_user(
    pool: &PgPool,
    admin: &User,
    user_id: i64,
    reason: &str,
) -> MarketResult<()> {
    set_status(pool, admin, user_id, UserStatus::Suspended, reason).await
}

/// An admin reinstates a suspended account (with a reason).
pub async fn reinstate_user(
    pool: &PgPool,
    admin: &User,
    user_id: i64,
    reason: &str,
) -> MarketResult<()> {
    set_status(pool, admin, user_id, UserStatus::Active, reason).await
}

async fn set_status(
    pool: &PgPool,
    admin: &User,
    user_id: i64,
    to: UserStatus,
    reason: &str,
) -> MarketResult<()> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let reason = clean_text(reason, 1, 2000, true)
        .map_err(|message| MarketError::Invalid(FieldErrors::single("reason", message)))?;
    let from = match to {
        UserStatus::Suspended => UserStatus::Active,
        UserStatus::Active => UserStatus::Suspended,
    };
    let mut tx = pool.begin().await?;
    // The lock order of `market/mod.rs`: the account, then the requests of
    // the vendor's pending offers, then those offers.
    let target = sqlx::query!(
        "SELECT role, status FROM users WHERE id = $1 FOR NO KEY UPDATE",
        user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MarketError::NotFound)?;
    if target.role == Role::Admin.as_str() {
        return Err(MarketError::Forbidden(
            "Admin accounts cannot be suspended here.".into(),
        ));
    }
    if target.status != from.as_str() {
        return Err(MarketError::Conflict(format!(
            "This account is already {}.",
            to.as_str().to_lowercase()
        )));
    }
    sqlx::query!(
        "UPDATE users SET status = $2, updated_at = now() WHERE id = $1",
        user_id,
        to.as_str()
    )
    .execute(&mut *tx)
    .await?;
    if to == UserStatus::Suspended && target.role == Role::Vendor.as_str() {
        // No pending offer can appear meanwhile: making one locks the
        // vendor's account first.
        sqlx::query!(
            r#"SELECT id FROM requests
               WHERE id IN (SELECT request_id FROM offers WHERE vendor_id = $1 AND status = 'PENDING')
               ORDER BY id FOR SHARE"#,
            user_id
        )
        .fetch_all(&mut *tx)
        .await?;
        let withdrawn = sqlx::query!(
            r#"UPDATE offers o SET status = 'WITHDRAWN', updated_at = now()
               FROM requests r
               WHERE r.id = o.request_id AND o.vendor_id = $1 AND o.status = 'PENDING'
               RETURNING o.id, o.request_id, r.customer_id"#,
            user_id
        )
        .fetch_all(&mut *tx)
        .await?;
        for offer in withdrawn {
            let event = NewEvent::new(EventKind::OfferWithdrawn, admin.id, admin.shown_as(None))
                .request(offer.request_id)
                .offer(offer.id)
                .to(&[offer.customer_id, user_id]);
            record(&mut tx, &event).await?;
        }
    }
    let kind = match to {
        UserStatus::Suspended => EventKind::UserSuspended,
        UserStatus::Active => EventKind::UserReinstated,
    };
    record(
        &mut tx,
        &NewEvent::new(kind, admin.id, admin.shown_as(None)).to(&[user_id]),
    )
    .await?;
    let entry = audit::Entry {
        action: match to {
            UserStatus::Suspended => AuditAction::Suspend,
            UserStatus::Active => AuditAction::Reinstate,
        },
        target_type: "user",
        target_id: user_id,
        reason: &reason,
        before: Some(from.as_str()),
        after: Some(to.as_str()),
    };
    audit::write(&mut tx, admin, &entry).await?;
    // Every instance forgets the account it kept, so its sessions end now.
    identity::announce(&mut *tx, &identity::Changed::User(user_id)).await?;
    tx.commit().await?;
    Ok(())
}

/// An account in the admin's list.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    pub business_name: Option<String>,
    pub created_at: time::OffsetDateTime,
}

/// An account row as the admin's queries read it.
struct AccountRow {
    id: i64,
    name: String,
    email: String,
    role: String,
    status: String,
    business_name: Option<String>,
    created_at: time::OffsetDateTime,
}

impl TryFrom<AccountRow> for Account {
    type Error = MarketError;

    fn try_from(r: AccountRow) -> MarketResult<Self> {
        Ok(Account {
            id: r.id,
            name: r.name,
            email: r.email,
            role: r.role.parse().map_err(anyhow::Error::msg)?,
            status: r.status.parse().map_err(anyhow::Error::msg)?,
            business_name: r.business_name,
            created_at: r.created_at,
        })
    }
}

/// All accounts for admins, newest first, filtered by status, the day they
/// signed up and a text search over email, name, business and id.
pub async fn list_accounts(
    pool: &PgPool,
    admin: &User,
    filter: &super::admin::Filter,
    paging: super::Paging,
) -> MarketResult<super::Paged<Account>> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let rows = sqlx::query_as!(
        AccountRow,
        r#"SELECT u.id, u.name, u.email, u.role, u.status, v.business_name AS "business_name?", u.created_at
           FROM users u LEFT JOIN vendors v ON v.user_id = u.id
           WHERE ($1::text IS NULL OR u.status = $1)
             AND ($2::timestamptz IS NULL OR u.created_at >= $2)
             AND ($3::timestamptz IS NULL OR u.created_at < $3)
             AND ($4 = '' OR u.email ILIKE '%' || $4 || '%' OR u.name ILIKE '%' || $4 || '%'
                  OR v.business_name ILIKE '%' || $4 || '%' OR u.id::text = $4)
           ORDER BY u.created_at DESC, u.id DESC
           LIMIT $5 OFFSET $6"#,
        filter.status,
        filter.since(),
        filter.until(),
        filter.search,
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(Account::try_from)
        .collect::<MarketResult<Vec<_>>>()?;
    Ok(paging.finish(items))
}

/// One account, by id, for the admin's detail page.
pub async fn get_account(pool: &PgPool, admin: &User, id: i64) -> MarketResult<Account> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    sqlx::query_as!(
        AccountRow,
        r#"SELECT u.id, u.name, u.email, u.role, u.status, v.business_name AS "business_name?", u.created_at
           FROM users u LEFT JOIN vendors v ON v.user_id = u.id
           WHERE u.id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?
    .try_into()
}

/// A laundry found by an admin's form.
#[derive(Debug, Clone)]
pub struct Laundry {
    pub user_id: i64,
    pub business_name: String,
}

/// The laundry whose account has `email` (as an admin typed it), or an
/// error on `field` saying why there is none.
pub(super) async fn laundry_by_email(
    pool: &PgPool,
    errors: &mut FieldErrors,
    field: &'static str,
    email: &str,
) -> MarketResult<Option<Laundry>> {
    let email = email.trim();
    if email.is_empty() {
        errors.add(field, "Enter the laundry's email.");
        return Ok(None);
    }
    let laundry = if email.chars().count() > 254 {
        None
    } else {
        sqlx::query_as!(
            Laundry,
            r#"SELECT v.user_id, v.business_name FROM vendors v JOIN users u ON u.id = v.user_id
               WHERE lower(u.email) = lower($1)"#,
            email,
        )
        .fetch_optional(pool)
        .await?
    };
    if laundry.is_none() {
        errors.add(field, "No laundry has an account with that email.");
    }
    Ok(laundry)
}
