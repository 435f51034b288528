//! The demo's past: fourteen weeks of a growing marketplace, made through
//! the same `market::` operations as the rest of the demo, each step then
//! moved back to the moment it stands for ([`Timeline`]).
//!
//! Two laundries with different habits ([`SPARKLE`], [`HIMALAYAN`]), the two
//! demo customers from the start and three neighbours who join later;
//! a few requests a day, more as the weeks go by and on Fridays and
//! Saturdays (Nepal's weekend); most get offers and an order, some are
//! called off or expire; orders are paid online or in cash, a few are
//! cancelled by either side or by an admin, disputed and settled, or partly
//! refunded later. Drawn from a fixed seed, so every run tells the same
//! story relative to its day.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, Time, Weekday};

use super::{Demo, account, offer, person, request};
use crate::domain::request::LOCAL_OFFSET;
use crate::domain::status::{DisputeOutcome, OrderStatus};
use crate::domain::when::nepal_date;
use crate::market::accounts::User;
use crate::market::payments::{self, PaymentMethod};
use crate::market::{MarketResult, offers, orders, requests, sweeps};

/// How many days back the history begins.
pub(super) const DAYS: i64 = 98;

/// How close to now a past step may come; later steps have not happened
/// yet (their orders are still under way).
const NOT_YET: Duration = Duration::minutes(10);

/// The moments of the seeding and the past moments they stand for: what
/// is written after a mark (until the next) happened at that mark's past
/// moment, plus the milliseconds the writing took. [`Timeline::apply`]
/// moves it all there in one transaction; rows written before the first
/// mark are not touched.
#[derive(Default)]
pub(super) struct Timeline {
    /// (the database's clock at the mark, the past moment).
    marks: Vec<(OffsetDateTime, OffsetDateTime)>,
}

/// Every row the operations write, by table: the columns that tell when
/// something happened (moved by their own moment's mark), and those dated
/// from the row's creation (a request's expiry or pickup window, an offer's
/// pickup: moved with its `created_at`). `$1` is the first mark.
const MOVES: [&str; 16] = [
    "UPDATE requests SET created_at = created_at - pg_temp.demo_shift(created_at),
            updated_at = updated_at - pg_temp.demo_shift(updated_at),
            expires_at = expires_at - pg_temp.demo_shift(created_at),
            pickup_from = pickup_from - pg_temp.demo_shift(created_at),
            pickup_to = pickup_to - pg_temp.demo_shift(created_at)
     WHERE updated_at >= $1",
    "UPDATE offers SET created_at = created_at - pg_temp.demo_shift(created_at),
            updated_at = updated_at - pg_temp.demo_shift(updated_at),
            expires_at = expires_at - pg_temp.demo_shift(created_at),
            pickup_at = pickup_at - pg_temp.demo_shift(created_at),
            delivery_at = delivery_at - pg_temp.demo_shift(created_at)
     WHERE updated_at >= $1",
    "UPDATE orders SET created_at = created_at - pg_temp.demo_shift(created_at),
            updated_at = updated_at - pg_temp.demo_shift(updated_at),
            status_changed_at = status_changed_at - pg_temp.demo_shift(status_changed_at),
            completed_at = completed_at - pg_temp.demo_shift(completed_at),
            received_at = received_at - pg_temp.demo_shift(received_at),
            pickup_at = pickup_at - pg_temp.demo_shift(created_at),
            delivery_at = delivery_at - pg_temp.demo_shift(created_at)
     WHERE updated_at >= $1",
    "UPDATE order_status_history SET created_at = created_at - pg_temp.demo_shift(created_at)
     WHERE created_at >= $1",
    "UPDATE payments SET created_at = created_at - pg_temp.demo_shift(created_at),
            updated_at = updated_at - pg_temp.demo_shift(updated_at),
            expires_at = expires_at - pg_temp.demo_shift(created_at)
     WHERE updated_at >= $1",
    "UPDATE payment_events SET at = at - pg_temp.demo_shift(at) WHERE at >= $1",
    "UPDATE ledger_transactions SET created_at = created_at - pg_temp.demo_shift(created_at)
     WHERE created_at >= $1",
    "UPDATE refunds SET created_at = created_at - pg_temp.demo_shift(created_at),
            updated_at = updated_at - pg_temp.demo_shift(updated_at),
            sent_at = sent_at - pg_temp.demo_shift(sent_at)
     WHERE updated_at >= $1",
    "UPDATE events SET created_at = created_at - pg_temp.demo_shift(created_at)
     WHERE created_at >= $1",
    "UPDATE notifications SET created_at = created_at - pg_temp.demo_shift(created_at),
            read_at = read_at - pg_temp.demo_shift(read_at)
     WHERE created_at >= $1",
    "UPDATE disputes SET created_at = created_at - pg_temp.demo_shift(created_at),
            resolved_at = resolved_at - pg_temp.demo_shift(resolved_at)
     WHERE created_at >= $1",
    "UPDATE audit_log SET created_at = created_at - pg_temp.demo_shift(created_at)
     WHERE created_at >= $1",
    "UPDATE sandbox_payments SET created_at = created_at - pg_temp.demo_shift(created_at),
            updated_at = updated_at - pg_temp.demo_shift(updated_at),
            expires_at = expires_at - pg_temp.demo_shift(created_at)
     WHERE updated_at >= $1",
    "UPDATE sandbox_refunds SET created_at = created_at - pg_temp.demo_shift(created_at)
     WHERE created_at >= $1",
    "UPDATE users SET created_at = created_at - pg_temp.demo_shift(created_at),
            updated_at = updated_at - pg_temp.demo_shift(updated_at)
     WHERE updated_at >= $1",
    "UPDATE vendors SET created_at = created_at - pg_temp.demo_shift(created_at)
     WHERE created_at >= $1",
];

impl Timeline {
    pub(super) fn new() -> Self {
        Timeline { marks: Vec::new() }
    }

    /// What is written from here to the next mark happened at `past`.
    pub(super) async fn at(&mut self, pool: &PgPool, past: OffsetDateTime) -> sqlx::Result<()> {
        let real = sqlx::query_scalar!(r#"SELECT clock_timestamp() AS "now!""#)
            .fetch_one(pool)
            .await?;
        self.marks.push((real, past));
        Ok(())
    }

    /// Moves everything written since the first mark to its past moment,
    /// in one transaction: the ledger refuses changes, so its guard is
    /// lifted for this transaction alone. The platform's stored daily
    /// figures are dropped (the sweep computes them again).
    pub(super) async fn apply(self, pool: &PgPool) -> sqlx::Result<()> {
        let Some(&(first, _)) = self.marks.first() else {
            return Ok(());
        };
        let mut tx = pool.begin().await?;
        let end = sqlx::query_scalar!(r#"SELECT clock_timestamp() AS "now!""#)
            .fetch_one(&mut *tx)
            .await?;
        let since: Vec<OffsetDateTime> = self.marks.iter().map(|&(real, _)| real).collect();
        let until: Vec<OffsetDateTime> = since.iter().skip(1).copied().chain([end]).collect();
        let shift: Vec<i64> = self
            .marks
            .iter()
            .map(|&(real, past)| {
                i64::try_from((real - past).whole_microseconds()).unwrap_or_default()
            })
            .collect();
        for statement in [
            "CREATE TEMPORARY TABLE demo_marks
                 (since timestamptz, until timestamptz, shift interval) ON COMMIT DROP",
            "CREATE INDEX ON demo_marks (since)",
            "CREATE FUNCTION pg_temp.demo_shift(t timestamptz) RETURNS interval
             LANGUAGE sql STABLE AS $$
                 SELECT coalesce((SELECT m.shift FROM pg_temp.demo_marks m
                                  WHERE m.since <= t AND t < m.until
                                  ORDER BY m.since DESC LIMIT 1), interval '0')
             $$",
            "ALTER TABLE ledger_transactions DISABLE TRIGGER ledger_transactions_append_only",
        ] {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO demo_marks
             SELECT s, u, d * interval '1 microsecond'
             FROM unnest($1::timestamptz[], $2::timestamptz[], $3::bigint[]) AS m(s, u, d)",
        )
        .bind(&since)
        .bind(&until)
        .bind(&shift)
        .execute(&mut *tx)
        .await?;
        sqlx::query("ANALYZE demo_marks").execute(&mut *tx).await?;
        for statement in MOVES {
            sqlx::query(statement).bind(first).execute(&mut *tx).await?;
        }
        for statement in [
            "ALTER TABLE ledger_transactions ENABLE TRIGGER ledger_transactions_append_only",
            "DROP FUNCTION pg_temp.demo_shift(timestamptz)",
            "DELETE FROM platform_daily",
            "DELETE FROM platform_weekly",
        ] {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await
    }
}

/// Expires the past's requests whose day has gone by (and their pending
/// offers) through the sweep, then dates what the sweep wrote at each
/// request's expiry instead of now; notes older than a day were read.
pub(super) async fn expire_and_read(pool: &PgPool) -> MarketResult<()> {
    let swept = sqlx::query_scalar!(r#"SELECT clock_timestamp() AS "now!""#)
        .fetch_one(pool)
        .await?;
    while sweeps::expire_requests(pool).await? > 0 {}
    let mut tx = pool.begin().await?;
    for statement in [
        "UPDATE requests SET updated_at = expires_at
         WHERE status = 'EXPIRED' AND updated_at >= $1",
        "UPDATE offers f SET updated_at = r.expires_at FROM requests r
         WHERE r.id = f.request_id AND f.status = 'EXPIRED' AND f.updated_at >= $1",
        "UPDATE events e SET created_at = r.expires_at FROM requests r
         WHERE r.id = e.request_id AND e.kind IN ('request_expired', 'offer_expired')
           AND e.created_at >= $1",
        "UPDATE notifications n SET created_at = e.created_at FROM events e
         WHERE e.id = n.event_id AND n.created_at >= $1
           AND e.kind IN ('request_expired', 'offer_expired')",
        "UPDATE notifications SET read_at = created_at + interval '2 hours'
         WHERE read_at IS NULL AND created_at < $1 - interval '1 day'",
    ] {
        sqlx::query(statement).bind(swept).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How a laundry works, in thousandths and hours.
pub(super) struct Profile {
    /// How often it makes an offer on a request it sees.
    offers: u32,
    /// How often the customer picks it when both laundries offered.
    chosen: u32,
    /// How often its customers pay online.
    online: u32,
    /// How often it calls an order off before pickup.
    cancels: u32,
    /// Accepted → picked up, and accepted → completed, in hours.
    pickup: (i64, i64),
    done: (i64, i64),
    /// Its prices, in per cent of the going rate.
    price: i64,
}

/// Quick and reliable, paid mostly online.
pub(super) const SPARKLE: Profile = Profile {
    offers: 850,
    chosen: 550,
    online: 600,
    cancels: 20,
    pickup: (2, 8),
    done: (20, 40),
    price: 100,
};

/// Careful and slower, paid mostly in cash, calls more orders off.
pub(super) const HIMALAYAN: Profile = Profile {
    offers: 800,
    chosen: 450,
    online: 250,
    cancels: 110,
    pickup: (4, 14),
    done: (34, 70),
    price: 112,
};

/// What people send, and what it goes for (rupees).
const BASKETS: [(&[(&str, i32)], i64); 7] = [
    (&[("wash_fold", 5)], 550),
    (&[("wash_iron", 4)], 700),
    (&[("dry_clean", 2)], 1100),
    (&[("bedding", 2)], 900),
    (&[("shoes", 2)], 600),
    (&[("iron_only", 10)], 400),
    (&[("wash_fold", 8), ("iron_only", 6)], 1250),
];

const PLACES: [(&str, &str, &str); 6] = [
    ("House 4, Tinkune Marg", "Tinkune", "Kathmandu"),
    ("Flat 2A, Jhamsikhel Road", "Jhamsikhel", "Lalitpur"),
    ("Bagmati Apartments 7", "Baneshwor", "Kathmandu"),
    ("Kupondole Height 21", "Kupondole", "Lalitpur"),
    ("Ward 4, Durbar Square", "Durbar Square", "Bhaktapur"),
    ("Thamel Marg 12", "Thamel", "Kathmandu"),
];

const CUSTOMER_REASONS: [&str; 3] = [
    "My plans changed; I will be away.",
    "A neighbour's laundry can do it today.",
    "Ordered twice by mistake.",
];

const LAUNDRY_REASONS: [&str; 3] = [
    "Our van is off the road this week, sorry.",
    "Too many orders today; we cannot pick this up in time.",
    "We cannot take silk this week.",
];

/// The neighbours who join later: (name, email, phone, days back).
const NEIGHBOURS: [(&str, &str, &str, i64); 3] = [
    ("Bina Shrestha", "bina@demo.dhune.test", "9811122233", 75),
    ("Kiran Maharjan", "kiran@demo.dhune.test", "9822233344", 48),
    ("Nabin Tamang", "nabin@demo.dhune.test", "9833344455", 22),
];

/// One past request and what became of it.
struct Story<'u> {
    customer: &'u User,
    laundries: Vec<(&'u User, &'static Profile)>,
    posted: OffsetDateTime,
    /// Steps after this have not happened yet.
    limit: OffsetDateTime,
    basket: usize,
    place: usize,
    n: usize,
}

impl Demo<'_> {
    /// Makes the history: accounts for the neighbours, then every past
    /// request day by day, each step at its mark of `timeline`.
    pub(super) async fn history(
        &self,
        timeline: &mut Timeline,
        admin: &User,
        customers: [&User; 2],
        laundries: [(&User, &'static Profile); 2],
    ) -> anyhow::Result<()> {
        let now = OffsetDateTime::now_utc();
        let today = nepal_date(now);
        let mut rng = StdRng::seed_from_u64(13);
        let mut neighbours = Vec::new();
        for (name, email, phone, back) in NEIGHBOURS {
            timeline
                .at(self.pool, now - Duration::days(back) - Duration::hours(30))
                .await?;
            let user = account(self.pool, person(name, email, phone)).await?;
            neighbours.push((user, back));
        }
        let mut n = 0;
        for back in (1..=DAYS).rev() {
            let date = today - Duration::days(back);
            // From one request every five days to about one and a half a day.
            let growth = 200 + 1300 * (DAYS - back) / DAYS;
            let busy = match date.weekday() {
                Weekday::Saturday => 150,
                Weekday::Friday => 125,
                _ => 100,
            };
            let count = (growth * busy / 100 + rng.gen_range(0..1000)) / 1000;
            for _ in 0..count {
                let minute = rng.gen_range(7 * 60..21 * 60);
                let posted = PrimitiveDateTime::new(date, Time::MIDNIGHT)
                    .assume_offset(LOCAL_OFFSET)
                    + Duration::minutes(minute);
                // Sita and Arjun three times as often as each neighbour.
                let mut who: Vec<&User> = vec![customers[0], customers[0], customers[0]];
                who.extend([customers[1]; 3]);
                who.extend(
                    neighbours
                        .iter()
                        .filter(|(_, joined)| *joined >= back)
                        .map(|(user, _)| user),
                );
                let customer = who[rng.gen_range(0..who.len())];
                let story = Story {
                    customer,
                    laundries: laundries.to_vec(),
                    posted,
                    limit: now - NOT_YET,
                    basket: rng.gen_range(0..BASKETS.len()),
                    place: rng.gen_range(0..PLACES.len()),
                    n,
                };
                n += 1;
                self.tell(timeline, &mut rng, admin, &story, back).await?;
            }
        }
        Ok(())
    }

    /// One past request, through to its end or as far as now allows.
    async fn tell(
        &self,
        timeline: &mut Timeline,
        rng: &mut StdRng,
        admin: &User,
        story: &Story<'_>,
        back: i64,
    ) -> anyhow::Result<()> {
        let pool = self.pool;
        let window = Duration::hours(72);
        let limit = story.limit;
        let k = i64::try_from(story.n % 1000).unwrap_or_default();
        let (items, going_rate) = BASKETS[story.basket];
        let (address, area, city) = PLACES[story.place];
        let fate = rng.gen_range(0..1000);
        // Accepted, then picked up and completed (hours after acceptance).
        let mut t = story.posted;
        let pickup_in = rng.gen_range(2..10);
        let new = request(
            address,
            area,
            city,
            pickup_in + 3,
            items,
            if story.n.is_multiple_of(5) {
                "Please call when you are at the gate."
            } else {
                ""
            },
        );
        timeline.at(pool, t).await?;
        let request_id = requests::create_request(pool, story.customer, &new).await?;
        // Who offers: each laundry as it tends to, at least one (but on
        // some expired requests nobody did).
        let mut offered = Vec::new();
        for &(laundry, profile) in &story.laundries {
            if rng.gen_range(0..1000) < profile.offers {
                offered.push((laundry, profile));
            }
        }
        if offered.is_empty() && fate >= 30 {
            offered.push(story.laundries[story.n % story.laundries.len()]);
        }
        let mut made = Vec::new();
        for &(laundry, profile) in &offered {
            t += Duration::minutes(rng.gen_range(10..150));
            if t >= limit {
                return Ok(());
            }
            let rupees = (going_rate * profile.price / 100 + rng.gen_range(-8..9) * 10) / 10 * 10;
            timeline.at(pool, t).await?;
            let hours = (story.posted + Duration::hours(pickup_in + 4) - t)
                .whole_hours()
                .max(1);
            let message = if profile.price > 100 {
                "Handled by hand; eco solvent."
            } else {
                "Pickup by scooter."
            };
            let id =
                offers::submit_offer(pool, laundry, request_id, &offer(rupees, hours, message))
                    .await?;
            made.push((id, laundry, profile));
        }
        // Nobody took it: left to expire (the sweep does it once the
        // history is in place), or called off by the customer.
        if fate < 60 && back >= 3 {
            return Ok(());
        }
        if fate < 110 || made.is_empty() {
            t += Duration::hours(rng.gen_range(2..20));
            if t < limit {
                timeline.at(pool, t).await?;
                requests::cancel_request(pool, story.customer, request_id).await?;
            }
            return Ok(());
        }
        // The customer's pick: the one who offered, or of both Sparkle more
        // often; now and then the other withdraws first.
        let pick = if made.len() == 1 || rng.gen_range(0..1000) < made[0].2.chosen {
            0
        } else {
            1
        };
        let (offer_id, laundry, profile) = made[pick];
        if made.len() == 2 && rng.gen_range(0..1000) < 120 {
            let (other, other_laundry, _) = made[1 - pick];
            t += Duration::minutes(rng.gen_range(10..60));
            timeline.at(pool, t).await?;
            offers::withdraw_offer(pool, other_laundry, other).await?;
        }
        t += Duration::minutes(rng.gen_range(20..240));
        if t >= limit {
            return Ok(());
        }
        let method = if rng.gen_range(0..1000) < profile.online {
            PaymentMethod::Online
        } else {
            PaymentMethod::Cod
        };
        timeline.at(pool, t).await?;
        let seen = offers::pending_offer_for_owner(pool, story.customer, offer_id).await?;
        let offers::Accepted::Order(order_id) = offers::accept_offer(
            pool,
            story.customer,
            offer_id,
            seen.version,
            self.commission_bps,
            method,
        )
        .await?
        else {
            anyhow::bail!("a past offer changed while it was being accepted");
        };
        let accepted = t;
        if method == PaymentMethod::Online {
            t += Duration::minutes(rng.gen_range(3..25));
            if t >= limit {
                return Ok(());
            }
            timeline.at(pool, t).await?;
            self.pay(story.customer, order_id, "pay", false).await?;
        }
        let online = method == PaymentMethod::Online;
        // Called off before pickup, by the customer or the laundry.
        let off = rng.gen_range(0..1000);
        if off < 50 + profile.cancels {
            let (who, reason) = if off < 50 {
                (story.customer, CUSTOMER_REASONS[story.n % 3])
            } else {
                (laundry, LAUNDRY_REASONS[story.n % 3])
            };
            t += Duration::minutes(rng.gen_range(20..180));
            if t < limit {
                timeline.at(pool, t).await?;
                orders::cancel_order(pool, who, order_id, reason, window).await?;
                if online {
                    payments::send_refunds(pool, self.gateway, order_id).await?;
                }
            }
            return Ok(());
        }
        let done = accepted
            + Duration::hours(rng.gen_range(profile.done.0..=profile.done.1))
            + Duration::minutes(rng.gen_range(0..60));
        let picked = accepted
            + Duration::hours(rng.gen_range(profile.pickup.0..=profile.pickup.1))
            + Duration::minutes(rng.gen_range(0..60));
        let washing = picked + Duration::minutes(rng.gen_range(40..180));
        let out = done - Duration::minutes(rng.gen_range(60..180));
        let steps = [
            (picked, OrderStatus::PickedUp),
            (washing, OrderStatus::InProgress),
            (out, OrderStatus::Delivering),
        ];
        // Some go wrong on the way: an admin calls one off after pickup, a
        // customer disputes one out for delivery.
        let trouble = match story.n % 41 {
            11 => Trouble::ForceCancel,
            5 | 24 => Trouble::Dispute,
            _ => Trouble::None,
        };
        for (n, (at, step)) in steps.into_iter().enumerate() {
            if at >= limit {
                return Ok(());
            }
            timeline.at(pool, at).await?;
            orders::update_order_status(pool, laundry, order_id, step, window).await?;
            if n == 1 && trouble == Trouble::ForceCancel {
                let at = at + Duration::hours(3);
                if at < limit {
                    timeline.at(pool, at).await?;
                    orders::cancel_order(
                        pool,
                        admin,
                        order_id,
                        "The laundry's machine broke with the clothes inside; \
                         they were returned and the order is off.",
                        window,
                    )
                    .await?;
                    if online {
                        payments::send_refunds(pool, self.gateway, order_id).await?;
                    }
                }
                return Ok(());
            }
        }
        if trouble == Trouble::Dispute {
            return self
                .dispute(timeline, admin, story, order_id, online, out)
                .await;
        }
        if done >= limit {
            return Ok(());
        }
        timeline.at(pool, done).await?;
        orders::update_order_status(pool, laundry, order_id, OrderStatus::Completed, window)
            .await?;
        // Now and then part is given back days later (after the laundry's
        // statement, a clawback on the next).
        let later = done + Duration::days(k % 4 + 2);
        if online && story.n % 9 == 4 && later < limit {
            timeline.at(pool, later).await?;
            let payment = super::payment_of(pool, admin, order_id).await?;
            payments::refund(
                pool,
                self.gateway,
                admin,
                payment,
                "100",
                "A button was lost; its share given back.",
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// A dispute opened while the order is out for delivery, settled a day
    /// or two later: the money released, refunded, or partly given back
    /// (by hand, for cash).
    async fn dispute(
        &self,
        timeline: &mut Timeline,
        admin: &User,
        story: &Story<'_>,
        order_id: i64,
        online: bool,
        out: OffsetDateTime,
    ) -> anyhow::Result<()> {
        let pool = self.pool;
        let limit = story.limit;
        let k = i64::try_from(story.n % 1000).unwrap_or_default();
        let window = Duration::hours(72);
        let opened = out + Duration::minutes(50);
        if opened >= limit {
            return Ok(());
        }
        timeline.at(pool, opened).await?;
        orders::open_dispute(
            pool,
            story.customer,
            order_id,
            "Two shirts came back still stained.",
            window,
        )
        .await?;
        let settled = opened + Duration::hours(20 + k % 30);
        if settled >= limit {
            return Ok(());
        }
        let outcome = match story.n % 3 {
            0 => DisputeOutcome::Release,
            1 => DisputeOutcome::Refund,
            _ => DisputeOutcome::Partial,
        };
        timeline.at(pool, settled).await?;
        let disputed = orders::get_order(pool, admin, order_id, window).await?;
        let Some(dispute) = disputed.dispute else {
            anyhow::bail!("past order {order_id} has no dispute");
        };
        orders::resolve_dispute(
            pool,
            admin,
            dispute.id,
            outcome,
            "150",
            "Settled with both sides after looking at the photos.",
            window,
        )
        .await?;
        payments::send_refunds(pool, self.gateway, order_id).await?;
        if !online && outcome == DisputeOutcome::Partial {
            let handed = settled + Duration::hours(5);
            if handed < limit {
                let refund = sqlx::query_scalar!(
                    "SELECT r.id FROM refunds r JOIN payments p ON p.id = r.payment_id
                     WHERE p.order_id = $1 AND r.status = 'MANUAL_ACTION_NEEDED'",
                    order_id
                )
                .fetch_optional(pool)
                .await?;
                if let Some(refund) = refund {
                    timeline.at(pool, handed).await?;
                    payments::mark_refund_done(pool, admin, refund, "Cash handed back at the door")
                        .await?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    None,
    ForceCancel,
    Dispute,
}
