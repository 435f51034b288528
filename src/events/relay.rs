//! The relay: one task per server instance reads committed outbox rows in
//! feed order and hands them to the in-process hub, which every SSE
//! connection of this instance subscribes to.
//!
//! It polls every [`POLL`] instead of waiting for a NOTIFY, so nothing is
//! added to the transactions that write events (DESIGN.md measured NOTIFY
//! in a busy transaction at 22–48% fewer accepts per second). A poll that
//! finds nothing new is one index lookup; only when there is something new
//! does the relay pass the commit fence (`market::feed::fence`) to learn up
//! to which id everything is final.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, OnceCell, broadcast, watch};

use crate::market::MarketResult;
use crate::market::feed::{self, FeedEvent, Position};

/// How often the relay looks for new events.
pub const POLL: Duration = Duration::from_millis(100);
/// How long the relay waits at the fence for event writers to commit; new
/// writers queue behind it for at most this long.
const FENCE_WAIT: Duration = Duration::from_millis(50);
/// How long a starting relay waits at the fence.
const START_WAIT: Duration = Duration::from_secs(5);
/// Events kept for subscribers that fall behind; one that falls further
/// behind re-reads what it missed from the table.
const CAPACITY: usize = 4096;
const BATCH: i64 = 1000;
/// Live streams one user may have open on one instance; opening another
/// closes the oldest (a browser keeps a few tabs; a script opening hundreds
/// gets no more work done).
pub const STREAMS_PER_USER: usize = 8;

/// An event as the hub hands it on, with room for what its viewers' streams
/// draw from it, so that each is read and drawn once per event instead of
/// once per connection: a fragment that is the same for every viewer of one
/// kind (a board row for vendors), and each viewer's own fragment and
/// unread count (shared by the streams of one user).
pub struct LiveEvent {
    pub event: FeedEvent,
    pub shared_fragment: OnceCell<Option<SharedFragment>>,
    viewers: Mutex<Viewers>,
}

/// A fragment drawn once for every viewer of one kind.
pub struct SharedFragment {
    pub html: String,
    /// The city of the request a board row shows, in lower case, for the
    /// boards that filter by city.
    pub city: Option<String>,
}

/// A fragment one viewer's streams draw once for an event (`None`: it has none).
pub type ViewerFragment = Arc<OnceCell<Option<String>>>;

/// What the streams of each viewer drew for one event; empty (and
/// unallocated) until a viewer's stream needs it.
#[derive(Default)]
struct Viewers {
    /// A viewer's fragment, by user and the form token it carries (the
    /// streams of one session share it).
    fragments: Vec<(i64, String, ViewerFragment)>,
    /// A viewer's unread count once this event was written.
    unread: Vec<(i64, Arc<OnceCell<i64>>)>,
}

impl LiveEvent {
    pub fn new(event: FeedEvent) -> Self {
        Self {
            event,
            shared_fragment: OnceCell::new(),
            viewers: Mutex::default(),
        }
    }

    /// The fragment of this event for `user_id`'s streams that carry
    /// `form_token`, drawn by the first of them to get there.
    pub fn viewer_fragment(&self, user_id: i64, form_token: &str) -> ViewerFragment {
        let mut viewers = self.viewers.lock().unwrap_or_else(PoisonError::into_inner);
        let found = viewers
            .fragments
            .iter()
            .find(|(user, token, _)| *user == user_id && token == form_token);
        if let Some((_, _, cell)) = found {
            return cell.clone();
        }
        let cell = Arc::new(OnceCell::new());
        viewers
            .fragments
            .push((user_id, form_token.to_owned(), cell.clone()));
        cell
    }

    /// `user_id`'s unread count as of this event, read by the first of
    /// their streams to get there.
    pub fn viewer_unread(&self, user_id: i64) -> Arc<OnceCell<i64>> {
        let mut viewers = self.viewers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, cell)) = viewers.unread.iter().find(|(user, _)| *user == user_id) {
            return cell.clone();
        }
        let cell = Arc::new(OnceCell::new());
        viewers.unread.push((user_id, cell.clone()));
        cell
    }
}

/// This instance's hub: subscribe to live events, know how far the relay
/// has read, and keep each user's streams within [`STREAMS_PER_USER`].
#[derive(Clone)]
pub struct Live {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    head: watch::Receiver<Position>,
    streams: Arc<Mutex<Streams>>,
}

impl Live {
    /// A receiver of every event from now on, and the position the relay had
    /// reached when it was made (everything up to it comes from the table).
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<LiveEvent>>, Position) {
        let receiver = self.sender.subscribe();
        (receiver, *self.head.borrow())
    }

    pub fn head(&self) -> Position {
        *self.head.borrow()
    }

    /// Registers a stream of `user_id`; when they already have
    /// [`STREAMS_PER_USER`] open, the oldest is told to close.
    pub fn open_stream(&self, user_id: i64) -> StreamSlot {
        let closed = Arc::new(Notify::new());
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        streams.next_id += 1;
        let id = streams.next_id;
        let open = streams.by_user.entry(user_id).or_default();
        open.push_back((id, closed.clone()));
        while open.len() > STREAMS_PER_USER {
            if let Some((_, oldest)) = open.pop_front() {
                oldest.notify_one();
            }
        }
        StreamSlot {
            id,
            user_id,
            closed,
            streams: self.streams.clone(),
        }
    }
}

#[derive(Default)]
struct Streams {
    next_id: u64,
    by_user: HashMap<i64, VecDeque<(u64, Arc<Notify>)>>,
}

/// One open stream's place among its user's streams; dropping it frees it.
pub struct StreamSlot {
    id: u64,
    user_id: i64,
    closed: Arc<Notify>,
    streams: Arc<Mutex<Streams>>,
}

impl StreamSlot {
    /// Resolves when a newer stream of the same user has pushed this one out.
    pub async fn closed(&self) {
        self.closed.notified().await;
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.streams.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = streams.by_user.get_mut(&self.user_id) {
            open.retain(|(id, _)| *id != self.id);
            if open.is_empty() {
                streams.by_user.remove(&self.user_id);
            }
        }
    }
}

/// Starts the relay at the newest committed event and returns its hub. The
/// task ends when the hub and every subscriber are gone.
pub async fn start(pool: PgPool) -> anyhow::Result<Live> {
    let start = feed::fence(&pool, START_WAIT).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "a transaction writing live events held the event fence for more than {START_WAIT:?}"
        )
    })?;
    let (sender, _) = broadcast::channel(CAPACITY);
    let (head_sender, head) = watch::channel(start);
    let live = Live {
        sender: sender.clone(),
        head,
        streams: Arc::default(),
    };
    tokio::spawn(run(pool, sender, head_sender, start));
    Ok(live)
}

async fn run(
    pool: PgPool,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    head: watch::Sender<Position>,
    mut position: Position,
) {
    loop {
        if head.is_closed() && sender.receiver_count() == 0 {
            return;
        }
        // One pass per poll, even while events keep coming: what a busy
        // poll finds is handed on together, so each stream wakes once for
        // it (not once per event), and writers meet the fence at most once
        // a poll.
        let next_poll = tokio::time::Instant::now() + POLL;
        match relay_once(&pool, &sender, &head, position).await {
            Ok(reached) => {
                position = reached;
                tokio::time::sleep_until(next_poll).await;
            }
            Err(err) => {
                // The pool reconnects; we resume from the same position, so
                // nothing is skipped (connections drop what they already sent).
                tracing::warn!(error = ?err, %position, "relay cannot read events; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Hands on every event after `position` that is final now; returns the
/// position reached.
async fn relay_once(
    pool: &PgPool,
    sender: &broadcast::Sender<Arc<LiveEvent>>,
    head: &watch::Sender<Position>,
    position: Position,
) -> MarketResult<Position> {
    if feed::newest(pool).await? <= position {
        return Ok(position);
    }
    let Some(upto) = feed::fence(pool, FENCE_WAIT).await? else {
        return Ok(position);
    };
    // The head moves first: a stream that subscribes from here on replays
    // up to it from the table and drops what it then receives twice.
    head.send_replace(upto);
    let mut from = position;
    loop {
        let events = feed::committed_between(pool, from, upto, BATCH).await?;
        let full = events.len() as i64 == BATCH;
        for event in events {
            from = event.position;
            // No subscriber is fine: the event stays in the table.
            let _ = sender.send(Arc::new(LiveEvent::new(event)));
        }
        if !full {
            return Ok(upto);
        }
    }
}
