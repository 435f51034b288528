//! Real browsers: headless Chromium through chromedriver (Debian's
//! `chromium` and `chromium-driver`; `scripts/test` installs them).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, local_in};

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
    client
        .find(Locator::Css("form.stack button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("body > header nav form"))
        .await
        .unwrap();
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
    fill(&customer, "pickup_from", &local_in(3)).await;
    fill(&customer, "pickup_to", &local_in(6)).await;
    customer
        .find(Locator::Css("form.stack button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    customer
        .wait()
        .for_element(Locator::Css("#offers"))
        .await
        .unwrap();
    let url = customer.current_url().await.unwrap();
    let request_id: i64 = url.path().rsplit('/').next().unwrap().parse().unwrap();

    let row = format!(r#"#board-rows tr[data-request-id="{request_id}"]"#);
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

    customer
        .find(Locator::Css("body > header nav form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
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
