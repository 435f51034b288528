//! Background tasks that run inside `serve`. Each is safe with several
//! server instances on one database, and a database error is logged and
//! retried on the next tick instead of stopping the task.

use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;

use crate::market::{sweeps, throttle};

/// Every `every`: expire overdue requests and offers, complete orders left
/// out for delivery longer than `auto_complete_after`, and delete expired
/// sessions and login and sign-up attempts older than their window.
pub fn spawn_sweeps(
    pool: PgPool,
    every: Duration,
    auto_complete_after: time::Duration,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let sessions = PostgresStore::new(pool.clone());
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            sweep_once(&pool, auto_complete_after).await;
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
