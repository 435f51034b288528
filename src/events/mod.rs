//! Live events. The outbox rows are written by `market::` operations in the
//! same transaction as the change they describe; the names of the kinds are
//! part of the product (they are the SSE event names).

pub mod relay;

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    RequestCreated,
    RequestCancelled,
    RequestExpired,
    RequestClosed,
    OfferCreated,
    OfferUpdated,
    OfferWithdrawn,
    OfferAccepted,
    OfferRejected,
    OfferExpired,
    OrderCreated,
    OrderStatusUpdated,
    OrderCancelled,
    DisputeOpened,
    DisputeResolved,
}

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        EventKind::RequestCreated,
        EventKind::RequestCancelled,
        EventKind::RequestExpired,
        EventKind::RequestClosed,
        EventKind::OfferCreated,
        EventKind::OfferUpdated,
        EventKind::OfferWithdrawn,
        EventKind::OfferAccepted,
        EventKind::OfferRejected,
        EventKind::OfferExpired,
        EventKind::OrderCreated,
        EventKind::OrderStatusUpdated,
        EventKind::OrderCancelled,
        EventKind::DisputeOpened,
        EventKind::DisputeResolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RequestCreated => "request_created",
            EventKind::RequestCancelled => "request_cancelled",
            EventKind::RequestExpired => "request_expired",
            EventKind::RequestClosed => "request_closed",
            EventKind::OfferCreated => "offer_created",
            EventKind::OfferUpdated => "offer_updated",
            EventKind::OfferWithdrawn => "offer_withdrawn",
            EventKind::OfferAccepted => "offer_accepted",
            EventKind::OfferRejected => "offer_rejected",
            EventKind::OfferExpired => "offer_expired",
            EventKind::OrderCreated => "order_created",
            EventKind::OrderStatusUpdated => "order_status_updated",
            EventKind::OrderCancelled => "order_cancelled",
            EventKind::DisputeOpened => "dispute_opened",
            EventKind::DisputeResolved => "dispute_resolved",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown event kind {s:?}"))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One outbox row to write: what happened, to which records, and who may
/// see it besides admins.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub kind: EventKind,
    pub actor_id: Option<i64>,
    pub request_id: Option<i64>,
    pub offer_id: Option<i64>,
    pub order_id: Option<i64>,
    pub dispute_id: Option<i64>,
    pub audience: Vec<i64>,
    pub all_vendors: bool,
}

impl NewEvent {
    pub fn new(kind: EventKind, actor_id: Option<i64>) -> Self {
        Self {
            kind,
            actor_id,
            request_id: None,
            offer_id: None,
            order_id: None,
            dispute_id: None,
            audience: Vec::new(),
            all_vendors: false,
        }
    }

    pub fn request(mut self, id: i64) -> Self {
        self.request_id = Some(id);
        self
    }

    pub fn offer(mut self, id: i64) -> Self {
        self.offer_id = Some(id);
        self
    }

    pub fn order(mut self, id: i64) -> Self {
        self.order_id = Some(id);
        self
    }

    pub fn dispute(mut self, id: i64) -> Self {
        self.dispute_id = Some(id);
        self
    }

    /// Adds these users to the audience.
    pub fn to(mut self, users: &[i64]) -> Self {
        self.audience.extend_from_slice(users);
        self
    }

    /// Every vendor may see it (new and closed requests on the board).
    pub fn to_all_vendors(mut self) -> Self {
        self.all_vendors = true;
        self
    }
}
