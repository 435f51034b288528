//! The commission rate as a setting with history: the platform's rate and
//! the rates negotiated with single laundries, each change a new row of
//! `commission_rates` (never updated), made by an admin with a reason and
//! audited. The rate in force for a scope is its newest row; with no
//! platform row the configured default (`DHUNE_COMMISSION_BPS`) applies.
//! `offers::accept_offer` snapshots the rate in force on each new order in
//! its own transaction, so orders already made keep theirs.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::accounts::{User, laundry_by_email};
use super::audit::{self, Entry};
use super::{MarketError, MarketResult, require_admin};
use crate::domain::FieldErrors;
use crate::domain::audit::AuditAction;
use crate::domain::clean_text;
use crate::domain::commission::Rate;

/// How many past changes the admin's page lists, newest first.
pub const HISTORY_LIMIT: i64 = 100;

/// What the platform's rate became or a laundry's rate became, when, by whom
/// and why. `rate` is `None` when a laundry's negotiated rate was ended.
#[derive(Debug, Clone)]
pub struct RateChange {
    pub id: i64,
    pub rate: Option<Rate>,
    pub reason: String,
    pub set_by: String,
    pub effective_from: OffsetDateTime,
    /// The laundry's business name and email, for a laundry's rate.
    pub vendor: Option<(String, String)>,
}

/// A laundry with a negotiated rate in force.
#[derive(Debug, Clone)]
pub struct VendorRate {
    pub vendor_id: i64,
    pub business_name: String,
    pub email: String,
    pub rate: Rate,
    pub reason: String,
    pub set_by: String,
    pub effective_from: OffsetDateTime,
}

/// The commission as the admin's page shows it.
#[derive(Debug, Clone)]
pub struct Commission {
    /// The platform's rate in force for new orders.
    pub platform: Rate,
    /// Whether that is the configured default (no admin has set one yet).
    pub platform_is_default: bool,
    /// The platform's rate changes, newest first.
    pub history: Vec<RateChange>,
    /// The laundries with a negotiated rate in force, by business name.
    pub vendors: Vec<VendorRate>,
    /// The changes to laundries' rates, newest first.
    pub vendor_history: Vec<RateChange>,
}

struct ChangeRow {
    id: i64,
    bps: Option<i32>,
    reason: String,
    set_by: String,
    effective_from: OffsetDateTime,
    business_name: Option<String>,
    email: Option<String>,
}

impl From<ChangeRow> for RateChange {
    fn from(row: ChangeRow) -> Self {
        RateChange {
            id: row.id,
            rate: row.bps.map(Rate::from_bps),
            reason: row.reason,
            set_by: row.set_by,
            effective_from: row.effective_from,
            vendor: row.business_name.zip(row.email),
        }
    }
}

/// The platform's rate now, its history, and the laundries' negotiated
/// rates; `default_bps` is the configured default.
pub async fn current(pool: &PgPool, admin: &User, default_bps: i32) -> MarketResult<Commission> {
    require_admin(admin)?;
    let history: Vec<RateChange> = sqlx::query_as!(
        ChangeRow,
        r#"SELECT r.id, r.bps, r.reason, u.email AS set_by, r.effective_from,
                  NULL::text AS business_name, NULL::text AS email
           FROM commission_rates r JOIN users u ON u.id = r.set_by
           WHERE r.vendor_id IS NULL
           ORDER BY r.effective_from DESC, r.id DESC
           LIMIT $1"#,
        HISTORY_LIMIT,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(RateChange::from)
    .collect();
    let vendor_history = sqlx::query_as!(
        ChangeRow,
        r#"SELECT r.id, r.bps, r.reason, u.email AS set_by, r.effective_from,
                  v.business_name AS "business_name?", vu.email AS "email?"
           FROM commission_rates r
           JOIN users u ON u.id = r.set_by
           JOIN vendors v ON v.user_id = r.vendor_id
           JOIN users vu ON vu.id = r.vendor_id
           WHERE r.vendor_id IS NOT NULL
           ORDER BY r.effective_from DESC, r.id DESC
           LIMIT $1"#,
        HISTORY_LIMIT,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(RateChange::from)
    .collect();
    let vendors = sqlx::query!(
        r#"SELECT n.vendor_id AS "vendor_id!", v.business_name, vu.email, n.bps AS "bps!",
                  n.reason, u.email AS set_by, n.effective_from
           FROM (SELECT DISTINCT ON (vendor_id) vendor_id, bps, reason, set_by, effective_from
                 FROM commission_rates
                 WHERE vendor_id IS NOT NULL
                 ORDER BY vendor_id, effective_from DESC, id DESC) n
           JOIN vendors v ON v.user_id = n.vendor_id
           JOIN users vu ON vu.id = n.vendor_id
           JOIN users u ON u.id = n.set_by
           WHERE n.bps IS NOT NULL
           ORDER BY lower(v.business_name), n.vendor_id"#,
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| VendorRate {
        vendor_id: row.vendor_id,
        business_name: row.business_name,
        email: row.email,
        rate: Rate::from_bps(row.bps),
        reason: row.reason,
        set_by: row.set_by,
        effective_from: row.effective_from,
    })
    .collect();
    let newest = history.first().and_then(|change| change.rate);
    Ok(Commission {
        platform: newest.unwrap_or(Rate::from_bps(default_bps)),
        platform_is_default: newest.is_none(),
        history,
        vendors,
        vendor_history,
    })
}

/// Serialises rate changes, so each change's "before" in the audit log is
/// the rate it replaced. Reading the rates (the accept transaction) is not
/// blocked by it.
async fn lock_rates(tx: &mut PgConnection) -> MarketResult<()> {
    sqlx::query!("LOCK TABLE commission_rates IN SHARE ROW EXCLUSIVE MODE")
        .execute(tx)
        .await?;
    Ok(())
}

fn reason(errors: &mut FieldErrors, raw: &str) -> Option<String> {
    errors.check("reason", clean_text(raw, 1, 2000, true))
}

/// An admin sets the platform's rate (a percentage typed like `10` or
/// `8.5`) with a reason: audited, in force for orders created from now on.
pub async fn set_platform_rate(
    pool: &PgPool,
    admin: &User,
    rate: &str,
    reason_text: &str,
    default_bps: i32,
) -> MarketResult<Rate> {
    require_admin(admin)?;
    let mut errors = FieldErrors::new();
    let rate = errors.check("rate", Rate::parse_percent(rate));
    let reason = reason(&mut errors, reason_text);
    let (rate, reason) = errors
        .finish(|| rate.zip(reason))
        .map_err(MarketError::Invalid)?;
    let mut tx = pool.begin().await?;
    lock_rates(&mut tx).await?;
    let before = sqlx::query_scalar!(
        r#"SELECT bps AS "bps!" FROM commission_rates WHERE vendor_id IS NULL
           ORDER BY effective_from DESC, id DESC LIMIT 1"#
    )
    .fetch_optional(&mut *tx)
    .await?
    .map_or(Rate::from_bps(default_bps), Rate::from_bps);
    let id = sqlx::query_scalar!(
        r#"INSERT INTO commission_rates (vendor_id, bps, reason, set_by, effective_from)
           VALUES (NULL, $1, $2, $3, clock_timestamp()) RETURNING id"#,
        rate.bps(),
        reason,
        admin.id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let (before, after) = (before.to_string(), rate.to_string());
    audit::write(
        &mut tx,
        admin,
        &Entry {
            action: AuditAction::PlatformCommission,
            target_type: "commission_rate",
            target_id: id,
            reason: &reason,
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(rate)
}

/// What became of a laundry's rate.
#[derive(Debug, Clone)]
pub struct VendorRateSet {
    pub business_name: String,
    /// The negotiated rate now, `None` when it was ended.
    pub rate: Option<Rate>,
}

/// An admin sets the rate negotiated with one laundry, found by its
/// account's email, or ends it (an empty rate: the platform's applies
/// again), with a reason: audited (on the laundry's account), in force for
/// that laundry's orders created from now on.
pub async fn set_vendor_rate(
    pool: &PgPool,
    admin: &User,
    vendor_email: &str,
    rate: &str,
    reason_text: &str,
) -> MarketResult<VendorRateSet> {
    require_admin(admin)?;
    let mut errors = FieldErrors::new();
    let vendor = laundry_by_email(pool, &mut errors, "email", vendor_email).await?;
    let rate = if rate.trim().is_empty() {
        Some(None)
    } else {
        errors.check("rate", Rate::parse_percent(rate).map(Some))
    };
    let reason = reason(&mut errors, reason_text);
    let (vendor, rate, reason) = errors
        .finish(|| Some((vendor?, rate?, reason?)))
        .map_err(MarketError::Invalid)?;
    let mut tx = pool.begin().await?;
    lock_rates(&mut tx).await?;
    let before = sqlx::query_scalar!(
        r#"SELECT bps FROM commission_rates WHERE vendor_id = $1
           ORDER BY effective_from DESC, id DESC LIMIT 1"#,
        vendor.user_id,
    )
    .fetch_optional(&mut *tx)
    .await?
    .flatten()
    .map(Rate::from_bps);
    if before.is_none() && rate.is_none() {
        return Err(MarketError::Invalid(FieldErrors::single(
            "rate",
            "This laundry has no negotiated rate to end; enter a rate to set one.",
        )));
    }
    sqlx::query!(
        r#"INSERT INTO commission_rates (vendor_id, bps, reason, set_by, effective_from)
           VALUES ($1, $2, $3, $4, clock_timestamp())"#,
        vendor.user_id,
        rate.map(Rate::bps),
        reason,
        admin.id,
    )
    .execute(&mut *tx)
    .await?;
    let shown = |rate: Option<Rate>| rate.map_or("platform rate".to_owned(), |r| r.to_string());
    let (before, after) = (shown(before), shown(rate));
    audit::write(
        &mut tx,
        admin,
        &Entry {
            action: AuditAction::VendorCommission,
            target_type: "user",
            target_id: vendor.user_id,
            reason: &reason,
            before: Some(&before),
            after: Some(&after),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(VendorRateSet {
        business_name: vendor.business_name,
        rate,
    })
}
