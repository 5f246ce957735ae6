//! Background workers: delivery of merchant webhooks, and the reconciler.

pub mod delivery;
pub mod reconcile;
