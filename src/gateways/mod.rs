//! Adapters to services outside Dhune, each behind a trait. HTTP to the
//! outside lives here and nowhere else.

pub mod payments;
pub(crate) mod sandbox_server;
