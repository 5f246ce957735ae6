//! Background workers: delivery of merchant webhooks, the reconciler, and this process's heartbeat.

pub mod delivery;
pub mod instances;
pub mod reconcile;
