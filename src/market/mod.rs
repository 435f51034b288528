//! The operations of the marketplace, one function each. All SQL and every
//! transaction lives here; each operation checks the rules from `domain`.
//!
//! # Lock order
//!
//! Two transactions that wait for each other's row locks deadlock, and
//! Postgres answers one of them "deadlock detected" (a 500: suspending a
//! vendor while their offer was accepted did, 10 times in 15). So every
//! operation takes its row locks in ONE global order, the order the records
//! depend on each other:
//!
//! 1. `users` — suspension and reinstatement lock the account
//!    (`FOR NO KEY UPDATE`); a vendor's offer changes first lock their own
//!    account `FOR SHARE` and refuse if it is suspended, so they wait for a
//!    suspension in progress and a suspended vendor never gains an offer.
//! 2. `requests` — the accept, cancelling and the expiry sweep lock the
//!    request `FOR NO KEY UPDATE` (they close it and settle its offers);
//!    a vendor's offer changes, and a vendor's suspension (for the requests
//!    of their pending offers, in id order), lock it `FOR SHARE`, so they
//!    run alongside each other but never alongside an accept or a cancel.
//! 3. `offers` — `FOR NO KEY UPDATE` (or changed by `UPDATE`), always after
//!    their request; so of an accept and a change to one of its offers,
//!    whichever locks the request first finishes first.
//! 4. `orders` — `FOR NO KEY UPDATE`, then 5. `disputes` (a status change
//!    locks the order, then opens or settles its dispute).
//! 6. `payments` — `FOR NO KEY UPDATE`, always after their order: the one
//!    confirm operation, a refund's outcome, an admin's refund and the
//!    cancel of a paid order (`payments.rs`) lock the order, then the
//!    payment. A movement of money is posted to the ledger while its
//!    payment is locked. The ledger's rows are only inserted, never locked:
//!    a posting waits only for a concurrent posting of the same movement
//!    (`ledger::post`), which the payment's lock already keeps apart.
//! 7. `refunds` — after their payment (a new or retried refund's trigger
//!    locks the payment first; recording an outcome locks the order, the
//!    payment, then changes the refund). Claiming a refund to send it
//!    (`sent_at`) and the sweep that fails refunds left unanswered touch
//!    only refund rows, so they wait for nothing earlier in the order.
//! 8. `payout_statements` — `FOR NO KEY UPDATE` by an admin marking one paid
//!    (`payouts.rs`), which locks nothing else and posts the payout while
//!    the statement is locked. Issuing statements only inserts (under a
//!    per-vendor advisory lock), so it waits for no row lock.
//!
//! Apart from rows: a commission rate change (`commission.rs`) takes
//! `SHARE ROW EXCLUSIVE` on `commission_rates`, so changes happen one at a
//! time and the audit's "before" is right. It holds no row lock, and plain
//! reads (the accept reads the rate in force) are never blocked by it.
//!
//! No payment provider is ever called while a lock is held: an operation
//! that talks to a provider commits first, calls it, then locks again.
//!
//! Nothing locks a row of an earlier kind after a later one. The sweeps
//! (`sweeps.rs`) claim rows with `SKIP LOCKED`, so they never wait for a
//! claimed row; what they lock after a claim (a request's offers) follows
//! the same order. Last of all, after every row lock (an operation changes
//! all its rows before it writes its first event), each event insert in
//! [`record_all`] takes the event fence (a shared transaction-level advisory
//! lock for the live relay), held until commit.
//!
//! Explicit locks are `FOR NO KEY UPDATE` or `FOR SHARE`, never
//! `FOR UPDATE`: we never change a key. Every foreign-key check takes
//! `FOR KEY SHARE` on the row it references (inserting an event locks its
//! user, request, offer, order and dispute that way; an order its request,
//! offer and users), and `FOR KEY SHARE` conflicts only with `FOR UPDATE`
//! (and with deleting the row or changing its key). So with these modes no
//! insert ever waits for a row lock, wherever it is in the order.

pub mod accounts;
pub mod admin;
mod audit;
pub mod commission;
pub mod feed;
pub mod generate;
pub mod identity;
pub mod ledger;
pub mod notifications;
pub mod offers;
pub mod orders;
mod password;
pub mod payment_views;
pub mod payments;
pub mod payout_views;
pub mod payouts;
pub mod platform_stats;
pub mod requests;
pub mod stats;
pub mod sweeps;
pub mod throttle;

use crate::domain::FieldErrors;
use crate::domain::account::Role;
use crate::events::NewEvent;
use notifications::Deliver;

/// Why an operation was refused, in words a user understands.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The input was wrong; the messages belong next to the form's fields.
    #[error("invalid input: {0}")]
    Invalid(FieldErrors),
    /// The record does not exist, or the user may not know that it does.
    #[error("not found")]
    NotFound,
    /// The user may see the record but not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The record is not in a state that allows this (often: someone else
    /// changed it first).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts (logins, sign-ups) for one of the limits.
    #[error("throttled ({limit:?}); try again in {minutes} minutes")]
    Throttled {
        limit: crate::domain::throttle::Limit,
        minutes: i64,
    },
    /// The server is at capacity for this work (password hashing); the
    /// client should retry in a few seconds.
    #[error("busy; try again shortly")]
    Busy,
    /// The database cannot be reached just now; trying again later may work.
    #[error("database unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MarketError {
    fn from(err: sqlx::Error) -> Self {
        if unavailable(&err) {
            MarketError::Unavailable(anyhow::Error::new(err).context("database unavailable"))
        } else {
            MarketError::Internal(anyhow::Error::new(err).context("database query"))
        }
    }
}

/// Whether `err` says the database cannot be reached or is going away (no
/// connection in time, the connection broke, the server is shutting down or
/// starting), rather than that the query was wrong.
fn unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P01-57P03: admin shutdown,
        // crash shutdown, cannot connect now; 53300: too many connections.
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

pub type MarketResult<T> = Result<T, MarketError>;

/// Maps a unique violation of the index or constraint `name` to `refusal`
/// (a rule the database enforces, told in a user's words); any other error
/// stays internal.
fn unique_as(
    name: &'static str,
    refusal: impl FnOnce() -> MarketError,
) -> impl FnOnce(sqlx::Error) -> MarketError {
    move |err| {
        let violated = err
            .as_database_error()
            .is_some_and(|db| db.is_unique_violation() && db.constraint() == Some(name));
        if violated { refusal() } else { err.into() }
    }
}

/// How long the health check waits for the database (less than the pool's
/// acquire timeout, so a database that does not answer is reported quickly).
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Whether the database answers, within [`PING_TIMEOUT`].
pub async fn ping(pool: &sqlx::PgPool) -> MarketResult<()> {
    let query = sqlx::query_scalar!("SELECT 1 AS \"one!\"").fetch_one(pool);
    match tokio::time::timeout(PING_TIMEOUT, query).await {
        Ok(answer) => answer.map(|_| ()).map_err(MarketError::from),
        Err(_) => Err(MarketError::Unavailable(anyhow::anyhow!(
            "no answer within {PING_TIMEOUT:?}"
        ))),
    }
}

/// Parses a status word read from the database.
fn status<T>(word: &str) -> MarketResult<T>
where
    T: std::str::FromStr<Err = String>,
{
    word.parse()
        .map_err(|err: String| MarketError::Internal(anyhow::anyhow!(err)))
}

/// A page of a list: 1-based page number, fixed size, and where it begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// The page's number as shown; it also places the page (by offset)
    /// when `seek` is [`Seek::Offset`].
    pub page: i64,
    pub per_page: i64,
    pub seek: Seek,
}

/// Where a page of a newest-first list begins. Long lists (the admin's
/// orders, requests and offers) link to the next and previous page by the
/// row at the page's edge (keyset pagination), so a page deep in the list
/// costs what the first does; a bare page number, as in a bookmark, is
/// still found by offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// By offset, from the page number.
    Offset,
    /// The rows older than row `id`.
    After(i64),
    /// The rows newer than row `id`.
    Before(i64),
}

impl Paging {
    pub const PER_PAGE: i64 = 20;

    /// Page `page` (numbers below 1, or absurdly high, are clamped).
    pub fn new(page: Option<i64>) -> Self {
        Self {
            page: page.unwrap_or(1).clamp(1, 100_000),
            per_page: Self::PER_PAGE,
            seek: Seek::Offset,
        }
    }

    /// Page `page`, begun after or before the row of a link.
    pub fn seek(page: Option<i64>, after: Option<i64>, before: Option<i64>) -> Self {
        let seek = match (after, before) {
            (Some(id), _) => Seek::After(id),
            (None, Some(id)) => Seek::Before(id),
            (None, None) => Seek::Offset,
        };
        Self {
            seek,
            ..Self::new(page)
        }
    }

    fn offset(self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// One more than a page, to learn whether a next page exists.
    fn limit(self) -> i64 {
        self.per_page + 1
    }

    /// The offset of a keyset query: none when it begins at a row.
    fn seek_offset(self) -> i64 {
        match self.seek {
            Seek::Offset => self.offset(),
            Seek::After(_) | Seek::Before(_) => 0,
        }
    }

    fn after(self) -> Option<i64> {
        match self.seek {
            Seek::After(id) => Some(id),
            Seek::Offset | Seek::Before(_) => None,
        }
    }

    fn before(self) -> Option<i64> {
        match self.seek {
            Seek::Before(id) => Some(id),
            Seek::Offset | Seek::After(_) => None,
        }
    }

    fn finish<T>(self, mut items: Vec<T>) -> Paged<T> {
        let has_next = items.len() as i64 > self.per_page;
        items.truncate(self.per_page as usize);
        Paged {
            items,
            page: self.page,
            has_next,
            has_prev: self.page > 1,
            edges: None,
        }
    }

    /// The page of a keyset query, its rows newest first (`id` names a
    /// row). Going back, the extra row fetched is the newest, and a page
    /// with nothing newer is the first whatever its number said.
    fn finish_keyset<T>(self, mut items: Vec<T>, id: fn(&T) -> i64) -> Paged<T> {
        let more = items.len() as i64 > self.per_page;
        let (page, has_prev, has_next) = match self.seek {
            Seek::Before(_) => {
                if more {
                    items.remove(0);
                }
                let page = if more { self.page.max(2) } else { 1 };
                (page, more, true)
            }
            Seek::Offset | Seek::After(_) => {
                items.truncate(self.per_page as usize);
                (self.page, self.page > 1, more)
            }
        };
        let edges = items.first().zip(items.last()).map(|(a, b)| (id(a), id(b)));
        Paged {
            items,
            page,
            has_next,
            has_prev,
            edges,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub has_next: bool,
    pub has_prev: bool,
    /// The ids of the first and last row, when the page links by rows.
    pub edges: Option<(i64, i64)>,
}

/// Writes an outbox row (with the facts its lines are told from), and the notifications of the people it concerns,
/// in the caller's transaction: [`record_all`] of one event.
async fn record(tx: &mut sqlx::PgConnection, event: &NewEvent) -> MarketResult<i64> {
    let ids = record_all(tx, std::slice::from_ref(event)).await?;
    ids.first()
        .copied()
        .ok_or_else(|| MarketError::Internal(anyhow::anyhow!("the event insert returned no id")))
}

/// Writes the outbox rows of `events` (with the facts their lines are told
/// from) in one insert, then the notifications of the people they concern
/// in one more, in the caller's transaction; returns the events' ids, in
/// order. The rows take their ids behind the commit fence (`feed::FENCE`,
/// shared, taken once before the first id and held until the transaction
/// ends), so the relay knows when every id below the newest is final.
async fn record_all(tx: &mut sqlx::PgConnection, events: &[NewEvent]) -> MarketResult<Vec<i64>> {
    // Each event's audience is its slice `from..=to` (1-based) of the one
    // array of every audience.
    let mut audience = Vec::new();
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for event in events {
        from.push(slice_index(audience.len() + 1)?);
        audience.extend_from_slice(&event.audience);
        to.push(slice_index(audience.len())?);
    }
    let kinds: Vec<&str> = events.iter().map(|event| event.kind.as_str()).collect();
    let column = |id: fn(&NewEvent) -> Option<i64>| events.iter().map(id).collect::<Vec<_>>();
    let all_vendors: Vec<bool> = events.iter().map(|event| event.all_vendors).collect();
    let payloads: Vec<serde_json::Value> = events
        .iter()
        .map(|event| event.facts.to_payload())
        .collect();
    // The rows are inserted in the events' order and each takes the next id
    // as it is inserted, so the ids sorted are the events' ids in order.
    let mut ids = sqlx::query_scalar!(
        r#"WITH fence AS (SELECT pg_advisory_xact_lock_shared($1)::text)
           INSERT INTO events (kind, actor_id, request_id, offer_id, order_id, dispute_id,
                               audience_users, all_vendors, payload)
           SELECT e.kind, e.actor_id, e.request_id, e.offer_id, e.order_id, e.dispute_id,
                  ($8::bigint[])[e.audience_from : e.audience_to], e.all_vendors, e.payload
           FROM fence,
                UNNEST($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[],
                       $7::bigint[], $9::int[], $10::int[], $11::bool[], $12::jsonb[])
                    WITH ORDINALITY AS e(kind, actor_id, request_id, offer_id, order_id,
                                         dispute_id, audience_from, audience_to,
                                         all_vendors, payload, n)
           ORDER BY e.n
           RETURNING id"#,
        feed::FENCE,
        &kinds as &[&str],
        &column(|event| event.actor_id) as &[Option<i64>],
        &column(|event| event.request_id) as &[Option<i64>],
        &column(|event| event.offer_id) as &[Option<i64>],
        &column(|event| event.order_id) as &[Option<i64>],
        &column(|event| event.dispute_id) as &[Option<i64>],
        &audience,
        &from,
        &to,
        &all_vendors,
        &payloads,
    )
    .fetch_all(&mut *tx)
    .await?;
    ids.sort_unstable();
    let notes: Vec<_> = events
        .iter()
        .zip(&ids)
        .filter_map(|(event, &event_id)| {
            let to = event.recipients();
            let note = event.note().filter(|_| !to.is_empty())?;
            Some(notifications::Delivery { event_id, to, note })
        })
        .collect();
    if !notes.is_empty() {
        notifications::InApp.deliver(tx, &notes).await?;
    }
    Ok(ids)
}

/// A position in a Postgres array (they are indexed by `int`).
fn slice_index(position: usize) -> MarketResult<i32> {
    i32::try_from(position).map_err(|err| MarketError::Internal(err.into()))
}

const CHANGED_MEANWHILE: &str =
    "This changed while you were looking. Please reload the page to see where it stands now.";

/// Admin pages and actions: anyone else learns nothing of them (404).
fn require_admin(user: &accounts::User) -> MarketResult<()> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(MarketError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_unavailable_not_internal() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(refused),
        ] {
            assert!(matches!(
                MarketError::from(err),
                MarketError::Unavailable(_)
            ));
        }
        assert!(matches!(
            MarketError::from(sqlx::Error::RowNotFound),
            MarketError::Internal(_)
        ));
    }
}
