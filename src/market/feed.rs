//! Reading the outbox in commit-safe order, for the relay and for replays.
//!
//! Ids are handed out before commit, so a lower id can commit after a higher
//! one. A row is read only once its transaction is older than every running
//! one (`txid < pg_snapshot_xmin`), in (txid, id) order: once the reader has
//! passed a position, no row can still appear before it.

use std::fmt;
use std::str::FromStr;

use sqlx::PgPool;

use super::accounts::User;
use super::{MarketError, MarketResult};
use crate::domain::account::Role;
use crate::events::EventKind;

/// Where an event stands in the feed; also the SSE `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    pub txid: i64,
    pub id: i64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.txid, self.id)
    }
}

impl FromStr for Position {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (txid, id) = s.trim().split_once('-').ok_or("expected TXID-ID")?;
        let txid = txid.parse().map_err(|_| "bad txid")?;
        let id = id.parse().map_err(|_| "bad id")?;
        Ok(Position { txid, id })
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
}

impl FeedEvent {
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
    txid: i64,
    kind: String,
    actor_id: Option<i64>,
    request_id: Option<i64>,
    offer_id: Option<i64>,
    order_id: Option<i64>,
    dispute_id: Option<i64>,
    audience_users: Vec<i64>,
    all_vendors: bool,
}

impl TryFrom<Row> for FeedEvent {
    type Error = MarketError;

    fn try_from(row: Row) -> MarketResult<Self> {
        let kind = EventKind::from_str(&row.kind)
            .map_err(|err| MarketError::Internal(anyhow::anyhow!(err)))?;
        Ok(FeedEvent {
            position: Position {
                txid: row.txid,
                id: row.id,
            },
            kind,
            actor_id: row.actor_id,
            request_id: row.request_id,
            offer_id: row.offer_id,
            order_id: row.order_id,
            dispute_id: row.dispute_id,
            audience: row.audience_users,
            all_vendors: row.all_vendors,
        })
    }
}

/// Up to `limit` committed events after `after`, in feed order.
pub async fn committed_after(
    pool: &PgPool,
    after: Position,
    limit: i64,
) -> MarketResult<Vec<FeedEvent>> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, txid::text::bigint AS "txid!", kind, actor_id, request_id, offer_id, order_id,
                  dispute_id, audience_users, all_vendors
           FROM events
           WHERE (txid, id) > ($1::bigint::text::xid8, $2)
             AND txid < pg_snapshot_xmin(pg_current_snapshot())
           ORDER BY txid, id
           LIMIT $3"#,
        after.txid,
        after.id,
        limit,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(FeedEvent::try_from).collect()
}

/// The position of the newest committed event (the start for a new relay).
pub async fn head(pool: &PgPool) -> MarketResult<Position> {
    let row = sqlx::query!(
        r#"SELECT txid::text::bigint AS "txid!", id FROM events
           WHERE txid < pg_snapshot_xmin(pg_current_snapshot())
           ORDER BY txid DESC, id DESC LIMIT 1"#
    )
    .fetch_optional(pool)
    .await?;
    Ok(row
        .map(|r| Position {
            txid: r.txid,
            id: r.id,
        })
        .unwrap_or_default())
}

/// The events `user` may see after `after` and up to `upto`, in feed order:
/// what a reconnecting client missed.
pub async fn visible_between(
    pool: &PgPool,
    user: &User,
    after: Position,
    upto: Position,
) -> MarketResult<Vec<FeedEvent>> {
    let rows = sqlx::query_as!(
        Row,
        r#"SELECT id, txid::text::bigint AS "txid!", kind, actor_id, request_id, offer_id, order_id,
                  dispute_id, audience_users, all_vendors
           FROM events
           WHERE (txid, id) > ($1::bigint::text::xid8, $2)
             AND (txid, id) <= ($3::bigint::text::xid8, $4)
             AND ($5 OR $6 = ANY(audience_users) OR (all_vendors AND $7))
           ORDER BY txid, id
           LIMIT 10000"#,
        after.txid,
        after.id,
        upto.txid,
        upto.id,
        user.role == Role::Admin,
        user.id,
        user.role == Role::Vendor,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(FeedEvent::try_from).collect()
}
