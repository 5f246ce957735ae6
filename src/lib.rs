//! pos-backend: card-present point-of-sale payments on Stripe Terminal.
//!
//! The data path reads top-down: `api` parses and authorises, `flows` decides, `db` and the Stripe
//! client (the `stripe-client` crate) do the I/O. The Stripe simulator (the `stripe-sim` crate) is
//! embedded under `/sim/stripe` in simulator mode. docs/architecture.md describes the whole.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod dispute_state;
pub mod error;
pub mod flows;
pub mod jobs;
pub mod money;
pub mod payment_state;
pub mod payout_state;
pub mod reader_action_state;
pub mod reader_refund_state;
pub mod reader_setup_state;
