//! The demo till's counter (simulator mode only, handed out by `POST /pos/token`): a location
//! whose readers show a tipping screen (usd tipping set with the service's per-location tipping,
//! `flows::tipping`: fixed amounts below 10.00, percentages from there) and a simulated smart
//! reader registered at it, for the cart on the reader's screen. Created through the same flows a
//! merchant's calls go through on first use, and found again afterwards (the account's oldest
//! reader at a location).

use super::terminal::{self, NewLocation};
use super::tipping::{self, TipOptions};
use super::Services;
use crate::error::Error;
use crate::money::{Currency, MinorUnits};

/// The registration code of a simulated WisePOS E.
const SIMULATED_READER_CODE: &str = "simulated-wpe";

/// Where the demo till sells: its location and its smart reader (Stripe ids).
#[derive(Debug, Clone)]
pub struct Counter {
    pub location: String,
    pub reader: String,
}

fn minor(amount: i64) -> MinorUnits {
    MinorUnits::new(amount).expect("a positive constant")
}

/// The account's counter, set up on first use. Two first calls at once may each set one up; both
/// work, and later calls settle on the oldest.
pub async fn counter(services: &Services, external_account_id: &str) -> Result<Counter, Error> {
    let readers = terminal::list_readers(
        services,
        external_account_id.to_string(),
        terminal::ReaderFilter::default(),
    )
    .await?;
    // A reader Stripe no longer has is not the counter's.
    let oldest = readers
        .into_iter()
        .filter_map(|(r, at_stripe)| {
            at_stripe?;
            let location = r.stripe_location_id.clone()?;
            Some((r.created_at, r.id, location, r.stripe_reader_id))
        })
        .min();
    if let Some((_, _, location, reader)) = oldest {
        return Ok(Counter { location, reader });
    }
    let location = terminal::create_location(
        services,
        external_account_id.to_string(),
        NewLocation {
            display_name: "Demo counter".into(),
            line1: "1 Demo Street".into(),
            city: Some("San Francisco".into()),
            state: Some("CA".into()),
            postal_code: Some("94107".into()),
            country: "US".into(),
        },
    )
    .await?;
    tipping::put(
        services,
        external_account_id.to_string(),
        location.stripe_location_id.clone(),
        Currency::parse("usd").expect("a supported currency"),
        TipOptions {
            percentages: vec![15, 18, 20],
            fixed_amounts: vec![minor(100), minor(200), minor(300)],
            smart_tip_threshold: Some(minor(1000)),
        },
    )
    .await?;
    let (reader, _) = terminal::register_reader(
        services,
        external_account_id.to_string(),
        SIMULATED_READER_CODE.to_string(),
        Some("Demo counter reader".to_string()),
        Some(location.stripe_location_id.clone()),
    )
    .await?;
    Ok(Counter {
        location: location.stripe_location_id,
        reader: reader.stripe_reader_id,
    })
}
