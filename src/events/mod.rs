//! Live events. The outbox rows are written by `market::` operations in the
//! same transaction as the change they describe; the names of the kinds are
//! part of the product (they are the SSE event names).

pub mod relay;

use std::fmt;

use serde::Deserialize;

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
    PaymentSucceeded,
    PaymentFailed,
    PaymentRefunded,
    PayoutIssued,
    PayoutPaid,
}

impl EventKind {
    pub const ALL: [EventKind; 22] = [
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
        EventKind::PaymentSucceeded,
        EventKind::PaymentFailed,
        EventKind::PaymentRefunded,
        EventKind::PayoutIssued,
        EventKind::PayoutPaid,
    ];

    /// Whether this kind takes a request off the vendors' boards.
    pub fn closes_request(self) -> bool {
        matches!(
            self,
            EventKind::RequestCancelled | EventKind::RequestExpired | EventKind::RequestClosed
        )
    }

    /// Whether the people concerned get a notification for this kind.
    pub fn notifies(self) -> bool {
        NewEvent::by_dhune(self).note().is_some()
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
            EventKind::PaymentSucceeded => "payment_succeeded",
            EventKind::PaymentFailed => "payment_failed",
            EventKind::PaymentRefunded => "payment_refunded",
            EventKind::PayoutIssued => "payout_issued",
            EventKind::PayoutPaid => "payout_paid",
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

/// What a line about an event needs besides its records, stored with the
/// event (`events.payload`) so the note written with it and the live notice
/// drawn later from the stored row say the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Who acted, as the people told see them (a laundry's business name,
    /// "Dhune" for an admin); `None` is Dhune itself when nobody acted.
    pub actor_name: Option<String>,
    /// The order's new status.
    pub status: Option<OrderStatus>,
    /// The offer's price.
    pub price: Option<Money>,
    /// The customer confirmed receiving a delivered order.
    pub received: bool,
    /// The payout statement, for `payout_issued` and `payout_paid`.
    pub statement: Option<i64>,
    /// The new request's city, for `request_created`: the live hub sends
    /// it only to the boards its city filter lets it on.
    pub city: Option<String>,
}

/// [`Facts`] as read back from `events.payload`.
#[derive(Debug, Default, Deserialize)]
struct Payload {
    #[serde(default)]
    actor_name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    price_paisa: Option<i64>,
    #[serde(default)]
    received: bool,
    #[serde(default)]
    statement_id: Option<i64>,
    #[serde(default)]
    city: Option<String>,
}

impl Facts {
    /// The facts as stored in `events.payload` (a JSON object).
    pub fn to_payload(&self) -> serde_json::Value {
        let mut payload = serde_json::Map::new();
        if let Some(name) = &self.actor_name {
            payload.insert("actor_name".into(), name.as_str().into());
        }
        if let Some(status) = self.status {
            payload.insert("status".into(), status.as_str().into());
        }
        if let Some(price) = self.price {
            payload.insert("price_paisa".into(), price.paisa().into());
        }
        if self.received {
            payload.insert("received".into(), true.into());
        }
        if let Some(statement) = self.statement {
            payload.insert("statement_id".into(), statement.into());
        }
        if let Some(city) = &self.city {
            payload.insert("city".into(), city.as_str().into());
        }
        serde_json::Value::Object(payload)
    }

    /// The facts of a stored event; what cannot be read is left out.
    pub fn from_payload(payload: serde_json::Value) -> Self {
        let payload: Payload = serde_json::from_value(payload).unwrap_or_default();
        Facts {
            actor_name: payload.actor_name,
            status: payload.status.and_then(|word| word.parse().ok()),
            price: payload.price_paisa.map(Money::from_paisa),
            received: payload.received,
            statement: payload.statement_id,
            city: payload.city,
        }
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
    pub facts: Facts,
}

impl NewEvent {
    /// An act of the user `actor_id`, shown to the people told as `name`
    /// (`User::shown_as`).
    pub fn new(kind: EventKind, actor_id: i64, name: impl Into<String>) -> Self {
        let mut event = Self::by_dhune(kind);
        event.actor_id = Some(actor_id);
        event.facts.actor_name = Some(name.into());
        event
    }

    /// An act of Dhune's own (a sweep), with nobody behind it.
    pub fn by_dhune(kind: EventKind) -> Self {
        Self {
            kind,
            actor_id: None,
            request_id: None,
            offer_id: None,
            order_id: None,
            dispute_id: None,
            audience: Vec::new(),
            all_vendors: false,
            facts: Facts::default(),
        }
    }

    /// The order's new status, for the line.
    pub fn status(mut self, to: OrderStatus) -> Self {
        self.facts.status = Some(to);
        self
    }

    /// The customer confirmed receiving the order, for the line.
    pub fn received(mut self) -> Self {
        self.facts.received = true;
        self
    }

    /// The offer's price, or the amount paid or refunded, for the line.
    pub fn price(mut self, price: Money) -> Self {
        self.facts.price = Some(price);
        self
    }

    /// The new request's city (see [`Facts::city`]).
    pub fn city(mut self, city: &str) -> Self {
        self.facts.city = Some(city.to_owned());
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

    /// The payout statement the event is about.
    pub fn statement(mut self, id: i64) -> Self {
        self.facts.statement = Some(id);
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

    pub fn story(&self) -> Story<'_> {
        Story {
            kind: self.kind,
            actor_id: self.actor_id,
            request_id: self.request_id,
            order_id: self.order_id,
            facts: &self.facts,
        }
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

/// An event as one line is told of it: a new one, or one read back from the
/// outbox for a live notice.
#[derive(Debug, Clone, Copy)]
pub struct Story<'a> {
    pub kind: EventKind,
    pub actor_id: Option<i64>,
    pub request_id: Option<i64>,
    pub order_id: Option<i64>,
    pub facts: &'a Facts,
}

impl Story<'_> {
    /// Who did what to which record, in one line: the notification's title
    /// and the live notice. `to_party` when told to a person it concerns
    /// other than the actor (the request's customer, the offer's laundry),
    /// who reads "your"; anyone else (the actor, an admin, the board) reads
    /// it as it happened.
    pub fn line(&self, to_party: bool) -> String {
        let request = self.request_id.unwrap_or_default();
        let order = self.order_id.unwrap_or_default();
        let who = match (&self.facts.actor_name, self.actor_id) {
            (Some(name), _) => name.as_str(),
            (None, None) => DHUNE,
            // Written before events kept the actor's name.
            (None, Some(_)) => "Someone",
        };
        let your = if to_party { "your " } else { "" };
        let its = if who == DHUNE { "an" } else { "its" };
        match self.kind {
            EventKind::RequestCreated => format!("{who} posted request #{request}"),
            EventKind::RequestCancelled => format!("{who} cancelled {your}request #{request}"),
            EventKind::RequestExpired if to_party => format!("Your request #{request} expired"),
            EventKind::RequestExpired => format!("Request #{request} expired"),
            EventKind::RequestClosed => format!("{who} chose a laundry for request #{request}"),
            EventKind::OfferCreated => match self.facts.price {
                Some(price) => format!("{who} offered {price} on {your}request #{request}"),
                None => format!("{who} made an offer on {your}request #{request}"),
            },
            EventKind::OfferUpdated => {
                format!("{who} changed {its} offer on {your}request #{request}")
            }
            EventKind::OfferWithdrawn => {
                format!("{who} withdrew {its} offer on {your}request #{request}")
            }
            EventKind::OfferAccepted if to_party => {
                format!("{who} accepted your offer: order #{order}")
            }
            EventKind::OfferAccepted => format!("{who} accepted an offer: order #{order}"),
            EventKind::OfferRejected if to_party => {
                format!("{who} did not choose your offer on request #{request}")
            }
            EventKind::OfferRejected => {
                format!("{who} did not choose an offer on request #{request}")
            }
            EventKind::OfferExpired => format!("An offer on request #{request} expired"),
            EventKind::OrderCreated => format!("{who} placed order #{order}"),
            EventKind::OrderStatusUpdated if self.facts.received => {
                format!("{who} confirmed receiving order #{order}")
            }
            EventKind::OrderStatusUpdated => match (self.facts.status, self.actor_id) {
                (Some(OrderStatus::PickedUp), _) => format!("{who} picked up order #{order}"),
                (Some(OrderStatus::InProgress), _) => format!("{who} is washing order #{order}"),
                (Some(OrderStatus::Delivering), _) => {
                    format!("{who} is delivering order #{order}")
                }
                (Some(OrderStatus::Completed), None) => {
                    format!("{DHUNE} completed order #{order}: nobody reported a problem")
                }
                (Some(OrderStatus::Completed), Some(_)) => {
                    format!("{who} marked order #{order} delivered")
                }
                (Some(other), _) => format!(
                    "{who} marked order #{order} {}",
                    other.label().to_lowercase()
                ),
                (None, _) => format!("{who} updated order #{order}"),
            },
            EventKind::OrderCancelled => format!("{who} cancelled order #{order}"),
            EventKind::DisputeOpened => format!("{who} opened a dispute on order #{order}"),
            EventKind::DisputeResolved => {
                format!("{who} resolved the dispute on order #{order}")
            }
            EventKind::UserSuspended if to_party => format!("{who} suspended your account"),
            EventKind::UserSuspended => format!("{who} suspended an account"),
            EventKind::UserReinstated if to_party => format!("{who} reinstated your account"),
            EventKind::UserReinstated => format!("{who} reinstated an account"),
            EventKind::PaymentSucceeded => match self.facts.price {
                Some(amount) => format!("Payment of {amount} received for order #{order}"),
                None => format!("Payment received for order #{order}"),
            },
            EventKind::PaymentFailed => {
                format!("The payment for order #{order} did not go through")
            }
            EventKind::PaymentRefunded => match self.facts.price {
                Some(amount) => format!("{amount} refunded for order #{order}"),
                None => format!("Money refunded for order #{order}"),
            },
            EventKind::PayoutIssued => {
                let statement = self.facts.statement.unwrap_or_default();
                match (self.facts.price, to_party) {
                    (Some(net), true) => {
                        format!("Your payout statement #{statement} is ready: {net}")
                    }
                    (_, true) => format!("Your payout statement #{statement} is ready"),
                    (_, false) => format!("Dhune issued payout statement #{statement}"),
                }
            }
            EventKind::PayoutPaid => {
                let statement = self.facts.statement.unwrap_or_default();
                match self.facts.price {
                    Some(net) => format!("{who} paid statement #{statement}: {net}"),
                    None => format!("{who} paid statement #{statement}"),
                }
            }
        }
    }
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

    /// The in-app notification for this event, for kinds worth one: its
    /// line as told to a person concerned.
    pub fn note(&self) -> Option<Note> {
        let request = self.request_id.unwrap_or_default();
        let order = self.order_id.unwrap_or_default();
        let link = match self.kind {
            EventKind::OfferCreated
            | EventKind::OfferRejected
            | EventKind::OfferExpired
            | EventKind::RequestExpired => format!("/requests/{request}"),
            EventKind::OfferAccepted
            | EventKind::OrderStatusUpdated
            | EventKind::OrderCancelled
            | EventKind::DisputeOpened
            | EventKind::DisputeResolved
            | EventKind::PaymentSucceeded
            | EventKind::PaymentFailed
            | EventKind::PaymentRefunded => format!("/orders/{order}"),
            EventKind::PayoutIssued | EventKind::PayoutPaid => {
                format!("/payouts/{}", self.facts.statement.unwrap_or_default())
            }
            EventKind::RequestCreated
            | EventKind::RequestCancelled
            | EventKind::RequestClosed
            | EventKind::OfferUpdated
            | EventKind::OfferWithdrawn
            | EventKind::OrderCreated
            | EventKind::UserSuspended
            | EventKind::UserReinstated => return None,
        };
        Some(Note {
            title: self.story().line(true),
            link,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_not_notified_of_their_own_act() {
        let event = NewEvent::new(EventKind::OfferCreated, 7, "Sparkle Laundry")
            .request(3)
            .offer(9)
            .to(&[5, 7, 5]);
        assert_eq!(event.recipients(), vec![5]);
        assert_eq!(event.note().map(|n| n.link), Some("/requests/3".into()));
    }

    #[test]
    fn settled_offers_notes_lead_to_the_request_both_parties_may_read() {
        for kind in [EventKind::OfferRejected, EventKind::OfferExpired] {
            let event = NewEvent::by_dhune(kind).request(3).offer(9).to(&[5, 6]);
            assert_eq!(event.note().map(|n| n.link), Some("/requests/3".into()));
        }
    }

    #[test]
    fn notes_say_who_did_what_and_dhune_signs_its_own_acts() {
        let title = |event: NewEvent| event.order(5).note().map(|n| n.title);
        let moved = |by: Option<&str>, to| {
            match by {
                Some(name) => NewEvent::new(EventKind::OrderStatusUpdated, 2, name),
                None => NewEvent::by_dhune(EventKind::OrderStatusUpdated),
            }
            .status(to)
        };
        assert_eq!(
            title(moved(Some("Sparkle Laundry"), OrderStatus::Completed)),
            Some("Sparkle Laundry marked order #5 delivered".into())
        );
        assert_eq!(
            title(moved(None, OrderStatus::Completed)),
            Some("Dhune completed order #5: nobody reported a problem".into())
        );
        assert_eq!(
            title(moved(Some("Sparkle Laundry"), OrderStatus::InProgress)),
            Some("Sparkle Laundry is washing order #5".into())
        );
        assert_eq!(
            title(NewEvent::by_dhune(EventKind::OrderCancelled)),
            Some("Dhune cancelled order #5".into())
        );
        assert_eq!(
            title(NewEvent::new(EventKind::DisputeResolved, 1, DHUNE)),
            Some("Dhune resolved the dispute on order #5".into())
        );
    }

    #[test]
    fn a_line_says_your_only_to_a_person_concerned() {
        let event = NewEvent::new(EventKind::OfferAccepted, 4, "Sita Sharma")
            .request(3)
            .order(5);
        assert_eq!(
            event.story().line(true),
            "Sita Sharma accepted your offer: order #5"
        );
        assert_eq!(
            event.story().line(false),
            "Sita Sharma accepted an offer: order #5"
        );
        let withdrawn = |name| {
            NewEvent::new(EventKind::OfferWithdrawn, 4, name)
                .request(3)
                .story()
                .line(false)
        };
        assert_eq!(
            withdrawn("Sparkle Laundry"),
            "Sparkle Laundry withdrew its offer on request #3"
        );
        assert_eq!(withdrawn(DHUNE), "Dhune withdrew an offer on request #3");
    }

    #[test]
    fn every_kind_has_a_line_that_names_its_record() {
        for kind in EventKind::ALL {
            let event = NewEvent::new(kind, 4, "Sparkle Laundry")
                .request(3)
                .order(5)
                .statement(6)
                .status(OrderStatus::PickedUp);
            for to_party in [true, false] {
                let line = event.story().line(to_party);
                assert!(
                    line.contains("#3")
                        || line.contains("#5")
                        || line.contains("#6")
                        || line.contains("account"),
                    "{kind}: {line}"
                );
                assert!(!line.contains("moved on"), "{kind}: {line}");
            }
        }
    }

    #[test]
    fn facts_survive_the_payload_and_a_bad_payload_reads_as_none() {
        let facts = NewEvent::new(EventKind::OfferCreated, 4, "Sparkle Laundry")
            .price(Money::from_paisa(45_000))
            .statement(12)
            .status(OrderStatus::Delivering)
            .city("Pokhara")
            .facts;
        assert_eq!(Facts::from_payload(facts.to_payload()), facts);
        assert_eq!(Facts::from_payload(serde_json::json!({})), Facts::default());
        assert_eq!(
            Facts::from_payload(serde_json::json!({"status": "FLYING", "price_paisa": "x"})),
            Facts::default()
        );
    }

    #[test]
    fn broadcasts_and_quiet_kinds_make_no_notes() {
        let created = NewEvent::new(EventKind::RequestCreated, 1, "Sita Sharma")
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
