//! Issue 10, items 14–15: sign-up asks a laundry's questions only of a
//! laundry, static files are compressed, versioned and cached for a year,
//! live notices say who did what, and the notifications list on a phone.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::browser::{browser, click, driver};
use crate::helpers::{TestApp, signup_fields};

/// The part of `body` from the element with `id="{id}"` to the end of its
/// `</{tag}>`.
fn element<'a>(body: &'a str, tag: &str, id: &str) -> &'a str {
    let start = body
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no #{id} in:\n{body}"));
    let start = body[..start].rfind(&format!("<{tag}")).unwrap();
    let end = start + body[start..].find(&format!("</{tag}>")).unwrap();
    &body[start..end]
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn sign_up_puts_the_laundry_fields_in_a_fieldset_hidden_while_customer_is_chosen(
    pool: PgPool,
) {
    let app = TestApp::spawn(pool).await;
    let page = app.browser().get("/signup").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(
        body.contains(r#"<input id="role" type="radio" name="role" value="customer" checked>"#),
        "{body}"
    );
    let start = body.find(r#"<fieldset class="vendor-only">"#).expect(body);
    let laundry = &body[start..start + body[start..].find("</fieldset>").unwrap()];
    assert!(laundry.contains(r#"id="business_name""#), "{laundry}");
    assert!(laundry.contains(r#"id="city""#), "{laundry}");
    assert!(!laundry.contains(r#"id="name""#), "{laundry}");
    // The rule that hides it, with or without JavaScript.
    let css = app.browser().get("/static/app.css").await.body;
    assert!(
        css.contains(".signup:has(#role:checked) .vendor-only { display: none; }"),
        "{css}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_customer_signs_up_whatever_the_hidden_laundry_fields_hold(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut fields = signup_fields("Sita Sharma", "sita@example.com", "customer");
    // Typed while "a laundry" was chosen, then hidden again: ignored.
    fields.push(("business_name", "x".repeat(500)));
    fields.push(("city", String::new()));

    app.browser()
        .signup(&fields)
        .await
        .assert_redirect("/requests");

    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE role = 'customer'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM vendors").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_refused_laundry_sign_up_shows_the_laundry_fields_with_what_was_typed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let mut fields = signup_fields("Ram Thapa", "ram@example.com", "vendor");
    fields.push(("business_name", "Fresh & Fold".into()));
    fields.push(("city", "  ".into()));

    let page = app.browser().signup(&fields).await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let body = &page.body;
    assert!(
        body.contains(
            r#"<input id="role-vendor" type="radio" name="role" value="vendor" checked>"#
        ),
        "{body}"
    );
    assert!(
        !body.contains(r#"value="customer" checked"#),
        "customer is not chosen, so the laundry fields show"
    );
    let business = element(body, "div", "business_name");
    assert!(
        business.contains(r#"value="Fresh &#38; Fold""#),
        "{business}"
    );
    let city = element(body, "div", "city");
    assert!(city.contains(r#"aria-invalid="true""#), "{city}");
    assert!(
        city.contains(r#"class="field-error" id="city-error""#),
        "{city}"
    );
    assert!(
        body.contains(r##"<a href="#city">"##),
        "the summary links to the field"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn in_a_real_browser_the_laundry_fields_show_only_for_a_laundry(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let base = format!("http://{}", app.addr);
    let driver = driver();
    let client = browser(&driver).await;
    client.goto(&format!("{base}/signup")).await.unwrap();
    let shown = |id: &'static str| {
        let client = client.clone();
        async move {
            client
                .find(fantoccini::Locator::Id(id))
                .await
                .unwrap()
                .is_displayed()
                .await
                .unwrap()
        }
    };
    assert!(shown("name").await);
    assert!(!shown("business_name").await, "hidden for a customer");
    assert!(!shown("city").await);

    click(&client, fantoccini::Locator::Id("role-vendor")).await;
    assert!(shown("business_name").await, "shown for a laundry");
    assert!(shown("city").await);

    click(&client, fantoccini::Locator::Id("role")).await;
    assert!(!shown("business_name").await, "hidden again");
    client.close().await.unwrap();
}

/// The versioned URL the page gives for `name` in `static/`.
fn asset_url(page: &str, name: &str) -> String {
    let prefix = format!("/static/{name}?v=");
    let start = page
        .find(&prefix)
        .unwrap_or_else(|| panic!("no versioned {name} in:\n{page}"));
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn pages_name_static_files_by_version_and_those_urls_are_cached_for_good(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let anonymous = app.browser();
    let home = anonymous.get("/").await.body;
    let customer = app.customer("c@example.com").await;
    let signed_in = customer.get("/requests").await.body;
    let missing = anonymous.get("/no/such/page").await.body;
    for name in [
        "app.css",
        "htmx.min.js",
        "htmx-ext-sse.min.js",
        "live.js",
        "favicon.svg",
    ] {
        let url = asset_url(&home, name);
        assert_eq!(asset_url(&signed_in, name), url);
        assert_eq!(asset_url(&missing, name), url, "error pages too");
        assert!(!home.contains(&format!(r#""/static/{name}""#)), "{home}");
        let version = url.rsplit('=').next().unwrap();
        assert_eq!(version.len(), 12, "{url}");

        let current = anonymous.get(&url).await;
        assert_eq!(current.status, StatusCode::OK, "{url}");
        assert_eq!(
            current.headers["cache-control"], "public, max-age=31536000, immutable",
            "{url}"
        );
        // Without its version, or with another, a URL is asked again each time.
        for other in [
            format!("/static/{name}"),
            format!("/static/{name}?v=000000000000"),
            format!("/static/{name}?w={version}"),
        ] {
            let page = anonymous.get(&other).await;
            assert_eq!(page.status, StatusCode::OK, "{other}");
            assert_eq!(page.body, current.body, "{other}");
            assert_eq!(page.headers["cache-control"], "no-cache", "{other}");
        }
    }
    let gone = anonymous.get("/static/gone.css?v=000000000000").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.headers["cache-control"], "no-cache");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn static_files_are_sent_gzipped_to_browsers_that_take_it(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let anonymous = app.browser();
    let home = anonymous.get("/").await.body;
    let url = anonymous.url(&asset_url(&home, "htmx.min.js"));
    let on_disk =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/static/htmx.min.js")).unwrap();

    let plain = anonymous.client.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap(), on_disk);

    let gzipped = anonymous
        .client
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.status(), StatusCode::OK);
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    assert_eq!(
        gzipped.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let body = gzipped.bytes().await.unwrap();
    assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzip stream");
    assert!(
        body.len() * 2 < on_disk.len(),
        "{} bytes gzipped of {}",
        body.len(),
        on_disk.len()
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn live_notices_say_who_did_what_live_and_replayed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let admin = app.admin("a@example.com").await;
    let mut watching = admin.events(None).await;

    let request_id = customer.create_request().await;
    let created = watching.next().await;
    assert_eq!(created.event, "request_created");
    assert!(
        created.data.contains(&format!(
            r#"<a href="/requests/{request_id}">Sita Sharma posted request #{request_id}</a>"#
        )),
        "{}",
        created.data
    );

    vendor.make_offer(request_id, "450").await;
    customer
        .post(&format!("/requests/{request_id}/cancel"), &[])
        .await
        .assert_redirect(&format!("/requests/{request_id}"));

    // Read back from the table: the customer's own cancellation, and the
    // laundry's offer not chosen, as the vendor's notification says it.
    let mut replay = customer.events(Some("0")).await;
    let mut notices = Vec::new();
    while let Some(event) = replay.next_within(std::time::Duration::from_secs(2)).await {
        notices.push((event.event, event.data));
    }
    let cancelled = notices
        .iter()
        .find(|(kind, _)| kind == "request_cancelled")
        .unwrap_or_else(|| panic!("{notices:?}"));
    assert!(
        cancelled
            .1
            .contains(&format!("Sita Sharma cancelled request #{request_id}")),
        "{cancelled:?}"
    );
    let mut replay = admin.events(Some("0")).await;
    let mut seen = String::new();
    while let Some(event) = replay.next_within(std::time::Duration::from_secs(2)).await {
        seen.push_str(&event.data);
    }
    assert!(
        seen.contains(&format!("Sita Sharma posted request #{request_id}")),
        "{seen}"
    );
    assert!(!seen.contains("moved on"), "{seen}");
    assert_eq!(
        app.notification_titles("v@example.com").await,
        [format!(
            "Sita Sharma did not choose your offer on request #{request_id}"
        )]
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_notifications_page_says_who_marked_an_order_delivered(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    let order_id = app
        .delivered(&customer, &vendor, "v@example.com", "450")
        .await;

    let page = customer.get("/notifications").await.body;

    for line in [
        format!("Sparkle Laundry picked up order #{order_id}"),
        format!("Sparkle Laundry is washing order #{order_id}"),
        format!("Sparkle Laundry is delivering order #{order_id}"),
        format!("Sparkle Laundry marked order #{order_id} delivered"),
    ] {
        assert!(page.contains(&line), "{line} in:\n{page}");
    }
    assert!(!page.contains("moved on"), "{page}");
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn on_a_phone_each_notification_is_a_card_whose_link_and_button_are_44_px_tall(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let customer = app.customer("c@example.com").await;
    let vendor = app.vendor("v@example.com").await;
    for price in ["450", "1250.5"] {
        let request_id = customer.create_request().await;
        vendor.make_offer(request_id, price).await;
    }
    let page = customer.get("/notifications").await.body;
    assert!(
        page.contains(r#"<button type="submit">Mark read<span class="visually-hidden">: Sparkle Laundry offered Rs 450.00 on your request #1</span></button>"#),
        "each button names its notification to a screen reader:\n{page}"
    );

    let base = format!("http://{}", app.addr);
    let driver = driver();
    let client = browser(&driver).await;
    crate::browser::log_in(&client, &base, "c@example.com").await;
    client
        .set_window_size(360, 800)
        .await
        .expect("a phone-sized window");
    client.goto(&format!("{base}/notifications")).await.unwrap();
    let sizes = client
        .execute(
            "return [...document.querySelectorAll('.notifications li > a, .notifications button')]
                 .map(e => { const r = e.getBoundingClientRect();
                             return [e.tagName, r.width, r.height, r.right]; });",
            vec![],
        )
        .await
        .unwrap();
    let sizes = sizes.as_array().unwrap();
    assert_eq!(sizes.len(), 4, "two links and two buttons: {sizes:?}");
    let width = client
        .execute("return document.documentElement.clientWidth;", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    for size in sizes {
        let [tag, w, h, right] = size.as_array().unwrap().as_slice() else {
            panic!("{size:?}");
        };
        assert!(h.as_f64().unwrap() >= 44.0, "{tag} {h} px tall");
        assert!(w.as_f64().unwrap() >= 44.0, "{tag} {w} px wide");
        assert!(
            right.as_f64().unwrap() <= width,
            "{tag} within the {width} px screen"
        );
    }
    client.close().await.unwrap();
}
