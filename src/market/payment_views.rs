//! What the pages read about payments: an order's payment section, the
//! admin's list of payments with its totals, and one payment in full with
//! its provider events, refunds and ledger transactions. Read only: the
//! operations that move money live in `payments.rs`.

use std::collections::HashMap;

use sqlx::PgPool;
use time::OffsetDateTime;

use super::accounts::User;
use super::{MarketError, MarketResult, Paged, Paging, require_admin, status};
use crate::domain::money::Money;
use crate::domain::status::OrderStatus;

/// The statuses of a payment (`payments.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentState {
    Pending,
    Succeeded,
    Failed,
    Expired,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

impl PaymentState {
    pub const ALL: [PaymentState; 7] = [
        PaymentState::Pending,
        PaymentState::Succeeded,
        PaymentState::Failed,
        PaymentState::Expired,
        PaymentState::Cancelled,
        PaymentState::PartiallyRefunded,
        PaymentState::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Pending => "PENDING",
            PaymentState::Succeeded => "SUCCEEDED",
            PaymentState::Failed => "FAILED",
            PaymentState::Expired => "EXPIRED",
            PaymentState::Cancelled => "CANCELLED",
            PaymentState::PartiallyRefunded => "PARTIALLY_REFUNDED",
            PaymentState::Refunded => "REFUNDED",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PaymentState::Pending => "Pending",
            PaymentState::Succeeded => "Paid",
            PaymentState::Failed => "Failed",
            PaymentState::Expired => "Expired",
            PaymentState::Cancelled => "Cancelled",
            PaymentState::PartiallyRefunded => "Partly refunded",
            PaymentState::Refunded => "Refunded",
        }
    }

    /// Whether the money was taken (and may since have come back in part
    /// or in full).
    pub fn captured(self) -> bool {
        matches!(
            self,
            PaymentState::Succeeded | PaymentState::PartiallyRefunded | PaymentState::Refunded
        )
    }
}

impl std::str::FromStr for PaymentState {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        PaymentState::ALL
            .into_iter()
            .find(|state| state.as_str() == word)
            .ok_or_else(|| format!("unknown payment status {word:?}"))
    }
}

/// How the customer pays for an order (`orders.payment_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Online,
    Cod,
}

impl Method {
    pub const ALL: [Method; 2] = [Method::Online, Method::Cod];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Online => "online",
            Method::Cod => "cod",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Method::Online => "Online",
            Method::Cod => "Cash on delivery",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;

    fn from_str(word: &str) -> Result<Self, String> {
        Method::ALL
            .into_iter()
            .find(|method| method.as_str() == word)
            .ok_or_else(|| format!("unknown payment method {word:?}"))
    }
}

/// The statuses of a refund (`refunds.status`), as read.
pub fn refund_status_label(word: &str) -> &str {
    match word {
        "PENDING" => "Pending",
        "SUCCEEDED" => "Refunded",
        "FAILED" => "Failed",
        "MANUAL_ACTION_NEEDED" => "Needs manual action",
        other => other,
    }
}

/// A line of a payment's timeline.
#[derive(Debug, Clone)]
pub struct PaymentEvent {
    pub kind: String,
    /// The event's details as stored (JSON), for admins.
    pub detail: String,
    pub at: OffsetDateTime,
}

impl PaymentEvent {
    /// The kind in words: the payment operations' kinds as people say
    /// them; any other reads as written (`lookup_done`: "Lookup done").
    pub fn label(&self) -> String {
        let known = match self.kind.as_str() {
            "initiated" => "Payment started",
            "initiate_failed" => "The payment could not be started",
            "return" => "Back from the provider",
            "callback" => "The provider's confirmation arrived",
            "check" => "Checked with the provider",
            "succeeded" => "Paid",
            "failed" => "Payment failed",
            "expired" => "Payment expired",
            "cancelled" => "Payment cancelled",
            "collected" => "Cash collected",
            "refund_requested" => "Refund asked for",
            "refunded" => "Refunded",
            "refund_failed" => "Refund failed",
            "refund_manual" => "Refund needs a manual transfer",
            "refund_retried" => "Refund retried",
            "needs_attention" => "Needs an admin's attention",
            "provider_said" => "The provider answered",
            _ => "",
        };
        if !known.is_empty() {
            return known.to_owned();
        }
        let words = self.kind.replace('_', " ");
        let mut chars = words.chars();
        match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => words,
        }
    }

    /// Whether there is more to tell than the kind.
    pub fn has_detail(&self) -> bool {
        self.detail != "{}"
    }
}

/// Money given back from a payment.
#[derive(Debug, Clone)]
pub struct Refund {
    pub id: i64,
    pub payment_id: i64,
    pub amount: Money,
    pub status: String,
    pub reason: String,
    pub provider_ref: Option<String>,
    pub created_at: OffsetDateTime,
}

impl Refund {
    pub fn status_label(&self) -> &str {
        refund_status_label(&self.status)
    }

    pub fn failed(&self) -> bool {
        self.status == "FAILED"
    }

    pub fn needs_manual_action(&self) -> bool {
        self.status == "MANUAL_ACTION_NEEDED"
    }
}

/// One attempt to be paid for an order, with its timeline and refunds.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: i64,
    pub order_id: i64,
    pub method: Method,
    pub provider: Option<String>,
    pub status: PaymentState,
    pub amount: Money,
    pub refunded: Money,
    pub reference: String,
    pub provider_ref: Option<String>,
    pub created_at: OffsetDateTime,
    pub events: Vec<PaymentEvent>,
    pub refunds: Vec<Refund>,
}

impl Attempt {
    /// What an admin may still refund: the amount captured less every
    /// refund asked for that did not fail (pending, done, or waiting for
    /// manual action); nothing unless the payment was captured.
    pub fn refundable(&self) -> Money {
        if !self.status.captured() {
            return Money::from_paisa(0);
        }
        let asked: i64 = self
            .refunds
            .iter()
            .filter(|refund| !refund.failed())
            .map(|refund| refund.amount.paisa())
            .sum();
        Money::from_paisa((self.amount.paisa() - asked).max(0))
    }

    pub fn can_refund(&self) -> bool {
        self.refundable().paisa() > 0
    }
}

/// The payment part of an order page.
#[derive(Debug, Clone)]
pub struct PaymentSection {
    pub order_id: i64,
    pub order_status: OrderStatus,
    pub method: Method,
    /// What the order costs.
    pub due: Money,
    /// What was captured (including what came back since).
    pub paid: Money,
    pub refunded: Money,
    /// What is still to be paid: nothing once paid or cancelled.
    pub owed: Money,
    pub is_paid: bool,
    /// The attempts, newest first.
    pub attempts: Vec<Attempt>,
}

impl PaymentSection {
    pub fn is_online(&self) -> bool {
        self.method == Method::Online
    }

    pub fn is_cancelled(&self) -> bool {
        self.order_status == OrderStatus::Cancelled
    }

    /// An online order the customer can still pay.
    pub fn payable(&self) -> bool {
        self.is_online() && !self.is_paid && !self.is_cancelled()
    }

    /// The customer may still change how they pay: nothing is paid or
    /// under way at the provider, and the laundry has not picked the order
    /// up (what `payments::set_method` allows).
    pub fn method_changeable(&self) -> bool {
        self.paid.paisa() == 0
            && self.order_status == OrderStatus::Created
            && !self
                .attempts
                .iter()
                .any(|a| a.status == PaymentState::Pending)
    }

    /// A cash order's cash is collected when the order completes.
    pub fn cash_collected(&self) -> bool {
        !self.is_online() && (self.is_paid || self.order_status == OrderStatus::Completed)
    }
}

/// The payment section of order `order_id` (its `status`, payment method
/// and price as read with it), from its payments `ids`, newest first. Call
/// it only for a viewer who may see the order (its customer, its laundry or
/// an admin): it does not check.
pub(super) async fn payment_section(
    pool: &PgPool,
    order_id: i64,
    order_status: OrderStatus,
    payment_method: &str,
    price_paisa: i64,
    ids: &[i64],
) -> MarketResult<PaymentSection> {
    let attempts = attempts(pool, ids).await?;
    let paid: i64 = attempts
        .iter()
        .filter(|a| a.status.captured())
        .map(|a| a.amount.paisa())
        .sum();
    let refunded: i64 = attempts.iter().map(|a| a.refunded.paisa()).sum();
    let is_paid = paid > 0;
    let owed = if is_paid || order_status == OrderStatus::Cancelled {
        0
    } else {
        (price_paisa - paid).max(0)
    };
    Ok(PaymentSection {
        order_id,
        order_status,
        method: method(payment_method)?,
        due: Money::from_paisa(price_paisa),
        paid: Money::from_paisa(paid),
        refunded: Money::from_paisa(refunded),
        owed: Money::from_paisa(owed),
        is_paid,
        attempts,
    })
}

fn method(word: &str) -> MarketResult<Method> {
    word.parse()
        .map_err(|err: String| MarketError::Internal(anyhow::anyhow!(err)))
}

/// The payments `ids`, in that order, with their events and refunds.
async fn attempts(pool: &PgPool, ids: &[i64]) -> MarketResult<Vec<Attempt>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query!(
        r#"SELECT id, order_id, method, provider, status, amount_paisa, refunded_paisa, reference,
                  provider_ref, created_at
           FROM payments WHERE id = ANY($1)"#,
        ids,
    )
    .fetch_all(pool)
    .await?;
    let mut events: HashMap<i64, Vec<PaymentEvent>> = HashMap::new();
    for e in sqlx::query!(
        r#"SELECT payment_id, kind, detail::text AS "detail!", at
           FROM payment_events WHERE payment_id = ANY($1) ORDER BY at, id"#,
        ids,
    )
    .fetch_all(pool)
    .await?
    {
        events.entry(e.payment_id).or_default().push(PaymentEvent {
            kind: e.kind,
            detail: e.detail,
            at: e.at,
        });
    }
    let mut refunds: HashMap<i64, Vec<Refund>> = HashMap::new();
    for refund in refunds_of(pool, ids).await? {
        refunds.entry(refund.payment_id).or_default().push(refund);
    }
    let mut by_id: HashMap<i64, Attempt> = HashMap::new();
    for row in rows {
        by_id.insert(
            row.id,
            Attempt {
                id: row.id,
                order_id: row.order_id,
                method: method(&row.method)?,
                provider: row.provider,
                status: status(&row.status)?,
                amount: Money::from_paisa(row.amount_paisa),
                refunded: Money::from_paisa(row.refunded_paisa),
                reference: row.reference,
                provider_ref: row.provider_ref,
                created_at: row.created_at,
                events: events.remove(&row.id).unwrap_or_default(),
                refunds: refunds.remove(&row.id).unwrap_or_default(),
            },
        );
    }
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

async fn refunds_of(pool: &PgPool, payment_ids: &[i64]) -> MarketResult<Vec<Refund>> {
    let rows = sqlx::query!(
        r#"SELECT id, payment_id, amount_paisa, status, reason, provider_ref, created_at
           FROM refunds WHERE payment_id = ANY($1) ORDER BY created_at, id"#,
        payment_ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Refund {
            id: r.id,
            payment_id: r.payment_id,
            amount: Money::from_paisa(r.amount_paisa),
            status: r.status,
            reason: r.reason,
            provider_ref: r.provider_ref,
            created_at: r.created_at,
        })
        .collect())
}

/// How far back the payments list looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Days {
    One,
    Seven,
    Thirty,
    #[default]
    All,
}

impl Days {
    pub const ALL: [Days; 4] = [Days::One, Days::Seven, Days::Thirty, Days::All];

    /// `?days=1|7|30|all`; anything else is all.
    pub fn parse(raw: &str) -> Self {
        match raw.trim() {
            "1" => Days::One,
            "7" => Days::Seven,
            "30" => Days::Thirty,
            _ => Days::All,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Days::One => "1",
            Days::Seven => "7",
            Days::Thirty => "30",
            Days::All => "all",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Days::One => "Last 24 hours",
            Days::Seven => "Last 7 days",
            Days::Thirty => "Last 30 days",
            Days::All => "Any time",
        }
    }

    fn count(self) -> Option<i32> {
        match self {
            Days::One => Some(1),
            Days::Seven => Some(7),
            Days::Thirty => Some(30),
            Days::All => None,
        }
    }
}

/// The filters of the payments list.
#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    pub status: Option<PaymentState>,
    pub method: Option<Method>,
    pub days: Days,
    /// Matches the order id, the payment's reference or provider id, and the
    /// customer's or laundry's name or email.
    pub search: String,
    /// Only payments waiting for an admin: a refund that failed or must be
    /// made by hand, or a payment completed at the provider that Dhune
    /// would not capture (another payment of its order was alive).
    pub attention: bool,
}

/// A payment in the admin's list.
#[derive(Debug, Clone)]
pub struct PaymentRow {
    pub id: i64,
    pub order_id: i64,
    pub method: Method,
    pub provider: Option<String>,
    pub status: PaymentState,
    pub amount: Money,
    pub refunded: Money,
    pub reference: String,
    pub customer: String,
    pub business: String,
    pub created_at: OffsetDateTime,
}

/// The sums of every payment the filter matches (all pages).
#[derive(Debug, Clone)]
pub struct Totals {
    pub count: i64,
    pub amount: Money,
    pub refunded: Money,
    /// Amount less refunded.
    pub net: Money,
}

/// Payments, newest first, filtered, with the totals of the filtered rows.
pub async fn list_payments(
    pool: &PgPool,
    admin: &User,
    filter: &PaymentFilter,
    paging: Paging,
) -> MarketResult<(Paged<PaymentRow>, Totals)> {
    require_admin(admin)?;
    let status_word = filter.status.map(PaymentState::as_str);
    let method_word = filter.method.map(Method::as_str);
    let days = filter.days.count();
    // One statement: the totals of every matching payment, and the page of
    // them (a totals row always comes back, with no payment beyond the end).
    let rows = sqlx::query!(
        r#"WITH matching AS (
               SELECT p.id, p.order_id, p.method, p.provider, p.status, p.amount_paisa,
                      p.refunded_paisa, p.reference, c.name AS customer, v.business_name,
                      p.created_at
               FROM payments p JOIN orders o ON o.id = p.order_id
                    JOIN users c ON c.id = o.customer_id
                    JOIN vendors v ON v.user_id = o.vendor_id JOIN users vu ON vu.id = o.vendor_id
               WHERE ($1::text IS NULL OR p.status = $1)
                 AND ($2::text IS NULL OR p.method = $2)
                 AND ($3::int IS NULL OR p.created_at >= now() - make_interval(days => $3::int))
                 AND ($4 = '' OR p.order_id::text = $4 OR p.reference ILIKE '%' || $4 || '%'
                      OR p.provider_ref ILIKE '%' || $4 || '%'
                      OR c.email ILIKE '%' || $4 || '%' OR c.name ILIKE '%' || $4 || '%'
                      OR vu.email ILIKE '%' || $4 || '%' OR v.business_name ILIKE '%' || $4 || '%')
                 AND (NOT $7 OR EXISTS (
                          SELECT 1 FROM refunds r WHERE r.payment_id = p.id
                          AND r.status IN ('FAILED', 'MANUAL_ACTION_NEEDED'))
                      OR EXISTS (
                          SELECT 1 FROM payment_events e WHERE e.payment_id = p.id
                          AND e.kind = 'needs_attention'))),
           totals AS (
               SELECT count(*) AS count, coalesce(sum(amount_paisa), 0)::bigint AS amount,
                      coalesce(sum(refunded_paisa), 0)::bigint AS refunded
               FROM matching)
           SELECT t.count AS "count!", t.amount AS "amount!", t.refunded AS "refunded!",
                  m.id AS "id?", m.order_id AS "order_id?", m.method AS "method?",
                  m.provider, m.status AS "status?", m.amount_paisa AS "amount_paisa?",
                  m.refunded_paisa AS "refunded_paisa?", m.reference AS "reference?",
                  m.customer AS "customer?", m.business_name AS "business_name?",
                  m.created_at AS "created_at?"
           FROM totals t LEFT JOIN LATERAL (
               SELECT * FROM matching ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6
           ) m ON true
           ORDER BY m.created_at DESC, m.id DESC"#,
        status_word,
        method_word,
        days,
        filter.search,
        paging.limit(),
        paging.offset(),
        filter.attention,
    )
    .fetch_all(pool)
    .await?;
    let (count, amount, refunded) = rows
        .first()
        .map_or((0, 0, 0), |r| (r.count, r.amount, r.refunded));
    let totals = Totals {
        count,
        amount: Money::from_paisa(amount),
        refunded: Money::from_paisa(refunded),
        net: Money::from_paisa(amount - refunded),
    };
    let items = rows
        .into_iter()
        .filter(|r| r.id.is_some())
        .map(|r| {
            Ok(PaymentRow {
                id: present(r.id)?,
                order_id: present(r.order_id)?,
                method: method(&present(r.method)?)?,
                provider: r.provider,
                status: status(&present(r.status)?)?,
                amount: Money::from_paisa(present(r.amount_paisa)?),
                refunded: Money::from_paisa(present(r.refunded_paisa)?),
                reference: present(r.reference)?,
                customer: present(r.customer)?,
                business: present(r.business_name)?,
                created_at: present(r.created_at)?,
            })
        })
        .collect::<MarketResult<_>>()?;
    Ok((paging.finish(items), totals))
}

/// A column of a payment on the page, which the left join leaves empty
/// only when the page has no payment (those rows are skipped).
fn present<T>(value: Option<T>) -> MarketResult<T> {
    value.ok_or_else(|| MarketError::Internal(anyhow::anyhow!("a listed payment lacks a column")))
}

/// A line of a ledger transaction.
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    pub account: String,
    pub amount: Money,
}

/// A money movement the ledger recorded for a payment or one of its refunds.
#[derive(Debug, Clone)]
pub struct LedgerTransaction {
    pub id: i64,
    pub kind: String,
    pub source_type: String,
    pub source_id: i64,
    pub created_at: OffsetDateTime,
    pub entries: Vec<LedgerEntry>,
}

/// One payment as an admin sees it.
#[derive(Debug, Clone)]
pub struct PaymentDetail {
    pub payment: Attempt,
    pub order_id: i64,
    pub order_status: OrderStatus,
    pub customer: String,
    pub customer_email: String,
    pub business: String,
    pub vendor_email: String,
    pub expires_at: Option<OffsetDateTime>,
    pub updated_at: OffsetDateTime,
    pub ledger: Vec<LedgerTransaction>,
}

/// A payment with its order, its people, its provider events, its refunds
/// and its ledger transactions.
pub async fn payment_detail(pool: &PgPool, admin: &User, id: i64) -> MarketResult<PaymentDetail> {
    require_admin(admin)?;
    let row = sqlx::query!(
        r#"SELECT p.order_id, o.status AS order_status, c.name AS customer, c.email AS customer_email,
                  v.business_name, vu.email AS vendor_email, p.expires_at, p.updated_at
           FROM payments p JOIN orders o ON o.id = p.order_id
                JOIN users c ON c.id = o.customer_id
                JOIN vendors v ON v.user_id = o.vendor_id JOIN users vu ON vu.id = o.vendor_id
           WHERE p.id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(MarketError::NotFound)?;
    let payment = attempts(pool, &[id])
        .await?
        .pop()
        .ok_or(MarketError::NotFound)?;
    let refund_ids: Vec<i64> = payment.refunds.iter().map(|r| r.id).collect();
    let transactions = sqlx::query!(
        r#"SELECT id, kind, source_type, source_id, created_at FROM ledger_transactions
           WHERE (kind = 'capture' AND source_type = 'payment' AND source_id = $1)
              OR (kind = 'refund' AND source_type = 'refund' AND source_id = ANY($2))
           ORDER BY created_at, id"#,
        id,
        &refund_ids,
    )
    .fetch_all(pool)
    .await?;
    let tx_ids: Vec<i64> = transactions.iter().map(|t| t.id).collect();
    let mut entries: HashMap<i64, Vec<LedgerEntry>> = HashMap::new();
    for e in sqlx::query!(
        r#"SELECT transaction_id, account, amount_paisa FROM ledger_entries
           WHERE transaction_id = ANY($1) ORDER BY id"#,
        &tx_ids,
    )
    .fetch_all(pool)
    .await?
    {
        entries
            .entry(e.transaction_id)
            .or_default()
            .push(LedgerEntry {
                account: e.account,
                amount: Money::from_paisa(e.amount_paisa),
            });
    }
    let ledger = transactions
        .into_iter()
        .map(|t| LedgerTransaction {
            entries: entries.remove(&t.id).unwrap_or_default(),
            id: t.id,
            kind: t.kind,
            source_type: t.source_type,
            source_id: t.source_id,
            created_at: t.created_at,
        })
        .collect();
    Ok(PaymentDetail {
        payment,
        order_id: row.order_id,
        order_status: status(&row.order_status)?,
        customer: row.customer,
        customer_email: row.customer_email,
        business: row.business_name,
        vendor_email: row.vendor_email,
        expires_at: row.expires_at,
        updated_at: row.updated_at,
        ledger,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_states_and_methods_read_back_their_words() {
        for state in PaymentState::ALL {
            assert_eq!(state.as_str().parse::<PaymentState>(), Ok(state));
        }
        assert!("paid".parse::<PaymentState>().is_err());
        for method in Method::ALL {
            assert_eq!(method.as_str().parse::<Method>(), Ok(method));
        }
        for days in Days::ALL {
            assert_eq!(Days::parse(days.as_str()), days);
        }
        assert_eq!(Days::parse("365"), Days::All);
    }

    #[test]
    fn event_kinds_read_as_words() {
        let event = |kind: &str| PaymentEvent {
            kind: kind.into(),
            detail: "{}".into(),
            at: OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(event("initiated").label(), "Payment started");
        assert_eq!(
            event("refund_manual").label(),
            "Refund needs a manual transfer"
        );
        assert_eq!(event("lookup_done").label(), "Lookup done");
        assert!(!event("succeeded").has_detail());
    }

    #[test]
    fn what_is_left_to_refund_counts_every_refund_that_did_not_fail() {
        let refund = |amount, status: &str| Refund {
            id: 1,
            payment_id: 1,
            amount: Money::from_paisa(amount),
            status: status.into(),
            reason: "r".into(),
            provider_ref: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let mut attempt = Attempt {
            id: 1,
            order_id: 1,
            method: Method::Online,
            provider: Some("sandbox".into()),
            status: PaymentState::PartiallyRefunded,
            amount: Money::from_paisa(10_000),
            refunded: Money::from_paisa(1_000),
            reference: "ref".into(),
            provider_ref: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            events: Vec::new(),
            refunds: vec![
                refund(1_000, "SUCCEEDED"),
                refund(2_000, "FAILED"),
                refund(3_000, "PENDING"),
                refund(500, "MANUAL_ACTION_NEEDED"),
            ],
        };
        assert_eq!(attempt.refundable(), Money::from_paisa(5_500));
        attempt.status = PaymentState::Failed;
        assert!(!attempt.can_refund());
    }
}
