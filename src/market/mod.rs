//! The operations of the marketplace, one function each. All SQL and every
//! transaction lives here; each operation checks the rules from `domain`.

pub mod accounts;
pub mod admin;
mod audit;
pub mod feed;
pub mod notifications;
pub mod offers;
pub mod orders;
mod password;
pub mod requests;
pub mod sweeps;
pub mod throttle;

use crate::domain::FieldErrors;
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
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MarketError {
    fn from(err: sqlx::Error) -> Self {
        MarketError::Internal(anyhow::Error::new(err).context("database query"))
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

/// Whether the database answers.
pub async fn ping(pool: &sqlx::PgPool) -> MarketResult<()> {
    sqlx::query_scalar!("SELECT 1 AS \"one!\"")
        .fetch_one(pool)
        .await?;
    Ok(())
}

/// Parses a status word read from the database.
fn status<T>(word: &str) -> MarketResult<T>
where
    T: std::str::FromStr<Err = String>,
{
    word.parse()
        .map_err(|err: String| MarketError::Internal(anyhow::anyhow!(err)))
}

/// A page of a list: 1-based page number, fixed size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub per_page: i64,
}

impl Paging {
    pub const PER_PAGE: i64 = 20;

    /// Page `page` (numbers below 1, or absurdly high, are clamped).
    pub fn new(page: Option<i64>) -> Self {
        Self {
            page: page.unwrap_or(1).clamp(1, 100_000),
            per_page: Self::PER_PAGE,
        }
    }

    fn offset(self) -> i64 {
        (self.page - 1) * self.per_page
    }

    /// One more than a page, to learn whether a next page exists.
    fn limit(self) -> i64 {
        self.per_page + 1
    }

    fn finish<T>(self, mut items: Vec<T>) -> Paged<T> {
        let has_next = items.len() as i64 > self.per_page;
        items.truncate(self.per_page as usize);
        Paged {
            items,
            page: self.page,
            has_next,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub has_next: bool,
}

/// Writes an outbox row, and the notifications of the people it concerns,
/// in the caller's transaction.
async fn record(tx: &mut sqlx::PgConnection, event: &NewEvent) -> MarketResult<i64> {
    let id = sqlx::query_scalar!(
        r#"INSERT INTO events (kind, actor_id, request_id, offer_id, order_id, dispute_id,
                               audience_users, all_vendors)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id"#,
        event.kind.as_str(),
        event.actor_id,
        event.request_id,
        event.offer_id,
        event.order_id,
        event.dispute_id,
        &event.audience,
        event.all_vendors,
    )
    .fetch_one(&mut *tx)
    .await?;
    let recipients = event.recipients();
    if let Some(note) = event.note().filter(|_| !recipients.is_empty()) {
        notifications::InApp
            .deliver(tx, id, &recipients, &note)
            .await?;
    }
    Ok(id)
}

const CHANGED_MEANWHILE: &str =
    "This changed while you were looking. Please reload the page to see where it stands now.";
