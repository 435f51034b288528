//! Taking money for orders and giving it back (DESIGN.md, "Money").
//!
//! - [`start`]: the customer of an online order pays: a payment row is made,
//!   then the provider is asked to start it (after the row's transaction
//!   commits: no lock is held while a provider is called).
//! - [`confirm`]: ONE operation for the customer's return, the provider's
//!   callback and the sweep's re-check: verify, look up at the provider,
//!   compare the amount, then in one transaction lock the order and the
//!   payment, record the outcome once, post the ledger and write the event.
//! - Refunds are queued as rows in the transaction that causes them (a
//!   cancel, a dispute's resolution, an admin's refund) and sent to the
//!   provider after it commits by [`send_refunds`]; the outcome is recorded
//!   with its ledger transaction in a transaction of its own.
//! - A cash order's payment is recorded as collected, with its ledger
//!   transaction, in the transaction that completes the order
//!   ([`collect_cash`]).
//!
//! Locks follow the order of `market/mod.rs`: the order, then its payment.

use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::accounts::User;
use super::audit::{self, Entry};
use super::ledger::{self, Posted};
use super::{MarketError, MarketResult, record, require_admin};
use crate::domain::FieldErrors;
use crate::domain::account::Role;
use crate::domain::audit::AuditAction;
use crate::domain::clean_text;
use crate::domain::ledger::{Capture, Method, Movement, Provider};
use crate::domain::money::Money;
use crate::domain::status::OrderStatus;
use crate::events::{EventKind, NewEvent};
use crate::gateways::payments::{
    Gateway, InitiateRequest, LookupQuery, NextStep, PaymentStatus, ProviderError, RefundOutcome,
    RefundRequest, ReturnClaim,
};

/// How a customer pays for an order (`orders.payment_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentMethod {
    /// Through the configured provider.
    Online,
    /// Cash on delivery.
    Cod,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Online => "online",
            PaymentMethod::Cod => "cod",
        }
    }

    /// The accept form's `payment_method`: absent is cash on delivery.
    pub fn from_field(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "" | "cod" => Ok(PaymentMethod::Cod),
            "online" => Ok(PaymentMethod::Online),
            _ => Err("Choose how you will pay: online or cash on delivery.".into()),
        }
    }
}

/// The statuses in which a payment's money was captured.
const CAPTURED: [&str; 3] = ["SUCCEEDED", "PARTIALLY_REFUNDED", "REFUNDED"];

/// The order's facts the money operations need, read under its lock.
struct OrderMoney {
    id: i64,
    request_id: i64,
    customer_id: i64,
    vendor_id: i64,
    price_paisa: i64,
    commission_bps: i32,
    status: String,
    method: String,
}

async fn lock_order(tx: &mut PgConnection, order_id: i64) -> MarketResult<OrderMoney> {
    sqlx::query_as!(
        OrderMoney,
        r#"SELECT id, request_id, customer_id, vendor_id, price_paisa, commission_bps, status,
                  payment_method AS method
           FROM orders WHERE id = $1 FOR NO KEY UPDATE"#,
        order_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MarketError::NotFound)
}

/// A payment row as the operations read it.
struct PaymentRow {
    id: i64,
    order_id: i64,
    provider: Option<String>,
    status: String,
    amount_paisa: i64,
    refunded_paisa: i64,
    reference: String,
    provider_ref: Option<String>,
    expires_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl PaymentRow {
    fn provider(&self) -> MarketResult<Option<Provider>> {
        self.provider
            .as_deref()
            .map(|p| p.parse::<Provider>())
            .transpose()
            .map_err(|err| MarketError::Internal(anyhow::anyhow!(err)))
    }

    fn capture(&self, order: &OrderMoney) -> MarketResult<Capture> {
        let method = match self.provider()? {
            Some(provider) => Method::Online(provider),
            None => Method::CashOnDelivery,
        };
        Ok(Capture {
            method,
            vendor_id: order.vendor_id,
            amount_paisa: self.amount_paisa,
            commission_bps: order.commission_bps,
        })
    }

    fn captured(&self) -> bool {
        CAPTURED.contains(&self.status.as_str())
    }
}

async fn lock_payment(tx: &mut PgConnection, payment_id: i64) -> MarketResult<PaymentRow> {
    sqlx::query_as!(
        PaymentRow,
        r#"SELECT id, order_id, provider, status, amount_paisa, refunded_paisa, reference,
                  provider_ref, expires_at, created_at
           FROM payments WHERE id = $1 FOR NO KEY UPDATE"#,
        payment_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(MarketError::NotFound)
}

async fn read_payment(pool: &PgPool, payment_id: i64) -> MarketResult<PaymentRow> {
    sqlx::query_as!(
        PaymentRow,
        r#"SELECT id, order_id, provider, status, amount_paisa, refunded_paisa, reference,
                  provider_ref, expires_at, created_at
           FROM payments WHERE id = $1"#,
        payment_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)
}

async fn note(
    tx: &mut PgConnection,
    payment_id: i64,
    kind: &str,
    detail: serde_json::Value,
) -> MarketResult<()> {
    sqlx::query!(
        "INSERT INTO payment_events (payment_id, kind, detail) VALUES ($1, $2, $3)",
        payment_id,
        kind,
        detail
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn ledger_error(err: crate::domain::ledger::LedgerError) -> MarketError {
    MarketError::Internal(anyhow::anyhow!(err))
}

/// Whether an order's price has been paid: an online payment captured and
/// not wholly refunded. What the vendor's "picked up" waits for.
pub(super) async fn is_paid(tx: &mut PgConnection, order_id: i64) -> MarketResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM payments WHERE order_id = $1
                          AND status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED')) AS "paid!""#,
        order_id
    )
    .fetch_one(&mut *tx)
    .await?)
}

/// Why an online order cannot be picked up yet.
pub const WAITING_FOR_PAYMENT: &str =
    "Waiting for the customer's payment: an order paid online can be picked up once it is paid.";

// ---------------------------------------------------------------------------
// Starting a payment

/// Where the customer's browser goes to pay.
pub async fn start(
    pool: &PgPool,
    gateway: &dyn Gateway,
    actor: &User,
    order_id: i64,
    public_url: &str,
) -> MarketResult<NextStep> {
    // A payment already under way at the provider: send the customer back
    // to it rather than start a second one.
    if let Some(next) = resume(pool, gateway, actor, order_id).await? {
        return Ok(next);
    }
    let mut tx = pool.begin().await?;
    let order = lock_order(&mut tx, order_id).await?;
    if actor.role != Role::Customer || order.customer_id != actor.id {
        return Err(MarketError::NotFound);
    }
    payable(&mut tx, &order).await?;
    let provider = gateway.kind();
    let payment = sqlx::query!(
        r#"INSERT INTO payments (order_id, method, provider, amount_paisa, reference)
           VALUES ($1, 'online', $2, $3,
                   'DH-' || $1::bigint || '-' || left(replace(gen_random_uuid()::text, '-', ''), 12))
           RETURNING id, reference"#,
        order_id,
        provider.as_str(),
        order.price_paisa,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(super::unique_as("payments_one_alive_per_order", || {
        MarketError::Conflict("A payment for this order is already under way.".into())
    }))?;
    tx.commit().await?;

    let return_url = format!("{public_url}/payments/{}/return", payment.id);
    let request = InitiateRequest {
        reference: payment.reference.clone(),
        amount_paisa: order.price_paisa,
        description: format!("Dhune order #{order_id}"),
        failure_url: format!("{public_url}/payments/{}/check", payment.id),
        callback_url: format!("{public_url}/payments/callback/{}", provider.as_str()),
        return_url,
    };
    let answer = gateway.initiate(&request).await;
    let mut tx = pool.begin().await?;
    let row = lock_payment(&mut tx, payment.id).await?;
    match answer {
        Ok(initiated) => {
            if row.status == "PENDING" {
                sqlx::query!(
                    "UPDATE payments SET provider_ref = $2, expires_at = $3, updated_at = now()
                     WHERE id = $1",
                    payment.id,
                    initiated.provider_ref,
                    initiated.expires_at,
                )
                .execute(&mut *tx)
                .await?;
            }
            note(
                &mut tx,
                payment.id,
                "initiated",
                json!({ "provider_ref": initiated.provider_ref, "next": next_json(&initiated.next) }),
            )
            .await?;
            tx.commit().await?;
            Ok(initiated.next)
        }
        Err(err) => {
            tracing::warn!(payment = payment.id, error = %err, "starting a payment failed");
            if row.status == "PENDING" {
                sqlx::query!(
                    "UPDATE payments SET status = 'FAILED', updated_at = now() WHERE id = $1",
                    payment.id
                )
                .execute(&mut *tx)
                .await?;
            }
            note(
                &mut tx,
                payment.id,
                "initiate_failed",
                json!({ "error": err.to_string() }),
            )
            .await?;
            tx.commit().await?;
            Err(MarketError::Conflict(format!(
                "{} could not start the payment ({err}). Nothing was charged; try again in a moment.",
                provider.display_name()
            )))
        }
    }
}

/// Refuses to take a payment the order does not need.
async fn payable(tx: &mut PgConnection, order: &OrderMoney) -> MarketResult<()> {
    if order.method != PaymentMethod::Online.as_str() {
        return Err(MarketError::Conflict(
            "This order is paid in cash on delivery.".into(),
        ));
    }
    if order.status == OrderStatus::Cancelled.as_str() {
        return Err(MarketError::Conflict("This order was cancelled.".into()));
    }
    let taken = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM payments WHERE order_id = $1
                          AND status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED')) AS "taken!""#,
        order.id
    )
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Err(MarketError::Conflict("This order is already paid.".into()));
    }
    Ok(())
}

fn next_json(next: &NextStep) -> serde_json::Value {
    match next {
        NextStep::Redirect(url) => json!({ "redirect": url }),
        NextStep::PostForm { action, fields } => json!({ "action": action, "fields": fields }),
    }
}

fn next_from_json(value: &serde_json::Value) -> Option<NextStep> {
    if let Some(url) = value.get("redirect").and_then(|v| v.as_str()) {
        return Some(NextStep::Redirect(url.to_owned()));
    }
    let action = value.get("action")?.as_str()?.to_owned();
    let fields = serde_json::from_value(value.get("fields")?.clone()).ok()?;
    Some(NextStep::PostForm { action, fields })
}

/// The step of the order's payment still pending at the provider, if there
/// is one that has not expired; a pending one that has is checked first.
async fn resume(
    pool: &PgPool,
    gateway: &dyn Gateway,
    actor: &User,
    order_id: i64,
) -> MarketResult<Option<NextStep>> {
    let pending = sqlx::query!(
        r#"SELECT p.id, p.expires_at, o.customer_id,
                  (SELECT e.detail -> 'next' FROM payment_events e
                   WHERE e.payment_id = p.id AND e.kind = 'initiated'
                   ORDER BY e.id DESC LIMIT 1) AS next
           FROM payments p JOIN orders o ON o.id = p.order_id
           WHERE p.order_id = $1 AND p.status = 'PENDING'"#,
        order_id
    )
    .fetch_optional(pool)
    .await?;
    let Some(pending) = pending else {
        return Ok(None);
    };
    if pending.customer_id != actor.id {
        return Err(MarketError::NotFound);
    }
    let fresh = pending
        .expires_at
        .is_some_and(|at| at > OffsetDateTime::now_utc() + time::Duration::minutes(1));
    if fresh && let Some(next) = pending.next.as_ref().and_then(next_from_json) {
        return Ok(Some(next));
    }
    // Started long ago, or never answered: ask the provider before starting
    // another one.
    match confirm(pool, gateway, Trigger::Check(pending.id)).await {
        Ok(Confirmed::Paid) => Err(MarketError::Conflict("This order is already paid.".into())),
        Ok(Confirmed::Pending) => Err(MarketError::Conflict(
            "A payment for this order is still pending at the provider; try again in a few minutes."
                .into(),
        )),
        Ok(Confirmed::NotPaid(_)) => Ok(None),
        Err(ConfirmError::Refused(reason)) => Err(MarketError::Conflict(format!(
            "An earlier payment for this order cannot be checked ({reason}); an admin settles it."
        ))),
        Err(ConfirmError::Provider(err)) => Err(MarketError::Conflict(format!(
            "Could not check the earlier payment with {} ({err}); try again in a moment.",
            gateway.kind().display_name()
        ))),
        Err(ConfirmError::Market(err)) => Err(err),
    }
}

// ---------------------------------------------------------------------------
// Confirming

/// What brought news of a payment.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// The customer's browser came back to `/payments/{id}/return`.
    Return { payment_id: i64, claim: ReturnClaim },
    /// The provider's server-to-server callback.
    Callback(ReturnClaim),
    /// A check without news: the sweep, or the customer back from the
    /// provider's failure page.
    Check(i64),
}

impl Trigger {
    fn source(&self) -> &'static str {
        match self {
            Trigger::Return { .. } => "return",
            Trigger::Callback(_) => "callback",
            Trigger::Check(_) => "check",
        }
    }
}

/// How a confirmation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The payment is captured (now, or it was before).
    Paid,
    /// The provider has not finished it yet.
    Pending,
    /// It ended without money moving: failed, expired or cancelled.
    NotPaid(&'static str),
}

/// Why a confirmation was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Bad signature, stale, unknown reference, wrong amount: refused,
    /// logged, nothing changed (400).
    #[error("{0}")]
    Refused(String),
    /// The provider could not be asked; nothing changed, try again later.
    #[error(transparent)]
    Provider(ProviderError),
    #[error(transparent)]
    Market(#[from] MarketError),
}

impl From<sqlx::Error> for ConfirmError {
    fn from(err: sqlx::Error) -> Self {
        ConfirmError::Market(err.into())
    }
}

fn refused(reason: String) -> ConfirmError {
    tracing::warn!(%reason, "payment confirmation refused");
    ConfirmError::Refused(reason)
}

/// The one confirm operation. Returns the payment's order id with the
/// outcome.
pub async fn confirm(
    pool: &PgPool,
    gateway: &dyn Gateway,
    trigger: Trigger,
) -> Result<Confirmed, ConfirmError> {
    let payment = match &trigger {
        Trigger::Return { payment_id, claim } => {
            let payment = read_payment(pool, *payment_id).await?;
            if payment.reference != claim.reference {
                return Err(refused(format!(
                    "the return for payment {payment_id} names another reference {:?}",
                    claim.reference
                )));
            }
            payment
        }
        Trigger::Callback(claim) => {
            let id = sqlx::query_scalar!(
                "SELECT id FROM payments WHERE reference = $1",
                claim.reference
            )
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| refused(format!("unknown payment reference {:?}", claim.reference)))?;
            read_payment(pool, id).await?
        }
        Trigger::Check(id) => read_payment(pool, *id).await?,
    };
    let provider = payment
        .provider()?
        .ok_or_else(|| refused(format!("payment {} is a cash payment", payment.id)))?;
    if provider != gateway.kind() {
        return Err(refused(format!(
            "payment {} was made with {}, not {}",
            payment.id,
            provider.as_str(),
            gateway.kind().as_str()
        )));
    }
    let claim = match &trigger {
        Trigger::Return { claim, .. } | Trigger::Callback(claim) => Some(claim),
        Trigger::Check(_) => None,
    };
    if let Some(claim) = claim {
        if claim.signed
            && let Some(amount) = claim.amount_paisa
            && amount != payment.amount_paisa
        {
            return Err(refused(format!(
                "payment {} claims {amount} paisa, ours is {}",
                payment.id, payment.amount_paisa
            )));
        }
        if let (Some(ours), Some(theirs)) = (&payment.provider_ref, &claim.provider_ref)
            && ours != theirs
        {
            return Err(refused(format!(
                "payment {} claims the provider's id {theirs:?}, ours is {ours:?}",
                payment.id
            )));
        }
    }
    let provider_ref = payment
        .provider_ref
        .clone()
        .or_else(|| claim.and_then(|c| c.provider_ref.clone()));
    if provider_ref.is_none() {
        return never_started(pool, &payment).await;
    }
    // The provider is asked before any lock is taken.
    let lookup = gateway
        .lookup(&LookupQuery {
            reference: payment.reference.clone(),
            provider_ref: provider_ref.clone(),
            amount_paisa: payment.amount_paisa,
        })
        .await
        .map_err(ConfirmError::Provider)?;
    let paid = matches!(
        lookup.status,
        PaymentStatus::Completed | PaymentStatus::Refunded | PaymentStatus::PartiallyRefunded
    );
    if paid && lookup.amount_paisa != Some(payment.amount_paisa) {
        return Err(refused(format!(
            "the provider holds {:?} paisa for payment {}, ours is {}",
            lookup.amount_paisa, payment.id, payment.amount_paisa
        )));
    }

    let mut tx = pool.begin().await?;
    let order = lock_order(&mut tx, payment.order_id).await?;
    let row = lock_payment(&mut tx, payment.id).await?;
    let source = trigger.source();
    note(
        &mut tx,
        row.id,
        source,
        json!({ "provider_status": lookup.status.to_string() }),
    )
    .await?;
    let now = OffsetDateTime::now_utc();
    let mut refund_after = None;
    let outcome = if row.captured() {
        Confirmed::Paid
    } else if paid {
        let other_alive = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM payments WHERE order_id = $1 AND id <> $2
                              AND status NOT IN ('FAILED', 'EXPIRED', 'CANCELLED')) AS "alive!""#,
            order.id,
            row.id
        )
        .fetch_one(&mut *tx)
        .await?;
        if other_alive {
            // Two attempts paid for one order: not something to settle by
            // guessing. Keep it visible for an admin, move no money.
            tracing::error!(
                payment = row.id,
                order = order.id,
                "a late payment completed while another payment of the order is alive"
            );
            note(
                &mut tx,
                row.id,
                "needs_attention",
                json!({ "why": "paid at the provider after another payment of this order; refund it by hand" }),
            )
            .await?;
            tx.commit().await?;
            return Ok(Confirmed::NotPaid("needs an admin"));
        }
        sqlx::query!(
            r#"UPDATE payments SET status = 'SUCCEEDED', provider_ref = coalesce(provider_ref, $2),
                      updated_at = now()
               WHERE id = $1"#,
            row.id,
            provider_ref,
        )
        .execute(&mut *tx)
        .await?;
        let capture = row.capture(&order)?;
        ledger::post(
            &mut tx,
            Movement::Capture { payment_id: row.id },
            &capture.postings().map_err(ledger_error)?,
        )
        .await?;
        note(
            &mut tx,
            row.id,
            "succeeded",
            json!({ "via": source, "transaction": lookup.provider_txn }),
        )
        .await?;
        payment_event(
            &mut tx,
            &order,
            EventKind::PaymentSucceeded,
            row.amount_paisa,
        )
        .await?;
        if order.status == OrderStatus::Cancelled.as_str() {
            refund_after = queue(
                &mut tx,
                &row,
                None,
                "Paid after the order was cancelled",
                None,
            )
            .await?;
        }
        Confirmed::Paid
    } else if row.status != "PENDING" {
        Confirmed::NotPaid(final_word(&row.status))
    } else {
        let ended = match lookup.status {
            PaymentStatus::Expired | PaymentStatus::NotFound => Some("EXPIRED"),
            PaymentStatus::Canceled => Some("CANCELLED"),
            PaymentStatus::Failed => Some("FAILED"),
            PaymentStatus::Pending | PaymentStatus::Ambiguous => {
                // Past the provider's own expiry, a payment still pending
                // will not complete.
                (lookup.status == PaymentStatus::Pending
                    && row.expires_at.is_some_and(|at| at < now))
                .then_some("EXPIRED")
            }
            PaymentStatus::Completed
            | PaymentStatus::Refunded
            | PaymentStatus::PartiallyRefunded => None,
        };
        match ended {
            Some(status) => {
                sqlx::query!(
                    "UPDATE payments SET status = $2, updated_at = now() WHERE id = $1",
                    row.id,
                    status
                )
                .execute(&mut *tx)
                .await?;
                note(
                    &mut tx,
                    row.id,
                    &status.to_lowercase(),
                    json!({ "via": source }),
                )
                .await?;
                payment_event(&mut tx, &order, EventKind::PaymentFailed, row.amount_paisa).await?;
                Confirmed::NotPaid(final_word(status))
            }
            None => Confirmed::Pending,
        }
    };
    tx.commit().await?;
    if let Some(refund_id) = refund_after {
        send_refund(pool, gateway, refund_id).await?;
    }
    Ok(outcome)
}

/// How long a payment may wait for the provider's answer to starting it.
const START_GRACE: time::Duration = time::Duration::minutes(10);

/// A payment the provider never gave its id for (the start failed without a
/// word, or the process stopped in between): nothing can have been paid
/// under it, so once [`START_GRACE`] has passed it failed.
async fn never_started(pool: &PgPool, payment: &PaymentRow) -> Result<Confirmed, ConfirmError> {
    if payment.created_at > OffsetDateTime::now_utc() - START_GRACE {
        return Ok(Confirmed::Pending);
    }
    let mut tx = pool.begin().await?;
    let order = lock_order(&mut tx, payment.order_id).await?;
    let row = lock_payment(&mut tx, payment.id).await?;
    if row.status != "PENDING" || row.provider_ref.is_some() {
        return Ok(Confirmed::NotPaid(final_word(&row.status)));
    }
    sqlx::query!(
        "UPDATE payments SET status = 'FAILED', updated_at = now() WHERE id = $1",
        row.id
    )
    .execute(&mut *tx)
    .await?;
    note(
        &mut tx,
        row.id,
        "failed",
        json!({ "why": "the provider never answered the start of this payment" }),
    )
    .await?;
    payment_event(&mut tx, &order, EventKind::PaymentFailed, row.amount_paisa).await?;
    tx.commit().await?;
    Ok(Confirmed::NotPaid("failed"))
}

fn final_word(status: &str) -> &'static str {
    match status {
        "EXPIRED" => "expired",
        "CANCELLED" => "cancelled",
        _ => "failed",
    }
}

async fn payment_event(
    tx: &mut PgConnection,
    order: &OrderMoney,
    kind: EventKind,
    amount_paisa: i64,
) -> MarketResult<()> {
    let event = NewEvent::by_dhune(kind)
        .request(order.request_id)
        .order(order.id)
        .to(&[order.customer_id, order.vendor_id])
        .price(Money::from_paisa(amount_paisa));
    record(tx, &event).await?;
    Ok(())
}

/// The order a payment belongs to, for the return page's redirect; only to
/// its customer (and admins).
pub async fn order_of(pool: &PgPool, viewer: &User, payment_id: i64) -> MarketResult<i64> {
    let row = sqlx::query!(
        "SELECT o.id, o.customer_id FROM payments p JOIN orders o ON o.id = p.order_id
         WHERE p.id = $1",
        payment_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?;
    if row.customer_id != viewer.id && viewer.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    Ok(row.id)
}

/// The payment of order `order_id` that holds captured money, for an
/// admin's refund of the order (`POST /admin/orders/{id}/refund`): an order
/// has at most one. An order with nothing paid has nothing to refund.
pub async fn captured_payment(pool: &PgPool, admin: &User, order_id: i64) -> MarketResult<i64> {
    require_admin(admin)?;
    let exists = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1) AS "exists!""#,
        order_id
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Err(MarketError::NotFound);
    }
    sqlx::query_scalar!(
        "SELECT id FROM payments
         WHERE order_id = $1 AND status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED')
         ORDER BY id LIMIT 1",
        order_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| {
        MarketError::Conflict(format!(
            "Nothing is paid on order #{order_id} that could be refunded."
        ))
    })
}

/// Whether any order was ever paid online (the demo adds its payments once).
pub async fn any_online_payment(pool: &PgPool) -> MarketResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM payments WHERE method = 'online') AS "any!""#
    )
    .fetch_one(pool)
    .await?)
}

// ---------------------------------------------------------------------------
// Changing the method

/// The customer switches how they pay while nothing is paid or pending.
pub async fn set_method(
    pool: &PgPool,
    actor: &User,
    order_id: i64,
    method: PaymentMethod,
) -> MarketResult<()> {
    let mut tx = pool.begin().await?;
    let order = lock_order(&mut tx, order_id).await?;
    if actor.role != Role::Customer || order.customer_id != actor.id {
        return Err(MarketError::NotFound);
    }
    if order.status != OrderStatus::Created.as_str() {
        return Err(MarketError::Conflict(
            "The payment method can only change before the laundry picks the order up.".into(),
        ));
    }
    let alive = sqlx::query_scalar!(
        r#"SELECT status FROM payments WHERE order_id = $1
           AND status NOT IN ('FAILED', 'EXPIRED', 'CANCELLED')"#,
        order_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    match alive.as_deref() {
        None => {}
        Some("PENDING") => {
            return Err(MarketError::Conflict(
                "A payment is under way at the provider; finish or cancel it there first.".into(),
            ));
        }
        Some(_) => return Err(MarketError::Conflict("This order is already paid.".into())),
    }
    sqlx::query!(
        "UPDATE orders SET payment_method = $2, updated_at = now() WHERE id = $1",
        order_id,
        method.as_str()
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Cash on delivery

/// Records a cash order's payment as collected when it completes, with its
/// ledger transaction, in the completing transaction (the order is locked).
/// Online orders and orders already paid are left alone.
pub(super) async fn collect_cash(tx: &mut PgConnection, order_id: i64) -> MarketResult<()> {
    let order = sqlx::query_as!(
        OrderMoney,
        r#"SELECT id, request_id, customer_id, vendor_id, price_paisa, commission_bps, status,
                  payment_method AS method
           FROM orders WHERE id = $1"#,
        order_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if order.method != PaymentMethod::Cod.as_str() {
        return Ok(());
    }
    let inserted = sqlx::query_scalar!(
        r#"INSERT INTO payments (order_id, method, status, amount_paisa, reference)
           VALUES ($1, 'cod', 'SUCCEEDED', $2, 'DH-' || $1::bigint || '-cash')
           ON CONFLICT DO NOTHING RETURNING id"#,
        order.id,
        order.price_paisa,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(payment_id) = inserted else {
        return Ok(());
    };
    let capture = Capture {
        method: Method::CashOnDelivery,
        vendor_id: order.vendor_id,
        amount_paisa: order.price_paisa,
        commission_bps: order.commission_bps,
    };
    ledger::post(
        tx,
        Movement::Capture { payment_id },
        &capture.postings().map_err(ledger_error)?,
    )
    .await?;
    note(
        tx,
        payment_id,
        "collected",
        json!({ "via": "cash on delivery" }),
    )
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Refunds

/// Queues a refund of `amount` of the payment (`None`: all that is left;
/// nothing when nothing is) in the caller's transaction, the payment locked
/// by the caller, after its order.
async fn queue(
    tx: &mut PgConnection,
    payment: &PaymentRow,
    amount: Option<i64>,
    reason: &str,
    by: Option<i64>,
) -> MarketResult<Option<i64>> {
    let asked = sqlx::query_scalar!(
        r#"SELECT coalesce(sum(amount_paisa), 0)::bigint AS "asked!" FROM refunds
           WHERE payment_id = $1 AND status <> 'FAILED'"#,
        payment.id
    )
    .fetch_one(&mut *tx)
    .await?;
    let left = payment.amount_paisa - asked;
    let amount = match amount {
        Some(amount) if amount > left => {
            return Err(MarketError::Invalid(FieldErrors::single(
                "amount",
                format!(
                    "At most {} is left to refund of this payment.",
                    Money::from_paisa(left.max(0))
                ),
            )));
        }
        Some(amount) => amount,
        None if left > 0 => left,
        None => return Ok(None),
    };
    let id = sqlx::query_scalar!(
        "INSERT INTO refunds (payment_id, amount_paisa, reason, created_by)
         VALUES ($1, $2, $3, $4) RETURNING id",
        payment.id,
        amount,
        reason,
        by,
    )
    .fetch_one(&mut *tx)
    .await?;
    note(
        tx,
        payment.id,
        "refund_requested",
        json!({ "refund": id, "amount_paisa": amount, "reason": reason }),
    )
    .await?;
    Ok(Some(id))
}

/// In the transaction that cancels or settles an order (the order locked):
/// queues a refund of `amount` (`None`: all that is left) of its captured
/// payment, if it has one with money left.
pub(super) async fn queue_for_order(
    tx: &mut PgConnection,
    order_id: i64,
    amount: Option<i64>,
    reason: &str,
    by: Option<i64>,
) -> MarketResult<Option<i64>> {
    let payment_id = sqlx::query_scalar!(
        "SELECT id FROM payments WHERE order_id = $1 AND status IN ('SUCCEEDED', 'PARTIALLY_REFUNDED')",
        order_id
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(payment_id) = payment_id else {
        return match amount {
            Some(_) => Err(MarketError::Conflict(
                "This order has no payment to refund.".into(),
            )),
            None => Ok(None),
        };
    };
    let payment = lock_payment(tx, payment_id).await?;
    queue(tx, &payment, amount, reason, by).await
}

/// An admin refunds part (or all that is left) of a payment, with a reason
/// (audited). The refund is sent to the provider once it is recorded.
pub async fn refund(
    pool: &PgPool,
    gateway: &dyn Gateway,
    admin: &User,
    payment_id: i64,
    amount: &str,
    reason: &str,
    key: Option<&str>,
) -> MarketResult<i64> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let key = key.filter(|key| is_request_key(key));
    let mut errors = FieldErrors::default();
    let amount = Money::parse_rupees(amount)
        .map_err(|_| errors.add("amount", "Enter the amount in rupees, like 450 or 450.50."))
        .ok();
    let reason = clean_text(reason, 1, 2000, true)
        .map_err(|message| errors.add("reason", message))
        .ok();
    let (Some(amount), Some(reason)) = (amount, reason) else {
        return Err(MarketError::Invalid(errors));
    };
    if amount.paisa() <= 0 {
        return Err(MarketError::Invalid(FieldErrors::single(
            "amount",
            "A refund must be more than Rs 0.",
        )));
    }
    let order_id = sqlx::query_scalar!("SELECT order_id FROM payments WHERE id = $1", payment_id)
        .fetch_optional(pool)
        .await?
        .ok_or(MarketError::NotFound)?;
    let mut tx = pool.begin().await?;
    lock_order(&mut tx, order_id).await?;
    let payment = lock_payment(&mut tx, payment_id).await?;
    // The same form sent again: its refund was made (the payment's lock
    // orders the two sends, so the second sees the first's row).
    if let Some(key) = key {
        let made = sqlx::query_scalar!(
            "SELECT id FROM refunds WHERE payment_id = $1 AND request_key = $2",
            payment_id,
            key,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if made.is_some() {
            return Ok(order_id);
        }
    }
    if !matches!(payment.status.as_str(), "SUCCEEDED" | "PARTIALLY_REFUNDED") {
        return Err(MarketError::Conflict(format!(
            "Only a paid payment can be refunded; this one is {}.",
            payment.status.to_lowercase().replace('_', " ")
        )));
    }
    let refund_id = queue(
        &mut tx,
        &payment,
        Some(amount.paisa()),
        &reason,
        Some(admin.id),
    )
    .await?
    .ok_or_else(|| MarketError::Conflict("Nothing is left to refund.".into()))?;
    if let Some(key) = key {
        sqlx::query!(
            "UPDATE refunds SET request_key = $2 WHERE id = $1",
            refund_id,
            key
        )
        .execute(&mut *tx)
        .await?;
    }
    audit::write(
        &mut tx,
        admin,
        &Entry {
            action: AuditAction::RefundPayment,
            target_type: "payment",
            target_id: payment_id,
            reason: &reason,
            before: None,
            after: None,
        },
    )
    .await?;
    tx.commit().await?;
    send_refund(pool, gateway, refund_id).await?;
    Ok(order_id)
}

/// Whether `key` is a refund form's key (32 lowercase hex digits, as
/// `web::form::request_key` makes them); any other is ignored.
fn is_request_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// An admin tries a failed refund again (audited).
pub async fn retry_refund(
    pool: &PgPool,
    gateway: &dyn Gateway,
    admin: &User,
    refund_id: i64,
) -> MarketResult<i64> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let (order_id, payment_id) = refund_owner(pool, refund_id).await?;
    let mut tx = pool.begin().await?;
    lock_order(&mut tx, order_id).await?;
    lock_payment(&mut tx, payment_id).await?;
    let retried = sqlx::query!(
        "UPDATE refunds SET status = 'PENDING', sent_at = NULL, updated_at = now()
         WHERE id = $1 AND status = 'FAILED'",
        refund_id
    )
    .execute(&mut *tx)
    .await
    .map_err(|err| {
        let over = err
            .as_database_error()
            .is_some_and(|db| db.constraint() == Some("refunds_within_payment"));
        if over {
            MarketError::Conflict(
                "Retrying it would refund more than was paid: other refunds took the rest.".into(),
            )
        } else {
            err.into()
        }
    })?;
    if retried.rows_affected() == 0 {
        return Err(MarketError::Conflict(
            "Only a failed refund can be retried.".into(),
        ));
    }
    note(
        &mut tx,
        payment_id,
        "refund_retried",
        json!({ "refund": refund_id }),
    )
    .await?;
    audit::write(
        &mut tx,
        admin,
        &Entry {
            action: AuditAction::RetryRefund,
            target_type: "refund",
            target_id: refund_id,
            reason: "Retried",
            before: Some("FAILED"),
            after: Some("PENDING"),
        },
    )
    .await?;
    tx.commit().await?;
    send_refund(pool, gateway, refund_id).await?;
    Ok(order_id)
}

/// An admin records a refund made by hand (eSewa, cash) with the transfer's
/// reference (audited); the ledger moves now.
pub async fn mark_refund_done(
    pool: &PgPool,
    admin: &User,
    refund_id: i64,
    reference: &str,
) -> MarketResult<i64> {
    if admin.role != Role::Admin {
        return Err(MarketError::NotFound);
    }
    let reference = clean_text(reference, 1, 200, false)
        .map_err(|message| MarketError::Invalid(FieldErrors::single("reference", message)))?;
    let (order_id, payment_id) = refund_owner(pool, refund_id).await?;
    let mut tx = pool.begin().await?;
    let order = lock_order(&mut tx, order_id).await?;
    let payment = lock_payment(&mut tx, payment_id).await?;
    let status = sqlx::query_scalar!(
        "SELECT status FROM refunds WHERE id = $1 FOR NO KEY UPDATE",
        refund_id
    )
    .fetch_one(&mut *tx)
    .await?;
    if status != "MANUAL_ACTION_NEEDED" {
        return Err(MarketError::Conflict(
            "Only a refund waiting for manual action can be marked refunded.".into(),
        ));
    }
    refunded(&mut tx, &order, &payment, refund_id, Some(&reference)).await?;
    audit::write(
        &mut tx,
        admin,
        &Entry {
            action: AuditAction::CompleteRefund,
            target_type: "refund",
            target_id: refund_id,
            reason: &reference,
            before: Some("MANUAL_ACTION_NEEDED"),
            after: Some("SUCCEEDED"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(order_id)
}

async fn refund_owner(pool: &PgPool, refund_id: i64) -> MarketResult<(i64, i64)> {
    let row = sqlx::query!(
        "SELECT p.order_id, p.id FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE r.id = $1",
        refund_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?;
    Ok((row.order_id, row.id))
}

/// Records a refund as gone back: the refund, the payment's refunded sum and
/// status, the ledger transaction and the event. The order and the payment
/// are locked by the caller.
async fn refunded(
    tx: &mut PgConnection,
    order: &OrderMoney,
    payment: &PaymentRow,
    refund_id: i64,
    provider_ref: Option<&str>,
) -> MarketResult<()> {
    let amount = sqlx::query_scalar!(
        "UPDATE refunds SET status = 'SUCCEEDED', provider_ref = coalesce($2, provider_ref),
                updated_at = now()
         WHERE id = $1 RETURNING amount_paisa",
        refund_id,
        provider_ref,
    )
    .fetch_one(&mut *tx)
    .await?;
    let capture = payment.capture(order)?;
    let postings = capture
        .refund(payment.refunded_paisa, amount)
        .map_err(ledger_error)?;
    sqlx::query!(
        r#"UPDATE payments SET refunded_paisa = refunded_paisa + $2,
                  status = CASE WHEN refunded_paisa + $2 = amount_paisa THEN 'REFUNDED'
                                ELSE 'PARTIALLY_REFUNDED' END,
                  updated_at = now()
           WHERE id = $1"#,
        payment.id,
        amount,
    )
    .execute(&mut *tx)
    .await?;
    match ledger::post(tx, Movement::Refund { refund_id }, &postings).await? {
        Posted::New(_) | Posted::Nothing => {}
        Posted::Already(id) => {
            return Err(MarketError::Internal(anyhow::anyhow!(
                "refund {refund_id} was already posted as ledger transaction {id}"
            )));
        }
    }
    note(
        tx,
        payment.id,
        "refunded",
        json!({ "refund": refund_id, "amount_paisa": amount, "reference": provider_ref }),
    )
    .await?;
    payment_event(tx, order, EventKind::PaymentRefunded, amount).await
}

/// Sends every refund of the order still waiting to go (after a cancel or a
/// dispute's resolution committed).
pub async fn send_refunds(pool: &PgPool, gateway: &dyn Gateway, order_id: i64) -> MarketResult<()> {
    let waiting = sqlx::query_scalar!(
        "SELECT r.id FROM refunds r JOIN payments p ON p.id = r.payment_id
         WHERE p.order_id = $1 AND r.status = 'PENDING' AND r.sent_at IS NULL ORDER BY r.id",
        order_id
    )
    .fetch_all(pool)
    .await?;
    for refund_id in waiting {
        send_refund(pool, gateway, refund_id).await?;
    }
    Ok(())
}

/// Sends one queued refund to the provider and records how it ended. It is
/// claimed first (`sent_at`), so of several instances one sends it; an
/// answer that never comes is not guessed at: the refund is marked failed
/// for an admin to check and retry.
async fn send_refund(pool: &PgPool, gateway: &dyn Gateway, refund_id: i64) -> MarketResult<()> {
    let claimed = sqlx::query!(
        r#"UPDATE refunds SET sent_at = now(), updated_at = now()
           WHERE id = $1 AND status = 'PENDING' AND sent_at IS NULL
           RETURNING payment_id, amount_paisa"#,
        refund_id
    )
    .fetch_optional(pool)
    .await?;
    let Some(claimed) = claimed else {
        return Ok(());
    };
    let payment = read_payment(pool, claimed.payment_id).await?;
    let outcome = match payment.provider()? {
        None => Ok(RefundOutcome::ManualActionNeeded {
            reason: "Paid in cash: the laundry gives the money back by hand.".into(),
        }),
        Some(provider) if provider != gateway.kind() => Ok(RefundOutcome::ManualActionNeeded {
            reason: format!(
                "Paid with {}, which is not the configured provider now.",
                provider.display_name()
            ),
        }),
        Some(_) => {
            gateway
                .refund(&RefundRequest {
                    reference: payment.reference.clone(),
                    provider_ref: payment.provider_ref.clone(),
                    captured_paisa: payment.amount_paisa,
                    amount_paisa: claimed.amount_paisa,
                })
                .await
        }
    };
    let mut tx = pool.begin().await?;
    let order = lock_order(&mut tx, payment.order_id).await?;
    let payment = lock_payment(&mut tx, payment.id).await?;
    let (status, kind, why) = match outcome {
        Ok(RefundOutcome::Done { detail }) => {
            refunded(&mut tx, &order, &payment, refund_id, None).await?;
            (None, "provider_said", detail)
        }
        Ok(RefundOutcome::ManualActionNeeded { reason }) => {
            (Some("MANUAL_ACTION_NEEDED"), "refund_manual", reason)
        }
        Ok(RefundOutcome::Failed { reason }) => (Some("FAILED"), "refund_failed", reason),
        Err(err) => {
            tracing::warn!(refund = refund_id, error = %err, "a refund got no clear answer");
            let why = format!("{err}; check with the provider before retrying");
            (Some("FAILED"), "refund_failed", why)
        }
    };
    if let Some(status) = status {
        set_refund_status(&mut tx, refund_id, status).await?;
    }
    note(
        &mut tx,
        payment.id,
        kind,
        json!({ "refund": refund_id, "why": why }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn set_refund_status(
    tx: &mut PgConnection,
    refund_id: i64,
    status: &str,
) -> MarketResult<()> {
    sqlx::query!(
        "UPDATE refunds SET status = $2, updated_at = now() WHERE id = $1",
        refund_id,
        status
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Sweeps

/// Asks the provider again about payments pending longer than `after`
/// (expiring those past the provider's expiry). Returns how many changed.
pub async fn recheck_pending(
    pool: &PgPool,
    gateway: &dyn Gateway,
    after: time::Duration,
) -> MarketResult<usize> {
    let due = sqlx::query_scalar!(
        "SELECT id FROM payments WHERE status = 'PENDING' AND method = 'online' AND provider = $1
           AND updated_at <= now() - make_interval(secs => $2)
         ORDER BY created_at LIMIT 100",
        gateway.kind().as_str(),
        after.as_seconds_f64(),
    )
    .fetch_all(pool)
    .await?;
    let mut changed = 0;
    for id in due {
        match confirm(pool, gateway, Trigger::Check(id)).await {
            Ok(Confirmed::Pending) => {
                sqlx::query!(
                    "UPDATE payments SET updated_at = now() WHERE id = $1 AND status = 'PENDING'",
                    id
                )
                .execute(pool)
                .await?;
            }
            Ok(_) => changed += 1,
            Err(err) => tracing::warn!(payment = id, error = %err, "re-checking a payment failed"),
        }
    }
    Ok(changed)
}

/// Sends refunds queued but never sent (the process stopped between), and
/// marks failed those sent without an answer recorded for ten minutes, for
/// an admin to check. Returns how many it handled.
pub async fn settle_stuck_refunds(pool: &PgPool, gateway: &dyn Gateway) -> MarketResult<usize> {
    let unsent = sqlx::query_scalar!(
        "SELECT id FROM refunds WHERE status = 'PENDING' AND sent_at IS NULL
           AND created_at <= now() - interval '1 minute' ORDER BY id LIMIT 100"
    )
    .fetch_all(pool)
    .await?;
    let mut handled = unsent.len();
    for id in unsent {
        send_refund(pool, gateway, id).await?;
    }
    let mut tx = pool.begin().await?;
    let stuck = sqlx::query!(
        r#"UPDATE refunds SET status = 'FAILED', updated_at = now()
           WHERE id IN (SELECT id FROM refunds WHERE status = 'PENDING'
                        AND sent_at <= now() - interval '10 minutes'
                        ORDER BY id LIMIT 100 FOR NO KEY UPDATE SKIP LOCKED)
           RETURNING id, payment_id"#
    )
    .fetch_all(&mut *tx)
    .await?;
    for refund in &stuck {
        note(
            &mut tx,
            refund.payment_id,
            "refund_failed",
            json!({ "refund": refund.id,
                    "why": "no answer was recorded; check with the provider before retrying" }),
        )
        .await?;
    }
    tx.commit().await?;
    handled += stuck.len();
    Ok(handled)
}
