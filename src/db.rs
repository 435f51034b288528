//! The connection pool, database creation and migrations.

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres};

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Connects to `url`, creating the database first when the server is reachable
/// but the database does not exist yet.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let options: PgConnectOptions = url
        .parse()
        .with_context(|| format!("DATABASE_URL={url:?} is not a valid postgres:// URL"))?;
    match Postgres::database_exists(url).await {
        Ok(true) => {}
        Ok(false) => {
            Postgres::create_database(url)
                .await
                .with_context(|| format!("creating the database in {url}"))?;
            tracing::info!(database = options.get_database(), "created the database");
        }
        Err(err) => return Err(unreachable(url, err)),
    }
    pool_options()
        .connect_with(options)
        .await
        .map_err(|err| unreachable(url, err))
}

/// A connection idle for longer than this is pinged before it is handed
/// out; one used more recently is handed out at once (sqlx already pings
/// every connection when it comes back to the pool, and drops a broken one).
const PING_IDLE_AFTER: Duration = Duration::from_secs(30);

/// The pool's settings: a request waits at most 5 s for a connection, which
/// is pinged first only when it sat idle for [`PING_IDLE_AFTER`] (a ping on
/// every checkout was a round trip per statement run).
pub fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_IDLE_AFTER {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying the database migrations")
}

fn unreachable(url: &str, err: sqlx::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "Dhune cannot reach PostgreSQL at {url} ({err}).\n\n\
         Start a local server (on Debian: `pg_ctlcluster 15 main start`, or \
         `sudo service postgresql start`), make sure it accepts connections on that \
         host and port (`pg_isready -h 127.0.0.1 -p 5432`), or point Dhune at another \
         server by setting DATABASE_URL, for example \
         DATABASE_URL=postgres://user:password@host:5432/dhune. The database itself is \
         created on first start if the user may create databases."
    )
}
