//! Embedded, stateful Stripe simulator speaking Stripe's wire protocol.
