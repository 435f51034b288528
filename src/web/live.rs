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
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use serde::Deserialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use tower_http::set_header::SetResponseHeaderLayer;

use tower_sessions::Session;
use tower_sessions::session::Id;

use super::AppState;
use super::csrf;
use super::error::AppError;
use super::extract::{Shell, SignedIn};
use super::fmt::ListQuery;
use super::orders::OrderPage;
use super::requests::RequestPage;
use crate::domain::account::Role;
use crate::domain::filter::BoardSort;
use crate::events::EventKind;
use crate::events::relay::{
    Delivery, Live, LiveEvent, SharedFragment, StreamSlot, UnreadCounts, Viewer,
};
use crate::market::accounts::User;
use crate::market::feed::{self, FeedEvent, Position};
use crate::market::requests::{self, OfferView, RequestSummary};
use crate::market::{MarketError, Paging, notifications, orders};

/// `X-Accel-Buffering: no` tells a reverse proxy (nginx) to pass each event
/// on as it comes instead of buffering the stream.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(events))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EventsQuery {
    last_event_id: String,
    /// The board's city filter, as the board page was drawn with it.
    city: String,
    /// The position the board was drawn at (its first `last_event_id`).
    drawn: String,
    /// The requests the board was drawn with, comma-separated: with
    /// `drawn`, the rows it shows, the only ones whose closing it is told of.
    rows: String,
}

/// Replays read this many events from the table at a time.
const REPLAY_PAGE: i64 = 500;
/// A client whose first missed event is older than this is told to reload
/// its page instead of being replayed a day of events.
const REPLAY_WINDOW: time::Duration = time::Duration::hours(24);
/// The most rows a board's stream is told it was drawn with (a page has
/// [`Paging::PER_PAGE`]).
const BOARD_ROWS_MOST: usize = 100;
/// A board's stream that reopens reads at most this many pages of
/// [`REPLAY_PAGE`] events to learn which rows were added since the board was
/// drawn; past it, it is told of every request that closes.
const BOARD_CATCH_UP_PAGES: usize = 4;

async fn events(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    session: Session,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, AppError> {
    let csrf_token = csrf::token(&session).await?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(&query.last_event_id)
        .parse::<Position>()
        .ok();
    // Compared with a row's city as the board's query does (`lower()`).
    let board_city = Some(
        ListQuery {
            city: query.city,
            ..ListQuery::default()
        }
        .city()
        .to_lowercase(),
    )
    .filter(|city| !city.is_empty());
    let mut board_rows = BoardRows::drawn_with(&query.rows);
    let slot = state.live.open_stream(Viewer {
        user_id: user.id,
        role: user.role,
        city: board_city.clone(),
    });
    let head = state.live.head();
    let mut connection = Connection {
        pool: state.pool.clone(),
        live: state.live.clone(),
        dispute_window: state.config.dispute_window,
        provider: state.config.payments.provider,
        csrf_token,
        session_id: session.id(),
        recheck: tokio::time::interval_at(
            tokio::time::Instant::now() + state.config.stream_recheck,
            state.config.stream_recheck,
        ),
        user,
        board_city,
        board_rows: None,
        board_shown: false,
        slot,
        cursor: last.map_or(head, |last| last.max(head)),
        replay_upto: None,
        reload: false,
        backlog: VecDeque::new(),
    };
    if let Some(last) = last.filter(|last| *last < head) {
        let first_missed = feed::first_missed_at(&state.pool, last).await?;
        if first_missed.is_some_and(|at| at < OffsetDateTime::now_utc() - REPLAY_WINDOW) {
            connection.reload = true;
        } else {
            connection.cursor = last;
            connection.replay_upto = Some(head);
        }
    }
    if connection.user.role == Role::Vendor && !connection.reload {
        // A board that reopens its stream shows the rows it was drawn with
        // and those its earlier streams added, up to where they got.
        if let (Ok(drawn), Some(upto)) = (query.drawn.parse::<Position>(), last) {
            board_rows = board_rows
                .catch_up(&state.pool, &connection.user, drawn, upto)
                .await?;
        }
        connection.board_rows = Some(board_rows);
    }
    let stream = futures_util::stream::unfold(connection, |mut connection| async move {
        loop {
            let frame = match connection.next().await? {
                Next::Event(event) if connection.passes_over(&event) => continue,
                // Boxed: drawing a fragment awaits reads an idle stream
                // should not keep room for.
                Next::Event(event) => Box::pin(connection.render(&event)).await,
                Next::Reload => Some(connection.reload_frame()),
            };
            if let Some(frame) = frame {
                return Some((Ok(frame), connection));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// One client's place in the feed.
struct Connection {
    pool: PgPool,
    live: Live,
    dispute_window: time::Duration,
    /// The configured payment provider, named on the order page.
    provider: crate::domain::ledger::Provider,
    /// For the forms inside pushed fragments (the order's actions).
    csrf_token: String,
    /// The session the stream was opened with; once it ends (logout,
    /// expiry) or the user is suspended, the stream ends too.
    session_id: Option<Id>,
    recheck: tokio::time::Interval,
    user: User,
    /// The filter of the board the stream was opened from, in lower case:
    /// new requests outside it draw no row.
    board_city: Option<String>,
    /// For vendors, the board rows the page may show: only their closing
    /// is sent.
    board_rows: Option<BoardRows>,
    /// Whether the hub was told which rows the board shows (once what the
    /// stream replays first has been sent).
    board_shown: bool,
    slot: StreamSlot,
    /// The last position sent (or replayed); nothing at or before it is sent again.
    cursor: Position,
    /// While set, what the user missed up to here is read from the table,
    /// a page at a time, before anything live.
    replay_upto: Option<Position>,
    /// The gap is older than the replay window: tell the page to reload.
    reload: bool,
    backlog: VecDeque<Arc<LiveEvent>>,
}

enum Next {
    Event(Arc<LiveEvent>),
    Reload,
}

impl Connection {
    /// The next thing to send this user; `None` ends the stream.
    async fn next(&mut self) -> Option<Next> {
        loop {
            if std::mem::take(&mut self.reload) {
                return Some(Next::Reload);
            }
            if let Some(live) = self.backlog.pop_front() {
                self.cursor = self.cursor.max(live.event.position);
                return Some(Next::Event(live));
            }
            if let Some(upto) = self.replay_upto {
                // Boxed, as the check below: an idle stream keeps no room
                // for the reads it seldom makes.
                let page = Box::pin(feed::visible_between(
                    &self.pool,
                    &self.user,
                    self.cursor,
                    upto,
                    REPLAY_PAGE,
                ))
                .await;
                match page {
                    Ok(page) => {
                        if (page.len() as i64) < REPLAY_PAGE {
                            self.replay_upto = None;
                        }
                        let unread = Arc::new(UnreadCounts::default());
                        self.backlog.extend(
                            page.into_iter()
                                .map(|e| Arc::new(LiveEvent::new(e, unread.clone()))),
                        );
                        continue;
                    }
                    Err(err) => {
                        tracing::warn!(error = ?err, "SSE replay failed; closing the stream");
                        return None;
                    }
                }
            }
            if !std::mem::replace(&mut self.board_shown, true)
                && let Some(BoardRows::Only(rows)) = &self.board_rows
            {
                self.slot.show_rows(rows);
            }
            tokio::select! {
                biased;
                _ = self.recheck.tick() => {
                    let session_id = self.session_id.map(|id| id.to_string()).unwrap_or_default();
                    match Box::pin(feed::still_signed_in(&self.pool, &session_id, self.user.id)).await {
                        Ok(true) => {}
                        Ok(false) => return None,
                        Err(err) => tracing::warn!(error = ?err, "checking an SSE client's session"),
                    }
                }
                delivery = self.slot.next() => match delivery {
                    Delivery::Event(live) if self.ends_stream(&live.event) => return None,
                    Delivery::Event(live)
                        if live.event.position > self.cursor
                            && live.event.visible_to(&self.user) =>
                    {
                        self.cursor = live.event.position;
                        return Some(Next::Event(live));
                    }
                    Delivery::Event(_) => {}
                    Delivery::Lagged => {
                        // Too slow for the hub: re-read what was missed from
                        // the table instead of holding it in memory.
                        tracing::debug!(user = self.user.id, "SSE client lagged; re-syncing");
                        self.replay_upto = Some(self.live.head());
                    }
                    Delivery::Replaced => {
                        tracing::debug!(user = self.user.id, "a newer stream of this user replaced this one");
                        return None;
                    }
                },
            }
        }
    }

    /// A suspension of this user ends their stream at once.
    fn ends_stream(&self, event: &FeedEvent) -> bool {
        event.kind == EventKind::UserSuspended && event.audience.contains(&self.user.id)
    }

    fn reload_frame(&self) -> Event {
        let html = ReloadNotice.render().unwrap_or_else(|err| {
            tracing::error!(error = %err, "rendering the reload notice");
            String::new()
        });
        Event::default()
            .event(RELOAD)
            .id(self.cursor.to_string())
            .data(html)
    }
}

/// The SSE event that tells a page it is too far behind to catch up.
const RELOAD: &str = "reload";

#[derive(Template)]
#[template(path = "partials/reload.html")]
struct ReloadNotice;

#[derive(Template)]
#[template(path = "partials/event.html")]
struct EventFragment<'a> {
    kind: &'static str,
    text: String,
    link: Option<String>,
    event: &'a FeedEvent,
}

/// What an event says to this viewer (the line its notification has, for
/// the people it concerns), and where it leads.
fn describe(event: &FeedEvent, viewer: &User) -> (String, Option<String>) {
    let text = event.story().line(event.concerns(viewer));
    let request = event.request_id.map(|id| format!("/requests/{id}"));
    let order = event.order_id.map(|id| format!("/orders/{id}"));
    let link = match event.kind {
        EventKind::RequestCreated
        | EventKind::OfferCreated
        | EventKind::OfferUpdated
        | EventKind::OfferWithdrawn => request,
        EventKind::OfferAccepted
        | EventKind::OrderCreated
        | EventKind::OrderStatusUpdated
        | EventKind::OrderCancelled
        | EventKind::DisputeOpened
        | EventKind::DisputeResolved
        | EventKind::PaymentSucceeded
        | EventKind::PaymentFailed
        | EventKind::PaymentRefunded => order,
        EventKind::PayoutIssued | EventKind::PayoutPaid => {
            event.facts.statement.map(|id| format!("/payouts/{id}"))
        }
        EventKind::RequestCancelled
        | EventKind::RequestExpired
        | EventKind::RequestClosed
        | EventKind::OfferRejected
        | EventKind::OfferExpired
        | EventKind::UserSuspended
        | EventKind::UserReinstated => None,
    };
    (text, link)
}

impl Connection {
    /// Whether this stream lets an event pass without a frame, decided
    /// without reading or drawing anything: a request closing off the
    /// vendor's board, a new one the board already shows (its page was
    /// drawn before the relay passed the event on), or a new one outside its
    /// city once its row is drawn.
    fn passes_over(&self, live: &LiveEvent) -> bool {
        let event = &live.event;
        if self.user.role != Role::Vendor || self.is_notified(event) {
            return false;
        }
        match (event.kind, event.request_id) {
            (kind, Some(id)) if kind.closes_request() => {
                self.board_rows.as_ref().is_some_and(|rows| !rows.shows(id))
            }
            (EventKind::RequestCreated, Some(id))
                if self.board_rows.as_ref().is_some_and(|rows| rows.has(id)) =>
            {
                true
            }
            (EventKind::RequestCreated, Some(_)) => match live.shared_fragment.get() {
                Some(Some(row)) => !self.takes_row(row),
                Some(None) => true,
                None => false,
            },
            _ => false,
        }
    }

    /// The event as an SSE frame: the record's own partial for this viewer
    /// when there is one (a board row, an offer card, the order section),
    /// otherwise a one-line notice; `None` when it changes nothing on the
    /// viewer's page.
    async fn render(&mut self, live: &LiveEvent) -> Option<Event> {
        let event = &live.event;
        let vendor = self.user.role == Role::Vendor;
        let fragment = if vendor && shares_fragment(event.kind) {
            match live
                .shared_fragment
                .get_or_try_init(|| self.shared_fragment(event))
                .await
            {
                Ok(Some(shared)) if self.takes_row(shared) => Ok(Some(shared.html.clone())),
                Ok(_) => Ok(None),
                Err(err) => Err(err),
            }
        } else if reads_record(event.kind) {
            live.viewer_fragment(self.user.id, &self.csrf_token)
                .get_or_try_init(|| self.record_fragment(event))
                .await
                .cloned()
        } else {
            self.record_fragment(event).await
        };
        let notified = self.is_notified(event);
        let mut html = match fragment {
            Ok(Some(html)) => {
                if let (Some(rows), Some(id)) = (&mut self.board_rows, event.request_id) {
                    rows.follow(event.kind, id);
                }
                html
            }
            // A new request off this vendor's board sends nothing (the
            // board's rows are the only place it would go).
            Ok(None) if vendor && event.kind == EventKind::RequestCreated => return None,
            Ok(None) => self.notice(event),
            Err(err) => {
                tracing::warn!(error = ?err, kind = %event.kind, "rendering a live fragment");
                self.notice(event)
            }
        };
        if notified {
            html.push_str(&self.unread_badge(live).await);
        }
        Some(
            Event::default()
                .event(event.kind.as_str())
                .id(event.position.to_string())
                .data(html),
        )
    }

    /// Whether a shared row goes on this stream's board (its city filter).
    fn takes_row(&self, shared: &SharedFragment) -> bool {
        match (&self.board_city, &shared.city) {
            (Some(board), Some(city)) => board == city,
            _ => true,
        }
    }

    /// The shell a pushed fragment's forms need: the viewer and their token.
    fn shell(&self) -> Shell {
        Shell {
            user: Some(self.user.clone()),
            csrf_token: self.csrf_token.clone(),
            flashes: Vec::new(),
            unread: 0,
        }
    }

    /// Whether this event made a notification for this viewer.
    fn is_notified(&self, event: &FeedEvent) -> bool {
        event.kind.notifies() && event.concerns(&self.user)
    }

    /// The header's unread count, swapped in place (out of band); read
    /// once for all of the viewer's streams.
    async fn unread_badge(&self, live: &LiveEvent) -> String {
        let cell = live.viewer_unread(self.user.id);
        let unread = cell
            .get_or_try_init(|| notifications::unread_count(&self.pool, self.user.id))
            .await;
        let unread = match unread {
            Ok(unread) => *unread,
            Err(err) => {
                tracing::warn!(error = ?err, "counting unread notifications");
                return String::new();
            }
        };
        UnreadBadge { unread, live: true }
            .render()
            .unwrap_or_default()
    }

    fn notice(&self, event: &FeedEvent) -> String {
        let (text, link) = describe(event, &self.user);
        let fragment = EventFragment {
            kind: event.kind.as_str(),
            text,
            link,
            event,
        };
        fragment.render().unwrap_or_else(|err| {
            tracing::error!(error = %err, "rendering an event notice");
            String::new()
        })
    }

    /// A vendor's fragment for a kind that is the same for every vendor:
    /// a new request's board row (nobody has offered on it yet; boards
    /// filtered by city compare its city), and the removal of a closed one.
    async fn shared_fragment(&self, event: &FeedEvent) -> anyhow::Result<Option<SharedFragment>> {
        match (event.kind, event.request_id) {
            (EventKind::RequestCreated, Some(id)) => {
                let page = requests::open_requests_for_board(
                    &self.pool,
                    &self.user,
                    None,
                    Some(id),
                    BoardSort::Newest,
                    Paging::new(None),
                )
                .await?;
                match page.items.into_iter().next() {
                    Some(r) => Ok(Some(SharedFragment {
                        city: Some(r.city.to_lowercase()),
                        html: BoardRow { r }.render()?,
                    })),
                    None => Ok(None),
                }
            }
            (kind, Some(id)) if kind.closes_request() => Ok(Some(SharedFragment {
                html: RemoveRow { id }.render()?,
                city: None,
            })),
            _ => Ok(None),
        }
    }

    /// This viewer's fragment of an event about an offer or an order.
    async fn record_fragment(&self, event: &FeedEvent) -> anyhow::Result<Option<String>> {
        let user = &self.user;
        let vendor = user.role == Role::Vendor;
        match (event.kind, event.request_id, event.offer_id, event.order_id) {
            (
                EventKind::OfferCreated
                | EventKind::OfferUpdated
                | EventKind::OfferWithdrawn
                | EventKind::OfferAccepted
                | EventKind::OfferRejected
                | EventKind::OfferExpired,
                Some(request_id),
                Some(offer_id),
                _,
            ) => {
                // A vendor sees their own offers, even once the request has
                // closed (so a losing offer shows "not chosen").
                let view = match requests::get_request(&self.pool, user, request_id).await {
                    Ok(view) => view,
                    Err(MarketError::NotFound) => return Ok(None),
                    Err(err) => return Err(err.into()),
                };
                let can_accept = view.is_owner && view.is_open;
                let offers = view.offers.clone();
                // Once an offer is settled, the page switches: the owner's
                // to "order created", a vendor's to their outcome, without
                // the offer forms.
                let summary = match event.kind {
                    EventKind::OfferAccepted if !vendor => {
                        Some(RequestPage::live_summary(self.shell(), view).outcome(false)?)
                    }
                    EventKind::OfferAccepted
                    | EventKind::OfferRejected
                    | EventKind::OfferExpired
                        if vendor && !view.is_open =>
                    {
                        Some(RequestPage::live_summary(self.shell(), view).outcome(true)?)
                    }
                    _ => None,
                };
                let Some(offer) = offers.into_iter().find(|o| o.id == offer_id) else {
                    return Ok(None);
                };
                // A new offer is appended to the offers (its vendor already
                // has it on the page they were sent to, and loses the board
                // row); a changed one replaces its card wherever it is shown.
                let created = event.kind == EventKind::OfferCreated;
                let card = OfferCard {
                    offer,
                    can_accept,
                    live: !created,
                    show_card: !(vendor && created),
                    remove_row: (vendor && created).then_some(request_id),
                };
                Ok(Some(
                    card.render()? + summary.as_deref().unwrap_or_default(),
                ))
            }
            (
                EventKind::OrderCreated
                | EventKind::OrderStatusUpdated
                | EventKind::OrderCancelled
                | EventKind::DisputeOpened
                | EventKind::DisputeResolved
                | EventKind::PaymentSucceeded
                | EventKind::PaymentFailed
                | EventKind::PaymentRefunded,
                _,
                _,
                Some(order_id),
            ) => {
                let order = match orders::get_order(&self.pool, user, order_id, self.dispute_window)
                    .await
                {
                    Ok(order) => order,
                    Err(MarketError::NotFound) => return Ok(None),
                    Err(err) => return Err(err.into()),
                };
                let page = OrderPage::new(self.shell(), order, self.provider, String::new(), true);
                Ok(Some(page.live_parts()?))
            }
            _ => Ok(None),
        }
    }
}

/// Kinds whose fragment is the same for every vendor: a new request's
/// board row and the removal of a closed one.
fn shares_fragment(kind: EventKind) -> bool {
    kind == EventKind::RequestCreated || kind.closes_request()
}

/// Kinds whose fragment reads its record for the viewer (an offer card and
/// the request's summary, the order's parts): read and drawn once per
/// viewer, whatever the number of their streams.
fn reads_record(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::OfferCreated
            | EventKind::OfferUpdated
            | EventKind::OfferWithdrawn
            | EventKind::OfferAccepted
            | EventKind::OfferRejected
            | EventKind::OfferExpired
            | EventKind::OrderCreated
            | EventKind::OrderStatusUpdated
            | EventKind::OrderCancelled
            | EventKind::DisputeOpened
            | EventKind::DisputeResolved
            | EventKind::PaymentSucceeded
            | EventKind::PaymentFailed
            | EventKind::PaymentRefunded
    )
}

/// The board rows a vendor's page may show: a request closing is sent only
/// when its row may be there (drawn with the board, or added live since).
enum BoardRows {
    /// The ids of these requests, sorted.
    Only(Vec<i64>),
    /// Too much happened since the board was drawn to follow it: every
    /// request's closing is sent.
    All,
}

impl BoardRows {
    /// The rows a board says it was drawn with (`?rows=`); none for a
    /// stream that is not a board's.
    fn drawn_with(rows: &str) -> Self {
        let mut ids: Vec<i64> = rows
            .split(',')
            .filter_map(|id| id.trim().parse().ok())
            .take(BOARD_ROWS_MOST)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        BoardRows::Only(ids)
    }

    fn shows(&self, request_id: i64) -> bool {
        match self {
            BoardRows::Only(_) => self.has(request_id),
            BoardRows::All => true,
        }
    }

    /// Whether the row is known to be on the board.
    fn has(&self, request_id: i64) -> bool {
        match self {
            BoardRows::Only(ids) => ids.binary_search(&request_id).is_ok(),
            BoardRows::All => false,
        }
    }

    /// A row drawn for a new request joins the board; a closed request's
    /// leaves it.
    fn follow(&mut self, kind: EventKind, request_id: i64) {
        let BoardRows::Only(ids) = self else {
            return;
        };
        match ids.binary_search(&request_id) {
            Err(at) if kind == EventKind::RequestCreated => ids.insert(at, request_id),
            Ok(at) if kind.closes_request() => {
                ids.remove(at);
            }
            _ => {}
        }
    }

    /// The rows after what the vendor's earlier streams of this board sent
    /// between `drawn` and `upto`: every new request may have been added
    /// (filters aside), every closed one removed.
    async fn catch_up(
        mut self,
        pool: &PgPool,
        user: &User,
        drawn: Position,
        upto: Position,
    ) -> Result<Self, MarketError> {
        let mut from = drawn;
        for _ in 0..BOARD_CATCH_UP_PAGES {
            if from >= upto {
                return Ok(self);
            }
            let page = feed::visible_between(pool, user, from, upto, REPLAY_PAGE).await?;
            let full = page.len() as i64 == REPLAY_PAGE;
            for event in &page {
                from = event.position;
                if let Some(id) = event.request_id {
                    self.follow(event.kind, id);
                }
            }
            if !full {
                return Ok(self);
            }
        }
        Ok(BoardRows::All)
    }
}

#[derive(Template)]
#[template(path = "partials/board_row.html")]
struct BoardRow {
    r: RequestSummary,
}

#[derive(Template)]
#[template(path = "partials/unread.html")]
struct UnreadBadge {
    unread: i64,
    live: bool,
}

#[derive(Template)]
#[template(path = "partials/remove_row.html")]
struct RemoveRow {
    id: i64,
}

#[derive(Template)]
#[template(path = "partials/offer_live.html")]
struct OfferCard {
    offer: OfferView,
    can_accept: bool,
    live: bool,
    show_card: bool,
    remove_row: Option<i64>,
}
