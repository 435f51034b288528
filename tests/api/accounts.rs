//! Sign-up, login, logout, throttling and suspension.

use reqwest::StatusCode;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, signup_fields};

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_customer_signs_up_and_lands_on_their_requests(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();

    let page = browser
        .signup(&signup_fields(
            "Sita Sharma",
            "Sita@Example.com",
            "customer",
        ))
        .await;
    page.assert_redirect("/requests");

    let home = browser.get("/requests").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.body.contains("Welcome to Dhune, Sita Sharma!"),
        "{}",
        home.body
    );
    let (email, role, status): (String, String, String) =
        sqlx::query_as("SELECT email, role, status FROM users")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (email.as_str(), role.as_str(), status.as_str()),
        ("sita@example.com", "customer", "ACTIVE")
    );
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_vendor_signs_up_with_a_business_and_lands_on_the_board(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let mut fields = signup_fields("Ram Thapa", "ram@example.com", "vendor");
    fields.push(("business_name", "Sparkle Laundry".into()));
    fields.push(("city", "Kathmandu".into()));

    browser.signup(&fields).await.assert_redirect("/board");

    assert_eq!(browser.get("/board").await.status, StatusCode::OK);
    let (business, city): (String, String) =
        sqlx::query_as("SELECT business_name, city FROM vendors JOIN users ON users.id = vendors.user_id WHERE email = 'ram@example.com'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        (business.as_str(), city.as_str()),
        ("Sparkle Laundry", "Kathmandu")
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_refused_signup_keeps_what_was_typed_and_writes_nothing(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let mut fields = signup_fields("Ram Thapa", "ram@example.com", "vendor");
    fields.push(("city", "Pokhara".into()));

    let page = browser.signup(&fields).await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains(r#"value="ram@example.com""#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="Pokhara""#));
    assert!(page.body.contains("This field is required."));
    assert!(
        !page.body.contains(PASSWORD),
        "the password is never echoed"
    );
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn bad_fields_are_each_explained(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    let fields = vec![
        ("name", "".to_string()),
        ("email", "not-an-email".to_string()),
        ("phone", "12".to_string()),
        ("password", "short".to_string()),
        ("role", "admin".to_string()),
    ];

    let page = browser.signup(&fields).await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "This field is required.",
        "Please enter an email address like name@example.com.",
        "Please enter a phone number of 7 to 15 digits",
        "Use at least 8 characters.",
        "Choose whether you are a customer or a laundry.",
    ] {
        assert!(page.body.contains(message), "missing {message:?}");
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn an_email_is_registered_once_whatever_its_case(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("sita@example.com").await;

    let page = app
        .browser()
        .signup(&signup_fields(
            "Another Sita",
            "SITA@example.COM",
            "customer",
        ))
        .await;

    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("This email is already registered."),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"value="Another Sita""#));
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn each_role_logs_in_to_its_home_and_logs_out(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await.logout().await;
    app.vendor("v@example.com").await.logout().await;
    dhune::market::accounts::create_admin(&app.pool, "a@example.com", PASSWORD)
        .await
        .unwrap();

    for (email, home) in [
        ("c@example.com", "/requests"),
        ("v@example.com", "/board"),
        ("a@example.com", "/admin"),
    ] {
        let browser = app.browser();
        browser.login(email, PASSWORD).await.assert_redirect(home);
        assert_eq!(browser.get(home).await.status, StatusCode::OK, "{email}");
        assert_eq!(
            browser.get("/login").await.location(),
            Some(home),
            "signed in: /login leads home"
        );

        let sessions_before = app
            .count("SELECT count(*) FROM tower_sessions.session")
            .await;
        browser.logout().await.assert_redirect("/login");
        let sessions_after = app
            .count("SELECT count(*) FROM tower_sessions.session")
            .await;
        assert_eq!(
            sessions_after,
            sessions_before - 1,
            "logout deletes the session server-side"
        );
        assert_eq!(
            browser.get(home).await.status,
            StatusCode::SEE_OTHER,
            "{email} is logged out"
        );
    }
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn the_session_id_changes_at_login(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await.logout().await;
    let browser = app.browser();
    let form = browser.get("/login").await;
    let before = form.set_cookies();
    assert!(
        before.iter().any(|c| c.starts_with("dhune_session=")),
        "{before:?}"
    );

    let login = browser.login("c@example.com", PASSWORD).await;

    let after = login.set_cookies();
    let session_of = |cookies: &[String]| {
        cookies.iter().find_map(|c| {
            c.strip_prefix("dhune_session=")
                .map(|v| v.split(';').next().unwrap_or("").to_owned())
        })
    };
    assert!(
        session_of(&after).is_some(),
        "login sets a new session cookie"
    );
    assert_ne!(session_of(&before), session_of(&after));
    let cookie = after
        .iter()
        .find(|c| c.starts_with("dhune_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "Secure only when DHUNE_SECURE_COOKIES=true"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;

    let wrong = app
        .browser()
        .login("c@example.com", "not-the-password")
        .await;
    let unknown = app
        .browser()
        .login("nobody@example.com", "not-the-password")
        .await;

    for page in [&wrong, &unknown] {
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("The email or password is not right."));
        assert!(!page.body.contains("not-the-password"));
    }
    assert!(
        wrong.body.contains(r#"value="c@example.com""#),
        "the email typed is kept"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn ten_failed_logins_lock_the_account_for_fifteen_minutes(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.customer("c@example.com").await;
    app.customer("other@example.com").await;
    let attacker = app.browser();

    for attempt in 1..=10 {
        let page = attacker.login("C@example.com", "guess-guess").await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {attempt}"
        );
    }
    let locked = app.browser().login("c@example.com", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        locked.body.contains("Please try again in 15 minutes."),
        "{}",
        locked.body
    );

    // An unknown account is locked the same way, so the lock tells nothing.
    for _ in 1..=10 {
        attacker.login("ghost@example.com", "guess-guess").await;
    }
    assert_eq!(
        attacker.login("ghost@example.com", "guess").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Other accounts are untouched, and the lock lifts when the window passes.
    app.browser()
        .login("other@example.com", PASSWORD)
        .await
        .assert_redirect("/requests");
    sqlx::query("UPDATE throttle_attempts SET at = at - interval '15 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.browser()
        .login("c@example.com", PASSWORD)
        .await
        .assert_redirect("/requests");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM throttle_attempts WHERE key LIKE 'login-pair:c@example.com %'"
        )
        .await,
        0,
        "a successful login clears the failures"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_suspended_user_is_signed_out_at_once_and_cannot_log_in(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.customer("c@example.com").await;
    assert_eq!(browser.get("/requests").await.status, StatusCode::OK);

    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = 'c@example.com'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    app.admin("admin@example.com")
        .await
        .post(
            &format!("/admin/users/{id}/suspend"),
            &[("reason", "Abusive messages".into())],
        )
        .await
        .assert_redirect("/admin/users");

    browser
        .get("/requests")
        .await
        .assert_redirect("/login?next=%2Frequests");
    let login = app.browser().login("c@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::FORBIDDEN);
    assert!(login.body.contains("This account is suspended."));
    let wrong = app.browser().login("c@example.com", "wrong-password").await;
    assert!(
        !wrong.body.contains("suspended"),
        "without the password, nothing is revealed"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn a_visitor_who_only_looks_gets_no_session(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let visitor = app.browser();
    for path in ["/", "/no-such-page", "/healthz", "/static/app.css"] {
        let page = visitor.get(path).await;
        assert!(
            page.set_cookies().is_empty(),
            "{path}: {:?}",
            page.set_cookies()
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM tower_sessions.session")
            .await,
        0
    );

    for path in ["/login", "/signup"] {
        let page = visitor.get(path).await;
        assert!(
            page.body.contains(r#"name="csrf_token" value=""#),
            "{path} carries a token"
        );
        assert!(
            !page.body.contains(r#"name="csrf_token" value="""#),
            "{path}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM tower_sessions.session")
            .await,
        1,
        "the form pages share one session"
    );
    let home = visitor.get("/").await;
    assert!(
        home.body.contains("X-CSRF-Token"),
        "once there is a token, every page hands it to htmx"
    );
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn common_passwords_and_ones_made_of_the_users_name_or_email_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    for (password, message) in [
        ("iloveyou", "one of the most common passwords"),
        ("QwertyUiop", "one of the most common passwords"),
        ("sita.sharma99", "must not contain your name or email"),
        ("my-SHARMA-pass", "must not contain your name or email"),
        ("xx-sitabel-xx", "must not contain your name or email"),
    ] {
        let mut fields = signup_fields("Sita Sharma", "sitabel@example.com", "customer");
        fields.retain(|(name, _)| *name != "password");
        fields.push(("password", password.to_owned()));

        let page = browser.signup(&fields).await;

        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{password}");
        assert!(page.body.contains(message), "{password}: {}", page.body);
        assert!(page.body.contains(r#"value="Sita Sharma""#), "name kept");
        assert!(page.body.contains(r#"value="sitabel@example.com""#));
    }
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn names_with_direction_overrides_or_invisible_characters_are_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let browser = app.browser();
    for name in ["Sita\u{202E}amrahS", "Si\u{200B}ta", "\u{2066}Sita\u{2069}"] {
        let page = browser
            .signup(&signup_fields(name, "sita@example.com", "customer"))
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert!(
            page.body.contains("invisible formatting characters"),
            "{name:?}: {}",
            page.body
        );
    }
    let mut fields = signup_fields("Ram Thapa", "ram@example.com", "vendor");
    fields.push(("business_name", "Sparkle\u{FEFF} Laundry".into()));
    fields.push(("city", "Kathmandu".into()));
    let page = browser.signup(&fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("invisible formatting characters"));
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

#[sqlx::test(migrator = "dhune::db::MIGRATOR")]
async fn create_admin_refuses_a_common_password(pool: PgPool) {
    let refused =
        dhune::market::accounts::create_admin(&pool, "boss@example.com", "password1").await;
    let Err(dhune::market::MarketError::Invalid(errors)) = refused else {
        panic!("accepted a common password: {refused:?}");
    };
    assert!(
        errors
            .get("password")
            .is_some_and(|m| m.contains("most common")),
        "{errors:?}"
    );
}
