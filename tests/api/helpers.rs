//! `TestApp` serves the app on port 0; `Browser` acts like one person's
//! browser: it keeps cookies, does not follow redirects, and sends back the
//! CSRF token from the last page it saw.

use std::net::SocketAddr;
use std::sync::Mutex;

use dhune::Config;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use sqlx::PgPool;

pub const PASSWORD: &str = "laundry-day-42";

pub struct TestApp {
    pub addr: SocketAddr,
    pub pool: PgPool,
}

impl TestApp {
    pub async fn spawn(pool: PgPool) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        let app = dhune::build_app(pool.clone(), Config::for_tests());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self { addr, pool }
    }

    pub fn browser(&self) -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            base: format!("http://{}", self.addr),
            client,
            csrf: Mutex::new(None),
        }
    }

    /// A browser signed in as a new customer with this email.
    pub async fn customer(&self, email: &str) -> Browser {
        let browser = self.browser();
        let page = browser
            .signup(&signup_fields("Sita Sharma", email, "customer"))
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// A browser signed in as a new vendor with this email.
    pub async fn vendor(&self, email: &str) -> Browser {
        let browser = self.browser();
        let mut fields = signup_fields("Ram Thapa", email, "vendor");
        fields.push(("business_name", "Sparkle Laundry".into()));
        fields.push(("city", "Kathmandu".into()));
        let page = browser.signup(&fields).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    /// A browser signed in as a new admin with this email.
    pub async fn admin(&self, email: &str) -> Browser {
        dhune::market::accounts::create_admin(&self.pool, email, PASSWORD)
            .await
            .expect("create admin");
        let browser = self.browser();
        let page = browser.login(email, PASSWORD).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .expect(sql)
    }
}

pub fn signup_fields(name: &str, email: &str, role: &str) -> Vec<(&'static str, String)> {
    vec![
        ("name", name.into()),
        ("email", email.into()),
        ("phone", "9801234567".into()),
        ("password", PASSWORD.into()),
        ("role", role.into()),
    ]
}

#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    #[track_caller]
    pub fn assert_redirect(&self, to: &str) {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "body: {}", self.body);
        assert_eq!(self.location(), Some(to));
    }
}

pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    csrf: Mutex<Option<String>>,
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn read(&self, response: reqwest::Response) -> Page {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("body");
        if let Some(token) = csrf_token_in(&body) {
            *self.csrf.lock().expect("lock") = Some(token);
        }
        Page {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        self.read(response).await
    }

    /// The CSRF token of the last page, fetching a page with a form first
    /// when none was seen yet.
    pub async fn csrf_token(&self) -> String {
        let known = self.csrf.lock().expect("lock").clone();
        match known {
            Some(token) => token,
            None => {
                self.get("/login").await;
                self.csrf
                    .lock()
                    .expect("lock")
                    .clone()
                    .expect("a CSRF token on /login")
            }
        }
    }

    /// Posts a form like a browser does: with the page's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, String)]) -> Page {
        let mut fields: Vec<(&str, String)> = fields.to_vec();
        fields.push(("csrf_token", self.csrf_token().await));
        self.post_raw(path, &fields, &[]).await
    }

    /// Posts exactly these fields and headers, nothing added.
    pub async fn post_raw(
        &self,
        path: &str,
        fields: &[(&str, String)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.client.post(self.url(path)).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("POST");
        self.read(response).await
    }

    pub async fn signup(&self, fields: &[(&str, String)]) -> Page {
        self.post("/signup", fields).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Page {
        self.post(
            "/login",
            &[("email", email.into()), ("password", password.into())],
        )
        .await
    }

    pub async fn logout(&self) -> Page {
        self.post("/logout", &[]).await
    }
}

fn csrf_token_in(body: &str) -> Option<String> {
    let marker = r#"name="csrf_token" value=""#;
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}
