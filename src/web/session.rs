//! The session store, and what the app answers when it fails.
//!
//! Sessions live in Postgres. When the database is out, tower-sessions and
//! axum-login answer a blank 500: the first when a changed session cannot be
//! saved, the second when the session cannot be loaded. [`Store`] wraps the
//! Postgres store and notes such failures for [`answer_store_failures`],
//! which wraps both layers and answers instead: the 503 page, or, when the
//! handler already made its change and sends the browser on, that redirect.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::body::HttpBody as _;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_sessions::Session;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions_sqlx_store::PostgresStore;

use super::error::{AppError, ErrorContext};
use super::extract::Shell;
use super::identity::Identity;
use crate::market::{MarketError, identity};

/// How long a session lasts without a visit.
pub const IDLE_EXPIRY: time::Duration = time::Duration::days(7);

/// A signed-in session's expiry is pushed back at most this often.
const KEEP_ALIVE_EVERY: time::Duration = time::Duration::days(1);

const SEEN_KEY: &str = "seen_at";

/// Keeps a signed-in session alive while it is used. The stored expiry moves
/// only when the session is saved, so a visit saves it once a day, not on
/// every page.
pub async fn keep_alive(session: &Session) {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let seen = session.get::<i64>(SEEN_KEY).await;
    let result = match seen {
        Ok(Some(seen)) if now - seen < KEEP_ALIVE_EVERY.whole_seconds() => Ok(()),
        Ok(_) => session.insert(SEEN_KEY, now).await,
        Err(err) => Err(err),
    };
    if let Err(err) = result {
        tracing::warn!(error = %err, "could not keep the session alive");
    }
}

/// The store's failures during one request.
#[derive(Debug, Default)]
struct Failures {
    /// A session could not be loaded or deleted.
    reading: AtomicBool,
    /// A changed session could not be saved.
    saving: AtomicBool,
}

tokio::task_local! {
    static FAILURES: Arc<Failures>;
}

/// Postgres sessions, served from this instance's [`Identity`] once read,
/// whose failures are noted for [`answer_store_failures`]. A session saved
/// or deleted is announced, so every instance forgets it.
#[derive(Debug, Clone)]
pub struct Store {
    postgres: PostgresStore,
    pool: PgPool,
    identity: Arc<Identity>,
}

impl Store {
    pub fn new(pool: PgPool, identity: Arc<Identity>) -> Self {
        Self {
            postgres: PostgresStore::new(pool.clone()),
            pool,
            identity,
        }
    }

    /// A failed save is noted and logged, and the answer left to
    /// [`answer_store_failures`]; outside it the error is returned.
    fn saved(result: session_store::Result<()>) -> session_store::Result<()> {
        let Err(err) = result else {
            return Ok(());
        };
        match FAILURES.try_with(|failures| failures.saving.store(true, Ordering::Relaxed)) {
            Ok(()) => {
                tracing::warn!(error = %err, "could not save the session");
                Ok(())
            }
            Err(_) => Err(err),
        }
    }

    fn read<T>(result: session_store::Result<T>) -> session_store::Result<T> {
        if let Err(err) = &result {
            tracing::warn!(error = %err, "could not read the session");
            // Outside the middleware nobody asks; the error is returned anyway.
            let _ = FAILURES.try_with(|failures| failures.reading.store(true, Ordering::Relaxed));
        }
        result
    }
}

#[async_trait]
impl SessionStore for Store {
    /// A new session (its id is new, so no instance keeps it yet).
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        Self::saved(self.postgres.create(record).await)
    }

    /// Saves and announces the change in one statement; this instance
    /// forgets the session at once, the others when they hear.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let saved = match rmp_serde::to_vec(record) {
            Ok(data) => identity::save_session(
                &self.pool,
                &record.id.to_string(),
                &data,
                record.expiry_date,
            )
            .await
            .map_err(|err| session_store::Error::Backend(err.to_string())),
            Err(err) => Err(session_store::Error::Encode(err.to_string())),
        };
        self.identity.forget_session(&record.id);
        Self::saved(saved)
    }

    async fn load(&self, session_id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.identity.session(session_id) {
            return Ok(Some(record));
        }
        let read_at = self.identity.sessions_generation();
        let loaded = Self::read(self.postgres.load(session_id).await)?;
        if let Some(record) = &loaded {
            self.identity.keep_session(record, read_at);
        }
        Ok(loaded)
    }

    async fn delete(&self, session_id: &Id) -> session_store::Result<()> {
        let deleted = identity::delete_session(&self.pool, &session_id.to_string())
            .await
            .map_err(|err| session_store::Error::Backend(err.to_string()));
        self.identity.forget_session(session_id);
        Self::read(deleted)
    }
}

/// Wraps the session and login layers: a session that could not be read
/// answers the 503 page; one that could not be saved too, unless the
/// handler made its change and sends the browser on (the redirect stands,
/// the failure is logged). The layers' own blank 500s become the error page.
pub async fn answer_store_failures(request: Request, next: Next) -> Response {
    let context = ErrorContext::of(&request);
    let failures = Arc::new(Failures::default());
    let response = FAILURES.scope(failures.clone(), next.run(request)).await;
    let reading = failures.reading.load(Ordering::Relaxed);
    let saving = failures.saving.load(Ordering::Relaxed);
    let failed = (reading && response.status().is_server_error())
        || (saving && !response.status().is_redirection());
    let error = if failed {
        AppError::Market(MarketError::Unavailable(anyhow::anyhow!(
            "the session store failed"
        )))
    } else if response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && response.body().size_hint().exact() == Some(0)
    {
        AppError::Internal(anyhow::anyhow!("the session or login layer failed"))
    } else {
        return response;
    };
    context
        .render(error.into_response(), async { Shell::anonymous() })
        .await
}
