//! pos-backend: card-present point-of-sale payments on Stripe Terminal.
//!
//! The data path reads top-down: `api` parses and authorises, `flows` decides, `stripe` and `db`
//! do the I/O. `sim` is an embedded Stripe simulator speaking Stripe's wire protocol.

pub mod money;
pub mod secret;
pub mod sim;
pub mod stripe;
