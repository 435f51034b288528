//! Integration tests: the app on a random port, a fresh database per test
//! (`#[sqlx::test]`), and browsers that keep cookies and CSRF tokens.

mod accounts;
mod admin;
mod browser;
mod demo;
mod helpers;
mod hostile;
mod jobs;
mod live;
mod marketplace;
mod notifications;
mod races;
mod security;
mod shell;
mod throttle;
