//! Integration tests over real HTTP; every test runs on SQLite and on PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod accounts;
mod auth;
mod caller_errors;
mod card_on_file;
mod checkout;
mod cli;
mod conflicts;
mod connections;
mod demo;
mod disputes;
mod envelope;
mod fleet;
mod idempotency;
mod lifecycle;
mod logs;
mod openapi_doc;
mod ops;
mod payouts;
mod reader_display;
mod reader_events;
mod reader_refunds;
mod reader_setup;
mod receipts;
mod reconcile;
mod redisplay;
mod reports;
mod sale_details;
mod schema;
mod setup_webhook;
mod splashscreen;
mod state_machine;
mod stripe_context;
mod stripe_keys;
mod tips;
mod webhooks;
