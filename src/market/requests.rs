//! Laundry requests: the catalog, posting, listing, viewing, cancelling, and
//! the vendors' board.

use sqlx::PgPool;
use time::OffsetDateTime;

use super::accounts::User;
use super::{MarketError, MarketResult, Paged, Paging, record, status};
use crate::domain::account::Role;
use crate::domain::filter::BoardSort;
use crate::domain::money::Money;
use crate::domain::offer::{OfferSort, VendorRecord};
use crate::domain::request::{NOTES_PREVIEW_CHARS, NewRequest, Unit, notes_preview};
use crate::domain::status::{OfferStatus, RequestStatus};
use crate::events::{EventKind, NewEvent};

/// A service of the catalog.
#[derive(Debug, Clone)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub description: String,
    pub unit: Unit,
}

/// The active catalog, in display order.
pub async fn catalog(pool: &PgPool) -> MarketResult<Vec<Service>> {
    let rows = sqlx::query!(
        "SELECT code, name, description, unit FROM services WHERE active ORDER BY sort_order, code"
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| {
            let unit = Unit::parse(&row.unit)
                .ok_or_else(|| anyhow::anyhow!("unknown unit {:?} in the catalog", row.unit))?;
            Ok(Service {
                code: row.code,
                name: row.name,
                description: row.description,
                unit,
            })
        })
        .collect()
}

/// Posts a request with its services; customers only.
pub async fn create_request(pool: &PgPool, actor: &User, new: &NewRequest) -> MarketResult<i64> {
    if actor.role != Role::Customer {
        return Err(MarketError::Forbidden(
            "Only customers can post laundry requests.".into(),
        ));
    }
    let (codes, quantities): (Vec<String>, Vec<i32>) = new.items.iter().cloned().unzip();
    let mut tx = pool.begin().await?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO requests (customer_id, pickup_address, city, area, pickup_from, pickup_to,
                                 notes, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"#,
        actor.id,
        new.pickup_address,
        new.city,
        new.area,
        new.pickup_from,
        new.pickup_to,
        new.notes,
        new.expires_at,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        r#"INSERT INTO request_services (request_id, service_code, quantity)
           SELECT $1, code, quantity FROM UNNEST($2::text[], $3::int[]) AS item(code, quantity)"#,
        id,
        &codes,
        &quantities,
    )
    .execute(&mut *tx)
    .await?;
    let event = NewEvent::new(EventKind::RequestCreated, actor.id, actor.shown_as(None))
        .request(id)
        .city(&new.city)
        .to(&[actor.id])
        .to_all_vendors();
    record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(id)
}

/// A request in a list.
#[derive(Debug, Clone)]
pub struct RequestSummary {
    pub id: i64,
    pub status: RequestStatus,
    pub city: String,
    pub area: String,
    pub pickup_from: OffsetDateTime,
    pub pickup_to: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub services: String,
    /// The start of the customer's notes, on one line (empty if none).
    pub notes_preview: String,
    pub pending_offers: i64,
    pub order_id: Option<i64>,
}

impl RequestSummary {
    /// Where the request is, for a list: "Boudha, Kathmandu", or whichever
    /// of the two was given.
    pub fn place(&self) -> String {
        match (self.area.is_empty(), self.city.is_empty()) {
            (false, false) => format!("{}, {}", self.area, self.city),
            (false, true) => self.area.clone(),
            (true, false) => self.city.clone(),
            (true, true) => "Area not given".into(),
        }
    }
}

struct SummaryRow {
    id: i64,
    status: String,
    city: String,
    area: String,
    pickup_from: OffsetDateTime,
    pickup_to: OffsetDateTime,
    expires_at: OffsetDateTime,
    created_at: OffsetDateTime,
    services: String,
    notes: String,
    pending_offers: i64,
    order_id: Option<i64>,
}

impl TryFrom<SummaryRow> for RequestSummary {
    type Error = MarketError;

    fn try_from(row: SummaryRow) -> MarketResult<Self> {
        Ok(RequestSummary {
            id: row.id,
            status: status(&row.status)?,
            city: row.city,
            area: row.area,
            pickup_from: row.pickup_from,
            pickup_to: row.pickup_to,
            expires_at: row.expires_at,
            created_at: row.created_at,
            services: row.services,
            notes_preview: notes_preview(&row.notes, NOTES_PREVIEW_CHARS),
            pending_offers: row.pending_offers,
            order_id: row.order_id,
        })
    }
}

fn summaries(rows: Vec<SummaryRow>, paging: Paging) -> MarketResult<Paged<RequestSummary>> {
    let items = rows
        .into_iter()
        .map(RequestSummary::try_from)
        .collect::<MarketResult<Vec<_>>>()?;
    Ok(paging.finish(items))
}

/// The customer's own requests: open ones first, then the rest; newest
/// first within each.
pub async fn list_my_requests(
    pool: &PgPool,
    actor: &User,
    filter: Option<RequestStatus>,
    paging: Paging,
) -> MarketResult<Paged<RequestSummary>> {
    let rows = sqlx::query_as!(
        SummaryRow,
        r#"SELECT r.id, r.status, r.city, r.area, r.pickup_from, r.pickup_to, r.expires_at,
                  r.created_at, r.notes,
                  (SELECT count(*) FROM offers o
                    WHERE o.request_id = r.id AND o.status = 'PENDING') AS "pending_offers!",
                  r.services_text AS "services!",
                  (SELECT o.id FROM orders o WHERE o.request_id = r.id) AS "order_id?"
           FROM requests r
           WHERE r.customer_id = $1 AND ($2::text IS NULL OR r.status = $2)
           ORDER BY r.status = 'OPEN' DESC, r.created_at DESC, r.id DESC
           LIMIT $3 OFFSET $4"#,
        actor.id,
        filter.map(RequestStatus::as_str),
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    summaries(rows, paging)
}

/// Open requests a vendor has no pending offer on, newest first or soonest
/// pickup first, optionally in one city or just the one request `only` (for
/// a live board row). Shows areas, never addresses.
///
/// The vendor's own pending offers are read once and looked up by hash (a
/// `NOT EXISTS` per row made Postgres read every pending offer for each open
/// request), and the one row has its own statement: a `($n IS NULL OR r.id
/// = $n)` in the list's made the prepared plan expect one row and read all
/// open requests through an index in random order.
pub async fn open_requests_for_board(
    pool: &PgPool,
    actor: &User,
    city: Option<&str>,
    only: Option<i64>,
    sort: BoardSort,
    paging: Paging,
) -> MarketResult<Paged<RequestSummary>> {
    if actor.role != Role::Vendor {
        return Err(MarketError::Forbidden("The board is for laundries.".into()));
    }
    let rows = match only {
        Some(id) => {
            sqlx::query_as!(
                SummaryRow,
                r#"SELECT r.id, r.status, r.city, r.area, r.pickup_from, r.pickup_to,
                          r.expires_at, r.created_at, r.notes,
                          (SELECT count(*) FROM offers o
                            WHERE o.request_id = r.id AND o.status = 'PENDING') AS "pending_offers!",
                          r.services_text AS "services!",
                          NULL::bigint AS "order_id?"
                   FROM requests r
                   WHERE r.id = $1 AND r.status = 'OPEN' AND r.expires_at > now()
                     AND NOT EXISTS (SELECT 1 FROM offers o WHERE o.request_id = r.id
                                       AND o.vendor_id = $2 AND o.status = 'PENDING')
                     AND ($3::text IS NULL OR lower(r.city) = lower($3))"#,
                id,
                actor.id,
                city,
            )
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query_as!(
                SummaryRow,
                r#"SELECT r.id, r.status, r.city, r.area, r.pickup_from, r.pickup_to,
                          r.expires_at, r.created_at, r.notes,
                          (SELECT count(*) FROM offers o
                            WHERE o.request_id = r.id AND o.status = 'PENDING') AS "pending_offers!",
                          r.services_text AS "services!",
                          NULL::bigint AS "order_id?"
                   FROM requests r
                   WHERE r.status = 'OPEN' AND r.expires_at > now()
                     AND r.id NOT IN (SELECT o.request_id FROM offers o
                                       WHERE o.vendor_id = $1 AND o.status = 'PENDING')
                     AND ($2::text IS NULL OR lower(r.city) = lower($2))
                   ORDER BY CASE WHEN $5::bool THEN r.pickup_from END, r.created_at DESC, r.id DESC
                   LIMIT $3 OFFSET $4"#,
                actor.id,
                city,
                paging.limit(),
                paging.offset(),
                sort == BoardSort::Pickup,
            )
            .fetch_all(pool)
            .await?
        }
    };
    summaries(rows, paging)
}

/// A line of a request: a service and its quantity.
#[derive(Debug, Clone)]
pub struct Item {
    pub code: String,
    pub name: String,
    pub quantity: i32,
    pub unit: Unit,
}

impl Item {
    /// An item as read from the database; an unknown unit is an error.
    pub(super) fn new(code: String, name: String, unit: &str, quantity: i32) -> MarketResult<Self> {
        let unit = Unit::parse(unit).ok_or_else(|| anyhow::anyhow!("unknown unit {unit:?}"))?;
        Ok(Item {
            code,
            name,
            quantity,
            unit,
        })
    }

    pub fn unit_label(&self) -> &'static str {
        self.unit.label(self.quantity)
    }
}

/// The services of a request, in catalog order.
pub(super) async fn items(pool: &PgPool, request_id: i64) -> MarketResult<Vec<Item>> {
    let rows = sqlx::query!(
        r#"SELECT s.code, s.name, s.unit, rs.quantity
           FROM request_services rs JOIN services s ON s.code = rs.service_code
           WHERE rs.request_id = $1 ORDER BY s.sort_order"#,
        request_id,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|row| Item::new(row.code, row.name, &row.unit, row.quantity))
        .collect()
}

/// An offer as the request page and the vendor's list show it.
#[derive(Debug, Clone)]
pub struct OfferView {
    pub id: i64,
    pub request_id: i64,
    pub vendor_id: i64,
    pub business_name: String,
    pub vendor_city: String,
    /// The laundry's record: completed orders, completion rate, turnaround.
    pub record: VendorRecord,
    pub price: Money,
    pub pickup_at: OffsetDateTime,
    pub delivery_at: OffsetDateTime,
    pub message: String,
    pub status: OfferStatus,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    /// One more at every change of price or terms; the accept form carries it.
    pub version: i32,
    /// The request's pickup window, which the offer's pickup is told against.
    pub window_from: OffsetDateTime,
    pub window_to: OffsetDateTime,
}

impl OfferView {
    /// The offer's pickup against the customer's window: "within your
    /// window", "2 h after the pickup window".
    pub fn pickup_fit(&self) -> String {
        crate::domain::offer::pickup_fit(self.pickup_at, self.window_from, self.window_to)
    }

    pub fn pickup_in_window(&self) -> bool {
        (self.window_from..=self.window_to).contains(&self.pickup_at)
    }
}

pub(super) struct OfferRow {
    pub id: i64,
    pub request_id: i64,
    pub vendor_id: i64,
    pub business_name: String,
    pub vendor_city: String,
    pub completed_orders: i64,
    pub closed_orders: i64,
    pub median_turnaround_seconds: Option<f64>,
    pub price_paisa: i64,
    pub pickup_at: OffsetDateTime,
    pub delivery_at: OffsetDateTime,
    pub message: String,
    pub status: String,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub version: i32,
    pub window_from: OffsetDateTime,
    pub window_to: OffsetDateTime,
}

impl TryFrom<OfferRow> for OfferView {
    type Error = MarketError;

    fn try_from(row: OfferRow) -> MarketResult<Self> {
        Ok(OfferView {
            id: row.id,
            request_id: row.request_id,
            vendor_id: row.vendor_id,
            business_name: row.business_name,
            vendor_city: row.vendor_city,
            record: VendorRecord {
                completed: row.completed_orders,
                closed: row.closed_orders,
                median_turnaround: row
                    .median_turnaround_seconds
                    .map(|seconds| time::Duration::seconds(seconds.round() as i64)),
            },
            price: Money::from_paisa(row.price_paisa),
            pickup_at: row.pickup_at,
            delivery_at: row.delivery_at,
            message: row.message,
            status: status(&row.status)?,
            expires_at: row.expires_at,
            created_at: row.created_at,
            version: row.version,
            window_from: row.window_from,
            window_to: row.window_to,
        })
    }
}

/// The offers on a request: all of them (pending first, cheapest first), or
/// only those of `only_vendor`, each with its laundry's record. One query
/// for the whole list: the records of the laundries on it are counted once.
async fn offers_on(
    pool: &PgPool,
    request_id: i64,
    only_vendor: Option<i64>,
) -> MarketResult<Vec<OfferView>> {
    let rows = sqlx::query_as!(
        OfferRow,
        r#"WITH listed AS (
               SELECT o.* FROM offers o
               WHERE o.request_id = $1 AND ($2::bigint IS NULL OR o.vendor_id = $2)
           ), records AS (
               SELECT d.vendor_id,
                      count(*) FILTER (WHERE d.status = 'COMPLETED') AS completed,
                      count(*) FILTER (WHERE d.status IN ('COMPLETED', 'CANCELLED')) AS closed,
                      percentile_cont(0.5) WITHIN GROUP (
                          ORDER BY extract(epoch FROM d.completed_at - d.created_at)::float8)
                          FILTER (WHERE d.status = 'COMPLETED' AND d.completed_at IS NOT NULL)
                          AS median_seconds
               FROM orders d
               WHERE d.vendor_id IN (SELECT vendor_id FROM listed)
               GROUP BY d.vendor_id
           )
           SELECT o.id, o.request_id, o.vendor_id, v.business_name, v.city AS vendor_city,
                  COALESCE(s.completed, 0) AS "completed_orders!",
                  COALESCE(s.closed, 0) AS "closed_orders!",
                  s.median_seconds AS "median_turnaround_seconds?",
                  o.price_paisa, o.pickup_at, o.delivery_at, o.message, o.status, o.expires_at,
                  o.created_at, o.version,
                  r.pickup_from AS window_from, r.pickup_to AS window_to
           FROM listed o JOIN vendors v ON v.user_id = o.vendor_id
                JOIN requests r ON r.id = o.request_id
                LEFT JOIN records s ON s.vendor_id = o.vendor_id
           ORDER BY (o.status = 'PENDING') DESC, o.price_paisa, o.id"#,
        request_id,
        only_vendor,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(OfferView::try_from).collect()
}

/// One request as a given viewer may see it.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub id: i64,
    pub status: RequestStatus,
    pub customer_name: String,
    /// The street address: only for the owner and admins.
    pub pickup_address: Option<String>,
    pub city: String,
    pub area: String,
    pub pickup_from: OffsetDateTime,
    pub pickup_to: OffsetDateTime,
    pub notes: String,
    pub expires_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub items: Vec<Item>,
    /// All offers for the owner and admins; a vendor's own only, for vendors.
    pub offers: Vec<OfferView>,
    pub order_id: Option<i64>,
    pub is_owner: bool,
    pub is_open: bool,
}

impl RequestView {
    /// Orders the offers by price or by pickup time, live (pending) ones first.
    pub fn sort_offers(&mut self, sort: OfferSort) {
        self.offers.sort_by_key(|o| {
            let key = match sort {
                OfferSort::Price => (o.price.paisa(), o.pickup_at.unix_timestamp()),
                OfferSort::Pickup => (o.pickup_at.unix_timestamp(), o.price.paisa()),
            };
            (o.status != OfferStatus::Pending, key, o.id)
        });
    }

    /// The viewer's own pending offer (vendors).
    pub fn pending_offer(&self) -> Option<&OfferView> {
        self.offers
            .iter()
            .find(|o| o.status == OfferStatus::Pending)
    }
}

/// A request for its owner, for admins, for vendors while it is open, and
/// afterwards (read-only) for the vendors who offered on it; anyone else
/// learns nothing (not found). Of the order, a vendor learns only their own.
pub async fn get_request(pool: &PgPool, viewer: &User, id: i64) -> MarketResult<RequestView> {
    let row = sqlx::query!(
        r#"SELECT r.id, r.customer_id, r.status, r.pickup_address, r.city, r.area, r.pickup_from,
                  r.pickup_to, r.notes, r.expires_at, r.created_at, u.name AS customer_name,
                  d.id AS "order_id?", d.vendor_id AS "order_vendor_id?",
                  EXISTS (SELECT 1 FROM offers o
                           WHERE o.request_id = r.id AND o.vendor_id = $2) AS "offered!"
           FROM requests r JOIN users u ON u.id = r.customer_id
                LEFT JOIN orders d ON d.request_id = r.id
           WHERE r.id = $1"#,
        id,
        viewer.id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?;
    let request_status: RequestStatus = status(&row.status)?;
    let is_owner = viewer.role == Role::Customer && row.customer_id == viewer.id;
    let privileged = is_owner || viewer.role == Role::Admin;
    let vendor = viewer.role == Role::Vendor;
    let vendor_may_see = vendor && (request_status == RequestStatus::Open || row.offered);
    if !privileged && !vendor_may_see {
        return Err(MarketError::NotFound);
    }
    let won = vendor && row.order_vendor_id == Some(viewer.id);
    let offers = offers_on(pool, id, (!privileged).then_some(viewer.id)).await?;
    Ok(RequestView {
        id: row.id,
        status: request_status,
        customer_name: if privileged {
            row.customer_name
        } else {
            String::new()
        },
        pickup_address: privileged.then_some(row.pickup_address),
        city: row.city,
        area: row.area,
        pickup_from: row.pickup_from,
        pickup_to: row.pickup_to,
        notes: row.notes,
        expires_at: row.expires_at,
        created_at: row.created_at,
        items: items(pool, id).await?,
        offers,
        order_id: if privileged || won {
            row.order_id
        } else {
            None
        },
        is_owner,
        is_open: request_status == RequestStatus::Open
            && row.expires_at > OffsetDateTime::now_utc(),
    })
}

/// Cancels an open request (owner only); its pending offers are rejected.
/// Locks the request, then (by rejecting them) its offers: the lock order of
/// `market/mod.rs`.
pub async fn cancel_request(pool: &PgPool, actor: &User, id: i64) -> MarketResult<()> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query!(
        "SELECT customer_id, status FROM requests WHERE id = $1 FOR NO KEY UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MarketError::NotFound)?;
    if row.customer_id != actor.id || actor.role != Role::Customer {
        return Err(MarketError::NotFound);
    }
    let current: RequestStatus = status(&row.status)?;
    if current != RequestStatus::Open {
        return Err(MarketError::Conflict(format!(
            "This request can no longer be cancelled: it is {}.",
            current.label().to_lowercase()
        )));
    }
    sqlx::query!(
        "UPDATE requests SET status = 'CANCELLED', updated_at = now() WHERE id = $1 AND status = 'OPEN'",
        id
    )
    .execute(&mut *tx)
    .await?;
    let rejected = sqlx::query!(
        r#"UPDATE offers SET status = 'REJECTED', updated_at = now()
           WHERE request_id = $1 AND status = 'PENDING' RETURNING id, vendor_id"#,
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    let cancelled = NewEvent::new(EventKind::RequestCancelled, actor.id, actor.shown_as(None))
        .request(id)
        .to(&[actor.id])
        .to_all_vendors();
    record(&mut tx, &cancelled).await?;
    for offer in rejected {
        let event = NewEvent::new(EventKind::OfferRejected, actor.id, actor.shown_as(None))
            .request(id)
            .offer(offer.id)
            .to(&[actor.id, offer.vendor_id]);
        record(&mut tx, &event).await?;
    }
    tx.commit().await?;
    Ok(())
}
