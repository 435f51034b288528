//! Background tasks that run inside `serve`. Each is safe with several
//! server instances on one database, and a database error is logged and
//! retried on the next tick instead of stopping the task.

use std::sync::Arc;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;

use crate::Config;
use crate::gateways::payments::Gateway;
use crate::market::{payments, payouts, platform_stats, sweeps, throttle};

/// Every `every`: expire overdue requests and offers, complete orders left
/// out for delivery longer than `auto_complete_after`, the money sweeps, the
/// platform's daily figures, and delete expired
/// sessions and login and sign-up attempts older than their window.
pub fn spawn_sweeps(pool: PgPool, gateway: Arc<dyn Gateway>, config: &Config) -> JoinHandle<()> {
    let every = config.sweep_interval;
    let auto_complete_after = config.auto_complete_after;
    let unpaid_after = config.unpaid_cancel_after;
    let recheck_after = config.payment_recheck_after;
    tokio::spawn(async move {
        let sessions = PostgresStore::new(pool.clone());
        let mut issuer = payouts::Issuer::default();
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            sweep_once(&pool, auto_complete_after).await;
            payment_sweep_once(&pool, &*gateway, &mut issuer, unpaid_after, recheck_after).await;
            statistics_once(&pool).await;
            if let Err(err) = sessions.delete_expired().await {
                tracing::warn!(error = %err, "deleting expired sessions failed; retrying next tick");
            }
            if let Err(err) = throttle::forget_old_attempts(&pool).await {
                tracing::warn!(error = ?err, "deleting old login attempts failed; retrying next tick");
            }
        }
    })
}

/// One pass of the sweeps, draining the overdue rows batch by batch.
pub async fn sweep_once(pool: &PgPool, auto_complete_after: time::Duration) {
    loop {
        match sweeps::expire_requests(pool).await {
            Ok(0) => break,
            Ok(n) => tracing::info!(requests = n, "expired overdue requests"),
            Err(err) => {
                tracing::warn!(error = ?err, "expiring requests failed; retrying next tick");
                break;
            }
        }
    }
    loop {
        match sweeps::expire_offers(pool).await {
            Ok(0) => break,
            Ok(n) => tracing::info!(offers = n, "expired overdue offers"),
            Err(err) => {
                tracing::warn!(error = ?err, "expiring offers failed; retrying next tick");
                break;
            }
        }
    }
    loop {
        match sweeps::auto_complete_orders(pool, auto_complete_after).await {
            Ok(0) => break,
            Ok(n) => tracing::info!(orders = n, "completed orders left out for delivery"),
            Err(err) => {
                tracing::warn!(error = ?err, "auto-completing orders failed; retrying next tick");
                break;
            }
        }
    }
}

/// Keeps the platform's daily figures: the last days again, and days not
/// stored yet (`market::platform_stats`). Safe on several instances.
pub async fn statistics_once(pool: &PgPool) {
    if let Err(err) = platform_stats::refresh(pool, time::OffsetDateTime::now_utc()).await {
        tracing::warn!(error = ?err, "refreshing statistics failed; retrying next tick");
    }
}

/// One pass of the money sweeps: ask providers again about payments still
/// pending, send or settle refunds left without an answer, issue the payout
/// statements of weeks that have ended, and cancel online orders left unpaid
/// for `unpaid_after`. Each is safe on several instances at once (confirming
/// is idempotent under the payment's lock; refunds are claimed; statements
/// are issued under a vendor's advisory lock; orders are claimed with
/// `SKIP LOCKED`).
pub async fn payment_sweep_once(
    pool: &PgPool,
    gateway: &dyn Gateway,
    issuer: &mut payouts::Issuer,
    unpaid_after: time::Duration,
    recheck_after: time::Duration,
) {
    match payments::recheck_pending(pool, gateway, recheck_after).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(payments = n, "settled pending payments"),
        Err(err) => tracing::warn!(error = ?err, "re-checking payments failed; retrying next tick"),
    }
    match payments::settle_stuck_refunds(pool, gateway).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(refunds = n, "handled refunds left without an answer"),
        Err(err) => tracing::warn!(error = ?err, "settling refunds failed; retrying next tick"),
    }
    match issuer.tick(pool, time::OffsetDateTime::now_utc()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(statements = n, "issued payout statements"),
        Err(err) => tracing::warn!(error = ?err, "issuing statements failed; retrying next tick"),
    }
    loop {
        match sweeps::cancel_unpaid_orders(pool, unpaid_after).await {
            Ok(0) => break,
            Ok(n) => tracing::info!(orders = n, "cancelled orders left unpaid"),
            Err(err) => {
                tracing::warn!(error = ?err, "cancelling unpaid orders failed; retrying next tick");
                break;
            }
        }
    }
}
