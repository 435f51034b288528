//! Counting login and sign-up attempts in Postgres, so the limits hold
//! across instances and whatever the parallelism.
//!
//! An attempt takes a transaction-level advisory lock per key it counts
//! against (in key order, so two attempts never wait on each other in a
//! circle), counts the attempts in the window, and records itself only if
//! no key is at its limit. The lock makes check-and-record one step per key:
//! at most `max` attempts are admitted per key and window, however many race,
//! and a refused attempt records nothing, so refusals do not prolong a lock.
//! The locks use the two-integer key space (class [`LOCK_CLASS`]), which
//! never meets the single-bigint advisory keys used elsewhere.

use std::net::IpAddr;

use sqlx::PgPool;
use time::OffsetDateTime;

use super::{MarketError, MarketResult};
use crate::domain::throttle::{Limit, WINDOW, address_key, minutes_until_free};

/// One thing an attempt counts against.
pub(crate) struct Counted {
    pub limit: Limit,
    pub key: String,
    pub max: i64,
}

impl Counted {
    /// Attempts of one kind from one client address.
    pub fn from_address(limit: Limit, kind: &str, client: IpAddr, max: i64) -> Self {
        Self {
            limit,
            key: format!("{kind}:{}", address_key(client)),
            max,
        }
    }
}

/// The rows an admitted attempt recorded, in the order of its [`Counted`].
pub(crate) struct Recorded(Vec<i64>);

impl Recorded {
    pub fn ids(&self) -> &[i64] {
        &self.0
    }
}

/// The advisory-lock class of the throttle's keys.
const LOCK_CLASS: i32 = 7_419;

/// Admits an attempt when none of `counted` is at its limit, and records it
/// against each; otherwise records nothing and refuses with the first limit
/// (in the order given) that was reached.
pub(crate) async fn attempt(pool: &PgPool, counted: &[Counted]) -> MarketResult<Recorded> {
    let keys: Vec<String> = counted.iter().map(|c| c.key.clone()).collect();
    let mut lock_order = keys.clone();
    lock_order.sort();
    let mut tx = pool.begin().await?;
    for key in &lock_order {
        sqlx::query!(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            LOCK_CLASS,
            key
        )
        .execute(&mut *tx)
        .await?;
    }
    // A statement after the locks, so it sees every attempt admitted before.
    let counts = sqlx::query!(
        r#"SELECT key, count(*) AS "attempts!", min(at) AS "oldest!"
           FROM throttle_attempts
           WHERE key = ANY($1) AND at > now() - make_interval(secs => $2)
           GROUP BY key"#,
        &keys,
        WINDOW.as_seconds_f64(),
    )
    .fetch_all(&mut *tx)
    .await?;
    let over = counted.iter().find_map(|c| {
        counts
            .iter()
            .find(|row| row.key == c.key && row.attempts >= c.max)
            .map(|row| (c.limit, row.oldest))
    });
    if let Some((limit, oldest)) = over {
        return Err(MarketError::Throttled {
            limit,
            minutes: minutes_until_free(oldest, OffsetDateTime::now_utc()),
        });
    }
    let rows = sqlx::query!(
        r#"INSERT INTO throttle_attempts (key) SELECT * FROM unnest($1::text[])
           RETURNING id, key"#,
        &keys,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let ids = keys
        .iter()
        .map(|key| {
            rows.iter()
                .find(|row| &row.key == key)
                .map(|row| row.id)
                .ok_or_else(|| anyhow::anyhow!("no attempt row for {key}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Recorded(ids))
}

/// Takes back recorded attempts (and, with `key`, every attempt under it).
pub(crate) async fn forget_with_key(
    pool: &PgPool,
    ids: &[i64],
    key: Option<&str>,
) -> MarketResult<()> {
    sqlx::query!(
        "DELETE FROM throttle_attempts WHERE id = ANY($1) OR key = $2",
        ids,
        key,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Takes back recorded attempts.
pub(crate) async fn forget(pool: &PgPool, ids: &[i64]) -> MarketResult<()> {
    forget_with_key(pool, ids, None).await
}

/// Deletes attempts that have left the window; the sweeps call this.
pub async fn forget_old_attempts(pool: &PgPool) -> MarketResult<u64> {
    let deleted = sqlx::query!(
        "DELETE FROM throttle_attempts WHERE at < now() - make_interval(secs => $1)",
        WINDOW.as_seconds_f64(),
    )
    .execute(pool)
    .await?;
    Ok(deleted.rows_affected())
}
