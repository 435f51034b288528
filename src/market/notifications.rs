//! Notifications: each event becomes a note for each person it concerns.
//! Delivery sits behind [`Deliver`]; the in-app one (rows in
//! `notifications`, in the event's own transaction) is the one there is, and
//! email or SMS would be further implementations.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

use super::accounts::User;
use super::{MarketError, MarketResult, Paged, Paging, identity};
use crate::events::Note;

/// An event to tell people about: its id, the people it concerns and what
/// they are told.
pub struct Delivery {
    pub event_id: i64,
    pub to: Vec<i64>,
    pub note: Note,
}

/// A way of telling people about events, all of one transaction's at once.
pub trait Deliver {
    fn deliver(
        &self,
        tx: &mut PgConnection,
        deliveries: &[Delivery],
    ) -> impl Future<Output = MarketResult<()>> + Send;
}

/// In-app notifications: a row per person, shown on /notifications and
/// counted in the header.
pub struct InApp;

impl Deliver for InApp {
    /// One insert for every person of every event.
    async fn deliver(&self, tx: &mut PgConnection, deliveries: &[Delivery]) -> MarketResult<()> {
        let rows = deliveries
            .iter()
            .flat_map(|delivery| delivery.to.iter().map(move |&person| (person, delivery)));
        let (mut people, mut events, mut titles, mut links) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (person, delivery) in rows {
            people.push(person);
            events.push(delivery.event_id);
            titles.push(delivery.note.title.as_str());
            links.push(delivery.note.link.as_str());
        }
        sqlx::query!(
            r#"INSERT INTO notifications (user_id, event_id, title, link)
               SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[])
               ON CONFLICT (user_id, event_id) DO NOTHING"#,
            &people,
            &events,
            &titles as &[&str],
            &links as &[&str],
        )
        .execute(tx)
        .await?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Notification {
    pub id: i64,
    pub title: String,
    pub link: String,
    pub read: bool,
    pub created_at: OffsetDateTime,
}

/// The user's notifications, newest first.
pub async fn list(pool: &PgPool, user: &User, paging: Paging) -> MarketResult<Paged<Notification>> {
    let rows = sqlx::query!(
        r#"SELECT id, title, link, read_at IS NOT NULL AS "read!", created_at FROM notifications
           WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"#,
        user.id,
        paging.limit(),
        paging.offset(),
    )
    .fetch_all(pool)
    .await?;
    let items = rows
        .into_iter()
        .map(|r| Notification {
            id: r.id,
            title: r.title,
            link: r.link,
            read: r.read,
            created_at: r.created_at,
        })
        .collect();
    Ok(paging.finish(items))
}

/// How many of the user's notifications are unread.
pub async fn unread_count(pool: &PgPool, user_id: i64) -> MarketResult<i64> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM notifications WHERE user_id = $1 AND read_at IS NULL"#,
        user_id
    )
    .fetch_one(pool)
    .await?)
}

/// Marks one of the user's notifications read; others' are not found.
pub async fn mark_read(pool: &PgPool, user: &User, id: i64) -> MarketResult<()> {
    let found = sqlx::query!(
        "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2",
        id,
        user.id
    )
    .execute(pool)
    .await?;
    if found.rows_affected() == 0 {
        return Err(MarketError::NotFound);
    }
    identity::announce(pool, &identity::Changed::User(user.id)).await
}

/// Marks all of the user's notifications read.
pub async fn mark_all_read(pool: &PgPool, user: &User) -> MarketResult<()> {
    sqlx::query!(
        "UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL",
        user.id
    )
    .execute(pool)
    .await?;
    identity::announce(pool, &identity::Changed::User(user.id)).await
}
