//! The relay: one task per server instance reads committed outbox rows in
//! feed order and hands them to the in-process hub, which hands each event
//! to the SSE connections of this instance whose page it may change.
//!
//! It polls every [`POLL`] instead of waiting for a NOTIFY, so nothing is
//! added to the transactions that write events (DESIGN.md measured NOTIFY
//! in a busy transaction at 22–48% fewer accepts per second). A poll that
//! finds nothing new is one index lookup; only when there is something new
//! does the relay pass the commit fence (`market::feed::fence`) to learn up
//! to which id everything is final.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{Notify, OnceCell, broadcast, watch};

use crate::domain::account::Role;
use crate::events::EventKind;
use crate::market::MarketResult;
use crate::market::feed::{self, FeedEvent, Position};

/// How often the relay looks for new events.
pub const POLL: Duration = Duration::from_millis(100);
/// How long the relay waits at the fence for event writers to commit; new
/// writers queue behind it for at most this long.
const FENCE_WAIT: Duration = Duration::from_millis(50);
/// How long a starting relay waits at the fence.
const START_WAIT: Duration = Duration::from_secs(5);
/// Events kept for a stream (and for whole-feed subscribers) that falls
/// behind; one that falls further behind re-reads what it missed from the
/// table.
const CAPACITY: usize = 4096;
const BATCH: i64 = 1000;
/// Live streams one user may have open on one instance; opening another
/// closes the oldest (a browser keeps a few tabs; a script opening hundreds
/// gets no more work done).
pub const STREAMS_PER_USER: usize = 8;

/// An event as the hub hands it on, with room for what its viewers' streams
/// draw from it, so that each is read and drawn once per event instead of
/// once per connection: a fragment that is the same for every viewer of one
/// kind (a board row for vendors), each viewer's own fragment (shared by the
/// streams of one user), and each viewer's unread count (shared by the
/// events handed on with it as well).
pub struct LiveEvent {
    pub event: FeedEvent,
    pub shared_fragment: OnceCell<Option<SharedFragment>>,
    viewers: Mutex<Viewers>,
    unread: Arc<UnreadCounts>,
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

/// A viewer's fragment for one event, by user and the form token it
/// carries (the streams of one session share it); empty (and unallocated)
/// until a viewer's stream needs it.
type Viewers = Vec<(i64, String, ViewerFragment)>;

/// Viewers' unread counts, shared by the events handed on together (one
/// batch of the relay, one page of a replay): all of their notifications
/// are written by then, so one read per viewer is the count every frame of
/// the batch can show. An accept's events notify the winning laundry twice;
/// its streams count once.
#[derive(Default)]
pub struct UnreadCounts(Mutex<Vec<(i64, Arc<OnceCell<i64>>)>>);

impl LiveEvent {
    pub fn new(event: FeedEvent, unread: Arc<UnreadCounts>) -> Self {
        Self {
            event,
            shared_fragment: OnceCell::new(),
            viewers: Mutex::default(),
            unread,
        }
    }

    /// The fragment of this event for `user_id`'s streams that carry
    /// `form_token`, drawn by the first of them to get there.
    pub fn viewer_fragment(&self, user_id: i64, form_token: &str) -> ViewerFragment {
        let mut viewers = lock(&self.viewers);
        let found = viewers
            .iter()
            .find(|(user, token, _)| *user == user_id && token == form_token);
        if let Some((_, _, cell)) = found {
            return cell.clone();
        }
        let cell = Arc::new(OnceCell::new());
        viewers.push((user_id, form_token.to_owned(), cell.clone()));
        cell
    }

    /// `user_id`'s unread count once this event's batch was written, read
    /// by the first of their streams to get there.
    pub fn viewer_unread(&self, user_id: i64) -> Arc<OnceCell<i64>> {
        let mut counts = lock(&self.unread.0);
        if let Some((_, cell)) = counts.iter().find(|(user, _)| *user == user_id) {
            return cell.clone();
        }
        let cell = Arc::new(OnceCell::new());
        counts.push((user_id, cell.clone()));
        cell
    }
}

/// This instance's hub: each stream registers what it shows and is handed
/// only the events that may change it; it also knows how far the relay has
/// read, and keeps each user's streams within [`STREAMS_PER_USER`].
#[derive(Clone)]
pub struct Live {
    sender: broadcast::Sender<Arc<LiveEvent>>,
    head: watch::Receiver<Position>,
    hub: Arc<Mutex<Hub>>,
}

impl Live {
    /// A receiver of every event from now on, for what follows the whole
    /// feed (the identity cache), and the position the relay had reached
    /// when it was made. Streams open with [`Live::open_stream`] instead.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<LiveEvent>>, Position) {
        let receiver = self.sender.subscribe();
        (receiver, *self.head.borrow())
    }

    pub fn head(&self) -> Position {
        *self.head.borrow()
    }

    /// Registers a stream of `viewer`, which is handed every event from
    /// now on that it may see and that may change its page (read
    /// [`Live::head`] after this: everything up to it comes from the
    /// table). A vendor's stream is handed every request's closing until it
    /// says which board rows it shows ([`StreamSlot::show_rows`]). When the
    /// user already has [`STREAMS_PER_USER`] open, the oldest is told to
    /// close.
    pub fn open_stream(&self, viewer: Viewer) -> StreamSlot {
        let inbox = Arc::new(Inbox::default());
        let mut hub = lock(&self.hub);
        hub.next_id += 1;
        let id = hub.next_id;
        let user_id = viewer.user_id;
        if viewer.role == Role::Admin {
            hub.admins.push(id);
        }
        hub.streams.insert(
            id,
            Stream {
                viewer,
                rows: Vec::new(),
                every_closing: true,
                inbox: inbox.clone(),
            },
        );
        let open = hub.by_user.entry(user_id).or_default();
        open.push_back(id);
        let mut replaced = Vec::new();
        while open.len() > STREAMS_PER_USER {
            replaced.extend(open.pop_front());
        }
        for oldest in replaced {
            if let Some(stream) = hub.remove(oldest) {
                stream.inbox.replace();
            }
        }
        StreamSlot {
            id,
            inbox,
            hub: self.hub.clone(),
        }
    }
}

/// Who a stream is for, as the hub routes events to it.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: i64,
    pub role: Role,
    /// A vendor's board filtered by city: the city in lower case. New
    /// requests elsewhere are not handed to it.
    pub city: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The open streams of this instance and what each is handed.
#[derive(Default)]
struct Hub {
    next_id: u64,
    streams: HashMap<u64, Stream>,
    /// Each user's streams, oldest first.
    by_user: HashMap<i64, VecDeque<u64>>,
    /// Admins' streams, handed every event.
    admins: Vec<u64>,
}

struct Stream {
    viewer: Viewer,
    /// For a vendor: the requests whose row its board may show, sorted
    /// (those it said it was drawn with, and every new request handed to
    /// it since it opened), the only ones whose closing it is handed...
    rows: Vec<i64>,
    /// ...unless it is handed every closing (until it says what its board
    /// shows, or when it cannot follow its board).
    every_closing: bool,
    inbox: Arc<Inbox>,
}

impl Hub {
    fn remove(&mut self, id: u64) -> Option<Stream> {
        let stream = self.streams.remove(&id)?;
        let user_id = stream.viewer.user_id;
        if let Some(open) = self.by_user.get_mut(&user_id) {
            open.retain(|open| *open != id);
            if open.is_empty() {
                self.by_user.remove(&user_id);
            }
        }
        self.admins.retain(|admin| *admin != id);
        Some(stream)
    }

    /// Hands `live` to the streams it may change, and to no other: admins'
    /// streams, those of the users it names, and for an event for every
    /// vendor, vendors' streams whose board it may change (a new request
    /// in the board's city, the closing of a request whose row it may show).
    fn route(&mut self, live: &Arc<LiveEvent>) {
        let event = &live.event;
        for id in &self.admins {
            self.streams[id].inbox.push(live);
        }
        let mut named = event.audience.clone();
        named.sort_unstable();
        named.dedup();
        for user_id in &named {
            for id in self.by_user.get(user_id).into_iter().flatten() {
                let stream = &self.streams[id];
                if stream.viewer.role != Role::Admin {
                    stream.inbox.push(live);
                }
            }
        }
        if !event.all_vendors {
            return;
        }
        let city = event.facts.city.as_deref().map(str::to_lowercase);
        for stream in self.streams.values_mut() {
            if stream.viewer.role != Role::Vendor {
                continue;
            }
            let changes_board = match (event.kind, event.request_id) {
                (kind, Some(id)) if kind.closes_request() => {
                    let shown = match stream.rows.binary_search(&id) {
                        Ok(at) => {
                            stream.rows.remove(at);
                            true
                        }
                        Err(_) => false,
                    };
                    shown || stream.every_closing
                }
                (EventKind::RequestCreated, Some(id)) => {
                    let takes = match (&stream.viewer.city, &city) {
                        (Some(board), Some(city)) => board == city,
                        _ => true,
                    };
                    if takes && let Err(at) = stream.rows.binary_search(&id) {
                        stream.rows.insert(at, id);
                    }
                    takes
                }
                _ => true,
            };
            if changes_board && named.binary_search(&stream.viewer.user_id).is_err() {
                stream.inbox.push(live);
            }
        }
    }
}

/// The events handed to one stream and not yet taken.
#[derive(Default)]
struct Inbox {
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Arc<LiveEvent>>,
    /// More than [`CAPACITY`] events were waiting: they were dropped, and
    /// the stream re-reads them from the table.
    lagged: bool,
    /// A newer stream of the same user took this one's place.
    replaced: bool,
}

impl Inbox {
    fn push(&self, live: &Arc<LiveEvent>) {
        let mut queue = lock(&self.queue);
        if queue.events.len() == CAPACITY {
            queue.events = VecDeque::new();
            queue.lagged = true;
        }
        queue.events.push_back(live.clone());
        if queue.events.len() == 1 {
            drop(queue);
            self.ready.notify_one();
        }
    }

    fn replace(&self) {
        lock(&self.queue).replaced = true;
        self.ready.notify_one();
    }
}

/// What a stream is handed next.
pub enum Delivery {
    Event(Arc<LiveEvent>),
    /// The stream fell too far behind: what it missed is in the table.
    Lagged,
    /// A newer stream of the same user has pushed this one out.
    Replaced,
}

/// One open stream's place in the hub; dropping it frees it.
pub struct StreamSlot {
    id: u64,
    inbox: Arc<Inbox>,
    hub: Arc<Mutex<Hub>>,
}

impl StreamSlot {
    /// The next event handed to this stream (waiting for one), or that it
    /// lagged or was replaced.
    pub async fn next(&self) -> Delivery {
        loop {
            {
                let mut queue = lock(&self.inbox.queue);
                if queue.replaced {
                    return Delivery::Replaced;
                }
                if std::mem::take(&mut queue.lagged) {
                    return Delivery::Lagged;
                }
                if let Some(live) = queue.events.pop_front() {
                    return Delivery::Event(live);
                }
            }
            self.inbox.ready.notified().await;
        }
    }

    /// The board rows this vendor's stream shows, once it knows them
    /// (drawn with, added and removed by what it replayed): from now on it
    /// is handed the closing of these and of the new requests handed to it.
    pub fn show_rows(&self, rows: &[i64]) {
        let mut hub = lock(&self.hub);
        let Some(stream) = hub.streams.get_mut(&self.id) else {
            return;
        };
        stream.rows.extend_from_slice(rows);
        stream.rows.sort_unstable();
        stream.rows.dedup();
        stream.every_closing = false;
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        lock(&self.hub).remove(self.id);
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
    let hub = Arc::<Mutex<Hub>>::default();
    let live = Live {
        sender: sender.clone(),
        head,
        hub: hub.clone(),
    };
    tokio::spawn(run(pool, sender, hub, head_sender, start));
    Ok(live)
}

async fn run(
    pool: PgPool,
    sender: broadcast::Sender<Arc<LiveEvent>>,
    hub: Arc<Mutex<Hub>>,
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
        match relay_once(&pool, &sender, &hub, &head, position).await {
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
    hub: &Mutex<Hub>,
    head: &watch::Sender<Position>,
    position: Position,
) -> MarketResult<Position> {
    if feed::newest(pool).await? <= position {
        return Ok(position);
    }
    let Some(upto) = feed::fence(pool, FENCE_WAIT).await? else {
        return Ok(position);
    };
    // The head moves first: a stream that opens from here on replays up to
    // it from the table and drops what it is then handed twice.
    head.send_replace(upto);
    let mut from = position;
    loop {
        let events = feed::committed_between(pool, from, upto, BATCH).await?;
        let full = events.len() as i64 == BATCH;
        let unread = Arc::new(UnreadCounts::default());
        for event in events {
            from = event.position;
            let live = Arc::new(LiveEvent::new(event, unread.clone()));
            lock(hub).route(&live);
            // No subscriber is fine: the event stays in the table.
            let _ = sender.send(live);
        }
        if !full {
            return Ok(upto);
        }
    }
}
