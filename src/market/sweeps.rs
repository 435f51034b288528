//! The expiry sweeps the background jobs run. Rows are claimed with
//! `FOR NO KEY UPDATE SKIP LOCKED`, so several instances sweeping at once
//! never move a row twice, a row an accept is working on is left for the
//! next tick, and a sweep never waits for a claimed row. What a sweep locks
//! after its claim follows the lock order of `market/mod.rs` (an expired
//! request, then its offers).

use sqlx::PgPool;

use super::{MarketError, MarketResult, record};
use crate::domain::status::{Actor, OrderStatus, check_order_transition};
use crate::events::{EventKind, NewEvent};

/// How many rows one sweep transaction takes at most.
pub const BATCH: i64 = 500;

/// Expires open requests past their expiry; their pending offers expire
/// with them. Returns how many requests expired.
pub async fn expire_requests(pool: &PgPool) -> MarketResult<usize> {
    let mut tx = pool.begin().await?;
    let expired = sqlx::query!(
        r#"UPDATE requests SET status = 'EXPIRED', updated_at = now()
           WHERE id IN (SELECT id FROM requests
                        WHERE status = 'OPEN' AND expires_at <= now()
                        ORDER BY expires_at LIMIT $1
                        FOR NO KEY UPDATE SKIP LOCKED)
           RETURNING id, customer_id"#,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    // Every row lock before the first event (whose fence comes last).
    let ids: Vec<i64> = expired.iter().map(|request| request.id).collect();
    let offers = sqlx::query!(
        r#"UPDATE offers SET status = 'EXPIRED', updated_at = now()
           WHERE request_id = ANY($1) AND status = 'PENDING'
           RETURNING id, request_id, vendor_id"#,
        &ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    for request in &expired {
        let event = NewEvent::by_dhune(EventKind::RequestExpired)
            .request(request.id)
            .to(&[request.customer_id])
            .to_all_vendors();
        record(&mut tx, &event).await?;
        for offer in offers.iter().filter(|offer| offer.request_id == request.id) {
            let event = NewEvent::by_dhune(EventKind::OfferExpired)
                .request(request.id)
                .offer(offer.id)
                .to(&[request.customer_id, offer.vendor_id]);
            record(&mut tx, &event).await?;
        }
    }
    tx.commit().await?;
    Ok(expired.len())
}

/// Expires pending offers past their own expiry. Returns how many expired.
pub async fn expire_offers(pool: &PgPool) -> MarketResult<usize> {
    let mut tx = pool.begin().await?;
    let expired = sqlx::query!(
        r#"UPDATE offers o SET status = 'EXPIRED', updated_at = now()
           FROM requests r
           WHERE r.id = o.request_id
             AND o.id IN (SELECT id FROM offers
                          WHERE status = 'PENDING' AND expires_at <= now()
                          ORDER BY expires_at LIMIT $1
                          FOR NO KEY UPDATE SKIP LOCKED)
           RETURNING o.id, o.request_id, o.vendor_id, r.customer_id"#,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    for offer in &expired {
        let event = NewEvent::by_dhune(EventKind::OfferExpired)
            .request(offer.request_id)
            .offer(offer.id)
            .to(&[offer.customer_id, offer.vendor_id]);
        record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(expired.len())
}

/// Completes orders left out for delivery longer than `after` (the customer
/// never confirmed). Returns how many were completed.
pub async fn auto_complete_orders(pool: &PgPool, after: time::Duration) -> MarketResult<usize> {
    let now = time::OffsetDateTime::now_utc();
    // The state machine lets the system make exactly this move.
    check_order_transition(
        OrderStatus::Delivering,
        OrderStatus::Completed,
        Actor::System,
        "",
        None,
        after,
        now,
    )
    .map_err(|err| MarketError::Internal(anyhow::anyhow!(err)))?;
    let mut tx = pool.begin().await?;
    let completed = sqlx::query!(
        r#"UPDATE orders SET status = 'COMPLETED', status_changed_at = now(), updated_at = now(),
                  completed_at = now()
           WHERE id IN (SELECT id FROM orders
                        WHERE status = 'DELIVERING' AND status_changed_at <= $1
                        ORDER BY status_changed_at LIMIT $2
                        FOR NO KEY UPDATE SKIP LOCKED)
             AND status = 'DELIVERING'
           RETURNING id, request_id, customer_id, vendor_id"#,
        now - after,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    let note = format!(
        "Completed automatically after {} hours out for delivery",
        after.whole_hours()
    );
    let ids: Vec<i64> = completed.iter().map(|order| order.id).collect();
    sqlx::query!(
        r#"INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note)
           SELECT id, 'DELIVERING', 'COMPLETED', NULL, $2 FROM UNNEST($1::bigint[]) AS id"#,
        &ids,
        note,
    )
    .execute(&mut *tx)
    .await?;
    for order in &completed {
        super::payments::collect_cash(&mut tx, order.id).await?;
        let event = NewEvent::by_dhune(EventKind::OrderStatusUpdated)
            .request(order.request_id)
            .order(order.id)
            .to(&[order.customer_id, order.vendor_id])
            .status(OrderStatus::Completed);
        record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(completed.len())
}

/// Cancels online orders still unpaid `after` they were made (the customer
/// never paid; nothing was taken, so nothing is refunded). Returns how many
/// were cancelled. A payment confirmed at the same moment either commits
/// first (the order is paid and skipped) or waits for this cancel and is
/// then refunded in full (`payments::confirm`).
pub async fn cancel_unpaid_orders(pool: &PgPool, after: time::Duration) -> MarketResult<usize> {
    let now = time::OffsetDateTime::now_utc();
    let note = format!(
        "Cancelled automatically: not paid within {} hours",
        after.whole_hours()
    );
    check_order_transition(
        OrderStatus::Created,
        OrderStatus::Cancelled,
        Actor::System,
        &note,
        None,
        after,
        now,
    )
    .map_err(|err| MarketError::Internal(anyhow::anyhow!(err)))?;
    let mut tx = pool.begin().await?;
    let cancelled = sqlx::query!(
        r#"UPDATE orders SET status = 'CANCELLED', status_changed_at = now(), updated_at = now()
           WHERE id IN (SELECT o.id FROM orders o
                        WHERE o.status = 'CREATED' AND o.payment_method = 'online'
                          AND o.created_at <= $1
                          AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id
                              AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED'))
                        ORDER BY o.created_at LIMIT $2
                        FOR NO KEY UPDATE SKIP LOCKED)
             AND status = 'CREATED'
           RETURNING id, request_id, customer_id, vendor_id"#,
        now - after,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<i64> = cancelled.iter().map(|order| order.id).collect();
    sqlx::query!(
        r#"INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note)
           SELECT id, 'CREATED', 'CANCELLED', NULL, $2 FROM UNNEST($1::bigint[]) AS id"#,
        &ids,
        note,
    )
    .execute(&mut *tx)
    .await?;
    for order in &cancelled {
        let event = NewEvent::by_dhune(EventKind::OrderCancelled)
            .request(order.request_id)
            .order(order.id)
            .to(&[order.customer_id, order.vendor_id])
            .status(OrderStatus::Cancelled);
        record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(cancelled.len())
}
