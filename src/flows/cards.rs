//! Saved cards: the card used in a captured card-present payment, saved on the customer through
//! Stripe's `generated_card` (or a card saved through Checkout, `flows::card_checkout`),
//! de-duplicated by card fingerprint per customer. A deleted card's PaymentMethod was detached at
//! Stripe and cannot be saved again (409 `card_deleted`); a new payment with the same physical card
//! yields a new PaymentMethod, which can.

use super::payments;
use super::Services;
use crate::db::cards::CardKey;
use crate::db::models::{new_id, now, Card, Customer};
use crate::db::{self, DbConnection, Inserted};
use crate::error::Error;
use stripe_client::Expandable;

/// A saved card with its customer.
#[derive(Debug, Clone)]
pub struct CardView {
    pub card: Card,
    pub customer: Customer,
    /// Live and saved in the Stripe context the account's calls act in now.
    pub chargeable: bool,
}

impl CardView {
    /// The card as seen from the Stripe context `current`.
    pub fn new(card: Card, customer: Customer, current: &str) -> Self {
        let chargeable = super::stripe_keys::card_chargeable(&card, current);
        CardView {
            card,
            customer,
            chargeable,
        }
    }
}

/// Saves the card of a captured payment on its customer. One Stripe call (the intent with its
/// latest charge expanded); saving again, or the same physical card again, returns the card
/// already saved.
pub async fn save_from_payment(
    services: &Services,
    external_account_id: String,
    payment_id: String,
    external_customer_id: String,
) -> Result<CardView, Error> {
    // One hop, one statement: the account, the payment, its customer and a card already saved
    // from it (the separate reads only to tell which id is unknown).
    let (account, payment, customer, saved) = services
        .db
        .run(move |conn| {
            let found = db::payments::find_viewed_by_intent_with_card(
                conn,
                &external_account_id,
                &payment_id,
            )?;
            let (account, payment, customer, saved) = match found {
                Some(found) => found,
                None => {
                    let (account, payment, customer) =
                        payments::load_viewed_apart(conn, &external_account_id, &payment_id)?;
                    let saved = match &customer {
                        Some(customer) => db::cards::find_saved_from(conn, &customer.id, &payment.id)?,
                        None => None,
                    };
                    (account, payment, customer, saved)
                }
            };
            let customer = match customer {
                Some(customer) => customer,
                None => {
                    return Err(Error::conflict(
                        "card_not_saveable",
                        "the payment was created without a customer, so its card cannot be saved; create the intent with external_customer_id",
                    ))
                }
            };
            if customer.external_customer_id != external_customer_id {
                return Err(Error::conflict(
                    "customer_mismatch",
                    "the payment belongs to another customer than external_customer_id",
                )
                .with_param("external_customer_id"));
            }
            Ok((account, payment, customer, saved))
        })
        .await?;
    let context = services.stripe_context(&account)?;
    match saved {
        Some(card) if card.deleted => return Err(card_deleted()),
        Some(card) => return Ok(CardView::new(card, customer, &context)),
        None => {}
    }

    let stripe_account = services.stripe_account(&account)?;
    let intent_id = payment.stripe_payment_intent_id.clone().unwrap_or_default();
    let intent = services
        .stripe
        .retrieve_payment_intent(&stripe_account, &intent_id, &["latest_charge"])
        .await?;
    if intent.status.as_str() != "succeeded" {
        super::payment_updates::observe_intent(
            services,
            payment,
            &intent,
            crate::payment_state::Source::Sync,
            payments::STRIPE_ACTOR,
        )
        .await?;
        let mut e = Error::conflict(
            "payment_not_captured",
            format!(
                "the card can be saved once the payment is captured (status '{}')",
                intent.status.as_str()
            ),
        );
        e.payment_status = Some(intent.status.as_str().to_string());
        return Err(e);
    }
    let details = match &intent.latest_charge {
        Some(Expandable::Object(charge)) => charge
            .payment_method_details
            .as_ref()
            .and_then(|d| d.card_present.clone().or_else(|| d.interac_present.clone())),
        _ => None,
    };
    let Some((generated, details)) = details.and_then(|d| d.generated_card.clone().map(|g| (g, d)))
    else {
        return Err(Error::conflict(
            "card_not_saveable",
            "this payment produced no reusable card (a phone or watch wallet was tapped, or the intent was not set up for future use)",
        ));
    };
    let at = now();
    let card = Card {
        id: new_id(),
        account_id: account.id.clone(),
        customer_id: customer.id.clone(),
        stripe_payment_method_id: generated,
        fingerprint: details.fingerprint.clone().unwrap_or_default(),
        brand: details.brand.clone().unwrap_or_else(|| "unknown".into()),
        last4: details.last4.clone().unwrap_or_default(),
        exp_month: details.exp_month.map(i64::from).unwrap_or_default(),
        exp_year: details.exp_year.map(i64::from).unwrap_or_default(),
        source_payment_id: Some(payment.id.clone()),
        deleted: false,
        created_at: at,
        updated_at: at,
        stripe_context: Some(context.clone()),
    };
    let card = store_card(services, card, account.webhook_url.is_none()).await?;
    Ok(CardView::new(card, customer, &context))
}

/// Records a saved card on its customer, unless the same physical card (fingerprint) or the same
/// PaymentMethod is already saved for them: then that card is returned instead. A PaymentMethod
/// whose card was deleted is 409 `card_deleted`. `no_webhook`: the account had no webhook
/// endpoint when read, so there is likely no `card.saved` to queue and the card is first offered
/// to the one-statement insert (`db::cards::insert_if_nothing_due`, which checks that again);
/// otherwise, or when it writes nothing, the checks and the transaction of the full path.
async fn store_card(services: &Services, card: Card, no_webhook: bool) -> Result<Card, Error> {
    services
        .db
        .run(move |conn| {
            if no_webhook && db::cards::insert_if_nothing_due(conn, &card)? {
                return Ok(card);
            }
            store_in(conn, card, |_, _| Ok(()))
        })
        .await
}

/// [`store_card`], then `then` with the card saved (new or the existing one): in the transaction
/// that inserts a new card, so what records it (a Checkout session's `card_id`) is never seen
/// without it.
pub async fn store_card_then<F>(services: &Services, card: Card, then: F) -> Result<Card, Error>
where
    F: FnOnce(&mut DbConnection, &Card) -> Result<(), Error> + Clone + Send + 'static,
{
    services
        .db
        .run(move |conn| store_in(conn, card, then))
        .await
}

/// [`store_card_then`] on a connection in hand.
fn store_in<F>(conn: &mut DbConnection, card: Card, then: F) -> Result<Card, Error>
where
    F: FnOnce(&mut DbConnection, &Card) -> Result<(), Error> + Clone,
{
    let existing = |conn: &mut DbConnection, existing: Card, then: F| {
        if existing.deleted {
            return Err(card_deleted());
        }
        db::write_transaction(conn, |conn| then(conn, &existing))?;
        Ok(existing)
    };
    // Its PaymentMethod deleted: refused; the same physical card (or the same payment method)
    // already saved: that one.
    if let Some(found) = db::cards::find_in_the_way(conn, &card)? {
        return existing(conn, found, then);
    }
    let mut then = Some(then);
    let inserted = db::write_transaction(conn, |conn| {
        let inserted = db::cards::insert(conn, card.clone())?;
        if let Inserted::New(card) = &inserted {
            super::events::emit_card(conn, card, None, "card.saved")?;
            then.take().expect("called once")(conn, card)?;
        }
        Ok::<_, Error>(inserted)
    })?;
    match inserted {
        Inserted::New(card) => Ok(card),
        // Saved concurrently by another request (or deleted meanwhile).
        Inserted::Duplicate => match db::cards::find_in_the_way(conn, &card)? {
            Some(found) => existing(
                conn,
                found,
                then.take()
                    .ok_or_else(|| Error::internal("card saved twice"))?,
            ),
            None => Err(Error::internal("card vanished after a duplicate insert")),
        },
    }
}

fn card_unavailable() -> Error {
    Error::conflict(
        "card_unavailable",
        "this card was saved in another Stripe account than the one the merchant uses now (its Stripe key or connected account changed), so it cannot be charged; save the card again",
    )
}

fn card_deleted() -> Error {
    Error::conflict(
        "card_deleted",
        "this card was saved and then deleted (detached at Stripe), so it cannot be saved again from the same payment; save it from a new payment",
    )
}

/// The customer and the live saved card a charge names; 404 for an unknown customer, or a card
/// that is deleted or belongs to someone else; 409 `card_unavailable` for a card saved in another
/// Stripe context (the merchant's Stripe key or connected account changed since).
pub async fn chargeable(
    services: &Services,
    account: &crate::db::models::Account,
    external_customer_id: &str,
    card: &super::payments::CardRef,
) -> Result<(Customer, Card), Error> {
    let (account_id, external, card) = (
        account.id.clone(),
        external_customer_id.to_string(),
        card.clone(),
    );
    let context = services.stripe_context(account)?;
    services
        .db
        .run(move |conn| {
            let customer =
                super::customers::find(conn, &account_id, &external)?.ok_or_else(|| {
                    Error::not_found("no such customer").with_param("external_customer_id")
                })?;
            let (key, param) = match &card {
                super::payments::CardRef::CardId(id) => (CardKey::Id(id), "card_id"),
                super::payments::CardRef::PaymentMethodId(pm) => {
                    (CardKey::PaymentMethod(pm), "payment_method_id")
                }
            };
            let card = db::cards::find_live(conn, &customer.id, key)?.ok_or_else(|| {
                Error::not_found("no such card for this customer").with_param(param)
            })?;
            if !super::stripe_keys::card_chargeable(&card, &context) {
                return Err(card_unavailable().with_param(param));
            }
            Ok((customer, card))
        })
        .await
}

/// The customer's live saved cards, newest first.
pub async fn list(
    services: &Services,
    external_account_id: String,
    external_customer_id: String,
) -> Result<Vec<CardView>, Error> {
    let (account, found) = services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let Some(customer) = super::customers::find(conn, &account.id, &external_customer_id)?
            else {
                return Ok((account, None));
            };
            let rows = db::cards::list_live(conn, &customer.id)?;
            Ok::<_, Error>((account, Some((customer, rows))))
        })
        .await?;
    let Some((customer, rows)) = found else {
        return Ok(Vec::new());
    };
    let context = services.stripe_context(&account)?;
    Ok(rows
        .into_iter()
        .map(|card| CardView::new(card, customer.clone(), &context))
        .collect())
}

/// Detaches the card at Stripe, then marks it deleted; a deleted card cannot be charged. Deleting
/// it again returns the deleted card.
pub async fn delete(
    services: &Services,
    external_account_id: String,
    card_id: String,
) -> Result<CardView, Error> {
    let (account, view) = services
        .db
        .run(move |conn| {
            let account = super::accounts::require(conn, &external_account_id)?;
            let card = db::cards::find_of_account(conn, &account.id, &card_id)?
                .ok_or_else(|| Error::not_found("no such card"))?;
            let customer = super::customers::by_id(conn, &card.customer_id)?;
            // Returned only once deleted, so never chargeable.
            Ok::<_, Error>((
                account,
                CardView {
                    card,
                    customer,
                    chargeable: false,
                },
            ))
        })
        .await?;
    if view.card.deleted {
        return Ok(view);
    }
    let stripe_account = services.stripe_account(&account)?;
    let pm = view.card.stripe_payment_method_id.clone();
    match services
        .stripe
        .detach_payment_method(&stripe_account, &pm, &format!("detach:{pm}"))
        .await
    {
        Ok(_) => {}
        // Already detached at Stripe (or gone): the card is unusable either way.
        Err(e) if e.status() == Some(404) || e.code() == Some("payment_method_not_attached") => {
            log::info!("card {} was already detached at Stripe", view.card.id);
        }
        Err(e) => return Err(e.into()),
    }
    let (id, customer) = (view.card.id.clone(), view.customer.clone());
    let card = services
        .db
        .run(move |conn| {
            db::write_transaction(conn, |conn| {
                db::cards::mark_deleted(conn, &id)?;
                let card = db::cards::by_id(conn, &id)?;
                // Once, whether this or Stripe's payment_method.detached webhook records it first.
                super::events::emit_card(conn, &card, Some(&customer), "card.deleted")?;
                Ok::<_, Error>(card)
            })
        })
        .await?;
    Ok(CardView {
        card,
        customer: view.customer,
        chargeable: false,
    })
}
