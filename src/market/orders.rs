//! Orders: lists, the order page with its timeline, and every status change
//! (advance, cancel, dispute, resolve) through one conditional update.

use serde::Deserialize;
use sqlx::PgPool;
use sqlx::types::Json;
use time::{Duration, OffsetDateTime};

use super::accounts::User;
use super::audit;
use super::payment_views::{PaymentSection, payment_section};
use super::payments::{self, PaymentMethod};
use super::requests::Item;
use super::{
    CHANGED_MEANWHILE, MarketError, MarketResult, Paged, Paging, record, status, unique_as,
};
use crate::domain::account::Role;
use crate::domain::audit::AuditAction;
use crate::domain::money::Money;
use crate::domain::status::{
    Actor, DisputeOutcome, OrderStatus, Rule, Step, TRACK, Transition, TransitionError,
    check_order_transition, may_ever_move_to, order_moves, track,
};
use crate::domain::{FieldErrors, clean_text};
use crate::events::{EventKind, NewEvent};

/// An order in a list.
#[derive(Debug, Clone)]
pub struct OrderSummary {
    pub id: i64,
    pub status: OrderStatus,
    pub price: Money,
    pub customer_name: String,
    pub business_name: String,
    pub services: String,
    pub delivery_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
}

/// Orders the viewer takes part in (all of them for admins), newest first.
pub async fn list_orders(
    pool: &PgPool,
    viewer: &User,
    filter: Option<OrderStatus>,
    paging: Paging,
) -> MarketResult<Paged<OrderSummary>> {
    let (customer, vendor) = match viewer.role {
        Role::Customer => (Some(viewer.id), None),
        Role::Vendor => (None, Some(viewer.id)),
        Role::Admin => (None, None),
    };
    let rows = sqlx::query!(
        r#"SELECT o.id, o.status, o.price_paisa, c.name AS customer_name, v.business_name,
                  o.delivery_at, o.created_at,
                  r.services_text AS "services!"
           FROM orders o JOIN requests r ON r.id = o.request_id
                JOIN users c ON c.id = o.customer_id
                JOIN vendors v ON v.user_id = o.vendor_id
           WHERE ($1::bigint IS NULL OR o.customer_id = $1)
             AND ($2::bigint IS NULL OR o.vendor_id = $2)
             AND ($3::text IS NULL OR o.status = $3)
           ORDER BY o.created_at DESC, o.id DESC
           LIMIT $4 OFFSET $5"#,
        customer,
        vendor,
        filter.map(OrderStatus::as_str),
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|row| {
            Ok(OrderSummary {
                id: row.id,
                status: status(&row.status)?,
                price: Money::from_paisa(row.price_paisa),
                customer_name: row.customer_name,
                business_name: row.business_name,
                services: row.services,
                delivery_at: row.delivery_at,
                created_at: row.created_at,
            })
        })
        .collect::<MarketResult<Vec<_>>>()?;
    Ok(paging.finish(items))
}

/// A line of an order's timeline.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    pub actor_name: String,
    pub note: String,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct Dispute {
    pub id: i64,
    pub opened_by_name: String,
    pub reason: String,
    pub is_open: bool,
    pub outcome: Option<String>,
    pub resolution_note: String,
    pub created_at: OffsetDateTime,
}

/// One order as a party to it (or an admin) sees it.
#[derive(Debug, Clone)]
pub struct OrderView {
    pub id: i64,
    pub request_id: i64,
    pub status: OrderStatus,
    pub price: Money,
    pub commission_bps: i32,
    pub commission: Money,
    pub customer_id: i64,
    pub customer_name: String,
    pub customer_phone: String,
    pub vendor_id: i64,
    pub business_name: String,
    pub vendor_phone: String,
    pub pickup_address: String,
    pub city: String,
    pub area: String,
    pub notes: String,
    pub pickup_at: OffsetDateTime,
    pub delivery_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub completed_at: Option<OffsetDateTime>,
    /// When the customer confirmed they received their laundry.
    pub received_at: Option<OffsetDateTime>,
    /// The viewer is the customer and has yet to confirm a delivery the
    /// laundry marked done: their one action is to confirm it.
    pub confirm_due: bool,
    pub items: Vec<Item>,
    pub timeline: Vec<HistoryEntry>,
    pub dispute: Option<Dispute>,
    /// The moves the viewer may make now.
    pub moves: Vec<&'static Rule>,
    /// How the order is paid for, and what is paid, refunded and owed.
    pub payment: PaymentSection,
}

impl OrderView {
    /// The viewer's one forward step, if any (the vendor's next-status button,
    /// the customer's "confirm delivery").
    pub fn advance(&self) -> Option<OrderStatus> {
        self.moves
            .iter()
            .find(|r| r.kind == Transition::Advance)
            .map(|r| r.to)
    }

    pub fn can(&self, kind: Transition) -> bool {
        self.moves.iter().any(|r| r.kind == kind)
    }

    /// Delivered by the laundry's word, not yet confirmed by the customer
    /// (and not settled by a dispute).
    pub fn awaiting_receipt(&self) -> bool {
        self.status == OrderStatus::Completed
            && self.received_at.is_none()
            && self.dispute.is_none()
    }

    /// When the customer confirmed receiving a delivery the laundry had
    /// marked done, for the timeline; `None` when nobody confirmed, or the
    /// customer completed the order themselves (one step, already there).
    pub fn confirmed_receipt(&self) -> Option<OffsetDateTime> {
        self.received_at.filter(|&at| Some(at) != self.completed_at)
    }

    /// The status as the viewer reads it: a delivery the customer has not
    /// confirmed is not yet final to them.
    pub fn status_text(&self) -> &'static str {
        if self.confirm_due {
            "Delivered — confirm you received it"
        } else if self.awaiting_receipt() {
            "Delivered — not yet confirmed by the customer"
        } else {
            self.status.label()
        }
    }

    /// The tracker's steps: Created → Picked up → Washing → Out for
    /// delivery → Delivered, or where a cancelled or disputed order stopped.
    pub fn tracker(&self) -> Vec<Step> {
        let reached = self
            .timeline
            .iter()
            .rev()
            .map(|entry| entry.to)
            .find(|to| TRACK.iter().any(|(step, _)| step == to))
            .unwrap_or(OrderStatus::Created);
        track(self.status, reached)
    }

    /// Whether the order is still on its way (its delivery is expected).
    pub fn under_way(&self) -> bool {
        !self.status.is_final() && self.status != OrderStatus::Disputed
    }
}

fn actor_of(user: &User) -> Actor {
    Actor::from(user.role)
}

/// A status change as `get_order` reads it.
#[derive(Debug, Deserialize)]
struct HistoryJson {
    from: Option<String>,
    to: String,
    actor_name: String,
    note: String,
    at: i64,
}

/// A dispute as `get_order` reads it.
#[derive(Debug, Deserialize)]
struct DisputeJson {
    id: i64,
    opened_by_name: String,
    reason: String,
    status: String,
    outcome: Option<String>,
    resolution_note: String,
    at: i64,
}

/// A service of the order as `get_order` reads it.
#[derive(Debug, Deserialize)]
struct ItemJson {
    code: String,
    name: String,
    unit: String,
    quantity: i32,
}

/// A time read as microseconds since the epoch.
fn from_micros(micros: i64) -> MarketResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .map_err(|err| MarketError::Internal(anyhow::anyhow!("a time out of range: {err}")))
}

/// The order for its customer, its vendor and admins; not found for anyone else.
pub async fn get_order(
    pool: &PgPool,
    viewer: &User,
    id: i64,
    dispute_window: Duration,
) -> MarketResult<OrderView> {
    // One statement: the order with its history, latest dispute, services
    // and payments (times in the JSON as microseconds since the epoch). A
    // change's actor is mostly one of the parties, whose names are at hand;
    // only anyone else (an admin) is looked up.
    let row = sqlx::query!(
        r#"SELECT o.id, o.request_id, o.status, o.price_paisa, o.commission_bps, o.commission_paisa,
                  o.customer_id, c.name AS customer_name, c.phone AS customer_phone,
                  o.vendor_id, v.business_name, vu.phone AS vendor_phone,
                  r.pickup_address, r.city, r.area, r.notes,
                  o.pickup_at, o.delivery_at, o.created_at, o.completed_at, o.received_at,
                  o.payment_method,
                  o.payment_method = 'online' AND NOT EXISTS (
                      SELECT 1 FROM payments p WHERE p.order_id = o.id
                      AND p.status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED')) AS "awaiting_payment!",
                  (SELECT coalesce(json_agg(json_build_object(
                              'from', h.from_status, 'to', h.to_status,
                              'actor_name', coalesce(
                                  CASE h.actor_id WHEN o.customer_id THEN c.name
                                                  WHEN o.vendor_id THEN vu.name END,
                                  (SELECT u.name FROM users u WHERE u.id = h.actor_id),
                                  'Dhune'),
                              'note', h.note,
                              'at', (extract(epoch FROM h.created_at) * 1000000)::bigint)
                              ORDER BY h.id), '[]')
                   FROM order_status_history h
                   WHERE h.order_id = o.id) AS "history!: Json<Vec<HistoryJson>>",
                  (SELECT json_build_object(
                              'id', d.id, 'opened_by_name', u.name, 'reason', d.reason,
                              'status', d.status, 'outcome', d.outcome,
                              'resolution_note', d.resolution_note,
                              'at', (extract(epoch FROM d.created_at) * 1000000)::bigint)
                   FROM disputes d JOIN users u ON u.id = d.opened_by
                   WHERE d.order_id = o.id ORDER BY d.id DESC LIMIT 1) AS "dispute: Json<DisputeJson>",
                  (SELECT coalesce(json_agg(json_build_object(
                              'code', s.code, 'name', s.name, 'unit', s.unit,
                              'quantity', rs.quantity) ORDER BY s.sort_order), '[]')
                   FROM request_services rs JOIN services s ON s.code = rs.service_code
                   WHERE rs.request_id = o.request_id) AS "items!: Json<Vec<ItemJson>>",
                  ARRAY(SELECT p.id FROM payments p WHERE p.order_id = o.id
                        ORDER BY p.created_at DESC, p.id DESC) AS "payment_ids!"
           FROM orders o JOIN requests r ON r.id = o.request_id
                JOIN users c ON c.id = o.customer_id
                JOIN vendors v ON v.user_id = o.vendor_id
                JOIN users vu ON vu.id = o.vendor_id
           WHERE o.id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?;
    let party = viewer.id == row.customer_id || viewer.id == row.vendor_id;
    if !party && viewer.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let timeline = row
        .history
        .0
        .into_iter()
        .map(|h| {
            Ok(HistoryEntry {
                from: h.from.as_deref().map(status).transpose()?,
                to: status(&h.to)?,
                actor_name: h.actor_name,
                note: h.note,
                at: from_micros(h.at)?,
            })
        })
        .collect::<MarketResult<Vec<_>>>()?;
    let dispute = row
        .dispute
        .map(|Json(d)| {
            Ok::<_, MarketError>(Dispute {
                id: d.id,
                opened_by_name: d.opened_by_name,
                reason: d.reason,
                is_open: d.status == "OPEN",
                outcome: d.outcome,
                resolution_note: d.resolution_note,
                created_at: from_micros(d.at)?,
            })
        })
        .transpose()?;
    let items = row
        .items
        .0
        .into_iter()
        .map(|i| Item::new(i.code, i.name, &i.unit, i.quantity))
        .collect::<MarketResult<Vec<_>>>()?;
    let current: OrderStatus = status(&row.status)?;
    let now = OffsetDateTime::now_utc();
    let actor = actor_of(viewer);
    let moves = order_moves(current, actor)
        .into_iter()
        .filter(|rule| !(rule.to == OrderStatus::PickedUp && row.awaiting_payment))
        .filter(|rule| {
            check_order_transition(
                rule.from,
                rule.to,
                actor,
                "-",
                row.completed_at,
                dispute_window,
                now,
            )
            .is_ok()
        })
        .collect();
    let confirm_due = viewer.id == row.customer_id
        && viewer.role == Role::Customer
        && current == OrderStatus::Completed
        && row.received_at.is_none()
        && dispute.is_none();
    Ok(OrderView {
        id: row.id,
        request_id: row.request_id,
        status: current,
        price: Money::from_paisa(row.price_paisa),
        commission_bps: row.commission_bps,
        commission: Money::from_paisa(row.commission_paisa),
        customer_id: row.customer_id,
        customer_name: row.customer_name,
        customer_phone: row.customer_phone,
        vendor_id: row.vendor_id,
        business_name: row.business_name,
        vendor_phone: row.vendor_phone,
        pickup_address: row.pickup_address,
        city: row.city,
        area: row.area,
        notes: row.notes,
        pickup_at: row.pickup_at,
        delivery_at: row.delivery_at,
        created_at: row.created_at,
        completed_at: row.completed_at,
        received_at: row.received_at,
        confirm_due,
        items,
        timeline,
        dispute,
        moves,
        payment: payment_section(
            pool,
            id,
            current,
            &row.payment_method,
            row.price_paisa,
            &row.payment_ids,
        )
        .await?,
    })
}

/// Moves an order to `to` if the state machine lets this actor do it now.
/// The order is locked first, then its dispute (the lock order of
/// `market/mod.rs`), so of two racing changes one waits for the other and is
/// then told plainly; the update stays conditional on the status read.
pub async fn transition(
    pool: &PgPool,
    actor: &User,
    order_id: i64,
    to: OrderStatus,
    reason: &str,
    dispute_window: Duration,
) -> MarketResult<()> {
    transition_with(pool, actor, order_id, to, reason, dispute_window, None).await
}

/// [`transition`], settling a dispute with `partial` back to the customer.
async fn transition_with(
    pool: &PgPool,
    actor: &User,
    order_id: i64,
    to: OrderStatus,
    reason: &str,
    dispute_window: Duration,
    partial: Option<Money>,
) -> MarketResult<()> {
    let reason = clean_text(reason, 0, 2000, true)
        .map_err(|message| MarketError::Invalid(FieldErrors::single("reason", message)))?;
    let reason = reason.as_str();
    let mut tx = pool.begin().await?;
    let order = sqlx::query!(
        r#"SELECT o.status, o.customer_id, o.vendor_id, o.completed_at, o.request_id,
                  o.payment_method, v.business_name AS "business_name?"
           FROM orders o LEFT JOIN vendors v ON v.user_id = o.vendor_id
           WHERE o.id = $1 FOR NO KEY UPDATE OF o"#,
        order_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MarketError::NotFound)?;
    let party = actor.id == order.customer_id || actor.id == order.vendor_id;
    if !party && actor.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let from: OrderStatus = status(&order.status)?;
    if from == to {
        return Err(MarketError::Conflict(format!(
            "This order is already {}.",
            to.label().to_lowercase()
        )));
    }
    let now = OffsetDateTime::now_utc();
    let rule = check_order_transition(
        from,
        to,
        actor_of(actor),
        reason,
        order.completed_at,
        dispute_window,
        now,
    )
    .map_err(|err| match err {
        TransitionError::ReasonRequired => {
            MarketError::Invalid(FieldErrors::single("reason", err.to_string()))
        }
        TransitionError::WrongActor { .. } if !may_ever_move_to(to, actor_of(actor)) => {
            MarketError::Forbidden(err.to_string())
        }
        TransitionError::WrongActor { .. } => MarketError::Conflict(err.to_string()),
        TransitionError::NotAllowed { .. } | TransitionError::DisputeWindowClosed => {
            MarketError::Conflict(err.to_string())
        }
    })?;
    if to == OrderStatus::PickedUp
        && order.payment_method == PaymentMethod::Online.as_str()
        && !payments::is_paid(&mut tx, order_id).await?
    {
        return Err(MarketError::Conflict(payments::WAITING_FOR_PAYMENT.into()));
    }
    // The customer completing a delivery confirms they received it.
    let received = to == OrderStatus::Completed
        && rule.kind == Transition::Advance
        && actor.id == order.customer_id;
    let updated = sqlx::query!(
        r#"UPDATE orders SET status = $3, status_changed_at = now(), updated_at = now(),
                  completed_at = CASE WHEN $3 = 'COMPLETED' THEN now() ELSE completed_at END,
                  received_at = CASE WHEN $4 THEN now() ELSE received_at END
           WHERE id = $1 AND status = $2"#,
        order_id,
        from.as_str(),
        to.as_str(),
        received,
    )
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(MarketError::Conflict(CHANGED_MEANWHILE.into()));
    }
    sqlx::query!(
        r#"INSERT INTO order_status_history (order_id, from_status, to_status, actor_id, note)
           VALUES ($1, $2, $3, $4, $5)"#,
        order_id,
        from.as_str(),
        to.as_str(),
        actor.id,
        reason,
    )
    .execute(&mut *tx)
    .await?;
    // Money follows the order: cash is collected on completion; a paid
    // order cancelled is refunded in full, a dispute settled in part gets
    // that part back (sent to the provider once this commits).
    if to == OrderStatus::Completed {
        payments::collect_cash(&mut tx, order_id).await?;
    }
    let by = Some(actor.id).filter(|_| actor.role == Role::Admin);
    if to == OrderStatus::Cancelled {
        let why = format!("Order cancelled: {reason}");
        payments::queue_for_order(&mut tx, order_id, None, why.trim_end_matches(": "), by).await?;
    }
    if let Some(amount) = partial {
        let why = format!("Dispute settled in part: {reason}");
        payments::queue_for_order(&mut tx, order_id, Some(amount.paisa()), &why, by).await?;
    }
    let parties = [order.customer_id, order.vendor_id];
    let business_name = order
        .business_name
        .as_deref()
        .filter(|_| actor.id == order.vendor_id);
    let who = actor.shown_as(business_name);
    let base = |kind| {
        NewEvent::new(kind, actor.id, who.clone())
            .request(order.request_id)
            .order(order_id)
            .to(&parties)
            .status(to)
    };
    let event = match rule.kind {
        Transition::Advance => base(EventKind::OrderStatusUpdated),
        Transition::Cancel => base(EventKind::OrderCancelled),
        Transition::Dispute => {
            let dispute_id = sqlx::query_scalar!(
                "INSERT INTO disputes (order_id, opened_by, reason) VALUES ($1, $2, $3) RETURNING id",
                order_id,
                actor.id,
                reason,
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(unique_as("disputes_one_open_per_order", || {
                MarketError::Conflict("This order already has an open dispute.".into())
            }))?;
            base(EventKind::DisputeOpened).dispute(dispute_id)
        }
        Transition::Resolve => {
            let outcome = match (to, partial) {
                (_, Some(_)) => "PARTIAL",
                (OrderStatus::Completed, None) => "RELEASE",
                _ => "REFUND",
            };
            let dispute_id = sqlx::query_scalar!(
                r#"UPDATE disputes SET status = 'RESOLVED', outcome = $2, resolution_note = $3,
                          resolved_by = $4, resolved_at = now(), refund_paisa = $5
                   WHERE order_id = $1 AND status = 'OPEN' RETURNING id"#,
                order_id,
                outcome,
                reason,
                actor.id,
                partial.map(Money::paisa),
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| MarketError::Conflict(CHANGED_MEANWHILE.into()))?;
            base(EventKind::DisputeResolved).dispute(dispute_id)
        }
    };
    record(&mut tx, &event).await?;
    if actor.role == Role::Admin {
        let (action, target_type, target_id) = match (rule.kind, event.dispute_id) {
            (Transition::Resolve, Some(dispute_id)) => {
                (AuditAction::ResolveDispute, "dispute", dispute_id)
            }
            (Transition::Cancel, _) => (AuditAction::ForceCancel, "order", order_id),
            _ => (AuditAction::MoveOrder, "order", order_id),
        };
        let entry = audit::Entry {
            action,
            target_type,
            target_id,
            reason,
            before: Some(from.as_str()),
            after: Some(to.as_str()),
        };
        audit::write(&mut tx, actor, &entry).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// An admin settles an open dispute: `release` completes the order (the
/// vendor is paid), `refund` cancels it (the customer gets everything
/// back), `partial` completes it and gives the customer `amount` (rupees)
/// back; the note is required.
pub async fn resolve_dispute(
    pool: &PgPool,
    admin: &User,
    dispute_id: i64,
    outcome: DisputeOutcome,
    amount: &str,
    note: &str,
    dispute_window: Duration,
) -> MarketResult<i64> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let partial = match outcome {
        DisputeOutcome::Partial => Some(partial_amount(amount)?),
        DisputeOutcome::Release | DisputeOutcome::Refund => None,
    };
    let dispute = sqlx::query!(
        "SELECT order_id, status FROM disputes WHERE id = $1",
        dispute_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?;
    if dispute.status != "OPEN" {
        return Err(MarketError::Conflict(
            "This dispute is already resolved.".into(),
        ));
    }
    transition_with(
        pool,
        admin,
        dispute.order_id,
        outcome.target(),
        note,
        dispute_window,
        partial,
    )
    .await?;
    Ok(dispute.order_id)
}

/// The order of dispute `dispute_id`, for an admin (a refused resolution
/// shows its order's page again).
pub async fn dispute_order(pool: &PgPool, admin: &User, dispute_id: i64) -> MarketResult<i64> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    sqlx::query_scalar!("SELECT order_id FROM disputes WHERE id = $1", dispute_id)
        .fetch_optional(pool)
        .await?
        .ok_or(MarketError::NotFound)
}

/// The part of a dispute's money to give back, in rupees; more than zero
/// (how much is left to refund is checked against the payment).
fn partial_amount(raw: &str) -> MarketResult<Money> {
    let amount = Money::parse_rupees(raw)
        .map_err(|message| MarketError::Invalid(FieldErrors::single("amount", message)))?;
    if amount.paisa() <= 0 {
        return Err(MarketError::Invalid(FieldErrors::single(
            "amount",
            "Enter how much to give back, more than Rs 0.",
        )));
    }
    Ok(amount)
}

/// The vendor moves the order forward, or the customer confirms delivery:
/// out for delivery, that completes it; once the laundry marked it
/// delivered, that records the customer received it.
pub async fn update_order_status(
    pool: &PgPool,
    actor: &User,
    order_id: i64,
    to: OrderStatus,
    dispute_window: Duration,
) -> MarketResult<()> {
    if matches!(
        to,
        OrderStatus::Cancelled | OrderStatus::Disputed | OrderStatus::Created
    ) {
        return Err(MarketError::Invalid(FieldErrors::single(
            "status",
            "Choose picked up, in progress, delivering or completed.",
        )));
    }
    if to == OrderStatus::Completed
        && actor.role == Role::Customer
        && confirm_receipt(pool, actor, order_id).await?
    {
        return Ok(());
    }
    transition(pool, actor, order_id, to, "", dispute_window).await
}

/// The customer confirms they received an order the laundry marked
/// delivered. False when there is nothing to confirm (not their order, not
/// completed, already confirmed, or disputed).
async fn confirm_receipt(pool: &PgPool, actor: &User, order_id: i64) -> MarketResult<bool> {
    let mut tx = pool.begin().await?;
    let order = sqlx::query!(
        r#"UPDATE orders o SET received_at = now(), updated_at = now()
           WHERE o.id = $1 AND o.customer_id = $2 AND o.status = 'COMPLETED'
             AND o.received_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM disputes d WHERE d.order_id = o.id)
           RETURNING o.request_id, o.vendor_id"#,
        order_id,
        actor.id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(order) = order else {
        return Ok(false);
    };
    let event = NewEvent::new(
        EventKind::OrderStatusUpdated,
        actor.id,
        actor.shown_as(None),
    )
    .request(order.request_id)
    .order(order_id)
    .to(&[actor.id, order.vendor_id])
    .status(OrderStatus::Completed)
    .received();
    record(&mut tx, &event).await?;
    tx.commit().await?;
    Ok(true)
}

/// Cancels an order, with a reason (before pickup; admins until completion).
pub async fn cancel_order(
    pool: &PgPool,
    actor: &User,
    order_id: i64,
    reason: &str,
    dispute_window: Duration,
) -> MarketResult<()> {
    transition(
        pool,
        actor,
        order_id,
        OrderStatus::Cancelled,
        reason,
        dispute_window,
    )
    .await
}

/// Opens a dispute on an order, with a reason.
pub async fn open_dispute(
    pool: &PgPool,
    actor: &User,
    order_id: i64,
    reason: &str,
    dispute_window: Duration,
) -> MarketResult<()> {
    transition(
        pool,
        actor,
        order_id,
        OrderStatus::Disputed,
        reason,
        dispute_window,
    )
    .await
}
