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
    UserSuspended,
    UserReinstated,
}

impl EventKind {
    pub const ALL: [EventKind; 17] = [
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
        EventKind::UserSuspended,
        EventKind::UserReinstated,
    ];

    /// Whether the people concerned get a notification for this kind.
    pub fn notifies(self) -> bool {
        NewEvent::new(self, None).note().is_some()
    }

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
            EventKind::UserSuspended => "user_suspended",
            EventKind::UserReinstated => "user_reinstated",
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

/// What a person concerned is told of an event: a title and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub title: String,
    pub link: String,
}

impl NewEvent {
    /// The people to notify: the audience but the one who acted (and never
    /// the all-vendors broadcast).
    pub fn recipients(&self) -> Vec<i64> {
        let mut people: Vec<i64> = self
            .audience
            .iter()
            .copied()
            .filter(|&id| Some(id) != self.actor_id)
            .collect();
        people.sort_unstable();
        people.dedup();
        people
    }

    /// The in-app notification for this event, for kinds worth one.
    pub fn note(&self) -> Option<Note> {
        let request = self.request_id.unwrap_or_default();
        let order = self.order_id.unwrap_or_default();
        let on_request = |title: String| Note {
            title,
            link: format!("/requests/{request}"),
        };
        let on_order = |title: String| Note {
            title,
            link: format!("/orders/{order}"),
        };
        match self.kind {
            EventKind::OfferCreated => {
                Some(on_request(format!("New offer on your request #{request}")))
            }
            EventKind::OfferAccepted => {
                Some(on_order(format!("Your offer was accepted: order #{order}")))
            }
            EventKind::OfferRejected => Some(on_request(format!(
                "Your offer on request #{request} was not chosen"
            ))),
            EventKind::OfferExpired => Some(on_request(format!(
                "An offer on request #{request} expired"
            ))),
            EventKind::RequestExpired => {
                Some(on_request(format!("Your request #{request} expired")))
            }
            EventKind::OrderStatusUpdated => Some(on_order(format!("Order #{order} moved on"))),
            EventKind::OrderCancelled => Some(on_order(format!("Order #{order} was cancelled"))),
            EventKind::DisputeOpened => {
                Some(on_order(format!("A dispute was opened on order #{order}")))
            }
            EventKind::DisputeResolved => Some(on_order(format!(
                "The dispute on order #{order} was resolved"
            ))),
            EventKind::RequestCreated
            | EventKind::RequestCancelled
            | EventKind::RequestClosed
            | EventKind::OfferUpdated
            | EventKind::OfferWithdrawn
            | EventKind::OrderCreated
            | EventKind::UserSuspended
            | EventKind::UserReinstated => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_not_notified_of_their_own_act() {
        let event = NewEvent::new(EventKind::OfferCreated, Some(7))
            .request(3)
            .offer(9)
            .to(&[5, 7, 5]);
        assert_eq!(event.recipients(), vec![5]);
        assert_eq!(event.note().map(|n| n.link), Some("/requests/3".into()));
    }

    #[test]
    fn settled_offers_notes_lead_to_the_request_both_parties_may_read() {
        for kind in [EventKind::OfferRejected, EventKind::OfferExpired] {
            let event = NewEvent::new(kind, None).request(3).offer(9).to(&[5, 6]);
            assert_eq!(event.note().map(|n| n.link), Some("/requests/3".into()));
        }
    }

    #[test]
    fn broadcasts_and_quiet_kinds_make_no_notes() {
        let created = NewEvent::new(EventKind::RequestCreated, Some(1))
            .request(2)
            .to(&[1])
            .to_all_vendors();
        assert!(created.recipients().is_empty());
        assert!(created.note().is_none());
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
        }
    }
}
