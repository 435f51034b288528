//! Integration tests: the app on a random port, a fresh database per test
//! (`#[sqlx::test]`), and browsers that keep cookies and CSRF tokens.

mod a11y;
mod accounts;
mod admin;
mod books;
mod browser;
mod commission;
mod demo;
mod helpers;
mod hostile;
mod html_valid;
mod jobs;
mod ledger;
mod live;
mod live_limits;
mod live_pages;
mod local_pg;
mod lock_order;
mod market10;
mod market10b;
mod market10c;
mod market10d;
mod marketplace;
mod money;
mod notifications;
mod payment_pages;
mod payout_pages;
mod price_change;
mod providers;
mod races;
mod sandbox;
mod security;
mod shell;
mod statements;
mod throttle;
mod web_hardening;
