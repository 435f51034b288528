//! Real browsers: headless Chromium through chromedriver (Debian's
//! `chromium` and `chromium-driver`; `scripts/test` installs them).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use sqlx::PgPool;

use crate::helpers::{Browser, PASSWORD, TestApp, id_after, local_in};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver on a free port, stopped when dropped.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "{CHROMEDRIVER} is missing: run scripts/test (it installs Debian's chromium and chromium-driver), \
         or apt-get install chromium chromium-driver"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

pub(crate) async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=420,1200"]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    for _ in 0..50 {
        let mut builder = ClientBuilder::new(connector.clone());
        builder.capabilities(capabilities.clone());
        match builder.connect(&driver.url).await {
            Ok(client) => return client,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("chromedriver at {} did not answer", driver.url);
}

pub(crate) async fn log_in(client: &Client, base: &str, email: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    client
        .find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    click(client, Locator::Css("form.stack button[type=submit]")).await;
    client
        .wait()
        .for_element(Locator::Css("body > header nav form"))
        .await
        .unwrap();
}

pub(crate) async fn click(client: &Client, target: Locator<'_>) {
    client.find(target).await.unwrap().click().await.unwrap();
}

async fn fill(client: &Client, id: &str, value: &str) {
    let field = client.find(Locator::Id(id)).await.unwrap();
    // datetime-local inputs take their value best through script.
    client
        .execute(
            "arguments[0].value = arguments[1];",
            vec![serde_json::to_value(&field).unwrap(), value.into()],
        )
        .await
        .unwrap();
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn pages_update_live_in_a_real_browser(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    let vendor_http = app.vendor("v@example.com").await;
    let base = format!("http://{}", app.addr);
    let driver = driver();
    let customer = browser(&driver).await;
    let vendor = browser(&driver).await;
    log_in(&customer, &base, "c@example.com").await;
    log_in(&vendor, &base, "v@example.com").await;

    // The vendor watches the board while the customer posts a request.
    vendor.goto(&format!("{base}/board")).await.unwrap();
    vendor
        .wait()
        .for_element(Locator::Id("board-rows"))
        .await
        .unwrap();
    customer
        .goto(&format!("{base}/requests/new"))
        .await
        .unwrap();
    fill(&customer, "qty_wash_fold", "5").await;
    fill(&customer, "pickup_address", "Browser Lane 1").await;
    fill(&customer, "area", "Thamel").await;
    fill(&customer, "city", "Kathmandu").await;
    fill(&customer, "pickup_from", &local_in(3)).await;
    fill(&customer, "pickup_to", &local_in(6)).await;
    click(&customer, Locator::Css("form.stack button[type=submit]")).await;
    customer
        .wait()
        .for_element(Locator::Css("#offers"))
        .await
        .unwrap();
    let url = customer.current_url().await.unwrap();
    let request_id: i64 = url.path().rsplit('/').next().unwrap().parse().unwrap();
    // The flash came through the browser's own cookie handling.
    let flash = customer
        .find(Locator::Css("p.flash"))
        .await
        .expect("a flash message")
        .text()
        .await
        .unwrap();
    assert!(flash.contains("Your request is posted."), "{flash}");

    let row = format!(r#"#board-rows article[data-request-id="{request_id}"]"#);
    vendor
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&row))
        .await
        .expect("the new request appears on the open board without a reload");

    // The vendor offers; the customer's open page shows it without a reload.
    vendor_http.make_offer(request_id, "640").await;
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(r#"#offers article[data-status="PENDING"]"#))
        .await
        .expect("the offer appears on the customer's open request page");
    let cards = customer
        .find_all(Locator::Css("#offers article"))
        .await
        .unwrap();
    assert_eq!(cards.len(), 1, "exactly once");
    assert!(cards[0].text().await.unwrap().contains("Rs 640.00"));

    customer.close().await.unwrap();
    vendor.close().await.unwrap();
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn after_logging_in_through_htmx_the_next_form_is_accepted(pool: PgPool) {
    // Login renews the CSRF token; the page htmx swaps in must send the new one.
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    let base = format!("http://{}", app.addr);
    let driver = driver();
    let customer = browser(&driver).await;
    log_in(&customer, &base, "c@example.com").await;

    click(&customer, Locator::Css("body > header nav form button")).await;
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("form[action='/login']"))
        .await
        .expect("logged out, on the login page");
    let page = customer.source().await.unwrap();
    assert!(!page.contains("Form expired"), "{page}");
    customer.close().await.unwrap();
}

/// An order between a new customer and vendor, picked up; the customer may
/// dispute it.
async fn picked_up_order(app: &TestApp) -> (Browser, i64) {
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let request_id = customer.create_request().await;
    vendor.make_offer(request_id, "500").await;
    let offer_id = app.offer_id(request_id, "v@example.com").await;
    let accepted = customer.accept(offer_id, 1).await;
    let order_id = id_after(accepted.location().unwrap(), "/orders/");
    move_order(&vendor, order_id, "PICKED_UP").await;
    (vendor, order_id)
}

async fn move_order(vendor: &Browser, order_id: i64, to: &str) {
    let moved = vendor
        .post(
            &format!("/orders/{order_id}/status"),
            &[("status", to.into())],
        )
        .await;
    moved.assert_redirect(&format!("/orders/{order_id}"));
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn live_status_change_keeps_the_typed_dispute_reason_and_focus(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let (vendor, order_id) = picked_up_order(&app).await;
    let base = format!("http://{}", app.addr);
    let driver = driver();
    let customer = browser(&driver).await;
    log_in(&customer, &base, "c@example.com").await;
    customer
        .goto(&format!("{base}/orders/{order_id}"))
        .await
        .unwrap();
    // The dispute form is folded under "Problem with this order?".
    customer
        .wait()
        .for_element(Locator::Css(&format!("#order-{order_id}-problem summary")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reason = customer
        .wait()
        .for_element(Locator::Id("dispute-reason"))
        .await
        .unwrap();
    reason.click().await.unwrap();
    let typed = "The blue kurta came back torn";
    reason.send_keys(typed).await.unwrap();

    move_order(&vendor, order_id, "IN_PROGRESS").await;
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!(
            r#"#order-{order_id} .status[data-status="IN_PROGRESS"]"#
        )))
        .await
        .expect("the status changes live");
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!(
            r#"#order-{order_id} .timeline li[data-status="IN_PROGRESS"]"#
        )))
        .await
        .expect("the timeline moves on live");
    let state = customer
        .execute(
            "const field = document.getElementById('dispute-reason');
             return [field ? field.value : null, document.activeElement === field];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        state,
        serde_json::json!([typed, true]),
        "the typed reason and the focus survive the live update"
    );
    customer.close().await.unwrap();
}

/// Makes the page in the current tab hidden or visible again, as switching
/// tabs or minimising the window does.
async fn set_visibility(client: &Client, state: &str) {
    client
        .execute(
            "const state = arguments[0];
             Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => state});
             Object.defineProperty(document, 'hidden', {configurable: true, get: () => state === 'hidden'});
             document.dispatchEvent(new Event('visibilitychange'));",
            vec![state.into()],
        )
        .await
        .unwrap();
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn hidden_live_pages_free_their_connection_and_catch_up_when_shown(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer_http = app.customer("c@example.com").await;
    let first = app.vendor("v@example.com").await;
    let second = app.vendor("w@example.com").await;
    let request_id = customer_http.create_request().await;
    let base = format!("http://{}", app.addr);
    let page = format!("{base}/requests/{request_id}");
    let driver = driver();
    let customer = browser(&driver).await;
    log_in(&customer, &base, "c@example.com").await;

    customer.goto(&page).await.unwrap();
    let watching = customer.window().await.unwrap();
    first.make_offer(request_id, "500").await;
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("#offers article"))
        .await
        .expect("the first offer arrives live");
    set_visibility(&customer, "hidden").await;

    // Five more live pages, each hidden in turn: before, each held one of
    // the six connections HTTP/1.1 allows per host.
    for _ in 0..5 {
        let tab = customer.new_window(true).await.unwrap();
        customer.switch_to_window(tab.handle).await.unwrap();
        customer.goto(&page).await.unwrap();
        customer
            .wait()
            .for_element(Locator::Id("offers"))
            .await
            .unwrap();
        set_visibility(&customer, "hidden").await;
    }
    let seventh = customer.new_window(true).await.unwrap();
    customer.switch_to_window(seventh.handle).await.unwrap();
    customer
        .update_timeouts(TimeoutConfiguration::new(
            None,
            Some(Duration::from_secs(10)),
            None,
        ))
        .await
        .unwrap();
    customer
        .goto(&format!("{base}/orders"))
        .await
        .expect("a seventh page loads while six live pages are hidden");

    // Offered while the first page was hidden: it arrives once the page is
    // shown again, and the offer it had already is not added twice.
    second.make_offer(request_id, "450").await;
    let second_offer = app.offer_id(request_id, "w@example.com").await;
    customer.switch_to_window(watching).await.unwrap();
    set_visibility(&customer, "visible").await;
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!(
            r#"#offers article[data-offer-id="{second_offer}"]"#
        )))
        .await
        .expect("the offer made while hidden arrives when shown");
    let cards = customer
        .find_all(Locator::Css("#offers article"))
        .await
        .unwrap();
    assert_eq!(cards.len(), 2, "each offer exactly once");
    customer.close().await.unwrap();
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a11y_refused_form_on_a_phone_focuses_its_error_summary(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    let base = format!("http://{}", app.addr);
    let driver = driver();
    let customer = browser(&driver).await;
    customer.set_window_size(360, 800).await.unwrap();
    log_in(&customer, &base, "c@example.com").await;
    customer
        .goto(&format!("{base}/requests/new"))
        .await
        .unwrap();
    fill(&customer, "qty_wash_fold", "3").await;
    fill(&customer, "pickup_address", "House 7, Tinkune Marg").await;
    fill(&customer, "expires_in_hours", "900").await;
    click(&customer, Locator::Css("form.stack button[type=submit]")).await;
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-error-summary]"))
        .await
        .expect("the refused form shows its error summary");
    let mut focused = serde_json::Value::Null;
    for _ in 0..50 {
        focused = customer
            .execute(
                "const s = document.querySelector('[data-error-summary]'); \
                 return [document.activeElement === s, document.body.hasAttribute('data-hx-boost'), \
                         s.getBoundingClientRect().top >= 0 && s.getBoundingClientRect().top < window.innerHeight];",
                vec![],
            )
            .await
            .unwrap();
        if focused[0] == serde_json::Value::Bool(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        focused,
        serde_json::json!([true, true, true]),
        "the summary has focus and is on screen, with htmx boost on"
    );
    let width = customer
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(width, serde_json::json!(360));

    // On a phone, every tap target is at least 44 px tall, and the skip
    // link shows when it has focus.
    let small = customer
        .execute(
            "return [...document.querySelectorAll('body > header nav a, button')] \
               .filter(e => e.getBoundingClientRect().height < 44) \
               .map(e => e.outerHTML);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(small, serde_json::json!([]), "tap targets under 44 px");
    let skip = customer
        .execute(
            "const a = document.querySelector('a[href=\"#main\"]'); a.focus(); \
             const r = a.getBoundingClientRect(); \
             return [document.activeElement === a, r.width > 40 && r.height > 20 && r.top >= 0];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        skip,
        serde_json::json!([true, true]),
        "the focused skip link shows"
    );

    // Without htmx (a plain submit and a full page load, as with JavaScript
    // off), the summary's autofocus takes the focus.
    customer
        .execute(
            "document.querySelector('[data-error-summary]').dataset.old = 'yes'; \
             document.querySelector('form.stack').submit();",
            vec![],
        )
        .await
        .unwrap();
    customer
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("[data-error-summary]:not([data-old])"))
        .await
        .expect("the page loads again, refused");
    let mut focused = serde_json::Value::Null;
    for _ in 0..50 {
        focused = customer
            .execute(
                "return document.activeElement === document.querySelector('[data-error-summary]');",
                vec![],
            )
            .await
            .unwrap();
        if focused == serde_json::Value::Bool(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        focused,
        serde_json::json!(true),
        "autofocus on a full page load"
    );
    customer.close().await.unwrap();
}
