//! `POST /v1/payment/refund/reader` (a refund in person, on a reader or through the tablet's
//! Terminal SDK) and `GET /v1/payment/refund/reader/{id}` (its outcome, refreshed from Stripe
//! while pending).

use super::extract::{stripe_id, ApiJson, ApiQuery};
use super::payments::{payment_id, AccountQuery, PaymentResponse};
use crate::auth::{Caller, Scope};
use crate::error::Error;
use crate::flows::reader_refunds::{self, NewReaderRefund, ReaderRefundView};
use crate::flows::Services;
use crate::money::{check_decimal, DecimalText, Money};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReaderRefundRequest {
    payment_id: String,
    external_account_id: String,
    #[serde(default)]
    amount: Option<DecimalText>,
    #[serde(default)]
    reader_id: Option<String>,
}

/// What the tablet's Terminal SDK needs for `collectRefundPaymentMethod(charge_id, amount,
/// currency)`: the amount in minor units, as the SDK takes it.
#[derive(Serialize)]
struct SdkRefund {
    charge_id: Option<String>,
    amount: i64,
    currency: String,
}

#[derive(Serialize)]
pub struct ReaderRefundResponse {
    id: String,
    object: &'static str,
    payment_id: Option<String>,
    /// `server_driven` (on `reader_id`) or `sdk` (the tablet collects the card).
    mode: &'static str,
    reader_id: Option<String>,
    status: String,
    amount: String,
    currency: String,
    stripe_refund_id: Option<String>,
    failure_code: Option<String>,
    failure_message: Option<String>,
    /// For the SDK mode only.
    sdk: Option<SdkRefund>,
    created_at: String,
    payment: PaymentResponse,
}

impl ReaderRefundResponse {
    fn from_view(view: ReaderRefundView) -> ReaderRefundResponse {
        let r = view.refund;
        let currency = view.payment.payment.currency;
        let payment_id = view.payment.payment.stripe_payment_intent_id.clone();
        let sdk = r.stripe_reader_id.is_none().then(|| SdkRefund {
            charge_id: view.charge_id.clone(),
            amount: r.amount.get(),
            currency: currency.code().to_string(),
        });
        ReaderRefundResponse {
            id: r.id,
            object: "reader_refund",
            payment_id,
            mode: if r.stripe_reader_id.is_some() {
                "server_driven"
            } else {
                "sdk"
            },
            reader_id: r.stripe_reader_id,
            status: r.status.to_string(),
            amount: Money::from_minor(r.amount, currency).to_decimal_string(),
            currency: currency.code().to_string(),
            stripe_refund_id: r.stripe_refund_id,
            failure_code: r.failure_code,
            failure_message: r.failure_message,
            sdk,
            created_at: super::timestamp(r.created_at),
            payment: PaymentResponse::from_view(view.payment, false),
        }
    }
}

/// A reader refund id as the API takes it.
fn reader_refund_id(value: &str) -> Result<(), Error> {
    stripe_id("id", "rrf_", "reader refund", value)
}

/// `POST /v1/payment/refund/reader`.
pub async fn create(
    services: web::Data<Services>,
    caller: Caller,
    request: actix_web::HttpRequest,
    ApiJson(body): ApiJson<ReaderRefundRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    payment_id(&body.payment_id)?;
    if let Some(a) = &body.amount {
        check_decimal(&a.0).map_err(|e| Error::invalid("amount", format!("'amount' {e}")))?;
    }
    if let Some(reader) = &body.reader_id {
        stripe_id("reader_id", "tmr_", "Reader", reader)?;
    }
    let view = reader_refunds::start(
        &services,
        &caller.subject,
        NewReaderRefund {
            external_account_id: account.into_string(),
            payment_id: body.payment_id,
            amount: body.amount,
            reader_id: body.reader_id,
            idempotency_key: super::extract::idempotency_key(&request)?,
        },
    )
    .await?;
    Ok(HttpResponse::Ok().json(ReaderRefundResponse::from_view(view)))
}

/// `GET /v1/payment/refund/reader/{id}`.
pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &query.external_account_id)?;
    let id = path.into_inner();
    reader_refund_id(&id)?;
    let view = reader_refunds::get(&services, account.into_string(), id).await?;
    Ok(HttpResponse::Ok().json(ReaderRefundResponse::from_view(view)))
}
