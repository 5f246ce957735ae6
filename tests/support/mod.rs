//! The one test harness, shared by every test crate and the latency bench:
//!
//! - `app`: `TestApp`, the real application on port 0 over a fresh SQLite file or PostgreSQL
//!   database, built with `TestApp::builder` (backend, configuration, simulator faults, background
//!   workers on or off) and `both_backends!`; its background work (merchant-webhook delivery, the
//!   reconciler) is run by the test itself (`deliver_pending`, `reconcile`) under an adjustable
//!   clock (`advance`), and typed helpers for our responses;
//! - `sim`: a standalone Stripe simulator and a raw form-encoding client for it;
//! - `bench`: the application as the benchmarks measure it, and percentiles;
//! - `mock`: a scripted HTTP server standing in for Stripe, which can misbehave at the TCP level;
//! - `receiver`: a local webhook endpoint recording signed deliveries;
//! - `wait`: waiting on a condition with a deadline, for events outside the test's control;
//! - `spec`: Stripe's API at the pinned version as JSON Schemas (conformance checks);
//! - `openapi`: our own OpenAPI document, against which `TestApp` checks every response it gets.
//!
//! Include it with `#[path = "../support/mod.rs"] mod support;` (from `benches/`:
//! `#[path = "../tests/support/mod.rs"]`). Each crate uses a part of it, hence `dead_code` off.

#![allow(dead_code)]

pub mod app;
pub mod bench;
pub mod mock;
pub mod openapi;
pub mod receiver;
pub mod sim;
pub mod spec;
pub mod wait;
