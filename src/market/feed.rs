//! Reading the outbox in commit-safe order, for the relay and for replays.
//!
//! Ids are handed out before commit, so a lower id can commit after a higher
//! one. A commit fence makes ids alone a safe order: every event writer
//! takes the shared advisory lock [`FENCE`] just before its event takes an id
//! (in [`super::record`]) and holds it until it commits. The relay takes the
//! same lock exclusively for a moment ([`fence`]): while it holds it no writer
//! is between taking an id and committing, so every event up to the newest id
//! is final and nothing can still appear below it. Unlike the transaction-id
//! horizon (`pg_snapshot_xmin`), which is shared by every database on the
//! server, the fence waits only for transactions that write events.
//! (`LOCK TABLE events IN SHARE MODE` would do the same but also wait for,
//! and cancel, autovacuum on the table.)

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use super::accounts::User;
use super::{MarketError, MarketResult};
use crate::domain::account::Role;
use crate::events::{EventKind, Facts, Story};

/// The advisory lock key of the commit fence ("dhune" in ASCII).
pub const FENCE: i64 = 0x64_68_75_6e_65;

/// Where an event stands in the feed (its id); also the SSE `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position(pub i64);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Position {
    type Err = String;

    /// An id; `TXID-ID`, the form sent before the commit fence, resumes at
    /// its id, so a page left open across the upgrade misses nothing.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let id = s.split_once('-').map_or(s, |(_, id)| id);
        match id.parse() {
            Ok(id) if id >= 0 => Ok(Position(id)),
            _ => Err(format!("{s:?} is not a feed position")),
        }
    }
}

/// A committed event as the relay hands it on.
#[derive(Debug, Clone)]
pub struct FeedEvent {
    pub position: Position,
    pub kind: EventKind,
    pub actor_id: Option<i64>,
    pub request_id: Option<i64>,
    pub offer_id: Option<i64>,
    pub order_id: Option<i64>,
    pub dispute_id: Option<i64>,
    pub audience: Vec<i64>,
    pub all_vendors: bool,
    pub facts: Facts,
}

impl FeedEvent {
    pub fn story(&self) -> Story<'_> {
        Story {
            kind: self.kind,
            actor_id: self.actor_id,
            request_id: self.request_id,
            order_id: self.order_id,
            facts: &self.facts,
        }
    }

    /// Whether `user` is someone this event concerns (named in its
    /// audience) other than the one who acted: who is notified of it, and
    /// reads "your" in its line.
    pub fn concerns(&self, user: &User) -> bool {
        self.audience.contains(&user.id) && self.actor_id != Some(user.id)
    }

    /// Whether `user` may see this event: admins all, vendors the ones for
    /// all vendors, anyone the ones naming them.
    pub fn visible_to(&self, user: &User) -> bool {
        user.role == Role::Admin
            || self.audience.contains(&user.id)
            || (self.all_vendors && user.role == Role::Vendor)
    }
}

struct Row {
    id: i64,
    kind: String,
    actor_id: Option<i64>,
    request_id: Option<i64>,
    offer_id: Option<i64>,
    order_id: Option<i64>,
    dispute_id: Option<i64>,
    audience_users: Vec<i64>,
    all_vendors: bool,
    payload: serde_json::Value,
}

impl TryFrom<Row> for FeedEvent {
    type Error = MarketError;

    fn try_from(row: Row) -> MarketResult<Self> {
        let kind = EventKind::from_str(&row.kind)
            .map_err(|err| MarketError::Internal(anyhow::anyhow!(err)))?;
        Ok(FeedEvent {
            position: Position(row.id),
            kind,
            actor_id: row.actor_id,
            request_id: row.request_id,
            offer_id: row.offer_id,
            order_id: row.order_id,
            dispute_id: row.dispute_id,
            audience: row.audience_users,
            all_vendors: row.all_vendors,
            facts: Facts::from_payload(row.payload),
        })
    }
}

fn events(rows: Vec<Row>) -> MarketResult<Vec<FeedEvent>> {
    rows.into_iter().map(FeedEvent::try_from).collect()
}

/// The newest event id this transaction can see, final or not: a cheap
/// look whether there may be anything new.
pub async fn newest(db: impl PgExecutor<'_>) -> MarketResult<Position> {
    let id = sqlx::query_scalar!(r#"SELECT coalesce(max(id), 0) AS "id!" FROM events"#)
        .fetch_one(db)
        .await?;
    Ok(Position(id))
}

/// Passes the commit fence: waits (at most `wait`) until no event writer is
/// between taking an id and committing, and returns the newest id then,
/// below which every event is final. `None` when a writer held the fence
/// longer than `wait` (try again later; writers queue behind the relay only
/// for that long).
pub async fn fence(pool: &PgPool, wait: Duration) -> MarketResult<Option<Position>> {
    let mut tx = pool.begin().await?;
    let timeout = format!("{}ms", wait.as_millis().max(1));
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_advisory_xact_lock($1)::text AS "locked!"
           FROM (SELECT set_config('lock_timeout', $2, true)) AS timeout"#,
        FENCE,
        timeout,
    )
    .fetch_one(&mut *tx)
    .await;
    match locked {
        Ok(_) => {}
        Err(err)
            if err
                .as_database_error()
                .is_some_and(|db| db.code().as_deref() == Some(LOCK_NOT_AVAILABLE)) =>
        {
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    }
    // A statement of its own, so its snapshot is taken with the fence held.
    let upto = newest(&mut *tx).await?;
    tx.commit().await?;
    Ok(Some(upto))
}

/// Postgres' "lock_not_available": `lock_timeout` ran out.
const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Up to `limit` events after `after` and up to `upto` (a position the
/// fence has passed), in feed order.
pub async fn committed_between(
    pool: &PgPool,
    after: Position,
    upto: Position,
    limit: i64,
) -> MarketResult<Vec<FeedEvent>> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, kind, actor_id, request_id, offer_id, order_id, dispute_id,
                  audience_users, all_vendors, payload
           FROM events WHERE id > $1 AND id <= $2
           ORDER BY id LIMIT $3"#,
        after.0,
        upto.0,
        limit,
    )
    .fetch_all(pool)
    .await?;
    events(rows)
}

/// Up to `limit` of the events `user` may see after `after` and up to
/// `upto`, in feed order: a page of what a reconnecting client missed. Each
/// part of the audience is read from an index in id order (the user's rows
/// of `event_audience`; for vendors, the events for every vendor), so a page
/// costs the same however much of the feed is someone else's.
pub async fn visible_between(
    pool: &PgPool,
    user: &User,
    after: Position,
    upto: Position,
    limit: i64,
) -> MarketResult<Vec<FeedEvent>> {
    if user.role == Role::Admin {
        return committed_between(pool, after, upto, limit).await;
    }
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, kind, actor_id, request_id, offer_id, order_id, dispute_id,
                  audience_users, all_vendors, payload
           FROM events
           WHERE id IN ((SELECT event_id FROM event_audience
                         WHERE user_id = $3 AND event_id > $1 AND event_id <= $2
                         ORDER BY event_id LIMIT $5)
                        UNION ALL
                        (SELECT id FROM events
                         WHERE all_vendors AND $4 AND id > $1 AND id <= $2
                         ORDER BY id LIMIT $5))
           ORDER BY id LIMIT $5"#,
        after.0,
        upto.0,
        user.id,
        user.role == Role::Vendor,
        limit,
    )
    .fetch_all(pool)
    .await?;
    events(rows)
}

/// When the first event after `after` was written, if there is one: how old
/// a reconnecting client's gap is.
pub async fn first_missed_at(
    pool: &PgPool,
    after: Position,
) -> MarketResult<Option<OffsetDateTime>> {
    Ok(sqlx::query_scalar!(
        "SELECT created_at FROM events WHERE id > $1 ORDER BY id LIMIT 1",
        after.0
    )
    .fetch_optional(pool)
    .await?)
}

/// Whether the session a live stream was opened with still signs in this
/// user: it exists, has not expired, and the user is not suspended.
pub async fn still_signed_in(pool: &PgPool, session_id: &str, user_id: i64) -> MarketResult<bool> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (
               SELECT 1 FROM tower_sessions.session s, users u
               WHERE s.id = $1 AND s.expiry_date > now() AND u.id = $2 AND u.status = 'ACTIVE'
           ) AS "signed_in!""#,
        session_id,
        user_id,
    )
    .fetch_one(pool)
    .await?)
}
