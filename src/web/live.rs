//! `GET /events`: the signed-in user's live events as server-sent events.
//! The SSE `id` is the feed position; a client that reconnects with
//! `Last-Event-ID` (or `?last_event_id=` on its first connect) first gets
//! every event it may see that it missed, from the table.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::broadcast::{self, error::RecvError};

use super::AppState;
use super::error::AppError;
use super::extract::SignedIn;
use crate::domain::account::Role;
use crate::events::EventKind;
use crate::events::relay::Live;
use crate::market::accounts::User;
use crate::market::feed::{self, FeedEvent, Position};

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventsQuery {
    last_event_id: String,
}

async fn events(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(&query.last_event_id)
        .parse::<Position>()
        .ok();
    let (receiver, head) = state.live.subscribe();
    let backlog = match last {
        Some(last) if last < head => feed::visible_between(&state.pool, &user, last, head).await?,
        _ => Vec::new(),
    };
    let connection = Connection {
        pool: state.pool.clone(),
        live: state.live.clone(),
        user,
        receiver,
        cursor: last.map_or(head, |last| last.max(head)),
        backlog: backlog.into_iter().map(Arc::new).collect(),
    };
    let stream = futures_util::stream::unfold(connection, |mut connection| async move {
        let event = connection.next().await?;
        let frame = render(&event, &connection.user);
        Some((Ok(frame), connection))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One client's place in the feed.
struct Connection {
    pool: PgPool,
    live: Live,
    user: User,
    receiver: broadcast::Receiver<Arc<FeedEvent>>,
    /// The last position sent (or replayed); nothing at or before it is sent again.
    cursor: Position,
    backlog: VecDeque<Arc<FeedEvent>>,
}

impl Connection {
    /// The next event this user may see; `None` ends the stream.
    async fn next(&mut self) -> Option<Arc<FeedEvent>> {
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.cursor = self.cursor.max(event.position);
                return Some(event);
            }
            match self.receiver.recv().await {
                Ok(event) if event.position > self.cursor && event.visible_to(&self.user) => {
                    self.cursor = event.position;
                    return Some(event);
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    // Too slow for the hub: re-read what was missed from the
                    // table instead of holding it in memory.
                    tracing::debug!(missed, user = self.user.id, "SSE client lagged; re-syncing");
                    let head = self.live.head();
                    match feed::visible_between(&self.pool, &self.user, self.cursor, head).await {
                        Ok(missed) => self.backlog.extend(missed.into_iter().map(Arc::new)),
                        Err(err) => {
                            tracing::warn!(error = ?err, "SSE re-sync failed; closing the stream");
                            return None;
                        }
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

#[derive(Template)]
#[template(path = "partials/event.html")]
struct EventFragment<'a> {
    kind: &'static str,
    text: String,
    link: Option<String>,
    event: &'a FeedEvent,
}

/// What an event says to this viewer, and where it leads.
fn describe(event: &FeedEvent, viewer: &User) -> (String, Option<String>) {
    let request = event.request_id.unwrap_or_default();
    let order = event.order_id.unwrap_or_default();
    let request_link = Some(format!("/requests/{request}"));
    let order_link = Some(format!("/orders/{order}"));
    match event.kind {
        EventKind::RequestCreated => (format!("New request #{request}"), request_link),
        EventKind::RequestCancelled => (format!("Request #{request} was cancelled"), None),
        EventKind::RequestExpired => (format!("Request #{request} expired"), None),
        EventKind::OfferCreated => (format!("New offer on request #{request}"), request_link),
        EventKind::OfferUpdated => (
            format!("An offer on request #{request} changed"),
            request_link,
        ),
        EventKind::OfferWithdrawn => (
            format!("An offer on request #{request} was withdrawn"),
            request_link,
        ),
        EventKind::OfferAccepted if viewer.role == Role::Vendor => (
            format!("Your offer was accepted: order #{order}"),
            order_link,
        ),
        EventKind::OfferAccepted => (format!("Offer accepted: order #{order}"), order_link),
        EventKind::OfferRejected if viewer.role == Role::Vendor => (
            format!("Your offer on request #{request} was not chosen"),
            None,
        ),
        EventKind::OfferRejected => (format!("An offer on request #{request} was declined"), None),
        EventKind::OfferExpired => (format!("An offer on request #{request} expired"), None),
        EventKind::OrderCreated => (format!("Order #{order} was created"), order_link),
        EventKind::OrderStatusUpdated => (format!("Order #{order} moved on"), order_link),
        EventKind::OrderCancelled => (format!("Order #{order} was cancelled"), order_link),
        EventKind::DisputeOpened => (
            format!("A dispute was opened on order #{order}"),
            order_link,
        ),
        EventKind::DisputeResolved => (
            format!("The dispute on order #{order} was resolved"),
            order_link,
        ),
    }
}

fn render(event: &FeedEvent, viewer: &User) -> Event {
    let (text, link) = describe(event, viewer);
    let fragment = EventFragment {
        kind: event.kind.as_str(),
        text,
        link,
        event,
    };
    let html = fragment.render().unwrap_or_else(|err| {
        tracing::error!(error = %err, "rendering an event fragment");
        String::new()
    });
    Event::default()
        .event(event.kind.as_str())
        .id(event.position.to_string())
        .data(html)
}
