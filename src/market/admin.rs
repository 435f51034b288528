//! What the admin panel reads: today's numbers, the disputes queue and the
//! audit log. (Admin actions live beside the records they change.)

use sqlx::PgPool;
use time::OffsetDateTime;

use super::accounts::User;
use super::{MarketError, MarketResult, Paged, Paging};
use crate::domain::account::Role;
use crate::domain::money::Money;
use crate::domain::request::LOCAL_OFFSET;

fn require_admin(user: &User) -> MarketResult<()> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(MarketError::NotFound)
    }
}

/// Today's numbers (the day in Nepal time).
#[derive(Debug, Clone)]
pub struct Today {
    pub requests: i64,
    pub orders: i64,
    pub completed: i64,
    pub revenue: Money,
    pub open_disputes: i64,
}

pub async fn today(pool: &PgPool, admin: &User) -> MarketResult<Today> {
    require_admin(admin)?;
    let now = OffsetDateTime::now_utc().to_offset(LOCAL_OFFSET);
    let midnight = now.replace_time(time::Time::MIDNIGHT);
    let row = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM requests WHERE created_at >= $1) AS "requests!",
                  (SELECT count(*) FROM orders WHERE created_at >= $1) AS "orders!",
                  (SELECT count(*) FROM orders WHERE status = 'COMPLETED' AND completed_at >= $1) AS "completed!",
                  (SELECT coalesce(sum(commission_paisa), 0)::bigint FROM orders
                    WHERE status = 'COMPLETED' AND completed_at >= $1) AS "revenue!",
                  (SELECT count(*) FROM disputes WHERE status = 'OPEN') AS "open_disputes!""#,
        midnight,
    )
    .fetch_one(pool)
    .await?;
    Ok(Today {
        requests: row.requests,
        orders: row.orders,
        completed: row.completed,
        revenue: Money::from_paisa(row.revenue),
        open_disputes: row.open_disputes,
    })
}

/// A dispute in the admin's queue.
#[derive(Debug, Clone)]
pub struct DisputeRow {
    pub id: i64,
    pub order_id: i64,
    pub status: String,
    pub outcome: Option<String>,
    pub opened_by: String,
    pub reason: String,
    pub created_at: OffsetDateTime,
}

/// Disputes, oldest open ones first (the queue), then resolved ones newest first.
pub async fn disputes(
    pool: &PgPool,
    admin: &User,
    only_open: bool,
    paging: Paging,
) -> MarketResult<Paged<DisputeRow>> {
    require_admin(admin)?;
    let rows = sqlx::query_as!(
        DisputeRow,
        r#"SELECT d.id, d.order_id, d.status, d.outcome, u.name AS opened_by, d.reason, d.created_at
           FROM disputes d JOIN users u ON u.id = d.opened_by
           WHERE (NOT $1 OR d.status = 'OPEN')
           ORDER BY (d.status = 'OPEN') DESC,
                    CASE WHEN d.status = 'OPEN' THEN d.created_at END ASC,
                    d.created_at DESC
           LIMIT $2 OFFSET $3"#,
        only_open,
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    Ok(paging.finish(rows))
}

/// One line of the audit log.
#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub admin: String,
    pub action: String,
    pub target_type: String,
    pub target_id: i64,
    pub reason: String,
    pub before_status: Option<String>,
    pub after_status: Option<String>,
    pub created_at: OffsetDateTime,
}

/// The audit log, newest first, optionally for one action.
pub async fn audit_log(
    pool: &PgPool,
    admin: &User,
    action: &str,
    paging: Paging,
) -> MarketResult<Paged<AuditRow>> {
    require_admin(admin)?;
    let rows = sqlx::query_as!(
        AuditRow,
        r#"SELECT a.id, u.email AS admin, a.action, a.target_type, a.target_id, a.reason,
                  a.before_status, a.after_status, a.created_at
           FROM audit_log a JOIN users u ON u.id = a.actor_id
           WHERE ($1 = '' OR a.action = $1)
           ORDER BY a.id DESC
           LIMIT $2 OFFSET $3"#,
        action,
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    Ok(paging.finish(rows))
}
