//! The operations of the marketplace, one function each. All SQL and every
//! transaction lives here; each operation checks the rules from `domain`.

pub mod accounts;
mod password;

use crate::domain::FieldErrors;

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
    /// Too many failed logins for this account.
    #[error("too many failed attempts; try again in {minutes} minutes")]
    Throttled { minutes: i64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for MarketError {
    fn from(err: sqlx::Error) -> Self {
        MarketError::Internal(anyhow::Error::new(err).context("database query"))
    }
}

pub type MarketResult<T> = Result<T, MarketError>;

/// Whether `err` is a unique violation of the index or constraint `name`.
fn is_unique_violation(err: &sqlx::Error, name: &str) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation() && db.constraint() == Some(name))
}

/// Whether the database answers.
pub async fn ping(pool: &sqlx::PgPool) -> MarketResult<()> {
    sqlx::query_scalar!("SELECT 1 AS \"one!\"")
        .fetch_one(pool)
        .await?;
    Ok(())
}
