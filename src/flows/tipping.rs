//! Tipping on the reader, per location: a Stripe Terminal Configuration with `tipping` for each
//! currency, assigned to the location through its `configuration_overrides`. Stripe holds the
//! settings (nothing is stored here); a configuration this service made for a location is named
//! [`NAME_PREFIX`]` <location>`, so removing the tipping deletes only configurations of ours and
//! merely unsets the tipping of a merchant's own.

use super::Services;
use crate::db::models::Account;
use crate::error::Error;
use crate::money::{Currency, MinorUnits};
use std::collections::BTreeMap;
use stripe_client::{ConfigurationParams, CurrencyTipping, StripeAccount, UpdateLocation};

/// The name of the configurations this service makes (for tipping, and for the splash screen of
/// `flows::splashscreen`, which shares the location's configuration).
pub const NAME_PREFIX: &str = "pos-backend tipping";

/// One currency's tipping options, checked by the caller (Stripe's limits: up to three
/// percentages and three fixed amounts; a smart-tip threshold needs both lists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipOptions {
    pub percentages: Vec<i64>,
    pub fixed_amounts: Vec<MinorUnits>,
    pub smart_tip_threshold: Option<MinorUnits>,
}

/// A location's tipping as Stripe has it: by currency (currencies this service does not know are
/// left out).
#[derive(Debug, Clone)]
pub struct LocationTipping {
    pub location: String,
    pub configuration_id: Option<String>,
    /// In currency code order.
    pub tipping: Vec<(Currency, TipOptions)>,
}

/// The location's configuration (id), if it has one.
pub(super) async fn location_configuration(
    services: &Services,
    stripe_account: &StripeAccount,
    location: &str,
) -> Result<Option<String>, Error> {
    let found = services
        .stripe
        .retrieve_location(stripe_account, location)
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "id"))?;
    Ok(found.configuration_overrides.filter(|c| !c.is_empty()))
}

/// The Terminal configuration this service made for the location (tipping, splash screen), if it
/// has one: a location being deleted takes it along, or it would stay at Stripe unused. `None`
/// also when the location is already gone at Stripe.
pub(super) async fn made_for_location(
    services: &Services,
    stripe_account: &StripeAccount,
    location: &str,
) -> Result<Option<String>, Error> {
    let found = match services
        .stripe
        .retrieve_location(stripe_account, location)
        .await
    {
        Ok(found) => found,
        Err(e) if e.code() == Some("resource_missing") => return Ok(None),
        Err(e) => return Err(Error::from_stripe_input(e, None, "id")),
    };
    let Some(id) = found.configuration_overrides.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let configuration = services
        .stripe
        .retrieve_terminal_configuration(stripe_account, &id)
        .await?;
    let ours = configuration.name.as_deref() == Some(&format!("{NAME_PREFIX} {location}"));
    Ok(ours.then_some(id))
}

/// Sets `params` on the location's configuration `existing`, or makes one of ours
/// ([`NAME_PREFIX`]` <location>`) with them and assigns it to the location; `key` names each
/// Stripe request's Idempotency-Key (`update`, `create`, `assign`).
pub(super) async fn set_on_location(
    services: &Services,
    stripe_account: &StripeAccount,
    location: &str,
    existing: Option<&str>,
    params: ConfigurationParams<'_>,
    key: impl Fn(&str) -> String,
) -> Result<stripe_client::TerminalConfiguration, Error> {
    if let Some(id) = existing {
        return Ok(services
            .stripe
            .update_terminal_configuration(stripe_account, id, &params, &key("update"))
            .await?);
    }
    let name = format!("{NAME_PREFIX} {location}");
    let made = services
        .stripe
        .create_terminal_configuration(
            stripe_account,
            &ConfigurationParams {
                name: Some(&name),
                ..params
            },
            &key("create"),
        )
        .await?;
    services
        .stripe
        .update_location(
            stripe_account,
            location,
            &UpdateLocation {
                configuration_overrides: Some(&made.id),
                ..Default::default()
            },
            &key("assign"),
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "id"))?;
    Ok(made)
}

pub(super) async fn owned(
    services: &Services,
    external_account_id: String,
    location: &str,
) -> Result<(Account, StripeAccount), Error> {
    let account = super::accounts::get(&services.db, external_account_id).await?;
    super::terminal::owned_location(services, &account, location)
        .await
        .map_err(|e| e.with_param("id"))?;
    let stripe_account = services.stripe_account(&account)?;
    Ok((account, stripe_account))
}

fn of_stripe(
    location: &str,
    configuration_id: Option<String>,
    tipping: Option<BTreeMap<String, CurrencyTipping>>,
) -> LocationTipping {
    let mut out = Vec::new();
    for (code, t) in tipping.unwrap_or_default() {
        let Ok(currency) = Currency::parse(&code) else {
            continue;
        };
        let amounts: Vec<MinorUnits> = t
            .fixed_amounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| MinorUnits::new(a).ok())
            .collect();
        let percentages = t.percentages.unwrap_or_default();
        if percentages.is_empty() && amounts.is_empty() {
            continue;
        }
        out.push((
            currency,
            TipOptions {
                percentages,
                fixed_amounts: amounts,
                smart_tip_threshold: t.smart_tip_threshold.and_then(|a| MinorUnits::new(a).ok()),
            },
        ));
    }
    LocationTipping {
        location: location.to_string(),
        configuration_id,
        tipping: out,
    }
}

fn to_stripe(options: &TipOptions) -> CurrencyTipping {
    CurrencyTipping {
        percentages: (!options.percentages.is_empty()).then(|| options.percentages.clone()),
        fixed_amounts: (!options.fixed_amounts.is_empty())
            .then(|| options.fixed_amounts.iter().map(|a| a.get()).collect()),
        smart_tip_threshold: options.smart_tip_threshold.map(MinorUnits::get),
    }
}

/// `GET`: the location's tipping.
pub async fn get(
    services: &Services,
    external_account_id: String,
    location: String,
) -> Result<LocationTipping, Error> {
    let (_, stripe_account) = owned(services, external_account_id, &location).await?;
    let Some(id) = location_configuration(services, &stripe_account, &location).await? else {
        return Ok(of_stripe(&location, None, None));
    };
    let configuration = services
        .stripe
        .retrieve_terminal_configuration(&stripe_account, &id)
        .await?;
    Ok(of_stripe(&location, Some(id), configuration.tipping))
}

/// `PUT`: sets the tipping for one currency (others are kept), on the location's configuration,
/// or on a new one assigned to it.
pub async fn put(
    services: &Services,
    external_account_id: String,
    location: String,
    currency: Currency,
    options: TipOptions,
) -> Result<LocationTipping, Error> {
    let (_, stripe_account) = owned(services, external_account_id, &location).await?;
    let key = |what: &str| format!("tipping:{what}:{location}:{}", uuid::Uuid::new_v4());
    let existing = match location_configuration(services, &stripe_account, &location).await? {
        Some(id) => Some(
            services
                .stripe
                .retrieve_terminal_configuration(&stripe_account, &id)
                .await?,
        ),
        None => None,
    };
    let mut tipping = existing
        .as_ref()
        .and_then(|c| c.tipping.clone())
        .unwrap_or_default();
    tipping.insert(currency.code().to_string(), to_stripe(&options));
    let params = ConfigurationParams {
        name: None,
        tipping: Some(&tipping),
        wisepos_e_splashscreen: None,
    };
    let configuration = set_on_location(
        services,
        &stripe_account,
        &location,
        existing.map(|c| c.id).as_deref(),
        params,
        key,
    )
    .await?;
    Ok(of_stripe(
        &location,
        Some(configuration.id),
        configuration.tipping,
    ))
}

/// `DELETE`: no tipping at the location any more. A configuration of ours is deleted (Stripe
/// unassigns it) unless it also has the location's splash screen; the tipping of a merchant's own
/// configuration (or of ours with a splash screen) is unset, its other settings kept.
pub async fn delete(
    services: &Services,
    external_account_id: String,
    location: String,
) -> Result<LocationTipping, Error> {
    let (_, stripe_account) = owned(services, external_account_id, &location).await?;
    let Some(id) = location_configuration(services, &stripe_account, &location).await? else {
        return Ok(of_stripe(&location, None, None));
    };
    let configuration = services
        .stripe
        .retrieve_terminal_configuration(&stripe_account, &id)
        .await?;
    let ours = configuration
        .name
        .as_deref()
        .is_some_and(|n| n == format!("{NAME_PREFIX} {location}"));
    // A configuration of ours that also shows a splash screen keeps it: only its tipping goes.
    let splash = configuration
        .bbpos_wisepos_e
        .as_ref()
        .is_some_and(|d| d.splashscreen.is_some());
    if ours && !splash {
        services
            .stripe
            .delete_terminal_configuration(&stripe_account, &id)
            .await?;
        return Ok(of_stripe(&location, None, None));
    }
    let empty = BTreeMap::new();
    let kept = services
        .stripe
        .update_terminal_configuration(
            &stripe_account,
            &id,
            &ConfigurationParams {
                name: None,
                tipping: Some(&empty),
                wisepos_e_splashscreen: None,
            },
            &format!("tipping:unset:{location}:{}", uuid::Uuid::new_v4()),
        )
        .await?;
    Ok(of_stripe(&location, Some(kept.id), kept.tipping))
}
