//! Issue 9, item 6: every pair of operations that lock the same rows, raced
//! for real. Each trial starts its operations together (tasks released by
//! one barrier) against the market functions, and checks that none failed
//! inside (a 500: "deadlock detected" among them) and that the rows agree
//! afterwards. The lock order itself is written at the top of
//! `src/market/mod.rs`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use dhune::domain::account::{NewAccount, SignupInput};
use dhune::domain::money::Money;
use dhune::domain::offer::NewOffer;
use dhune::domain::request::NewRequest;
use dhune::domain::status::{DisputeOutcome, OrderStatus};
use dhune::market::accounts::{self, User};
use dhune::market::offers::{self, Accepted};
use dhune::market::payments::PaymentMethod;
use dhune::market::{MarketError, MarketResult, orders, requests, sweeps};
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use tokio::sync::Barrier;

const TRIALS: usize = 20;
const WINDOW: Duration = Duration::hours(72);
const COMMISSION: i32 = 1000;
const PRICE: i64 = 50_000;

type Op = Pin<Box<dyn Future<Output = MarketResult<()>> + Send>>;

/// Runs the operations at once (each in its own task, all released by one
/// barrier) and returns what each answered, in order.
async fn race(ops: Vec<Op>) -> Vec<MarketResult<()>> {
    let barrier = Arc::new(Barrier::new(ops.len()));
    let tasks: Vec<_> = ops
        .into_iter()
        .map(|op| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                op.await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task"));
    }
    results
}

/// Every answer is a success or a refusal a user understands; never an
/// internal error (a 500), which is what a deadlock becomes.
#[track_caller]
fn no_internal_errors(trial: usize, names: &[&str], results: &[MarketResult<()>]) {
    for (name, result) in names.iter().zip(results) {
        assert!(
            !matches!(result, Err(MarketError::Internal(_))),
            "trial {trial}: {name} failed inside: {result:?}"
        );
    }
}

struct World {
    pool: PgPool,
    admin: User,
    customer: User,
    vendors: Vec<User>,
}

async fn account(pool: &PgPool, name: &str, email: &str, role: &str) -> User {
    let input = SignupInput {
        name,
        email,
        phone: "9801234567",
        password: crate::helpers::PASSWORD,
        role,
        business_name: if role == "vendor" { name } else { "" },
        city: if role == "vendor" { "Kathmandu" } else { "" },
    };
    let account = NewAccount::parse(&input).expect("valid account");
    accounts::sign_up(pool, account).await.expect("sign up")
}

async fn world(pool: PgPool) -> World {
    let admin = accounts::create_admin(&pool, "lo-admin@example.com", crate::helpers::PASSWORD)
        .await
        .expect("admin");
    let customer = account(&pool, "Sita", "lo-customer@example.com", "customer").await;
    let mut vendors = Vec::new();
    for n in 0..3 {
        let email = format!("lo-vendor{n}@example.com");
        vendors.push(account(&pool, &format!("Sparkle {n}"), &email, "vendor").await);
    }
    World {
        pool,
        admin,
        customer,
        vendors,
    }
}

fn new_offer(paisa: i64) -> NewOffer {
    let now = OffsetDateTime::now_utc();
    NewOffer {
        price: Money::from_paisa(paisa),
        pickup_at: now + Duration::hours(4),
        delivery_at: now + Duration::hours(52),
        message: String::new(),
    }
}

impl World {
    async fn request(&self) -> i64 {
        let now = OffsetDateTime::now_utc();
        let new = NewRequest {
            pickup_address: "House 7, Tinkune Marg".into(),
            city: "Kathmandu".into(),
            area: "Tinkune".into(),
            pickup_from: now + Duration::hours(3),
            pickup_to: now + Duration::hours(6),
            notes: String::new(),
            expires_at: now + Duration::hours(24),
            items: vec![("wash_fold".into(), 5)],
        };
        requests::create_request(&self.pool, &self.customer, &new)
            .await
            .expect("request")
    }

    async fn offer(&self, vendor: usize, request_id: i64) -> i64 {
        offers::submit_offer(
            &self.pool,
            &self.vendors[vendor],
            request_id,
            &new_offer(PRICE),
        )
        .await
        .expect("offer")
    }

    /// An order of vendor 0, moved on to `to` along the vendor's steps.
    async fn order(&self, steps: &[OrderStatus]) -> i64 {
        let request_id = self.request().await;
        let offer_id = self.offer(0, request_id).await;
        let accepted = offers::accept_offer(
            &self.pool,
            &self.customer,
            offer_id,
            1,
            COMMISSION,
            PaymentMethod::Cod,
        )
        .await;
        let Ok(Accepted::Order(order_id)) = accepted else {
            panic!("order: {accepted:?}");
        };
        for &step in steps {
            orders::update_order_status(&self.pool, &self.vendors[0], order_id, step, WINDOW)
                .await
                .expect("advance");
        }
        order_id
    }

    async fn count(&self, sql: &str, id: i64) -> i64 {
        sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect(sql)
    }

    async fn status(&self, table: &str, id: i64) -> String {
        sqlx::query_scalar(&format!("SELECT status FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .expect("status")
    }

    async fn execute(&self, sql: &str, id: i64) {
        sqlx::query(sql)
            .bind(id)
            .execute(&self.pool)
            .await
            .expect(sql);
    }

    fn accept(&self, offer_id: i64, version: i32) -> Op {
        let (pool, customer) = (self.pool.clone(), self.customer.clone());
        Box::pin(async move {
            match offers::accept_offer(
                &pool,
                &customer,
                offer_id,
                version,
                COMMISSION,
                PaymentMethod::Cod,
            )
            .await?
            {
                Accepted::Order(_) => Ok(()),
                Accepted::Changed(_) => Err(MarketError::Conflict("changed".into())),
            }
        })
    }

    fn suspend(&self, vendor: usize) -> Op {
        let (pool, admin, id) = (
            self.pool.clone(),
            self.admin.clone(),
            self.vendors[vendor].id,
        );
        Box::pin(async move { accounts::suspend_user(&pool, &admin, id, "Race test").await })
    }

    async fn reinstate(&self, vendor: usize) {
        accounts::reinstate_user(&self.pool, &self.admin, self.vendors[vendor].id, "Again")
            .await
            .expect("reinstate");
    }

    fn submit(&self, vendor: usize, request_id: i64) -> Op {
        let (pool, actor) = (self.pool.clone(), self.vendors[vendor].clone());
        Box::pin(async move {
            offers::submit_offer(&pool, &actor, request_id, &new_offer(PRICE + 1))
                .await
                .map(drop)
        })
    }

    fn update(&self, vendor: usize, offer_id: i64, paisa: i64) -> Op {
        let (pool, actor) = (self.pool.clone(), self.vendors[vendor].clone());
        Box::pin(async move {
            offers::update_offer(&pool, &actor, offer_id, &new_offer(paisa))
                .await
                .map(drop)
        })
    }

    fn withdraw(&self, vendor: usize, offer_id: i64) -> Op {
        let (pool, actor) = (self.pool.clone(), self.vendors[vendor].clone());
        Box::pin(async move {
            offers::withdraw_offer(&pool, &actor, offer_id)
                .await
                .map(drop)
        })
    }

    fn cancel_request(&self, request_id: i64) -> Op {
        let (pool, customer) = (self.pool.clone(), self.customer.clone());
        Box::pin(async move { requests::cancel_request(&pool, &customer, request_id).await })
    }

    fn move_order(&self, actor: &User, order_id: i64, to: OrderStatus) -> Op {
        let (pool, actor) = (self.pool.clone(), actor.clone());
        Box::pin(
            async move { orders::update_order_status(&pool, &actor, order_id, to, WINDOW).await },
        )
    }

    fn cancel_order(&self, actor: &User, order_id: i64) -> Op {
        let (pool, actor) = (self.pool.clone(), actor.clone());
        Box::pin(async move {
            orders::cancel_order(&pool, &actor, order_id, "Called off", WINDOW).await
        })
    }

    fn dispute(&self, actor: &User, order_id: i64) -> Op {
        let (pool, actor) = (self.pool.clone(), actor.clone());
        Box::pin(async move {
            orders::open_dispute(&pool, &actor, order_id, "Something is wrong", WINDOW).await
        })
    }

    fn resolve(&self, dispute_id: i64, outcome: DisputeOutcome) -> Op {
        let (pool, admin) = (self.pool.clone(), self.admin.clone());
        Box::pin(async move {
            orders::resolve_dispute(&pool, &admin, dispute_id, outcome, "", "Settled", WINDOW)
                .await
                .map(drop)
        })
    }

    fn sweep(&self, which: &'static str) -> Op {
        let pool = self.pool.clone();
        Box::pin(async move {
            match which {
                "requests" => sweeps::expire_requests(&pool).await,
                "offers" => sweeps::expire_offers(&pool).await,
                _ => sweeps::auto_complete_orders(&pool, Duration::hours(48)).await,
            }
            .map(drop)
        })
    }

    /// The order's status is the last step of its history, and an open
    /// dispute exists exactly while it is disputed.
    async fn order_is_consistent(&self, trial: usize, order_id: i64) {
        let status = self.status("orders", order_id).await;
        let last: String = sqlx::query_scalar(
            "SELECT to_status FROM order_status_history WHERE order_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(order_id)
        .fetch_one(&self.pool)
        .await
        .expect("history");
        assert_eq!(status, last, "trial {trial}: status and history agree");
        let open = self
            .count(
                "SELECT count(*) FROM disputes WHERE order_id = $1 AND status = 'OPEN'",
                order_id,
            )
            .await;
        assert_eq!(
            open,
            i64::from(status == "DISPUTED"),
            "trial {trial}: an open dispute exactly while disputed"
        );
    }
}

const PENDING_OF_VENDOR: &str =
    "SELECT count(*) FROM offers WHERE vendor_id = $1 AND status = 'PENDING'";
const ORDERS_ON_REQUEST: &str = "SELECT count(*) FROM orders WHERE request_id = $1";

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_suspend_vendor_races_accepts_of_their_offers(pool: PgPool) {
    let w = world(pool).await;
    for trial in 0..TRIALS {
        let mut requests = Vec::new();
        let mut ops = vec![w.suspend(0)];
        for _ in 0..3 {
            let request_id = w.request().await;
            let offer_id = w.offer(0, request_id).await;
            w.offer(1, request_id).await;
            requests.push((request_id, offer_id));
            ops.push(w.accept(offer_id, 1));
        }
        let results = race(ops).await;
        no_internal_errors(trial, &["suspend", "accept", "accept", "accept"], &results);
        assert!(results[0].is_ok(), "trial {trial}: {:?}", results[0]);
        assert_eq!(w.count(PENDING_OF_VENDOR, w.vendors[0].id).await, 0);
        for (n, (request_id, offer_id)) in requests.iter().enumerate() {
            let orders = w.count(ORDERS_ON_REQUEST, *request_id).await;
            assert_eq!(orders, i64::from(results[n + 1].is_ok()), "trial {trial}");
            let expected = if results[n + 1].is_ok() {
                "ACCEPTED"
            } else {
                "WITHDRAWN"
            };
            assert_eq!(w.status("offers", *offer_id).await, expected);
        }
        w.reinstate(0).await;
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_suspend_vendor_races_their_offer_changes(pool: PgPool) {
    let w = world(pool).await;
    for trial in 0..TRIALS {
        let (first, second, fresh) = (w.request().await, w.request().await, w.request().await);
        let updated = w.offer(0, first).await;
        let withdrawn = w.offer(0, second).await;
        let results = race(vec![
            w.suspend(0),
            w.update(0, updated, 70_000),
            w.withdraw(0, withdrawn),
            w.submit(0, fresh),
            w.accept(updated, 1),
        ])
        .await;
        no_internal_errors(
            trial,
            &["suspend", "update", "withdraw", "submit", "accept"],
            &results,
        );
        assert!(results[0].is_ok(), "trial {trial}: {:?}", results[0]);
        assert_eq!(
            w.count(PENDING_OF_VENDOR, w.vendors[0].id).await,
            0,
            "trial {trial}: a suspended vendor has no pending offers"
        );
        assert_eq!(
            w.count(ORDERS_ON_REQUEST, first).await,
            i64::from(results[4].is_ok())
        );
        w.reinstate(0).await;
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_suspend_vendor_races_cancels_and_sweeps(pool: PgPool) {
    let w = world(pool).await;
    for trial in 0..TRIALS {
        let cancelled = w.request().await;
        w.offer(0, cancelled).await;
        let expired = w.request().await;
        w.offer(0, expired).await;
        w.execute(
            "UPDATE requests SET expires_at = now() - interval '1 second' WHERE id = $1",
            expired,
        )
        .await;
        let open = w.request().await;
        let stale = w.offer(0, open).await;
        let live = w.offer(1, open).await;
        w.execute(
            "UPDATE offers SET expires_at = now() - interval '1 second' WHERE id = $1",
            stale,
        )
        .await;
        let results = race(vec![
            w.suspend(0),
            w.cancel_request(cancelled),
            w.sweep("requests"),
            w.sweep("offers"),
            w.accept(live, 1),
        ])
        .await;
        no_internal_errors(
            trial,
            &[
                "suspend",
                "cancel",
                "expire requests",
                "expire offers",
                "accept",
            ],
            &results,
        );
        assert!(
            results.iter().all(Result::is_ok),
            "trial {trial}: {results:?}"
        );
        assert_eq!(w.count(PENDING_OF_VENDOR, w.vendors[0].id).await, 0);
        assert_eq!(w.status("requests", cancelled).await, "CANCELLED");
        assert_eq!(w.count(ORDERS_ON_REQUEST, open).await, 1);
        sweeps::expire_requests(&w.pool).await.expect("sweep");
        assert_eq!(w.status("requests", expired).await, "EXPIRED");
        w.reinstate(0).await;
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_accept_races_offer_updates_and_withdrawals(pool: PgPool) {
    let w = world(pool).await;
    for trial in 0..TRIALS {
        let request_id = w.request().await;
        let offers = [
            w.offer(0, request_id).await,
            w.offer(1, request_id).await,
            w.offer(2, request_id).await,
        ];
        let results = race(vec![
            w.accept(offers[0], 1),
            w.update(0, offers[0], 99_900),
            w.withdraw(1, offers[1]),
            w.update(2, offers[2], 60_000),
            w.accept(offers[2], 1),
        ])
        .await;
        no_internal_errors(
            trial,
            &["accept", "update", "withdraw", "update", "accept"],
            &results,
        );
        let orders = w.count(ORDERS_ON_REQUEST, request_id).await;
        assert!(orders <= 1, "trial {trial}");
        assert_eq!(orders, i64::from(results[0].is_ok() || results[4].is_ok()));
        if orders == 1 {
            let price: i64 =
                sqlx::query_scalar("SELECT price_paisa FROM orders WHERE request_id = $1")
                    .bind(request_id)
                    .fetch_one(&w.pool)
                    .await
                    .unwrap();
            assert_eq!(price, PRICE, "trial {trial}: the price the customer saw");
            let pending = w
                .count(
                    "SELECT count(*) FROM offers WHERE request_id = $1 AND status = 'PENDING'",
                    request_id,
                )
                .await;
            assert_eq!(pending, 0, "trial {trial}");
        }
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_accept_races_cancel_request_and_new_offers(pool: PgPool) {
    let w = world(pool).await;
    for trial in 0..TRIALS {
        let request_id = w.request().await;
        let first = w.offer(0, request_id).await;
        let second = w.offer(1, request_id).await;
        let results = race(vec![
            w.accept(first, 1),
            w.cancel_request(request_id),
            w.submit(2, request_id),
            w.update(1, second, 45_000),
        ])
        .await;
        no_internal_errors(trial, &["accept", "cancel", "submit", "update"], &results);
        assert!(
            results[0].is_ok() != results[1].is_ok(),
            "trial {trial}: exactly one of accept and cancel wins: {results:?}"
        );
        let status = w.status("requests", request_id).await;
        let orders = w.count(ORDERS_ON_REQUEST, request_id).await;
        let pending = w
            .count(
                "SELECT count(*) FROM offers WHERE request_id = $1 AND status = 'PENDING'",
                request_id,
            )
            .await;
        assert_eq!(pending, 0, "trial {trial}: a closed request keeps no offer");
        match status.as_str() {
            "ORDER_CREATED" => assert_eq!(orders, 1),
            "CANCELLED" => assert_eq!(orders, 0),
            other => panic!("trial {trial}: request is {other}"),
        }
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_cancel_request_races_submitted_offers(pool: PgPool) {
    let w = world(pool).await;
    for trial in 0..TRIALS {
        let request_id = w.request().await;
        let existing = w.offer(2, request_id).await;
        let results = race(vec![
            w.cancel_request(request_id),
            w.submit(0, request_id),
            w.submit(1, request_id),
            w.withdraw(2, existing),
        ])
        .await;
        no_internal_errors(trial, &["cancel", "submit", "submit", "withdraw"], &results);
        assert!(results[0].is_ok(), "trial {trial}: {:?}", results[0]);
        assert_eq!(w.status("requests", request_id).await, "CANCELLED");
        let pending = w
            .count(
                "SELECT count(*) FROM offers WHERE request_id = $1 AND status = 'PENDING'",
                request_id,
            )
            .await;
        assert_eq!(pending, 0, "trial {trial}: no offer outlives the cancel");
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_expiry_sweeps_race_accepts(pool: PgPool) {
    let w = world(pool).await;
    for trial in 0..TRIALS {
        // One request past its expiry, one open request with one live offer
        // and one past its own expiry.
        let expired = w.request().await;
        let on_expired = w.offer(0, expired).await;
        w.offer(1, expired).await;
        w.execute(
            "UPDATE requests SET expires_at = now() - interval '1 second' WHERE id = $1",
            expired,
        )
        .await;
        let open = w.request().await;
        let live = w.offer(0, open).await;
        let stale = w.offer(1, open).await;
        w.execute(
            "UPDATE offers SET expires_at = now() - interval '1 second' WHERE id = $1",
            stale,
        )
        .await;
        let results = race(vec![
            w.sweep("requests"),
            w.sweep("offers"),
            w.accept(on_expired, 1),
            w.accept(live, 1),
            w.accept(stale, 1),
        ])
        .await;
        no_internal_errors(
            trial,
            &[
                "expire requests",
                "expire offers",
                "accept",
                "accept",
                "accept",
            ],
            &results,
        );
        assert!(results[2].is_err() && results[4].is_err(), "trial {trial}");
        assert!(results[3].is_ok(), "trial {trial}: {:?}", results[3]);
        assert_eq!(w.count(ORDERS_ON_REQUEST, expired).await, 0);
        assert_eq!(w.count(ORDERS_ON_REQUEST, open).await, 1);
        let stale_status = w.status("offers", stale).await;
        assert!(
            stale_status == "EXPIRED" || stale_status == "REJECTED",
            "trial {trial}: {stale_status}"
        );
        // Whatever the sweeps left for their next tick, they finish.
        sweeps::expire_requests(&w.pool).await.expect("sweep");
        assert_eq!(w.status("requests", expired).await, "EXPIRED");
        assert_eq!(
            w.count(
                "SELECT count(*) FROM offers WHERE request_id = $1 AND status = 'PENDING'",
                expired
            )
            .await,
            0
        );
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_order_changes_race_each_other(pool: PgPool) {
    let w = world(pool).await;
    let (customer, vendor, admin) = (w.customer.clone(), w.vendors[0].clone(), w.admin.clone());
    for trial in 0..TRIALS {
        let order_id = w.order(&[OrderStatus::PickedUp]).await;
        let results = race(vec![
            w.move_order(&vendor, order_id, OrderStatus::InProgress),
            w.cancel_order(&customer, order_id),
            w.dispute(&customer, order_id),
            w.cancel_order(&admin, order_id),
            w.dispute(&vendor, order_id),
        ])
        .await;
        no_internal_errors(
            trial,
            &[
                "advance",
                "customer cancel",
                "customer dispute",
                "force-cancel",
                "vendor dispute",
            ],
            &results,
        );
        let moved = results.iter().filter(|r| r.is_ok()).count();
        assert!(moved >= 1, "trial {trial}: {results:?}");
        let steps = w
            .count(
                "SELECT count(*) FROM order_status_history WHERE order_id = $1",
                order_id,
            )
            .await;
        assert_eq!(
            steps,
            2 + moved as i64,
            "trial {trial}: one step per success"
        );
        w.order_is_consistent(trial, order_id).await;
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_resolve_dispute_races_force_cancel(pool: PgPool) {
    let w = world(pool).await;
    let (customer, vendor, admin) = (w.customer.clone(), w.vendors[0].clone(), w.admin.clone());
    for trial in 0..TRIALS {
        let order_id = w.order(&[OrderStatus::PickedUp]).await;
        orders::open_dispute(&w.pool, &customer, order_id, "Torn shirt", WINDOW)
            .await
            .expect("dispute");
        let dispute_id: i64 =
            sqlx::query_scalar("SELECT id FROM disputes WHERE order_id = $1 AND status = 'OPEN'")
                .bind(order_id)
                .fetch_one(&w.pool)
                .await
                .unwrap();
        let results = race(vec![
            w.resolve(dispute_id, DisputeOutcome::Release),
            w.cancel_order(&admin, order_id),
            w.resolve(dispute_id, DisputeOutcome::Refund),
            w.dispute(&vendor, order_id),
        ])
        .await;
        no_internal_errors(
            trial,
            &["release", "force-cancel", "refund", "vendor dispute"],
            &results,
        );
        let settled = results[..3].iter().filter(|r| r.is_ok()).count();
        assert_eq!(settled, 1, "trial {trial}: settled once: {results:?}");
        assert_eq!(w.status("disputes", dispute_id).await, "RESOLVED");
        let status = w.status("orders", order_id).await;
        let expected = if results[0].is_ok() {
            "COMPLETED"
        } else {
            "CANCELLED"
        };
        assert_eq!(status, expected, "trial {trial}");
        w.order_is_consistent(trial, order_id).await;
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn lock_order_auto_complete_races_confirm_dispute_and_cancel(pool: PgPool) {
    let w = world(pool).await;
    let (customer, admin) = (w.customer.clone(), w.admin.clone());
    for trial in 0..TRIALS {
        let order_id = w
            .order(&[
                OrderStatus::PickedUp,
                OrderStatus::InProgress,
                OrderStatus::Delivering,
            ])
            .await;
        w.execute(
            "UPDATE orders SET status_changed_at = now() - interval '49 hours' WHERE id = $1",
            order_id,
        )
        .await;
        let results = race(vec![
            w.sweep("orders"),
            w.move_order(&customer, order_id, OrderStatus::Completed),
            w.dispute(&customer, order_id),
            w.cancel_order(&admin, order_id),
        ])
        .await;
        no_internal_errors(
            trial,
            &["auto-complete", "confirm", "dispute", "force-cancel"],
            &results,
        );
        w.order_is_consistent(trial, order_id).await;
    }
}
