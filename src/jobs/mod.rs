//! Background tasks that run inside `serve`. Each is safe with several
//! server instances on one database.

use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;
use tower_sessions::ExpiredDeletion;
use tower_sessions_sqlx_store::PostgresStore;

/// Deletes expired sessions every `every` (a plain `DELETE ... WHERE
/// expiry_date < now()`, harmless when instances overlap). A database
/// error is logged and retried on the next tick.
pub fn spawn_session_cleanup(pool: PgPool, every: Duration) -> JoinHandle<()> {
    let store = PostgresStore::new(pool);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            if let Err(err) = store.delete_expired().await {
                tracing::warn!(error = %err, "deleting expired sessions failed; retrying next tick");
            }
        }
    })
}
