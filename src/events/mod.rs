//! Live events. The outbox rows are written by `market::` operations in the
//! same transaction as the change they describe; the names of the kinds are
//! part of the product (they are the SSE event names).

pub mod relay;

use std::fmt;

use crate::domain::money::Money;
use crate::domain::status::OrderStatus;

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
    /// Who acted, as the people told see them (a laundry's business name);
    /// `None` is Dhune itself. Only for the note; not stored with the event.
    pub actor_name: Option<String>,
    /// The order's new status, for the note.
    pub status: Option<OrderStatus>,
    /// The offer's price, for the note.
    pub price: Option<Money>,
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
            actor_name: None,
            status: None,
            price: None,
        }
    }

    /// Names who acted, for the note.
    pub fn by(mut self, name: impl Into<String>) -> Self {
        self.actor_name = Some(name.into());
        self
    }

    /// The order's new status, for the note.
    pub fn status(mut self, to: OrderStatus) -> Self {
        self.status = Some(to);
        self
    }

    /// The offer's price, for the note.
    pub fn price(mut self, price: Money) -> Self {
        self.price = Some(price);
        self
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

/// How Dhune's own acts (sweeps, admins) are signed in notes.
pub const DHUNE: &str = "Dhune";

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
        let who = self.actor_name.as_deref().unwrap_or(DHUNE);
        match self.kind {
            EventKind::OfferCreated => Some(on_request(match self.price {
                Some(price) => format!("{who} offered {price} on your request #{request}"),
                None => format!("{who} made an offer on your request #{request}"),
            })),
            EventKind::OfferAccepted => Some(on_order(format!(
                "{who} accepted your offer: order #{order}"
            ))),
            EventKind::OfferRejected => Some(on_request(format!(
                "Your offer on request #{request} was not chosen"
            ))),
            EventKind::OfferExpired => Some(on_request(format!(
                "An offer on request #{request} expired"
            ))),
            EventKind::RequestExpired => {
                Some(on_request(format!("Your request #{request} expired")))
            }
            EventKind::OrderStatusUpdated => Some(on_order(match self.status {
                Some(OrderStatus::PickedUp) => format!("{who} picked up order #{order}"),
                Some(OrderStatus::InProgress) => format!("{who} is washing order #{order}"),
                Some(OrderStatus::Delivering) => format!("{who} is delivering order #{order}"),
                Some(OrderStatus::Completed) => format!("Order #{order} was delivered"),
                Some(other) => format!("Order #{order} is now {}", other.label().to_lowercase()),
                None => format!("Order #{order} moved on"),
            })),
            EventKind::OrderCancelled => Some(on_order(format!("{who} cancelled order #{order}"))),
            EventKind::DisputeOpened => Some(on_order(format!(
                "{who} opened a dispute on order #{order}"
            ))),
            EventKind::DisputeResolved => Some(on_order(format!(
                "{who} resolved the dispute on order #{order}"
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
    fn notes_say_who_did_what_and_dhune_signs_its_own_acts() {
        let title = |event: NewEvent| event.order(5).note().map(|n| n.title);
        let moved = |to| NewEvent::new(EventKind::OrderStatusUpdated, None).status(to);
        assert_eq!(
            title(moved(OrderStatus::Completed)),
            Some("Order #5 was delivered".into())
        );
        assert_eq!(
            title(moved(OrderStatus::InProgress).by("Sparkle Laundry")),
            Some("Sparkle Laundry is washing order #5".into())
        );
        assert_eq!(
            title(NewEvent::new(EventKind::OrderCancelled, None)),
            Some("Dhune cancelled order #5".into())
        );
        assert_eq!(
            title(NewEvent::new(EventKind::DisputeResolved, Some(1)).by(DHUNE)),
            Some("Dhune resolved the dispute on order #5".into())
        );
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
