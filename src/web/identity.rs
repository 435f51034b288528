//! Sessions and signed-in users kept in this instance's memory, so a page
//! costs the database only its own data.
//!
//! A session record and a user (with their unread count) are read from
//! Postgres once and kept until something says they changed:
//! - a notice on `market::identity::CHANNEL`, sent by the transaction that
//!   saved or ended a session, suspended or reinstated a user, or marked
//!   notifications read, heard by every instance;
//! - a new event of this instance's relay that notifies a user (their
//!   unread count grew) or suspends or reinstates them.
//!
//! While the notices cannot be heard (before the first `LISTEN`, or after
//! the connection broke) nothing is kept or served from memory; when they
//! can again, everything kept before is forgotten, since notices may have
//! been missed. Whatever is kept is also read again after [`KEEP_FOR`], a
//! backstop should a notice ever go astray. A read that raced a change is
//! not kept: each kind of entry has a generation, bumped by every change,
//! and a read keeps its result only if the generation did not move while
//! it ran.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::broadcast::error::RecvError;
use tower_sessions::session::{Id, Record};

use crate::events::EventKind;
use crate::events::relay::Live;
use crate::market::identity::{CHANNEL, Changed, Known, session_key};

/// How long an entry is served before it is read again.
const KEEP_FOR: Duration = Duration::from_secs(60);
/// The most entries of one kind kept; past it, the stale ones go, and if
/// that is not enough, all of them.
const MOST: usize = 100_000;
/// How long to wait before listening again after the connection broke.
const RETRY: Duration = Duration::from_secs(1);

/// What this instance keeps; shared by the session store, the login
/// backend and the page shell.
#[derive(Debug, Default)]
pub struct Identity {
    sessions: Mutex<Kept<String, Record>>,
    users: Mutex<Kept<i64, Known>>,
    /// Whether every notice is being heard, so what is kept stays true.
    hearing: AtomicBool,
}

/// Entries of one kind, and the generation of their changes.
#[derive(Debug)]
struct Kept<K, V> {
    entries: HashMap<K, (V, Instant)>,
    generation: u64,
}

impl<K, V> Default for Kept<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            generation: 0,
        }
    }
}

impl<K: Hash + Eq, V: Clone> Kept<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        let (value, at) = self.entries.get(key)?;
        (at.elapsed() < KEEP_FOR).then(|| value.clone())
    }

    fn put(&mut self, key: K, value: V, read_at: Generation) {
        if read_at.0 != self.generation {
            return;
        }
        if self.entries.len() >= MOST {
            self.entries.retain(|_, (_, at)| at.elapsed() < KEEP_FOR);
            if self.entries.len() >= MOST {
                self.entries.clear();
            }
        }
        self.entries.insert(key, (value, Instant::now()));
    }

    fn forget(&mut self, key: &K) {
        self.generation += 1;
        self.entries.remove(key);
    }

    fn clear(&mut self) {
        self.generation += 1;
        self.entries.clear();
    }
}

/// When a read began, in changes of its kind; see [`Identity`].
#[derive(Debug, Clone, Copy)]
pub struct Generation(u64);

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Identity {
    /// Starts listening for notices and reading the relay's events; the
    /// tasks end once the returned value is dropped.
    pub fn start(pool: PgPool, live: &Live) -> Arc<Self> {
        let identity = Arc::new(Self::default());
        tokio::spawn(listen(pool, Arc::downgrade(&identity)));
        tokio::spawn(follow(live.clone(), Arc::downgrade(&identity)));
        identity
    }

    /// The kept session with this id.
    pub fn session(&self, id: &Id) -> Option<Record> {
        if !self.hearing() {
            return None;
        }
        let record = locked(&self.sessions).get(&session_key(&id.to_string()))?;
        (record.expiry_date > time::OffsetDateTime::now_utc()).then_some(record)
    }

    pub fn sessions_generation(&self) -> Generation {
        Generation(locked(&self.sessions).generation)
    }

    /// Keeps a session read from the database when the read began at `read_at`.
    pub fn keep_session(&self, record: &Record, read_at: Generation) {
        if self.hearing() {
            let key = session_key(&record.id.to_string());
            locked(&self.sessions).put(key, record.clone(), read_at);
        }
    }

    /// Forgets a session this instance changed (the notice tells the others).
    pub fn forget_session(&self, id: &Id) {
        locked(&self.sessions).forget(&session_key(&id.to_string()));
    }

    /// The kept user with this id.
    pub fn user(&self, id: i64) -> Option<Known> {
        if !self.hearing() {
            return None;
        }
        locked(&self.users).get(&id)
    }

    pub fn users_generation(&self) -> Generation {
        Generation(locked(&self.users).generation)
    }

    /// Keeps a user read from the database when the read began at `read_at`.
    pub fn keep_user(&self, known: &Known, read_at: Generation) {
        if self.hearing() {
            locked(&self.users).put(known.user.id, known.clone(), read_at);
        }
    }

    /// Forgets a user this instance changed (the notice tells the others).
    pub fn forget_user(&self, id: i64) {
        locked(&self.users).forget(&id);
    }

    fn hearing(&self) -> bool {
        self.hearing.load(Ordering::Acquire)
    }

    fn heard(&self, changed: Changed) {
        match changed {
            Changed::Session(key) => locked(&self.sessions).forget(&key),
            Changed::User(id) => self.forget_user(id),
        }
    }

    /// Now hearing every notice (`true`: forget what was kept, as notices
    /// may have been missed), or not any more.
    fn set_hearing(&self, hearing: bool) {
        if hearing {
            locked(&self.sessions).clear();
            locked(&self.users).clear();
        }
        self.hearing.store(hearing, Ordering::Release);
    }
}

/// Hears the notices on [`CHANNEL`] while `identity` lives and the pool is
/// open.
async fn listen(pool: PgPool, identity: Weak<Identity>) {
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        match listener.await {
            Ok(mut listener) => {
                let Some(kept) = identity.upgrade() else {
                    return;
                };
                kept.set_hearing(true);
                drop(kept);
                loop {
                    // Wakes now and then to see whether it is still needed.
                    let heard = tokio::time::timeout(KEEP_FOR, listener.try_recv()).await;
                    let Some(kept) = identity.upgrade() else {
                        return;
                    };
                    match heard {
                        Ok(Ok(Some(notice))) => {
                            if let Some(changed) = Changed::parse(notice.payload()) {
                                kept.heard(changed);
                            }
                        }
                        Ok(Ok(None)) | Ok(Err(_)) => {
                            kept.set_hearing(false);
                            if pool.is_closed() {
                                return;
                            }
                            tracing::warn!("lost the identity notices; not keeping sessions");
                            break;
                        }
                        Err(_) => {}
                    }
                }
            }
            Err(err) => {
                let Some(kept) = identity.upgrade() else {
                    return;
                };
                kept.set_hearing(false);
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %err, "cannot listen for identity notices; retrying");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Forgets the users whose unread count or status a new event changed.
async fn follow(live: Live, identity: Weak<Identity>) {
    let (mut events, _) = live.subscribe();
    loop {
        let received = events.recv().await;
        let Some(kept) = identity.upgrade() else {
            return;
        };
        match received {
            Ok(live_event) => {
                let event = &live_event.event;
                let status = matches!(
                    event.kind,
                    EventKind::UserSuspended | EventKind::UserReinstated
                );
                if status || event.kind.notifies() {
                    for &user in &event.audience {
                        kept.forget_user(user);
                    }
                }
            }
            Err(RecvError::Lagged(_)) => locked(&kept.users).clear(),
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let mut kept = Kept::<i64, &str>::default();
        let before = Generation(kept.generation);
        kept.forget(&2);
        kept.put(1, "stale", before);
        assert_eq!(kept.get(&1), None);

        let now = Generation(kept.generation);
        kept.put(1, "fresh", now);
        assert_eq!(kept.get(&1), Some("fresh"));
        kept.clear();
        assert_eq!(kept.get(&1), None);
    }

    #[test]
    fn nothing_is_served_unless_every_notice_is_heard() {
        let identity = Identity::default();
        let id = Id::default();
        let record = Record {
            id,
            data: HashMap::new(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        };
        identity.keep_session(&record, identity.sessions_generation());
        assert!(identity.session(&id).is_none(), "deaf: nothing kept");

        identity.set_hearing(true);
        identity.keep_session(&record, identity.sessions_generation());
        assert!(identity.session(&id).is_some());
        identity.heard(Changed::Session(session_key(&id.to_string())));
        assert!(identity.session(&id).is_none(), "a notice forgets it");

        identity.keep_session(&record, identity.sessions_generation());
        identity.set_hearing(false);
        assert!(identity.session(&id).is_none(), "deaf again: not served");
    }
}
