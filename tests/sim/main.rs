//! Integration tests of the Stripe simulator: a standalone simulator on an ephemeral port, driven
//! with raw form-encoded HTTP requests exactly as a Stripe client would send them.

#[path = "../support/mod.rs"]
mod support;

mod checkout;
mod conformance;
mod disputes;
mod embedded;
mod faults;
mod idempotency;
mod idempotency_keys;
mod payments;
mod protocol;
mod reader_refunds;
mod retention;
mod sale;
mod setup_on_reader;
mod sim_terminal;
mod terminal;
mod webhook_endpoints;
mod webhooks;

pub use support::sim::*;
use support::spec;
