//! Stripe API client over reqwest.
