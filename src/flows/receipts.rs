//! Receipts: what a card-present (or Interac) payment's receipt prints, gathered on demand.
//!
//! Stripe is the source of the card and EMV data: the PaymentIntent is read with its latest
//! charge expanded (brand, last4, funding, read method, cardholder name, the `receipt` EMV
//! fields, `receipt_url`, and the tip in `amount_details`), so nothing is copied into our tables
//! and a receipt printed again later shows what Stripe holds then. The merchant's name and
//! address come from the account, the line items and tax from the intent request
//! (`payment_line_items`), the refunds so far from our refunds table. A payment without a successful
//! card-present charge (not yet authorised, declined, or a saved card charged online) has no
//! receipt: 409 `receipt_unavailable`.

use super::payments;
use super::Services;
use crate::db;
use crate::db::models::{PaymentLineItem, Refund};
use crate::error::Error;
use crate::flows::accounts::Address;
use crate::money::{Currency, MinorUnits};
use chrono::NaiveDateTime;
use stripe_client::{CardPresentDetails, ChargeStatus};

/// One receipt, in the payment's currency; amounts are exact minor units.
pub struct Receipt {
    pub payment_id: String,
    pub external_account_id: String,
    pub external_transaction_id: String,
    /// The account's display name (the receipt's merchant name), when it has one.
    pub merchant_name: Option<String>,
    /// The account's address, when it has one.
    pub merchant_address: Option<Address>,
    /// What the sale was made of, when the intent said (unit amounts in `currency`).
    pub line_items: Vec<PaymentLineItem>,
    /// The tax of the line items (set exactly when there are lines).
    pub tax: Option<MinorUnits>,
    /// The payment's description as the merchant gave it.
    pub description: Option<String>,
    /// The intent's status at Stripe now.
    pub status: String,
    pub currency: Currency,
    /// The amount charged, tip included.
    pub amount: MinorUnits,
    /// The tip Stripe reports as part of `amount`.
    pub tip: Option<MinorUnits>,
    pub amount_captured: MinorUnits,
    /// The refunds that neither failed nor were canceled, summed.
    pub amount_refunded: MinorUnits,
    /// Every refund recorded for the payment, oldest first.
    pub refunds: Vec<Refund>,
    /// When the card was authorised (the charge's creation).
    pub authorized_at: NaiveDateTime,
    /// `card_present` or `interac_present`.
    pub payment_method_type: String,
    pub card: CardPresentDetails,
    pub receipt_url: Option<String>,
}

/// The receipt of the account's payment `payment_id` (404 for another account's, as everywhere).
pub async fn receipt(
    services: &Services,
    external_account_id: String,
    payment_id: String,
) -> Result<Receipt, Error> {
    let (account, payment) = payments::load(services, external_account_id, payment_id).await?;
    let unavailable = |status: &str| {
        let mut e = Error::conflict(
            "receipt_unavailable",
            format!(
                "the payment has no successful card-present charge (status '{status}'): a receipt exists once a card is authorised at a reader"
            ),
        );
        e.payment_status = Some(status.to_string());
        e
    };
    let Some(intent_id) = payment.stripe_payment_intent_id.clone() else {
        return Err(unavailable(payment.status.as_str()));
    };
    let intent = services
        .stripe
        .retrieve_payment_intent(
            &services.stripe_account(&account)?,
            &intent_id,
            &["latest_charge"],
        )
        .await
        .map_err(|e| Error::from_stripe_input(e, None, "payment_id"))?;
    let tip = intent.tip();
    let Some(charge) = intent
        .latest_charge
        .and_then(|c| c.into_object())
        .filter(|c| c.status == ChargeStatus::Succeeded)
    else {
        return Err(unavailable(intent.status.as_str()));
    };
    let Some(details) = charge.payment_method_details.as_ref() else {
        return Err(unavailable(intent.status.as_str()));
    };
    let payment_method_type = details.details_type.clone();
    let Some(card) = charge.card_present().cloned() else {
        return Err(unavailable(intent.status.as_str()));
    };
    let minor = |field: &str, v: i64| {
        MinorUnits::try_from(v).map_err(|_| {
            Error::internal(format!("Stripe's {field} of {intent_id} is negative: {v}"))
        })
    };
    let row = payment.clone();
    let (refunds, line_items) = services
        .db
        .run(move |conn| {
            let refunds = db::refunds::of_payment(conn, &row.id)?;
            Ok::<_, Error>((refunds, payments::line_items_of(conn, &row)?))
        })
        .await?;
    let amount_refunded = MinorUnits::checked_sum(
        refunds
            .iter()
            .filter(|r| !matches!(r.status.as_str(), "failed" | "canceled"))
            .map(|r| r.amount),
    )
    .ok_or_else(|| Error::internal(format!("the refunds of {intent_id} overflow")))?;
    let authorized_at = chrono::DateTime::from_timestamp(charge.created, 0)
        .ok_or_else(|| Error::internal(format!("charge {}: bad created time", charge.id)))?
        .naive_utc();
    Ok(Receipt {
        merchant_address: Address::of(&account),
        payment_id: intent_id.clone(),
        external_account_id: account.external_account_id,
        external_transaction_id: payment.external_transaction_id,
        merchant_name: account.display_name.clone(),
        line_items,
        tax: payment.tax,
        description: payment.description,
        status: intent.status.as_str().to_string(),
        currency: payment.currency,
        amount: minor("amount", charge.amount)?,
        tip: tip.map(|t| minor("tip", t)).transpose()?,
        amount_captured: minor("amount_captured", charge.amount_captured)?,
        amount_refunded,
        refunds,
        authorized_at,
        payment_method_type,
        card,
        receipt_url: charge.receipt_url,
    })
}
