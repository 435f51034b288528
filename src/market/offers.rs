//! Offers: submit, update, withdraw, list, and the accept transaction.

use sqlx::{PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;

use super::accounts::User;
use super::payments::PaymentMethod;
use super::requests::{OfferRow, OfferView};
use super::{
    CHANGED_MEANWHILE, MarketError, MarketResult, Paged, Paging, record, status, unique_as,
};
use crate::domain::account::{Role, UserStatus};
use crate::domain::commission::Rate;
use crate::domain::money::Money;
use crate::domain::offer::{NewOffer, offer_expiry};
use crate::domain::status::{OfferStatus, RequestStatus};
use crate::events::{EventKind, NewEvent};

const NOT_OPEN: &str = "This request is no longer open for offers.";

/// The request of an offer, locked for the rest of the transaction (see the
/// lock order in `market/mod.rs`): shared for vendors' changes, exclusive
/// (`FOR NO KEY UPDATE`) for the accept.
struct LockedRequest {
    customer_id: i64,
    status: RequestStatus,
    expires_at: OffsetDateTime,
}

async fn lock_request(
    tx: &mut PgConnection,
    id: i64,
    exclusive: bool,
) -> MarketResult<Option<LockedRequest>> {
    let row = if exclusive {
        sqlx::query!(
            "SELECT customer_id, status, expires_at FROM requests WHERE id = $1 FOR NO KEY UPDATE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| (r.customer_id, r.status, r.expires_at))
    } else {
        sqlx::query!(
            "SELECT customer_id, status, expires_at FROM requests WHERE id = $1 FOR SHARE",
            id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| (r.customer_id, r.status, r.expires_at))
    };
    row.map(|(customer_id, word, expires_at)| {
        Ok(LockedRequest {
            customer_id,
            status: status(&word)?,
            expires_at,
        })
    })
    .transpose()
}

/// Locks the vendor's own account (shared) before anything else, and refuses
/// if it is suspended: a suspension in progress is waited for, so a suspended
/// vendor never gains or changes an offer.
async fn lock_active_vendor(tx: &mut PgConnection, actor: &User) -> MarketResult<String> {
    let vendor = sqlx::query!(
        r#"SELECT u.status, v.business_name AS "business_name?" FROM users u
           LEFT JOIN vendors v ON v.user_id = u.id WHERE u.id = $1 FOR SHARE OF u"#,
        actor.id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MarketError::NotFound)?;
    if status::<UserStatus>(&vendor.status)? == UserStatus::Suspended {
        return Err(MarketError::Forbidden(
            "This account is suspended. Please contact Dhune support.".into(),
        ));
    }
    Ok(actor.shown_as(vendor.business_name.as_deref()))
}

impl LockedRequest {
    fn is_open(&self, now: OffsetDateTime) -> bool {
        self.status == RequestStatus::Open && self.expires_at > now
    }
}

/// Makes an offer on an open request; vendors only, one pending offer each.
pub async fn submit_offer(
    pool: &PgPool,
    actor: &User,
    request_id: i64,
    new: &NewOffer,
) -> MarketResult<i64> {
    if actor.role != Role::Vendor {
        return Err(MarketError::Forbidden(
            "Only laundries can make offers.".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let mut tx = pool.begin().await?;
    let vendor_name = lock_active_vendor(&mut tx, actor).await?;
    let request = lock_request(&mut tx, request_id, false)
        .await?
        .ok_or(MarketError::NotFound)?;
    if request.status != RequestStatus::Open {
        return Err(MarketError::NotFound);
    }
    if !request.is_open(now) {
        return Err(MarketError::Conflict(NOT_OPEN.into()));
    }
    let id = sqlx::query_scalar!(
        r#"INSERT INTO offers (request_id, vendor_id, price_paisa, pickup_at, delivery_at, message, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"#,
        request_id,
        actor.id,
        new.price.paisa(),
        new.pickup_at,
        new.delivery_at,
        new.message,
        offer_expiry(now, request.expires_at),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(unique_as("offers_one_pending_per_vendor", || {
        MarketError::Conflict("You already have a pending offer on this request. Update that one instead.".into())
    }))?;
    let event = NewEvent::new(EventKind::OfferCreated, actor.id, vendor_name)
        .request(request_id)
        .offer(id)
        .to(&[request.customer_id, actor.id])
        .price(new.price);
    record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(id)
}

/// Finds a vendor's own offer and locks, in the lock order, the vendor's
/// account (shared, refusing a suspended vendor), the offer's request
/// (shared) and then the offer itself, as the accept does, so the two
/// serialise. Returns the request, and the vendor as customers see them.
async fn lock_own_offer(
    tx: &mut PgConnection,
    actor: &User,
    offer_id: i64,
) -> MarketResult<(i64, LockedRequest, String)> {
    let request_id = request_of_own_offer(&mut *tx, actor, offer_id).await?;
    let vendor_name = lock_active_vendor(tx, actor).await?;
    let request = lock_request(tx, request_id, false)
        .await?
        .ok_or(MarketError::NotFound)?;
    let word = sqlx::query_scalar!(
        "SELECT status FROM offers WHERE id = $1 FOR NO KEY UPDATE",
        offer_id
    )
    .fetch_one(&mut *tx)
    .await?;
    let current: OfferStatus = status(&word)?;
    if current != OfferStatus::Pending {
        return Err(MarketError::Conflict(format!(
            "This offer can no longer be changed: it is {}.",
            current.label().to_lowercase()
        )));
    }
    if !request.is_open(OffsetDateTime::now_utc()) {
        return Err(MarketError::Conflict(NOT_OPEN.into()));
    }
    Ok((request_id, request, vendor_name))
}

/// Changes a pending offer on an open request (its vendor only).
/// Returns the offer's request id.
pub async fn update_offer(
    pool: &PgPool,
    actor: &User,
    offer_id: i64,
    new: &NewOffer,
) -> MarketResult<i64> {
    let mut tx = pool.begin().await?;
    let (request_id, request, vendor_name) = lock_own_offer(&mut tx, actor, offer_id).await?;
    let updated = sqlx::query!(
        r#"UPDATE offers SET price_paisa = $2, pickup_at = $3, delivery_at = $4, message = $5,
                             version = version + 1, updated_at = now()
           WHERE id = $1 AND status = 'PENDING'"#,
        offer_id,
        new.price.paisa(),
        new.pickup_at,
        new.delivery_at,
        new.message,
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(MarketError::Conflict(CHANGED_MEANWHILE.into()));
    }
    let event = NewEvent::new(EventKind::OfferUpdated, actor.id, vendor_name)
        .request(request_id)
        .offer(offer_id)
        .to(&[request.customer_id, actor.id]);
    record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(request_id)
}

/// Withdraws a pending offer (its vendor only).
/// Returns the offer's request id.
pub async fn withdraw_offer(pool: &PgPool, actor: &User, offer_id: i64) -> MarketResult<i64> {
    let mut tx = pool.begin().await?;
    let (request_id, request, vendor_name) = lock_own_offer(&mut tx, actor, offer_id).await?;
    let updated = sqlx::query!(
        "UPDATE offers SET status = 'WITHDRAWN', updated_at = now() WHERE id = $1 AND status = 'PENDING'",
        offer_id,
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(MarketError::Conflict(CHANGED_MEANWHILE.into()));
    }
    let event = NewEvent::new(EventKind::OfferWithdrawn, actor.id, vendor_name)
        .request(request_id)
        .offer(offer_id)
        .to(&[request.customer_id, actor.id]);
    record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(request_id)
}

/// An offer with what the vendor may know of its request.
#[derive(Debug, Clone)]
pub struct MyOffer {
    pub offer: OfferView,
    pub request_city: String,
    pub request_area: String,
    pub order_id: Option<i64>,
}

/// The vendor's own offers, newest first.
pub async fn list_my_offers(
    pool: &PgPool,
    actor: &User,
    filter: Option<OfferStatus>,
    paging: Paging,
) -> MarketResult<Paged<MyOffer>> {
    let rows = sqlx::query!(
        r#"SELECT o.id, o.request_id, o.vendor_id, v.business_name, v.city AS vendor_city,
                  o.price_paisa, o.pickup_at, o.delivery_at, o.message, o.status, o.expires_at,
                  o.created_at, o.version, r.city, r.area, r.pickup_from, r.pickup_to,
                  (SELECT d.id FROM orders d WHERE d.offer_id = o.id) AS "order_id?"
           FROM offers o JOIN vendors v ON v.user_id = o.vendor_id
                JOIN requests r ON r.id = o.request_id
           WHERE o.vendor_id = $1 AND ($2::text IS NULL OR o.status = $2)
           ORDER BY o.created_at DESC, o.id DESC
           LIMIT $3 OFFSET $4"#,
        actor.id,
        filter.map(OfferStatus::as_str),
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let offer = OfferView::try_from(OfferRow {
                id: row.id,
                request_id: row.request_id,
                vendor_id: row.vendor_id,
                business_name: row.business_name,
                vendor_city: row.vendor_city,
                completed_orders: 0,
                closed_orders: 0,
                median_turnaround_seconds: None,
                price_paisa: row.price_paisa,
                pickup_at: row.pickup_at,
                delivery_at: row.delivery_at,
                message: row.message,
                status: row.status,
                expires_at: row.expires_at,
                created_at: row.created_at,
                version: row.version,
                window_from: row.pickup_from,
                window_to: row.pickup_to,
            })?;
            Ok(MyOffer {
                offer,
                request_city: row.city,
                request_area: row.area,
                order_id: row.order_id,
            })
        })
        .collect::<MarketResult<Vec<_>>>()?;
    Ok(paging.finish(items))
}

/// What became of an accept.
#[derive(Debug)]
pub enum Accepted {
    /// The order was created; its id.
    Order(i64),
    /// The offer is not the one the customer saw (its price or terms changed
    /// since, or the form did not say which version was seen): nothing was
    /// created. The offer as it is now, to confirm again.
    Changed(Box<OfferView>),
}

/// The critical transaction: the request's owner accepts one pending offer,
/// at the `version` of it they saw. In one transaction the request row is
/// locked, the offer is accepted, every other pending offer is rejected, the
/// order is created with a snapshot of price and commission (the rate in
/// force: the laundry's negotiated one, else the platform's, else
/// `commission_bps`, the configured default), and the request becomes
/// ORDER_CREATED. Any number of simultaneous accepts on one request
/// make exactly one order. If the offer has changed since the customer saw
/// it, nothing is created and the offer as it is now comes back. The
/// customer's choice of payment `method` is kept on the order; paying
/// happens after this transaction, never inside it.
pub async fn accept_offer(
    pool: &PgPool,
    actor: &User,
    offer_id: i64,
    version: i32,
    commission_bps: i32,
    method: PaymentMethod,
) -> MarketResult<Accepted> {
    let now = OffsetDateTime::now_utc();
    let mut tx = pool.begin().await?;
    let request_id = sqlx::query_scalar!("SELECT request_id FROM offers WHERE id = $1", offer_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(MarketError::NotFound)?;
    let request = lock_request(&mut tx, request_id, true)
        .await?
        .ok_or(MarketError::NotFound)?;
    if actor.role != Role::Customer || request.customer_id != actor.id {
        return Err(MarketError::NotFound);
    }
    match request.status {
        RequestStatus::Open if request.expires_at > now => {}
        RequestStatus::Open | RequestStatus::Expired => {
            return Err(MarketError::Conflict(
                "This request has expired; offers can no longer be accepted.".into(),
            ));
        }
        RequestStatus::OrderCreated => {
            return Err(MarketError::Conflict(
                "This request already has an order.".into(),
            ));
        }
        RequestStatus::Cancelled => {
            return Err(MarketError::Conflict("This request was cancelled.".into()));
        }
    }
    // The commission rate in force is read in the same statement (no extra
    // round trip): the laundry's negotiated rate, else the platform's, else
    // the configured default (market::commission; a laundry's row without
    // a rate ends its negotiated one).
    let offer = sqlx::query!(
        r#"SELECT o.vendor_id, o.price_paisa, o.status, o.expires_at, o.pickup_at,
                  o.delivery_at, o.version,
                  COALESCE(
                      (SELECT r.bps FROM commission_rates r WHERE r.vendor_id = o.vendor_id
                       ORDER BY r.effective_from DESC, r.id DESC LIMIT 1),
                      (SELECT r.bps FROM commission_rates r WHERE r.vendor_id IS NULL
                       ORDER BY r.effective_from DESC, r.id DESC LIMIT 1),
                      $2) AS "commission_bps!"
           FROM offers o WHERE o.id = $1 FOR NO KEY UPDATE OF o"#,
        offer_id,
        commission_bps,
    )
    .fetch_one(&mut *tx)
    .await?;
    let offer_status: OfferStatus = status(&offer.status)?;
    if offer_status != OfferStatus::Pending {
        return Err(MarketError::Conflict(format!(
            "This offer is no longer available: it is {}.",
            offer_status.label().to_lowercase()
        )));
    }
    if offer.expires_at <= now {
        return Err(MarketError::Conflict("This offer has expired.".into()));
    }
    if offer.version != version {
        tx.rollback().await?;
        let current = pending_offer_for_owner(pool, actor, offer_id).await?;
        return Ok(Accepted::Changed(Box::new(current)));
    }

    sqlx::query!(
        "UPDATE offers SET status = 'ACCEPTED', updated_at = now() WHERE id = $1",
        offer_id
    )
    .execute(&mut *tx)
    .await?;
    let rejected = sqlx::query!(
        r#"UPDATE offers SET status = 'REJECTED', updated_at = now()
           WHERE request_id = $1 AND status = 'PENDING' AND id <> $2 RETURNING id, vendor_id"#,
        request_id,
        offer_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    let price = Money::from_paisa(offer.price_paisa);
    let commission_bps = Rate::from_bps(offer.commission_bps).bps();
    let order_id = sqlx::query_scalar!(
        r#"INSERT INTO orders (request_id, offer_id, customer_id, vendor_id, price_paisa,
                               commission_bps, commission_paisa, pickup_at, delivery_at,
                               payment_method)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"#,
        request_id,
        offer_id,
        actor.id,
        offer.vendor_id,
        price.paisa(),
        commission_bps,
        price.commission(commission_bps).paisa(),
        offer.pickup_at,
        offer.delivery_at,
        method.as_str(),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(unique_as("orders_request_id_key", || {
        MarketError::Conflict("This request already has an order.".into())
    }))?;
    sqlx::query!(
        "UPDATE requests SET status = 'ORDER_CREATED', updated_at = now() WHERE id = $1",
        request_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        r#"INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note)
           VALUES ($1, NULL, 'CREATED', $2, 'Offer accepted')"#,
        order_id,
        actor.id,
    )
    .execute(&mut *tx)
    .await?;

    let parties = [actor.id, offer.vendor_id];
    let customer = actor.shown_as(None);
    let accepted = NewEvent::new(EventKind::OfferAccepted, actor.id, customer.clone())
        .request(request_id)
        .offer(offer_id)
        .order(order_id)
        .to(&parties);
    record(&mut tx, &accepted).await?;
    for loser in rejected {
        let event = NewEvent::new(EventKind::OfferRejected, actor.id, customer.clone())
            .request(request_id)
            .offer(loser.id)
            .to(&[actor.id, loser.vendor_id]);
        record(&mut tx, &event).await?;
    }
    let closed = NewEvent::new(EventKind::RequestClosed, actor.id, customer.clone())
        .request(request_id)
        .to_all_vendors();
    record(&mut tx, &closed).await?;
    let created = NewEvent::new(EventKind::OrderCreated, actor.id, customer)
        .request(request_id)
        .order(order_id)
        .to(&parties);
    record(&mut tx, &created).await?;
    tx.commit().await?;
    Ok(Accepted::Order(order_id))
}

/// A pending offer on one of the customer's own open requests, for the
/// confirmation step before accepting it.
pub async fn pending_offer_for_owner(
    pool: &PgPool,
    actor: &User,
    offer_id: i64,
) -> MarketResult<OfferView> {
    let request_id = sqlx::query_scalar!("SELECT request_id FROM offers WHERE id = $1", offer_id)
        .fetch_optional(pool)
        .await?
        .ok_or(MarketError::NotFound)?;
    let request = super::requests::get_request(pool, actor, request_id).await?;
    if !request.is_owner {
        return Err(MarketError::NotFound);
    }
    let offer = request
        .offers
        .into_iter()
        .find(|offer| offer.id == offer_id)
        .ok_or(MarketError::NotFound)?;
    if offer.status != OfferStatus::Pending || !request.is_open {
        return Err(MarketError::Conflict(format!(
            "This offer can no longer be accepted: it is {}.",
            offer.status.label().to_lowercase()
        )));
    }
    Ok(offer)
}

/// The request of one of the vendor's own offers (not found otherwise).
pub async fn request_of_own_offer(
    db: impl PgExecutor<'_>,
    actor: &User,
    offer_id: i64,
) -> MarketResult<i64> {
    sqlx::query_scalar!(
        "SELECT request_id FROM offers WHERE id = $1 AND vendor_id = $2",
        offer_id,
        actor.id
    )
    .fetch_optional(db)
    .await?
    .ok_or(MarketError::NotFound)
}
