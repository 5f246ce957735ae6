//! Business operations: each validates its inputs, talks to the database and Stripe, and
//! returns domain results. No HTTP types here.

pub mod accounts;
