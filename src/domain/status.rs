//! The statuses of requests, offers and orders, and the order state machine:
//! which move, by whom, written once as a table.

use std::str::FromStr;

use time::{Duration, OffsetDateTime};

use super::account::Role;

/// Declares an enum of database words (statuses, audit actions) with their
/// human labels.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal, $count:literal {
            $($variant:ident => $word:literal, $label:literal;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const ALL: [Self; $count] = [$(Self::$variant,)+];

            /// The word stored in the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word,)+
                }
            }

            /// The status in words, for people.
            pub fn label(self) -> &'static str {
                match self {
                    $(Self::$variant => $label,)+
                }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($word => Ok(Self::$variant),)+
                    other => Err(format!(concat!("unknown ", $what, " {:?}"), other)),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.label())
            }
        }
    };
}

pub(crate) use status_enum;

status_enum! {
    /// Where a customer's request stands.
    RequestStatus, "request status", 4 {
        Open => "OPEN", "Open";
        OrderCreated => "ORDER_CREATED", "Order created";
        Cancelled => "CANCELLED", "Cancelled";
        Expired => "EXPIRED", "Expired";
    }
}

status_enum! {
    /// Where a vendor's offer stands.
    OfferStatus, "offer status", 5 {
        Pending => "PENDING", "Pending";
        Accepted => "ACCEPTED", "Accepted";
        Rejected => "REJECTED", "Not chosen";
        Withdrawn => "WITHDRAWN", "Withdrawn";
        Expired => "EXPIRED", "Expired";
    }
}

status_enum! {
    /// Where an order stands.
    OrderStatus, "order status", 7 {
        Created => "CREATED", "Created";
        PickedUp => "PICKED_UP", "Picked up";
        InProgress => "IN_PROGRESS", "In progress";
        Delivering => "DELIVERING", "Out for delivery";
        Completed => "COMPLETED", "Completed";
        Cancelled => "CANCELLED", "Cancelled";
        Disputed => "DISPUTED", "Disputed";
    }
}

impl OrderStatus {
    /// Completed and cancelled orders are done (a completed order may still
    /// be disputed within the dispute window).
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Completed | OrderStatus::Cancelled)
    }

    /// The vendor's one next step forward, `None` when there is none.
    pub fn next_step(self) -> Option<OrderStatus> {
        match self {
            OrderStatus::Created => Some(OrderStatus::PickedUp),
            OrderStatus::PickedUp => Some(OrderStatus::InProgress),
            OrderStatus::InProgress => Some(OrderStatus::Delivering),
            OrderStatus::Delivering => Some(OrderStatus::Completed),
            OrderStatus::Completed | OrderStatus::Cancelled | OrderStatus::Disputed => None,
        }
    }
}

/// Who moves an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    Customer,
    Vendor,
    Admin,
    /// Background jobs.
    System,
}

impl Actor {
    pub const ALL: [Actor; 4] = [Actor::Customer, Actor::Vendor, Actor::Admin, Actor::System];
}

impl From<Role> for Actor {
    fn from(role: Role) -> Self {
        match role {
            Role::Customer => Actor::Customer,
            Role::Vendor => Actor::Vendor,
            Role::Admin => Actor::Admin,
        }
    }
}

/// What kind of move a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// A step forward through pickup, washing and delivery.
    Advance,
    /// Called off: before pickup by either side, or later by an admin.
    Cancel,
    /// A dispute opened by the customer or the vendor.
    Dispute,
    /// An admin's decision on a dispute: completed (release) or cancelled (refund).
    Resolve,
}

/// One allowed move of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub actors: &'static [Actor],
    pub kind: Transition,
    pub needs_reason: bool,
}

const fn rule(
    from: OrderStatus,
    to: OrderStatus,
    actors: &'static [Actor],
    kind: Transition,
) -> Rule {
    Rule {
        from,
        to,
        actors,
        kind,
        needs_reason: !matches!(kind, Transition::Advance),
    }
}

use Actor::{Admin, Customer, System, Vendor};
use OrderStatus::{Cancelled, Completed, Created, Delivering, Disputed, InProgress, PickedUp};
use Transition::{Advance, Cancel, Dispute, Resolve};

/// Every move an order can make, and who may make it. Every move but an
/// advance needs a reason.
pub const ORDER_RULES: &[Rule] = &[
    rule(Created, PickedUp, &[Vendor], Advance),
    rule(PickedUp, InProgress, &[Vendor], Advance),
    rule(InProgress, Delivering, &[Vendor], Advance),
    // Vendor delivered, customer confirms receipt, or the job auto-completes.
    rule(Delivering, Completed, &[Vendor, Customer, System], Advance),
    // Before pickup either side may call it off.
    rule(
        Created,
        Cancelled,
        &[Customer, Vendor, Admin, System],
        Cancel,
    ),
    // After pickup only an admin may (force-cancel).
    rule(PickedUp, Cancelled, &[Admin], Cancel),
    rule(InProgress, Cancelled, &[Admin], Cancel),
    rule(Delivering, Cancelled, &[Admin], Cancel),
    // An admin resolves a dispute: refund the customer or release to the vendor.
    rule(Disputed, Cancelled, &[Admin], Resolve),
    rule(Disputed, Completed, &[Admin], Resolve),
    rule(PickedUp, Disputed, &[Customer, Vendor], Dispute),
    rule(InProgress, Disputed, &[Customer, Vendor], Dispute),
    rule(Delivering, Disputed, &[Customer, Vendor], Dispute),
    // Only within the dispute window, checked by `check_order_transition`.
    rule(Completed, Disputed, &[Customer], Dispute),
];

/// Why an order may not make a move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error(
        "An order that is {} cannot become {}.",
        .from.label().to_lowercase(),
        .to.label().to_lowercase()
    )]
    NotAllowed { from: OrderStatus, to: OrderStatus },
    #[error(
        "You cannot move this order from {} to {}.",
        .from.label().to_lowercase(),
        .to.label().to_lowercase()
    )]
    WrongActor { from: OrderStatus, to: OrderStatus },
    #[error("Please give a reason.")]
    ReasonRequired,
    #[error("The time to open a dispute on this order has passed.")]
    DisputeWindowClosed,
}

/// The rule for moving an order from `from` to `to` by `actor`.
///
/// Checks, in this order: that the move exists, that `actor` may make it,
/// the dispute window (for COMPLETED → DISPUTED the order must have been
/// completed less than `dispute_window` before `now`; a completed order
/// without `completed_at` counts as closed), and that `reason` is not blank
/// when the rule needs one.
pub fn check_order_transition(
    from: OrderStatus,
    to: OrderStatus,
    actor: Actor,
    reason: &str,
    completed_at: Option<OffsetDateTime>,
    dispute_window: Duration,
    now: OffsetDateTime,
) -> Result<&'static Rule, TransitionError> {
    let rule = ORDER_RULES
        .iter()
        .find(|rule| rule.from == from && rule.to == to)
        .ok_or(TransitionError::NotAllowed { from, to })?;
    if !rule.actors.contains(&actor) {
        return Err(TransitionError::WrongActor { from, to });
    }
    if from == Completed && to == Disputed {
        let open = completed_at.is_some_and(|completed_at| now - completed_at < dispute_window);
        if !open {
            return Err(TransitionError::DisputeWindowClosed);
        }
    }
    if rule.needs_reason && reason.trim().is_empty() {
        return Err(TransitionError::ReasonRequired);
    }
    Ok(rule)
}

/// Whether `actor` may move an order to `to` from some status: when not,
/// asking is a matter of role (403); when so, of the order's status (409).
pub fn may_ever_move_to(to: OrderStatus, actor: Actor) -> bool {
    ORDER_RULES
        .iter()
        .any(|rule| rule.to == to && rule.actors.contains(&actor))
}

/// The moves `actor` may make from `from` (for drawing buttons), in table
/// order. The dispute window is not checked here.
pub fn order_moves(from: OrderStatus, actor: Actor) -> Vec<&'static Rule> {
    ORDER_RULES
        .iter()
        .filter(|rule| rule.from == from && rule.actors.contains(&actor))
        .collect()
}

/// Where a step of the order tracker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Done,
    Current,
    Upcoming,
}

/// A step of the order tracker: "Picked up", done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub status: OrderStatus,
    pub label: &'static str,
    pub state: StepState,
}

impl Step {
    pub fn is_current(&self) -> bool {
        self.state == StepState::Current
    }

    pub fn is_done(&self) -> bool {
        self.state == StepState::Done
    }

    /// The state in words, for `data-state` and screen readers.
    pub fn state_word(&self) -> &'static str {
        match self.state {
            StepState::Done => "done",
            StepState::Current => "current",
            StepState::Upcoming => "to come",
        }
    }
}

/// The steps an order goes through, as the tracker names them.
pub const TRACK: [(OrderStatus, &str); 5] = [
    (Created, "Created"),
    (PickedUp, "Picked up"),
    (InProgress, "Washing"),
    (Delivering, "Out for delivery"),
    (Completed, "Delivered"),
];

/// The tracker of an order in `status`. `reached` is the last of the five
/// steps the order was in: the status itself, or for a cancelled or disputed
/// order the status it left. A cancelled or disputed order shows the steps
/// it reached and then where it stopped, as the current step; the steps it
/// will not take are left out.
pub fn track(status: OrderStatus, reached: OrderStatus) -> Vec<Step> {
    let position = |s: OrderStatus| TRACK.iter().position(|(t, _)| *t == s);
    let stopped = matches!(status, Cancelled | Disputed);
    let at = position(if stopped { reached } else { status }).unwrap_or(0);
    let mut steps: Vec<Step> = TRACK
        .iter()
        .enumerate()
        .filter(|(i, _)| !stopped || *i <= at)
        .map(|(i, (s, label))| Step {
            status: *s,
            label,
            state: match i.cmp(&at) {
                std::cmp::Ordering::Less => StepState::Done,
                std::cmp::Ordering::Equal if stopped => StepState::Done,
                std::cmp::Ordering::Equal => StepState::Current,
                std::cmp::Ordering::Greater => StepState::Upcoming,
            },
        })
        .collect();
    if stopped {
        steps.push(Step {
            status,
            label: status.label(),
            state: StepState::Current,
        });
    }
    steps
}

/// How an admin settles a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisputeOutcome {
    /// The vendor is paid: the order completes.
    Release,
    /// The customer is refunded: the order is cancelled.
    Refund,
    /// The customer gets part of the money back; the order completes.
    Partial,
}

impl DisputeOutcome {
    pub fn target(self) -> OrderStatus {
        match self {
            DisputeOutcome::Release => OrderStatus::Completed,
            DisputeOutcome::Refund => OrderStatus::Cancelled,
            DisputeOutcome::Partial => OrderStatus::Completed,
        }
    }
}

impl FromStr for DisputeOutcome {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "release" => Ok(DisputeOutcome::Release),
            "refund" => Ok(DisputeOutcome::Refund),
            "partial" => Ok(DisputeOutcome::Partial),
            _ => Err(
                "Choose release (pay the laundry), refund (repay the customer) or partial \
                 (repay part of it)."
                    .into(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-05-01 12:00 UTC);
    const WINDOW: Duration = Duration::hours(72);

    /// Written out by hand from DESIGN.md, independently of `ORDER_RULES`:
    /// (from, to, who may, kind).
    const EXPECTED: &[(OrderStatus, OrderStatus, &[Actor], Transition)] = &[
        (Created, PickedUp, &[Vendor], Advance),
        (PickedUp, InProgress, &[Vendor], Advance),
        (InProgress, Delivering, &[Vendor], Advance),
        (Delivering, Completed, &[Vendor, Customer, System], Advance),
        (
            Created,
            Cancelled,
            &[Customer, Vendor, Admin, System],
            Cancel,
        ),
        (PickedUp, Cancelled, &[Admin], Cancel),
        (InProgress, Cancelled, &[Admin], Cancel),
        (Delivering, Cancelled, &[Admin], Cancel),
        (PickedUp, Disputed, &[Customer, Vendor], Dispute),
        (InProgress, Disputed, &[Customer, Vendor], Dispute),
        (Delivering, Disputed, &[Customer, Vendor], Dispute),
        (Completed, Disputed, &[Customer], Dispute),
        (Disputed, Completed, &[Admin], Resolve),
        (Disputed, Cancelled, &[Admin], Resolve),
    ];

    fn check(
        from: OrderStatus,
        to: OrderStatus,
        actor: Actor,
        reason: &str,
    ) -> Result<&'static Rule, TransitionError> {
        let completed_at = Some(NOW - Duration::hours(1));
        check_order_transition(from, to, actor, reason, completed_at, WINDOW, NOW)
    }

    #[test]
    fn every_status_pair_and_actor_gets_the_expected_answer() {
        let mut allowed = 0;
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = EXPECTED.iter().find(|e| e.0 == from && e.1 == to);
                for actor in Actor::ALL {
                    let result = check(from, to, actor, "a reason");
                    match expected {
                        None => assert_eq!(
                            result,
                            Err(TransitionError::NotAllowed { from, to }),
                            "{from:?} -> {to:?} by {actor:?}"
                        ),
                        Some(&(_, _, actors, kind)) if actors.contains(&actor) => {
                            allowed += 1;
                            let rule = result.unwrap_or_else(|e| {
                                panic!("{from:?} -> {to:?} by {actor:?} refused: {e}")
                            });
                            assert_eq!((rule.from, rule.to, rule.kind), (from, to, kind));
                            assert_eq!(rule.needs_reason, kind != Advance);
                        }
                        Some(_) => assert_eq!(
                            result,
                            Err(TransitionError::WrongActor { from, to }),
                            "{from:?} -> {to:?} by {actor:?}"
                        ),
                    }
                }
            }
        }
        // 1+1+1+3 advances, 4+1+1+1 cancels (the system cancels an order
        // left unpaid), 2+2+2+1 disputes, 1+1 resolves.
        assert_eq!(allowed, 22);
    }

    #[test]
    fn the_table_holds_each_move_once_and_nothing_else() {
        assert_eq!(ORDER_RULES.len(), EXPECTED.len());
        for (i, rule) in ORDER_RULES.iter().enumerate() {
            assert!(
                ORDER_RULES[i + 1..]
                    .iter()
                    .all(|other| (other.from, other.to) != (rule.from, rule.to)),
                "{:?} -> {:?} appears twice",
                rule.from,
                rule.to
            );
        }
    }

    #[test]
    fn moves_for_buttons_follow_the_table() {
        for from in OrderStatus::ALL {
            for actor in Actor::ALL {
                let moves: Vec<_> = order_moves(from, actor)
                    .iter()
                    .map(|rule| (rule.to, rule.kind))
                    .collect();
                let expected: Vec<_> = OrderStatus::ALL
                    .into_iter()
                    .filter(|&to| check(from, to, actor, "a reason").is_ok())
                    .collect();
                assert_eq!(moves.len(), expected.len(), "{from:?} by {actor:?}");
                assert!(moves.iter().all(|(to, _)| expected.contains(to)));
            }
        }
        let vendor_at_picked_up: Vec<_> = order_moves(PickedUp, Vendor)
            .iter()
            .map(|rule| (rule.to, rule.kind))
            .collect();
        assert_eq!(
            vendor_at_picked_up,
            [(InProgress, Advance), (Disputed, Dispute)]
        );
        let admin_at_disputed: Vec<_> = order_moves(Disputed, Admin)
            .iter()
            .map(|rule| rule.to)
            .collect();
        assert_eq!(admin_at_disputed, [Cancelled, Completed]);
        assert!(order_moves(Cancelled, Admin).is_empty());
        // The system's one move on a new order is cancelling it unpaid.
        let system_at_created: Vec<_> = order_moves(Created, System)
            .iter()
            .map(|rule| (rule.to, rule.kind))
            .collect();
        assert_eq!(system_at_created, [(Cancelled, Cancel)]);
    }

    #[test]
    fn moves_other_than_advancing_need_a_reason() {
        for &(from, to, actors, kind) in EXPECTED {
            for reason in ["", "   ", "\n\t "] {
                let result = check(from, to, actors[0], reason);
                if kind == Advance {
                    assert!(result.is_ok(), "{from:?} -> {to:?}");
                } else {
                    assert_eq!(result, Err(TransitionError::ReasonRequired));
                }
            }
        }
        assert!(check(Created, Cancelled, Customer, " changed my mind ").is_ok());
    }

    #[test]
    fn a_wrong_actor_is_told_so_before_being_asked_for_a_reason() {
        assert_eq!(
            check(PickedUp, Cancelled, Customer, ""),
            Err(TransitionError::WrongActor {
                from: PickedUp,
                to: Cancelled
            })
        );
    }

    #[test]
    fn disputes_after_completion_close_with_the_window() {
        let at = |completed_at| {
            check_order_transition(
                Completed,
                Disputed,
                Customer,
                "torn shirt",
                completed_at,
                WINDOW,
                NOW,
            )
        };
        assert!(at(Some(NOW)).is_ok());
        assert!(at(Some(NOW - WINDOW + Duration::seconds(1))).is_ok());
        assert!(at(Some(NOW + Duration::minutes(5))).is_ok()); // clocks differ
        assert_eq!(
            at(Some(NOW - WINDOW)),
            Err(TransitionError::DisputeWindowClosed)
        );
        assert_eq!(
            at(Some(NOW - WINDOW - Duration::seconds(1))),
            Err(TransitionError::DisputeWindowClosed)
        );
        assert_eq!(
            at(Some(NOW - Duration::days(365))),
            Err(TransitionError::DisputeWindowClosed)
        );
        assert_eq!(at(None), Err(TransitionError::DisputeWindowClosed));
        // The window only applies to a completed order.
        assert!(
            check_order_transition(Delivering, Disputed, Customer, "late", None, WINDOW, NOW)
                .is_ok()
        );
        // A closed window is reported before a missing reason.
        assert_eq!(
            check_order_transition(Completed, Disputed, Customer, "", None, WINDOW, NOW),
            Err(TransitionError::DisputeWindowClosed)
        );
    }

    #[test]
    fn errors_are_sentences_for_people() {
        assert_eq!(
            TransitionError::NotAllowed {
                from: PickedUp,
                to: Created
            }
            .to_string(),
            "An order that is picked up cannot become created."
        );
        assert_eq!(
            TransitionError::WrongActor {
                from: Delivering,
                to: Cancelled
            }
            .to_string(),
            "You cannot move this order from out for delivery to cancelled."
        );
        assert_eq!(
            TransitionError::ReasonRequired.to_string(),
            "Please give a reason."
        );
        assert_eq!(
            TransitionError::DisputeWindowClosed.to_string(),
            "The time to open a dispute on this order has passed."
        );
    }

    #[test]
    fn the_vendor_steps_forward_one_status_at_a_time() {
        let expected = [
            (Created, Some(PickedUp)),
            (PickedUp, Some(InProgress)),
            (InProgress, Some(Delivering)),
            (Delivering, Some(Completed)),
            (Completed, None),
            (Cancelled, None),
            (Disputed, None),
        ];
        for (from, next) in expected {
            assert_eq!(from.next_step(), next, "{from:?}");
            if let Some(to) = next {
                assert_eq!(check(from, to, Vendor, "").map(|r| r.kind), Ok(Advance));
            }
        }
        for status in OrderStatus::ALL {
            assert_eq!(status.is_final(), matches!(status, Completed | Cancelled));
        }
    }

    #[test]
    fn statuses_round_trip_through_their_words() {
        for status in RequestStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.label());
        }
        for status in OfferStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.label());
        }
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
            assert_eq!(status.to_string(), status.label());
        }
        let words = |all: &[&str]| all.join(",");
        assert_eq!(
            words(&RequestStatus::ALL.map(RequestStatus::as_str)),
            "OPEN,ORDER_CREATED,CANCELLED,EXPIRED"
        );
        assert_eq!(
            words(&OfferStatus::ALL.map(OfferStatus::as_str)),
            "PENDING,ACCEPTED,REJECTED,WITHDRAWN,EXPIRED"
        );
        assert_eq!(
            words(&OrderStatus::ALL.map(OrderStatus::as_str)),
            "CREATED,PICKED_UP,IN_PROGRESS,DELIVERING,COMPLETED,CANCELLED,DISPUTED"
        );
    }

    #[test]
    fn unknown_words_are_refused() {
        for word in [
            "",
            "open",
            "Open",
            " OPEN",
            "OPEN ",
            "ORDER CREATED",
            "PENDING",
        ] {
            assert!(word.parse::<RequestStatus>().is_err(), "{word:?}");
        }
        for word in [
            "",
            "pending",
            "Not chosen",
            "NOT_CHOSEN",
            "OPEN",
            "PENDING\0",
        ] {
            assert!(word.parse::<OfferStatus>().is_err(), "{word:?}");
        }
        for word in ["", "created", "PICKEDUP", "Picked up", "DELIVERED", "OPEN"] {
            assert!(word.parse::<OrderStatus>().is_err(), "{word:?}");
        }
        assert_eq!(
            "DONE".parse::<OrderStatus>(),
            Err("unknown order status \"DONE\"".into())
        );
    }

    #[test]
    fn labels_are_words() {
        assert_eq!(RequestStatus::OrderCreated.label(), "Order created");
        assert_eq!(OfferStatus::Rejected.label(), "Not chosen");
        assert_eq!(OrderStatus::PickedUp.label(), "Picked up");
        assert_eq!(OrderStatus::InProgress.label(), "In progress");
        assert_eq!(OrderStatus::Delivering.label(), "Out for delivery");
        assert_eq!(OrderStatus::Disputed.to_string(), "Disputed");
    }

    #[test]
    fn roles_act_as_themselves() {
        assert_eq!(Actor::from(Role::Customer), Customer);
        assert_eq!(Actor::from(Role::Vendor), Vendor);
        assert_eq!(Actor::from(Role::Admin), Admin);
    }

    #[test]
    fn who_may_ever_reach_a_status() {
        assert!(may_ever_move_to(OrderStatus::Cancelled, Actor::Customer));
        assert!(may_ever_move_to(OrderStatus::Completed, Actor::System));
        assert!(!may_ever_move_to(OrderStatus::PickedUp, Actor::Customer));
        assert!(!may_ever_move_to(OrderStatus::Disputed, Actor::Admin));
        assert!(!may_ever_move_to(OrderStatus::Created, Actor::Vendor));
    }

    #[test]
    fn dispute_outcomes_name_their_target() {
        assert_eq!(
            "release"
                .parse::<DisputeOutcome>()
                .map(DisputeOutcome::target),
            Ok(Completed)
        );
        assert_eq!(
            "refund"
                .parse::<DisputeOutcome>()
                .map(DisputeOutcome::target),
            Ok(Cancelled)
        );
        assert!("RELEASE".parse::<DisputeOutcome>().is_err());
        for outcome in [DisputeOutcome::Release, DisputeOutcome::Refund] {
            let to = outcome.target();
            assert!(
                order_moves(Disputed, Actor::Admin)
                    .iter()
                    .any(|r| r.to == to && r.kind == Transition::Resolve)
            );
        }
    }

    fn states(steps: &[Step]) -> Vec<(&str, StepState)> {
        steps.iter().map(|s| (s.label, s.state)).collect()
    }

    #[test]
    fn the_tracker_marks_the_current_step() {
        use StepState::{Current as Now, Done, Upcoming as Later};
        assert_eq!(
            states(&track(InProgress, InProgress)),
            [
                ("Created", Done),
                ("Picked up", Done),
                ("Washing", Now),
                ("Out for delivery", Later),
                ("Delivered", Later)
            ]
        );
        assert_eq!(states(&track(Created, Created))[0], ("Created", Now));
        assert_eq!(states(&track(Completed, Completed))[4], ("Delivered", Now));
        for status in OrderStatus::ALL {
            let current = track(status, PickedUp)
                .iter()
                .filter(|s| s.is_current())
                .count();
            assert_eq!(current, 1, "{status:?}: one current step");
        }
    }

    #[test]
    fn a_stopped_order_shows_where_it_stopped() {
        use StepState::{Current as Now, Done};
        assert_eq!(
            states(&track(Cancelled, Created)),
            [("Created", Done), ("Cancelled", Now)]
        );
        assert_eq!(
            states(&track(Disputed, PickedUp)),
            [("Created", Done), ("Picked up", Done), ("Disputed", Now)]
        );
        assert_eq!(track(Disputed, Completed).len(), 6);
    }
}
