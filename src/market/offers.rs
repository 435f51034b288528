//! Offers: submit, update, withdraw, list, and the accept transaction.

use sqlx::{Connection as _, PgConnection, PgExecutor, PgPool};
use time::OffsetDateTime;

use super::accounts::User;
use super::payments::PaymentMethod;
use super::requests::{OfferRow, OfferView};
use super::{
    CHANGED_MEANWHILE, MarketError, MarketResult, Paged, Paging, record, record_all, status,
    unique_as,
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
/// happens after this transaction, never inside it. A plain read comes
/// first and refuses, without a transaction or a lock, what can never be
/// accepted any more (a race's late losers among them).
pub async fn accept_offer(
    pool: &PgPool,
    actor: &User,
    offer_id: i64,
    version: i32,
    commission_bps: i32,
    method: PaymentMethod,
) -> MarketResult<Accepted> {
    let now = OffsetDateTime::now_utc();
    let mut conn = pool.acquire().await?;
    // First a plain read, without a transaction or a lock. A request that is
    // closed or past its expiry stays so (nothing reopens a request or moves
    // its expiry), and so does an offer that is no longer pending or past
    // its own; a version once passed never comes back. So what this read
    // refuses is refused for good, and the losers of a race that come after
    // the winner's commit cost one statement. The commission rate in force
    // is read here too (a plain read, as ever): the laundry's negotiated
    // rate, else the platform's, else the configured default
    // (market::commission; a laundry's row without a rate ends its
    // negotiated one).
    let seen = sqlx::query!(
        r#"SELECT o.request_id, r.customer_id, r.status AS request_status,
                  r.expires_at AS request_expires_at, o.vendor_id, o.price_paisa, o.status,
                  o.expires_at, o.version,
                  COALESCE(
                      (SELECT c.bps FROM commission_rates c WHERE c.vendor_id = o.vendor_id
                       ORDER BY c.effective_from DESC, c.id DESC LIMIT 1),
                      (SELECT c.bps FROM commission_rates c WHERE c.vendor_id IS NULL
                       ORDER BY c.effective_from DESC, c.id DESC LIMIT 1),
                      $2) AS "commission_bps!"
           FROM offers o JOIN requests r ON r.id = o.request_id WHERE o.id = $1"#,
        offer_id,
        commission_bps,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(MarketError::NotFound)?;
    if actor.role != Role::Customer || seen.customer_id != actor.id {
        return Err(MarketError::NotFound);
    }
    check_acceptable_request(status(&seen.request_status)?, seen.request_expires_at, now)?;
    check_acceptable_offer(status(&seen.status)?, seen.expires_at, now)?;
    if seen.version != version {
        drop(conn);
        return offer_as_it_is(pool, actor, offer_id).await;
    }
    let request_id = seen.request_id;
    let price = Money::from_paisa(seen.price_paisa);
    let commission_bps = Rate::from_bps(seen.commission_bps).bps();

    let mut tx = conn.begin().await?;
    // The request's lock is a statement of its own: the next one's snapshot
    // is taken after it is granted, so it sees (and rejects) every offer
    // made before.
    let request = lock_request(&mut tx, request_id, true)
        .await?
        .ok_or(MarketError::NotFound)?;
    check_acceptable_request(request.status, request.expires_at, now)?;
    // Then every row change in one statement: the offer is accepted only if
    // it is still as read above (pending, unexpired, the version seen at
    // the price read), and only then are the others rejected, the order
    // made with the snapshot of price and commission, the request closed
    // and the order's history begun.
    let made = sqlx::query!(
        r#"WITH accepted AS (
               UPDATE offers SET status = 'ACCEPTED', updated_at = now()
               WHERE id = $1 AND status = 'PENDING' AND version = $2 AND price_paisa = $3
                 AND expires_at > $4
               RETURNING id, vendor_id, price_paisa, pickup_at, delivery_at),
           rejected AS (
               UPDATE offers SET status = 'REJECTED', updated_at = now()
               WHERE request_id = $5 AND status = 'PENDING' AND id <> $1
                 AND EXISTS (SELECT FROM accepted)
               RETURNING id, vendor_id),
           placed AS (
               INSERT INTO orders (request_id, offer_id, customer_id, vendor_id, price_paisa,
                                   commission_bps, commission_paisa, pickup_at, delivery_at,
                                   payment_method)
               SELECT $5, id, $6, vendor_id, price_paisa, $7, $8, pickup_at, delivery_at, $9
               FROM accepted
               RETURNING id),
           closed AS (
               UPDATE requests SET status = 'ORDER_CREATED', updated_at = now()
               WHERE id = $5 AND EXISTS (SELECT FROM accepted)),
           history AS (
               INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note)
               SELECT id, NULL, 'CREATED', $6, 'Offer accepted' FROM placed)
           SELECT (SELECT id FROM placed) AS order_id,
                  ARRAY(SELECT id FROM rejected ORDER BY id) AS "rejected!",
                  ARRAY(SELECT vendor_id FROM rejected ORDER BY id) AS "rejected_vendors!""#,
        offer_id,
        version,
        price.paisa(),
        now,
        request_id,
        actor.id,
        commission_bps,
        price.commission(commission_bps).paisa(),
        method.as_str(),
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(unique_as("orders_request_id_key", || {
        MarketError::Conflict("This request already has an order.".into())
    }))?;
    let Some(order_id) = made.order_id else {
        // The offer changed after the first read: say how, as it is now.
        let offer = sqlx::query!(
            "SELECT status, expires_at FROM offers WHERE id = $1",
            offer_id
        )
        .fetch_one(&mut *tx)
        .await?;
        check_acceptable_offer(status(&offer.status)?, offer.expires_at, now)?;
        tx.rollback().await?;
        drop(conn);
        return offer_as_it_is(pool, actor, offer_id).await;
    };

    let parties = [actor.id, seen.vendor_id];
    let customer = actor.shown_as(None);
    let mut events = Vec::with_capacity(made.rejected.len() + 3);
    events.push(
        NewEvent::new(EventKind::OfferAccepted, actor.id, customer.clone())
            .request(request_id)
            .offer(offer_id)
            .order(order_id)
            .to(&parties),
    );
    for (&loser, &vendor_id) in made.rejected.iter().zip(&made.rejected_vendors) {
        events.push(
            NewEvent::new(EventKind::OfferRejected, actor.id, customer.clone())
                .request(request_id)
                .offer(loser)
                .to(&[actor.id, vendor_id]),
        );
    }
    events.push(
        NewEvent::new(EventKind::RequestClosed, actor.id, customer.clone())
            .request(request_id)
            .to_all_vendors(),
    );
    events.push(
        NewEvent::new(EventKind::OrderCreated, actor.id, customer)
            .request(request_id)
            .order(order_id)
            .to(&parties),
    );
    record_all(&mut tx, &events).await?;
    tx.commit().await?;
    Ok(Accepted::Order(order_id))
}

/// Refuses an accept on a request that is not open, or past its expiry.
fn check_acceptable_request(
    status: RequestStatus,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> MarketResult<()> {
    match status {
        RequestStatus::Open if expires_at > now => Ok(()),
        RequestStatus::Open | RequestStatus::Expired => Err(MarketError::Conflict(
            "This request has expired; offers can no longer be accepted.".into(),
        )),
        RequestStatus::OrderCreated => Err(MarketError::Conflict(
            "This request already has an order.".into(),
        )),
        RequestStatus::Cancelled => {
            Err(MarketError::Conflict("This request was cancelled.".into()))
        }
    }
}

/// Refuses an accept of an offer that is not pending, or past its expiry.
fn check_acceptable_offer(
    status: OfferStatus,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> MarketResult<()> {
    if status != OfferStatus::Pending {
        return Err(MarketError::Conflict(format!(
            "This offer is no longer available: it is {}.",
            status.label().to_lowercase()
        )));
    }
    if expires_at <= now {
        return Err(MarketError::Conflict("This offer has expired.".into()));
    }
    Ok(())
}

/// The answer to an accept of an offer that is not as the customer saw it:
/// the offer as it is now, to confirm again.
async fn offer_as_it_is(pool: &PgPool, actor: &User, offer_id: i64) -> MarketResult<Accepted> {
    let current = pending_offer_for_owner(pool, actor, offer_id).await?;
    Ok(Accepted::Changed(Box::new(current)))
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
