//! Who is signed in, read once and then served from each instance's memory
//! (`web::identity`), and the word every instance hears when it changes.
//!
//! A change to a session (saved or ended) or to what a user's pages show of
//! them (suspended, reinstated, notifications read) is announced on the
//! Postgres channel [`CHANNEL`]; every instance listens and forgets what it
//! kept. The notice is sent by the change's own transaction, so it arrives
//! only once the change is committed and never for one rolled back. New
//! notifications are not announced here: they come with their event, which
//! every instance's relay already reads.

use sqlx::{PgExecutor, PgPool};
use time::OffsetDateTime;

use super::MarketResult;
use super::accounts::{User, UserRow};

/// The channel the notices go out on.
pub const CHANNEL: &str = "dhune_identity";

/// What a notice says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The session with this key ([`session_key`] of its id).
    Session(String),
    /// The user with this id, or their unread count.
    User(i64),
}

impl Changed {
    fn payload(&self) -> String {
        match self {
            Changed::Session(key) => format!("session:{key}"),
            Changed::User(id) => format!("user:{id}"),
        }
    }

    /// A notice's payload read back; anything else is `None`.
    pub fn parse(payload: &str) -> Option<Self> {
        match payload.split_once(':')? {
            ("session", key) => Some(Changed::Session(key.to_owned())),
            ("user", id) => id.parse().ok().map(Changed::User),
            _ => None,
        }
    }
}

/// A session's id as notices name it: a digest, so the channel never
/// carries the secret itself.
pub fn session_key(session_id: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(session_id.as_bytes())[..16])
}

/// Announces `changed`: at once, or, inside a transaction, when it commits.
pub async fn announce(db: impl PgExecutor<'_>, changed: &Changed) -> MarketResult<()> {
    sqlx::query_scalar!(
        r#"SELECT 1 AS "sent!" FROM pg_notify($1, $2)"#,
        CHANNEL,
        changed.payload()
    )
    .fetch_one(db)
    .await?;
    Ok(())
}

/// Saves a session record (encoded as the session store reads it) and
/// announces the change, in one statement.
pub async fn save_session(
    pool: &PgPool,
    session_id: &str,
    data: &[u8],
    expiry: OffsetDateTime,
) -> MarketResult<()> {
    let changed = Changed::Session(session_key(session_id));
    sqlx::query_scalar!(
        r#"WITH saved AS (
               INSERT INTO tower_sessions.session (id, data, expiry_date) VALUES ($1, $2, $3)
               ON CONFLICT (id) DO UPDATE
                   SET data = excluded.data, expiry_date = excluded.expiry_date)
           SELECT 1 AS "sent!" FROM pg_notify($4, $5)"#,
        session_id,
        data,
        expiry,
        CHANNEL,
        changed.payload(),
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

/// Deletes a session and announces it, in one statement.
pub async fn delete_session(pool: &PgPool, session_id: &str) -> MarketResult<()> {
    let changed = Changed::Session(session_key(session_id));
    sqlx::query_scalar!(
        r#"WITH deleted AS (DELETE FROM tower_sessions.session WHERE id = $1)
           SELECT 1 AS "sent!" FROM pg_notify($2, $3)"#,
        session_id,
        CHANNEL,
        changed.payload(),
    )
    .fetch_one(pool)
    .await?;
    Ok(())
}

/// The key that signs the site's cookies, the same on every instance: the
/// stored one, or `generated` when there is none yet (the first instance to
/// start stores its own).
pub async fn cookie_key(pool: &PgPool, generated: &[u8]) -> MarketResult<Vec<u8>> {
    sqlx::query!(
        "INSERT INTO cookie_key (key) VALUES ($1) ON CONFLICT (id) DO NOTHING",
        generated,
    )
    .execute(pool)
    .await?;
    // A statement of its own: it sees the key another instance stored in
    // the moment between, which the insert's own snapshot may not.
    let key = sqlx::query_scalar!("SELECT key FROM cookie_key")
        .fetch_one(pool)
        .await?;
    Ok(key)
}

/// A user as every page's header shows them: the account and how many of
/// their notifications are unread, in one statement.
#[derive(Debug, Clone)]
pub struct Known {
    pub user: User,
    pub unread: i64,
}

/// The user with this id and their unread count, whatever their status.
pub async fn find_known(pool: &PgPool, id: i64) -> MarketResult<Option<Known>> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, u.name, u.role, u.status, u.password_hash,
                  (SELECT count(*) FROM notifications n
                    WHERE n.user_id = u.id AND n.read_at IS NULL) AS "unread!"
           FROM users u WHERE u.id = $1"#,
        id,
    )
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        let user = User::try_from(UserRow {
            id: row.id,
            email: row.email,
            name: row.name,
            role: row.role,
            status: row.status,
            password_hash: row.password_hash,
        })?;
        Ok(Known {
            user,
            unread: row.unread,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_read_back_as_written() {
        for changed in [Changed::Session(session_key("abc")), Changed::User(42)] {
            assert_eq!(Changed::parse(&changed.payload()), Some(changed));
        }
        assert_eq!(Changed::parse("user:x"), None);
        assert_eq!(Changed::parse("other:1"), None);
        assert_eq!(Changed::parse("nothing"), None);
        assert_eq!(session_key("abc").len(), 32);
        assert_ne!(session_key("abc"), session_key("abd"));
    }
}
