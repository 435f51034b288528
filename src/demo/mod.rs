//! Demo data for `serve --demo` and `seed-demo`: accounts a newcomer can log
//! in with, and a living marketplace made through the same `market::`
//! operations the app uses: today's open requests and orders at every stage
//! ([`seed_if_empty`]), the money ([`seed_payments`]), and fourteen weeks of
//! history behind them (`history`), made now and moved back to the
//! moments they stand for. Seeding is skipped when users already exist.

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use crate::domain::account::{NewAccount, SignupInput};
use crate::domain::money::Money;
use crate::domain::offer::NewOffer;
use crate::domain::payouts::week_start;
use crate::domain::request::NewRequest;
use crate::domain::status::{DisputeOutcome, OrderStatus};
use crate::gateways::payments::{Gateway, NextStep};
use crate::market::accounts::User;
use crate::market::payments::{self, PaymentMethod};
use crate::market::{self, MarketError, MarketResult, offers, orders, payouts, requests};

mod history;

use history::{HIMALAYAN, SPARKLE, Timeline};

/// The password of every demo account.
pub const DEMO_PASSWORD: &str = "dhune-demo";

/// The demo logins: (role, email).
pub const DEMO_LOGINS: [(&str, &str); 5] = [
    ("admin", "admin@demo.dhune.test"),
    ("customer", "sita@demo.dhune.test"),
    ("customer", "arjun@demo.dhune.test"),
    ("vendor", "sparkle@demo.dhune.test"),
    ("vendor", "himalayan@demo.dhune.test"),
];

async fn account(pool: &PgPool, input: SignupInput<'_>) -> MarketResult<User> {
    let account = NewAccount::parse(&input).map_err(MarketError::Invalid)?;
    market::accounts::sign_up(pool, account).await
}

fn person<'a>(name: &'a str, email: &'a str, phone: &'a str) -> SignupInput<'a> {
    SignupInput {
        name,
        email,
        phone,
        password: DEMO_PASSWORD,
        role: "customer",
        business_name: "",
        city: "",
    }
}

fn laundry<'a>(
    name: &'a str,
    email: &'a str,
    business_name: &'a str,
    city: &'a str,
) -> SignupInput<'a> {
    SignupInput {
        role: "vendor",
        business_name,
        city,
        ..person(name, email, "9812345678")
    }
}

fn request(
    address: &str,
    area: &str,
    city: &str,
    in_hours: i64,
    items: &[(&str, i32)],
    notes: &str,
) -> NewRequest {
    let now = OffsetDateTime::now_utc();
    NewRequest {
        pickup_address: address.into(),
        city: city.into(),
        area: area.into(),
        pickup_from: now + Duration::hours(in_hours),
        pickup_to: now + Duration::hours(in_hours + 3),
        notes: notes.into(),
        expires_at: now + Duration::hours(48),
        items: items
            .iter()
            .map(|(code, qty)| ((*code).to_owned(), *qty))
            .collect(),
    }
}

/// Accepts an offer at the version the customer reads, as the confirmation
/// page does; returns the order's id.
async fn accept(
    pool: &PgPool,
    customer: &User,
    offer_id: i64,
    commission_bps: i32,
) -> MarketResult<i64> {
    let seen = offers::pending_offer_for_owner(pool, customer, offer_id).await?;
    match offers::accept_offer(
        pool,
        customer,
        offer_id,
        seen.version,
        commission_bps,
        PaymentMethod::Cod,
    )
    .await?
    {
        offers::Accepted::Order(order_id) => Ok(order_id),
        offers::Accepted::Changed(_) => Err(MarketError::Conflict(
            "the demo offer changed while it was being accepted".into(),
        )),
    }
}

fn offer(rupees: i64, in_hours: i64, message: &str) -> NewOffer {
    let now = OffsetDateTime::now_utc();
    NewOffer {
        price: Money::from_paisa(rupees * 100),
        pickup_at: now + Duration::hours(in_hours),
        delivery_at: now + Duration::hours(in_hours + 48),
        message: message.into(),
    }
}

/// Seeds the demo when no user exists yet; returns whether it seeded.
pub async fn seed_if_empty(pool: &PgPool, commission_bps: i32) -> MarketResult<bool> {
    if market::accounts::count_users(pool).await? > 0 {
        return Ok(false);
    }
    // Everyone joined before the history began; today's records are dated
    // over the last hours and days, each step at its mark.
    let now = OffsetDateTime::now_utc();
    let ago = |hours: i64, minutes: i64| now - Duration::hours(hours) - Duration::minutes(minutes);
    let mut timeline = Timeline::new();
    timeline
        .at(pool, now - Duration::days(history::DAYS + 3))
        .await?;
    let admin = market::accounts::create_admin(pool, DEMO_LOGINS[0].1, DEMO_PASSWORD).await?;
    let sita = account(pool, person("Sita Sharma", DEMO_LOGINS[1].1, "9801234567")).await?;
    let arjun = account(pool, person("Arjun Karki", DEMO_LOGINS[2].1, "9807654321")).await?;
    let sparkle = account(
        pool,
        laundry(
            "Ram Thapa",
            DEMO_LOGINS[3].1,
            "Sparkle Laundry",
            "Kathmandu",
        ),
    )
    .await?;
    let himalayan = account(
        pool,
        laundry(
            "Maya Gurung",
            DEMO_LOGINS[4].1,
            "Himalayan Dry Cleaners",
            "Lalitpur",
        ),
    )
    .await?;
    let window = Duration::hours(72);

    // Open requests: one fresh, one with competing offers, one with a withdrawn offer.
    let fresh = request(
        "House 12, Tinkune Marg",
        "Tinkune",
        "Kathmandu",
        3,
        &[("wash_fold", 6), ("iron_only", 8)],
        "Two school uniforms, please press them.",
    );
    timeline.at(pool, ago(0, 25)).await?;
    requests::create_request(pool, &sita, &fresh).await?;
    let busy = request(
        "Flat 3B, Jhamsikhel Road",
        "Jhamsikhel",
        "Lalitpur",
        5,
        &[("dry_clean", 3), ("bedding", 1)],
        "A silk sari and a wool coat.",
    );
    timeline.at(pool, ago(3, 0)).await?;
    let busy_id = requests::create_request(pool, &arjun, &busy).await?;
    timeline.at(pool, ago(2, 10)).await?;
    offers::submit_offer(
        pool,
        &sparkle,
        busy_id,
        &offer(1450, 6, "Pickup by scooter, 48 h turnaround."),
    )
    .await?;
    timeline.at(pool, ago(1, 40)).await?;
    offers::submit_offer(
        pool,
        &himalayan,
        busy_id,
        &offer(1250, 7, "Silk handled by hand; eco solvent."),
    )
    .await?;
    let quiet = request(
        "Near Boudha Stupa gate 2",
        "Boudha",
        "Kathmandu",
        8,
        &[("shoes", 2)],
        "",
    );
    timeline.at(pool, ago(5, 0)).await?;
    let quiet_id = requests::create_request(pool, &sita, &quiet).await?;
    timeline.at(pool, ago(4, 20)).await?;
    let withdrawn = offers::submit_offer(pool, &sparkle, quiet_id, &offer(600, 9, "")).await?;
    timeline.at(pool, ago(3, 30)).await?;
    offers::withdraw_offer(pool, &sparkle, withdrawn).await?;

    // A cancelled request (its offer is rejected).
    let cancelled = request(
        "Ward 4, Bhaktapur Durbar Square",
        "Durbar Square",
        "Bhaktapur",
        4,
        &[("wash_iron", 4)],
        "",
    );
    timeline.at(pool, ago(8, 0)).await?;
    let cancelled_id = requests::create_request(pool, &arjun, &cancelled).await?;
    timeline.at(pool, ago(7, 15)).await?;
    offers::submit_offer(pool, &himalayan, cancelled_id, &offer(700, 5, "")).await?;
    timeline.at(pool, ago(6, 0)).await?;
    requests::cancel_request(pool, &arjun, cancelled_id).await?;

    // An expired request, whose pending offer expired with it: posted two
    // days ago, expired by the sweep once moved there.
    timeline.at(pool, ago(50, 0)).await?;
    let expiring = request(
        "Lakeside Road 9",
        "Lakeside",
        "Pokhara",
        2,
        &[("wash_iron", 3)],
        "",
    );
    let expiring_id = requests::create_request(pool, &arjun, &expiring).await?;
    timeline.at(pool, ago(49, 20)).await?;
    offers::submit_offer(pool, &sparkle, expiring_id, &offer(450, 3, "")).await?;

    // Orders at every stage, with when each was accepted and each step (and
    // the dispute) made, in hours ago.
    let stages: [(&[OrderStatus], &str, &[i64]); 6] = [
        (&[], "", &[1]),
        (&[OrderStatus::PickedUp], "", &[7, 3]),
        (
            &[OrderStatus::PickedUp, OrderStatus::InProgress],
            "",
            &[20, 15, 13],
        ),
        (
            &[
                OrderStatus::PickedUp,
                OrderStatus::InProgress,
                OrderStatus::Delivering,
            ],
            "",
            &[30, 24, 22, 2],
        ),
        (
            &[
                OrderStatus::PickedUp,
                OrderStatus::InProgress,
                OrderStatus::Delivering,
                OrderStatus::Completed,
            ],
            "",
            &[54, 48, 46, 12, 9],
        ),
        (
            &[OrderStatus::PickedUp, OrderStatus::InProgress],
            "One shirt came back with a new stain.",
            &[28, 22, 20, 4],
        ),
    ];
    for (n, (steps, dispute, hours)) in stages.iter().enumerate() {
        let n = n as i64;
        let customer = if n % 2 == 0 { &sita } else { &arjun };
        let (winner, loser) = if n % 2 == 0 {
            (&sparkle, &himalayan)
        } else {
            (&himalayan, &sparkle)
        };
        let new = request(
            "Bagmati Apartments 7",
            "Baneshwor",
            "Kathmandu",
            2 + n,
            &[("wash_fold", 4 + n as i32)],
            "",
        );
        timeline.at(pool, ago(hours[0] + 2, 0)).await?;
        let request_id = requests::create_request(pool, customer, &new).await?;
        timeline.at(pool, ago(hours[0] + 1, 30)).await?;
        let winning = offers::submit_offer(
            pool,
            winner,
            request_id,
            &offer(500 + 50 * n, 3 + n, "On time, every time."),
        )
        .await?;
        timeline.at(pool, ago(hours[0] + 1, 0)).await?;
        offers::submit_offer(pool, loser, request_id, &offer(650 + 50 * n, 4 + n, "")).await?;
        timeline.at(pool, ago(hours[0], 0)).await?;
        let order_id = accept(pool, customer, winning, commission_bps).await?;
        for (&step, &at) in steps.iter().zip(&hours[1..]) {
            timeline.at(pool, ago(at, 0)).await?;
            orders::update_order_status(pool, winner, order_id, step, window).await?;
        }
        if let (false, Some(&at)) = (dispute.is_empty(), hours.last()) {
            timeline.at(pool, ago(at, 0)).await?;
            orders::open_dispute(pool, customer, order_id, dispute, window).await?;
        }
    }
    // And one cancelled before pickup.
    let new = request(
        "Kupondole Height 21",
        "Kupondole",
        "Lalitpur",
        6,
        &[("bedding", 2)],
        "",
    );
    timeline.at(pool, ago(10, 0)).await?;
    let request_id = requests::create_request(pool, &sita, &new).await?;
    timeline.at(pool, ago(9, 30)).await?;
    let winning = offers::submit_offer(pool, &himalayan, request_id, &offer(900, 7, "")).await?;
    timeline.at(pool, ago(9, 0)).await?;
    let order_id = accept(pool, &sita, winning, commission_bps).await?;
    timeline.at(pool, ago(7, 0)).await?;
    orders::cancel_order(
        pool,
        &sita,
        order_id,
        "My plans changed; I will be away.",
        window,
    )
    .await?;

    // A dispute an admin settled, so the audit log has an entry to show.
    let new = request(
        "Jhamsikhel Lane 3",
        "Jhamsikhel",
        "Lalitpur",
        10,
        &[("dry_clean", 3)],
        "",
    );
    timeline.at(pool, ago(62, 0)).await?;
    let request_id = requests::create_request(pool, &arjun, &new).await?;
    timeline.at(pool, ago(61, 0)).await?;
    let winning = offers::submit_offer(pool, &sparkle, request_id, &offer(1100, 8, "")).await?;
    timeline.at(pool, ago(60, 0)).await?;
    let order_id = accept(pool, &arjun, winning, commission_bps).await?;
    timeline.at(pool, ago(52, 0)).await?;
    orders::update_order_status(pool, &sparkle, order_id, OrderStatus::PickedUp, window).await?;
    let dispute = Dispute {
        opened: ago(40, 0),
        reason: "The laundry kept my jacket for a week without word.",
        settled: ago(26, 0),
        outcome: DisputeOutcome::Refund,
        amount: "",
        note: "Both sides agree the order is off; refunded in full.",
    };
    dispute
        .run(pool, &mut timeline, &arjun, &admin, order_id)
        .await?;
    timeline.apply(pool).await?;
    history::expire_and_read(pool).await?;
    Ok(true)
}

/// The demo's money: orders paid online through the sandbox provider (over
/// HTTP, as a customer's browser would), a partly and a fully refunded one,
/// a refund the provider refused (for the admin's retry), a payment
/// cancelled at the provider and one left pending, and a cash order whose
/// dispute was settled with part of the money back by hand; and the
/// history (`history`), whose orders are paid the same ways, with the
/// payout statements of its weeks. It needs the
/// app serving at `public_url` (the sandbox is part of it), so `serve
/// --demo` runs it once listening. Added once: skipped when the demo
/// accounts are missing or an online payment exists. Returns whether it
/// added them.
pub async fn seed_payments(
    pool: &PgPool,
    gateway: &dyn Gateway,
    public_url: &str,
    commission_bps: i32,
) -> anyhow::Result<bool> {
    let (Some(admin), Some(sita), Some(arjun), Some(sparkle), Some(himalayan)) = (
        demo_user(pool, 0).await?,
        demo_user(pool, 1).await?,
        demo_user(pool, 2).await?,
        demo_user(pool, 3).await?,
        demo_user(pool, 4).await?,
    ) else {
        return Ok(false);
    };
    if payments::any_online_payment(pool).await? {
        return Ok(false);
    }
    let window = Duration::hours(72);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let demo = Demo {
        pool,
        gateway,
        public_url,
        browser: &browser,
        commission_bps,
    };

    // Each step at its mark: over the last day or two, but the payments
    // still open, made now.
    let now = OffsetDateTime::now_utc();
    let ago = |hours: i64, minutes: i64| now - Duration::hours(hours) - Duration::minutes(minutes);
    let mut timeline = Timeline::new();
    let tl = &mut timeline;

    // Paid online; the laundry has picked it up.
    let paid = demo
        .online_order(tl, ago(6, 0), &sita, &sparkle, 650)
        .await?;
    tl.at(pool, ago(5, 50)).await?;
    demo.pay(&sita, paid, "pay", false).await?;
    tl.at(pool, ago(3, 0)).await?;
    orders::update_order_status(pool, &sparkle, paid, OrderStatus::PickedUp, window).await?;

    // Paid, then partly refunded by an admin.
    let partly = demo
        .online_order(tl, ago(30, 0), &arjun, &himalayan, 800)
        .await?;
    tl.at(pool, ago(29, 45)).await?;
    demo.pay(&arjun, partly, "pay", false).await?;
    tl.at(pool, ago(3, 0)).await?;
    let payment = payment_of(pool, &admin, partly).await?;
    payments::refund(
        pool,
        gateway,
        &admin,
        payment,
        "150.25",
        "Two shirts were returned unwashed; refunded their share.",
        None,
    )
    .await?;

    // Paid, then cancelled before pickup: refunded in full.
    let refunded = demo
        .online_order(tl, ago(5, 0), &sita, &himalayan, 540)
        .await?;
    tl.at(pool, ago(4, 55)).await?;
    demo.pay(&sita, refunded, "pay", false).await?;
    tl.at(pool, ago(4, 0)).await?;
    orders::cancel_order(pool, &sita, refunded, "Found a laundry next door.", window).await?;
    payments::send_refunds(pool, gateway, refunded).await?;

    // Paid with refunds set to fail at the sandbox: a refund stays failed
    // for an admin to retry (after letting refunds work on its sandbox page).
    let failing = demo
        .online_order(tl, ago(26, 0), &arjun, &sparkle, 1200)
        .await?;
    tl.at(pool, ago(25, 50)).await?;
    demo.pay(&arjun, failing, "pay", true).await?;
    tl.at(pool, ago(2, 0)).await?;
    let payment = payment_of(pool, &admin, failing).await?;
    payments::refund(
        pool,
        gateway,
        &admin,
        payment,
        "200",
        "Delivered a day late; goodwill refund.",
        None,
    )
    .await?;

    // A payment the customer cancelled at the provider: still to be paid
    // (a newcomer can pay it as Arjun).
    let unpaid = demo
        .online_order(tl, ago(0, 40), &arjun, &sparkle, 720)
        .await?;
    tl.at(pool, now).await?;
    demo.pay(&arjun, unpaid, "cancel", false).await?;

    // A payment left pending at the provider (abandoned).
    let abandoned = demo
        .online_order(tl, ago(0, 20), &sita, &sparkle, 480)
        .await?;
    tl.at(pool, now).await?;
    demo.pay(&sita, abandoned, "pending", false).await?;

    // A cash order delivered and disputed, settled with part back by hand:
    // the refund waits for an admin to record it.
    let cash = demo
        .order(tl, ago(40, 0), &sita, &himalayan, 1000, PaymentMethod::Cod)
        .await?;
    for (step, hours) in [
        (OrderStatus::PickedUp, 34),
        (OrderStatus::InProgress, 32),
        (OrderStatus::Delivering, 8),
    ] {
        tl.at(pool, ago(hours, 0)).await?;
        orders::update_order_status(pool, &himalayan, cash, step, window).await?;
    }
    let dispute = Dispute {
        opened: ago(6, 0),
        reason: "One kurta came back with a tear.",
        settled: ago(3, 0),
        outcome: DisputeOutcome::Partial,
        amount: "250",
        note: "The laundry pays back the kurta's share in cash.",
    };
    dispute.run(pool, tl, &sita, &admin, cash).await?;
    payments::send_refunds(pool, gateway, cash).await?;
    demo.payout_history(tl, &admin, [&sita, &arjun], &sparkle, &himalayan)
        .await?;
    Ok(true)
}

/// A dispute the customer opens at `opened` and an admin settles at
/// `settled`.
struct Dispute {
    opened: OffsetDateTime,
    reason: &'static str,
    settled: OffsetDateTime,
    outcome: DisputeOutcome,
    /// Rupees given back, for a partial settlement.
    amount: &'static str,
    note: &'static str,
}

impl Dispute {
    async fn run(
        &self,
        pool: &PgPool,
        timeline: &mut Timeline,
        customer: &User,
        admin: &User,
        order_id: i64,
    ) -> anyhow::Result<()> {
        let window = Duration::hours(72);
        timeline.at(pool, self.opened).await?;
        orders::open_dispute(pool, customer, order_id, self.reason, window).await?;
        let disputed = orders::get_order(pool, admin, order_id, window).await?;
        let Some(dispute) = disputed.dispute else {
            anyhow::bail!("demo order {order_id} has no dispute");
        };
        timeline.at(pool, self.settled).await?;
        orders::resolve_dispute(
            pool,
            admin,
            dispute.id,
            self.outcome,
            self.amount,
            self.note,
            window,
        )
        .await?;
        Ok(())
    }
}

async fn demo_user(pool: &PgPool, n: usize) -> MarketResult<Option<User>> {
    market::accounts::find_user_by_email(pool, DEMO_LOGINS[n].1).await
}

/// The order's newest payment, as its admin sees it.
async fn payment_of(pool: &PgPool, admin: &User, order_id: i64) -> anyhow::Result<i64> {
    let order = orders::get_order(pool, admin, order_id, Duration::hours(72)).await?;
    order
        .payment
        .attempts
        .first()
        .map(|attempt| attempt.id)
        .ok_or_else(|| anyhow::anyhow!("demo order {order_id} has no payment"))
}

struct Demo<'a> {
    pool: &'a PgPool,
    gateway: &'a dyn Gateway,
    public_url: &'a str,
    browser: &'a reqwest::Client,
    commission_bps: i32,
}

impl Demo<'_> {
    /// An order accepted `at` (posted an hour and a half before, offered
    /// on an hour before).
    async fn order(
        &self,
        timeline: &mut Timeline,
        at: OffsetDateTime,
        customer: &User,
        laundry: &User,
        rupees: i64,
        method: PaymentMethod,
    ) -> anyhow::Result<i64> {
        let new = request(
            "Thamel Marg 12",
            "Thamel",
            "Kathmandu",
            3,
            &[("wash_fold", 5)],
            "",
        );
        timeline.at(self.pool, at - Duration::minutes(90)).await?;
        let request_id = requests::create_request(self.pool, customer, &new).await?;
        timeline.at(self.pool, at - Duration::minutes(60)).await?;
        let offer_id =
            offers::submit_offer(self.pool, laundry, request_id, &offer(rupees, 4, "")).await?;
        timeline.at(self.pool, at).await?;
        let seen = offers::pending_offer_for_owner(self.pool, customer, offer_id).await?;
        match offers::accept_offer(
            self.pool,
            customer,
            offer_id,
            seen.version,
            self.commission_bps,
            method,
        )
        .await?
        {
            offers::Accepted::Order(order_id) => Ok(order_id),
            offers::Accepted::Changed(_) => {
                anyhow::bail!("the demo offer changed while it was being accepted")
            }
        }
    }

    async fn online_order(
        &self,
        timeline: &mut Timeline,
        at: OffsetDateTime,
        customer: &User,
        laundry: &User,
        rupees: i64,
    ) -> anyhow::Result<i64> {
        self.order(
            timeline,
            at,
            customer,
            laundry,
            rupees,
            PaymentMethod::Online,
        )
        .await
    }

    /// The customer pays: Pay on the order page, `action` on the sandbox's
    /// page, and back to Dhune with the signed result.
    async fn pay(
        &self,
        customer: &User,
        order_id: i64,
        action: &str,
        failing_refunds: bool,
    ) -> anyhow::Result<()> {
        let next =
            payments::start(self.pool, self.gateway, customer, order_id, self.public_url).await?;
        let NextStep::Redirect(page) = next else {
            anyhow::bail!("the demo pays through the sandbox, which redirects");
        };
        let mut form = vec![("action", action), ("callback", "none")];
        if failing_refunds {
            form.push(("failing_refunds", "on"));
        }
        let answer = self.browser.post(&page).form(&form).send().await?;
        let back = answer
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the sandbox answered {} without a way back",
                    answer.status()
                )
            })?;
        let url = reqwest::Url::parse(back)?;
        let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let claim = self.gateway.verify_return(&params)?;
        // The way back is /payments/{id}/return, as for a browser.
        let payment_id = url
            .path_segments()
            .and_then(|mut segments| segments.nth(1))
            .and_then(|id| id.parse::<i64>().ok())
            .ok_or_else(|| anyhow::anyhow!("the sandbox sent order {order_id}'s payer to {url}"))?;
        payments::confirm(
            self.pool,
            self.gateway,
            payments::Trigger::Return { payment_id, claim },
        )
        .await?;
        Ok(())
    }

    /// The past (`history`) made and moved back into place, its requests
    /// left without an order expired; then the payout statements of its
    /// weeks issued, all but last week's paid (a week that ended below
    /// zero is carried into the next instead), and this week an admin's
    /// adjustment.
    async fn payout_history(
        &self,
        timeline: &mut Timeline,
        admin: &User,
        customers: [&User; 2],
        sparkle: &User,
        himalayan: &User,
    ) -> anyhow::Result<()> {
        self.history(
            timeline,
            admin,
            customers,
            [(sparkle, &SPARKLE), (himalayan, &HIMALAYAN)],
        )
        .await?;
        std::mem::take(timeline).apply(self.pool).await?;
        history::expire_and_read(self.pool).await?;

        let now = OffsetDateTime::now_utc();
        payouts::issue_statements(self.pool, now).await?;
        let last_week = week_start(now) - Duration::weeks(1);
        let payable = sqlx::query!(
            "SELECT id, period_start FROM payout_statements
             WHERE status = 'ISSUED' AND net_paisa >= 0 AND period_start < $1
             ORDER BY period_start, id",
            last_week,
        )
        .fetch_all(self.pool)
        .await?;
        for statement in payable {
            let reference = format!("NIBL-{}-{}", statement.period_start, statement.id);
            payouts::mark_paid(self.pool, admin, statement.id, &reference).await?;
        }
        // This week: Dhune bears a courier fee, for next week's statement.
        payouts::adjust(
            self.pool,
            admin,
            DEMO_LOGINS[3].1,
            "credit",
            "120",
            "Courier fee for the Boudha pickup, which Dhune agreed to bear.",
        )
        .await?;
        Ok(())
    }
}
