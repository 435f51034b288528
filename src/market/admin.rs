//! What the admin panel reads: today's numbers, the disputes queue and the
//! audit log. (Admin actions live beside the records they change.)

use sqlx::PgPool;
use time::OffsetDateTime;

use super::accounts::User;
use super::{MarketResult, Paged, Paging, require_admin, status};
use crate::domain::audit::AuditAction;
use crate::domain::filter::sane_day;
use crate::domain::money::Money;
use crate::domain::request::LOCAL_OFFSET;
use crate::domain::status::{OfferStatus, OrderStatus, RequestStatus};

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

/// Disputes, oldest open ones first (the queue), then resolved ones newest
/// first, filtered; the search matches the dispute or order id, the opener's
/// email or name, and the reason.
pub async fn disputes(
    pool: &PgPool,
    admin: &User,
    filter: &Filter,
    paging: Paging,
) -> MarketResult<Paged<DisputeRow>> {
    require_admin(admin)?;
    let rows = sqlx::query_as!(
        DisputeRow,
        r#"SELECT d.id, d.order_id, d.status, d.outcome, u.name AS opened_by, d.reason, d.created_at
           FROM disputes d JOIN users u ON u.id = d.opened_by
               WHERE ($1::text IS NULL OR d.status = $1)
             AND ($2::timestamptz IS NULL OR d.created_at >= $2)
             AND ($3::timestamptz IS NULL OR d.created_at < $3)
             AND ($4 = '' OR d.id::text = $4 OR d.order_id::text = $4 OR u.email ILIKE '%' || $4 || '%'
                  OR u.name ILIKE '%' || $4 || '%' OR d.reason ILIKE '%' || $4 || '%')
           ORDER BY (d.status = 'OPEN') DESC,
                    CASE WHEN d.status = 'OPEN' THEN d.created_at END ASC,
                    d.created_at DESC
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
    /// The order the action concerned (the dispute's order for a resolution).
    pub order_id: Option<i64>,
    pub reason: String,
    pub before_status: Option<String>,
    pub after_status: Option<String>,
    pub created_at: OffsetDateTime,
}

impl AuditRow {
    /// The action in words; an action this build does not know shows as stored.
    pub fn action_label(&self) -> &str {
        match self.action.parse::<AuditAction>() {
            Ok(action) => action.label(),
            Err(_) => &self.action,
        }
    }
}

/// The audit log, newest first, filtered (the filter's status is the
/// action; the search matches the admin's email, the target's id and the
/// reason), optionally only what was done to one user's account.
pub async fn audit_log(
    pool: &PgPool,
    admin: &User,
    filter: &Filter,
    user: Option<i64>,
    paging: Paging,
) -> MarketResult<Paged<AuditRow>> {
    require_admin(admin)?;
    let rows = sqlx::query_as!(
        AuditRow,
        r#"SELECT a.id, u.email AS admin, a.action, a.target_type, a.target_id,
                  CASE a.target_type WHEN 'order' THEN a.target_id WHEN 'dispute' THEN d.order_id END AS order_id,
                  a.reason, a.before_status, a.after_status, a.created_at
           FROM audit_log a
           JOIN users u ON u.id = a.actor_id
           LEFT JOIN disputes d ON a.target_type = 'dispute' AND d.id = a.target_id
               WHERE ($1::text IS NULL OR a.action = $1)
             AND ($2::timestamptz IS NULL OR a.created_at >= $2)
             AND ($3::timestamptz IS NULL OR a.created_at < $3)
             AND ($4 = '' OR a.target_id::text = $4 OR u.email ILIKE '%' || $4 || '%'
                  OR a.reason ILIKE '%' || $4 || '%')
             AND ($5::bigint IS NULL OR (a.target_type = 'user' AND a.target_id = $5))
           ORDER BY a.created_at DESC, a.id DESC
           LIMIT $6 OFFSET $7"#,
        filter.status,
        filter.since(),
        filter.until(),
        filter.search,
        user,
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    Ok(paging.finish(rows))
}

/// The filters of the admin's record lists: a status word (already checked
/// against the record's statuses), a range of days (Nepal time, both ends
/// included) and a text search.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub status: Option<&'static str>,
    pub from: Option<time::Date>,
    pub to: Option<time::Date>,
    pub search: String,
}

impl Filter {
    /// The first instant of `from`; a day outside the sane years is no filter.
    pub(super) fn since(&self) -> Option<OffsetDateTime> {
        sane_day(self.from).map(|d| d.midnight().assume_offset(LOCAL_OFFSET))
    }

    /// The end of `to`, as [`Filter::since`].
    pub(super) fn until(&self) -> Option<OffsetDateTime> {
        sane_day(self.to)
            .and_then(|d| d.next_day())
            .map(|d| d.midnight().assume_offset(LOCAL_OFFSET))
    }
}

#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: i64,
    pub status: RequestStatus,
    pub customer: String,
    pub place: String,
    pub services: String,
    pub created_at: OffsetDateTime,
}

/// Every request, newest first, filtered; the search matches the id, the
/// customer's email or name, and the city or area.
pub async fn requests(
    pool: &PgPool,
    admin: &User,
    filter: &Filter,
    paging: Paging,
) -> MarketResult<Paged<RequestRow>> {
    require_admin(admin)?;
    let rows = sqlx::query!(
        r#"WITH matching AS NOT MATERIALIZED (
               SELECT r.id, r.status, u.email AS customer,
                      concat_ws(', ', nullif(r.area, ''), nullif(r.city, '')) AS place,
                      r.services_text AS services, r.created_at
               FROM requests r JOIN users u ON u.id = r.customer_id
               WHERE ($1::text IS NULL OR r.status = $1)
                 AND ($2::timestamptz IS NULL OR r.created_at >= $2)
                 AND ($3::timestamptz IS NULL OR r.created_at < $3)
                 AND ($4 = '' OR r.id::text = $4 OR u.email ILIKE '%' || $4 || '%' OR u.name ILIKE '%' || $4 || '%'
                  OR r.city ILIKE '%' || $4 || '%' OR r.area ILIKE '%' || $4 || '%')
           ),
           edge AS (SELECT created_at, id FROM requests WHERE id = coalesce($7::bigint, $8::bigint))
           SELECT id AS "id!", status AS "status!", customer AS "customer!", place AS "place!",
                  services AS "services!", created_at AS "created_at!" FROM (
               (SELECT m.* FROM matching m
                WHERE $8::bigint IS NULL
                  AND ($7::bigint IS NULL OR (m.created_at <= (SELECT created_at FROM edge)
                       AND (m.created_at, m.id) < (SELECT created_at, id FROM edge)))
                ORDER BY m.created_at DESC, m.id DESC LIMIT $5 OFFSET $6)
               UNION ALL
               (SELECT m.* FROM matching m
                WHERE $8::bigint IS NOT NULL AND m.created_at >= (SELECT created_at FROM edge)
                  AND (m.created_at, m.id) > (SELECT created_at, id FROM edge)
                ORDER BY m.created_at, m.id LIMIT $5)
           ) page
           ORDER BY created_at DESC, id DESC"#,
        filter.status,
        filter.since(),
        filter.until(),
        filter.search,
        paging.limit(),
        paging.seek_offset(),
        paging.after(),
        paging.before(),
    )
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(RequestRow {
                id: r.id,
                status: status(&r.status)?,
                customer: r.customer,
                place: r.place,
                services: r.services,
                created_at: r.created_at,
            })
        })
        .collect::<MarketResult<_>>()?;
    Ok(paging.finish_keyset(items, |row| row.id))
}

#[derive(Debug, Clone)]
pub struct OfferRow {
    pub id: i64,
    pub request_id: i64,
    pub status: OfferStatus,
    pub business: String,
    pub price: Money,
    pub created_at: OffsetDateTime,
}

/// Every offer, newest first, filtered; the search matches the offer or
/// request id and the vendor's email or business name.
pub async fn offers(
    pool: &PgPool,
    admin: &User,
    filter: &Filter,
    paging: Paging,
) -> MarketResult<Paged<OfferRow>> {
    require_admin(admin)?;
    let rows = sqlx::query!(
        r#"WITH matching AS NOT MATERIALIZED (
               SELECT o.id, o.request_id, o.status, v.business_name, o.price_paisa, o.created_at
               FROM offers o JOIN vendors v ON v.user_id = o.vendor_id JOIN users u ON u.id = o.vendor_id
               WHERE ($1::text IS NULL OR o.status = $1)
                 AND ($2::timestamptz IS NULL OR o.created_at >= $2)
                 AND ($3::timestamptz IS NULL OR o.created_at < $3)
                 AND ($4 = '' OR o.id::text = $4 OR o.request_id::text = $4 OR u.email ILIKE '%' || $4 || '%'
                  OR v.business_name ILIKE '%' || $4 || '%')
           ),
           edge AS (SELECT created_at, id FROM offers WHERE id = coalesce($7::bigint, $8::bigint))
           SELECT id AS "id!", request_id AS "request_id!", status AS "status!",
                  business_name AS "business_name!", price_paisa AS "price_paisa!",
                  created_at AS "created_at!" FROM (
               (SELECT m.* FROM matching m
                WHERE $8::bigint IS NULL
                  AND ($7::bigint IS NULL OR (m.created_at <= (SELECT created_at FROM edge)
                       AND (m.created_at, m.id) < (SELECT created_at, id FROM edge)))
                ORDER BY m.created_at DESC, m.id DESC LIMIT $5 OFFSET $6)
               UNION ALL
               (SELECT m.* FROM matching m
                WHERE $8::bigint IS NOT NULL AND m.created_at >= (SELECT created_at FROM edge)
                  AND (m.created_at, m.id) > (SELECT created_at, id FROM edge)
                ORDER BY m.created_at, m.id LIMIT $5)
           ) page
           ORDER BY created_at DESC, id DESC"#,
        filter.status,
        filter.since(),
        filter.until(),
        filter.search,
        paging.limit(),
        paging.seek_offset(),
        paging.after(),
        paging.before(),
    )
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(OfferRow {
                id: r.id,
                request_id: r.request_id,
                status: status(&r.status)?,
                business: r.business_name,
                price: Money::from_paisa(r.price_paisa),
                created_at: r.created_at,
            })
        })
        .collect::<MarketResult<_>>()?;
    Ok(paging.finish_keyset(items, |row| row.id))
}

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: i64,
    pub status: OrderStatus,
    pub customer: String,
    pub business: String,
    pub price: Money,
    pub commission: Money,
    pub created_at: OffsetDateTime,
}

/// Every order, newest first, filtered; the search matches the order or
/// request id, the customer's email or name and the vendor's business.
pub async fn orders(
    pool: &PgPool,
    admin: &User,
    filter: &Filter,
    paging: Paging,
) -> MarketResult<Paged<OrderRow>> {
    require_admin(admin)?;
    let rows = sqlx::query!(
        r#"WITH matching AS NOT MATERIALIZED (
               SELECT o.id, o.status, c.email AS customer, v.business_name, o.price_paisa,
                      o.commission_paisa, o.created_at
               FROM orders o JOIN users c ON c.id = o.customer_id JOIN vendors v ON v.user_id = o.vendor_id
               WHERE ($1::text IS NULL OR o.status = $1)
                 AND ($2::timestamptz IS NULL OR o.created_at >= $2)
                 AND ($3::timestamptz IS NULL OR o.created_at < $3)
                 AND ($4 = '' OR o.id::text = $4 OR o.request_id::text = $4 OR c.email ILIKE '%' || $4 || '%'
                  OR c.name ILIKE '%' || $4 || '%' OR v.business_name ILIKE '%' || $4 || '%')
           ),
           edge AS (SELECT created_at, id FROM orders WHERE id = coalesce($7::bigint, $8::bigint))
           SELECT id AS "id!", status AS "status!", customer AS "customer!",
                  business_name AS "business_name!", price_paisa AS "price_paisa!",
                  commission_paisa AS "commission_paisa!", created_at AS "created_at!" FROM (
               (SELECT m.* FROM matching m
                WHERE $8::bigint IS NULL
                  AND ($7::bigint IS NULL OR (m.created_at <= (SELECT created_at FROM edge)
                       AND (m.created_at, m.id) < (SELECT created_at, id FROM edge)))
                ORDER BY m.created_at DESC, m.id DESC LIMIT $5 OFFSET $6)
               UNION ALL
               (SELECT m.* FROM matching m
                WHERE $8::bigint IS NOT NULL AND m.created_at >= (SELECT created_at FROM edge)
                  AND (m.created_at, m.id) > (SELECT created_at, id FROM edge)
                ORDER BY m.created_at, m.id LIMIT $5)
           ) page
           ORDER BY created_at DESC, id DESC"#,
        filter.status,
        filter.since(),
        filter.until(),
        filter.search,
        paging.limit(),
        paging.seek_offset(),
        paging.after(),
        paging.before(),
    )
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| {
            Ok(OrderRow {
                id: r.id,
                status: status(&r.status)?,
                customer: r.customer,
                business: r.business_name,
                price: Money::from_paisa(r.price_paisa),
                commission: Money::from_paisa(r.commission_paisa),
                created_at: r.created_at,
            })
        })
        .collect::<MarketResult<_>>()?;
    Ok(paging.finish_keyset(items, |row| row.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_day_outside_the_sane_years_is_no_filter() {
        let filter = Filter {
            from: Some(time::Date::MIN),
            to: Some(time::Date::MIN),
            ..Filter::default()
        };
        assert_eq!((filter.since(), filter.until()), (None, None));
        let day = time::macros::date!(2026 - 11 - 25);
        let filter = Filter {
            from: Some(day),
            to: Some(day),
            ..Filter::default()
        };
        assert_eq!(
            filter
                .until()
                .zip(filter.since())
                .map(|(end, start)| end - start),
            Some(time::Duration::DAY)
        );
    }
}
