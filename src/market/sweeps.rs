//! The expiry sweeps the background jobs run. Rows are claimed with
//! `FOR UPDATE SKIP LOCKED`, so several instances sweeping at once never
//! move a row twice, and a row an accept is working on is left for the next
//! tick.

use sqlx::PgPool;

use super::{MarketResult, record};
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
                        FOR UPDATE SKIP LOCKED)
           RETURNING id, customer_id"#,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    for request in &expired {
        let offers = sqlx::query!(
            r#"UPDATE offers SET status = 'EXPIRED', updated_at = now()
               WHERE request_id = $1 AND status = 'PENDING' RETURNING id, vendor_id"#,
            request.id,
        )
        .fetch_all(&mut *tx)
        .await?;
        let event = NewEvent::new(EventKind::RequestExpired, None)
            .request(request.id)
            .to(&[request.customer_id])
            .to_all_vendors();
        record(&mut tx, &event).await?;
        for offer in offers {
            let event = NewEvent::new(EventKind::OfferExpired, None)
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
                          FOR UPDATE SKIP LOCKED)
           RETURNING o.id, o.request_id, o.vendor_id, r.customer_id"#,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    for offer in &expired {
        let event = NewEvent::new(EventKind::OfferExpired, None)
            .request(offer.request_id)
            .offer(offer.id)
            .to(&[offer.customer_id, offer.vendor_id]);
        record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(expired.len())
}
