//! pos-backend: card-present point-of-sale payments on Stripe Terminal.
//!
//! The data path reads top-down: `api` parses and authorises, `flows` decides, `stripe` and `db`
//! do the I/O. `sim` is an embedded Stripe simulator speaking Stripe's wire protocol.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod flows;
pub mod jobs;
pub mod money;
pub mod payment_state;

pub use stripe_client as stripe;
pub use stripe_client::secret;
pub use stripe_sim as sim;
