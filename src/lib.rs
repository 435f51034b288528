//! Dhune: a marketplace for laundry services.
//!
//! `domain` holds pure rules, `market` the operations (all SQL lives there),
//! `web` the HTTP layer, `jobs` the background tasks. [`build_app`] wires them
//! into one router for `main` and for the tests.

pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod events;
pub mod gateways;
pub mod jobs;
pub mod local_pg;
pub mod market;
pub mod web;

pub use config::Config;
pub use web::build_app;
