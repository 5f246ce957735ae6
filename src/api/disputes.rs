//! `GET /v1/disputes`, `GET /v1/dispute/{id}`, `POST /v1/dispute/{id}/evidence`,
//! `POST /v1/dispute/{id}/accept`: the disputes (chargebacks, inquiries) of the account's
//! payments, evidence for them (text, and files as base64 in the JSON body), and accepting the
//! loss.

use super::extract::{ApiJson, ApiQuery};
use super::payments::AccountQuery;
use crate::auth::{Caller, Scope};
use crate::db::models::Dispute;
use crate::dispute_state::DisputeStatus;
use crate::error::Error;
use crate::flows::disputes::{self, DisputeFilter, DisputeView, Evidence, EvidenceFile};
use crate::flows::Services;
use crate::money::{MinorUnits, Money};
use actix_web::{web, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The body limit of the evidence endpoint: the files' combined limit, base64-encoded, and the
/// text.
pub const EVIDENCE_BODY_LIMIT: usize = 7 * 1024 * 1024;
/// Stripe's limit on the combined size of a dispute's evidence files.
const MAX_FILES_BYTES: usize = 4_500_000;
/// Stripe's limit on a text field of evidence.
const MAX_TEXT_CHARS: usize = 20_000;

/// Stripe's text evidence fields.
pub const TEXT_FIELDS: &[&str] = &[
    "access_activity_log",
    "billing_address",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_tracking_number",
    "uncategorized_text",
];

/// Stripe's document evidence fields (a file each).
pub const FILE_FIELDS: &[&str] = &[
    "cancellation_policy",
    "customer_communication",
    "customer_signature",
    "duplicate_charge_documentation",
    "receipt",
    "refund_policy",
    "service_documentation",
    "shipping_documentation",
    "uncategorized_file",
];

/// The file types Stripe takes as dispute evidence.
const FILE_TYPES: &[&str] = &["application/pdf", "image/jpeg", "image/png"];

/// A dispute as the API shows it.
#[derive(Serialize)]
pub struct DisputeResponse {
    id: String,
    payment_id: String,
    charge_id: String,
    status: DisputeStatus,
    reason: String,
    amount: String,
    currency: String,
    amount_withdrawn: String,
    amount_reinstated: String,
    fee: String,
    evidence_due_by: Option<String>,
    submission_count: i64,
    evidence: BTreeMap<String, String>,
    external_account_id: String,
    external_transaction_id: String,
    opened_at: String,
    created_at: String,
    updated_at: String,
}

/// The short form shown in a payment's JSON (`GET /v1/payment/{id}`).
#[derive(Serialize)]
pub struct DisputeBrief {
    id: String,
    status: DisputeStatus,
    reason: String,
    amount: String,
    evidence_due_by: Option<String>,
}

impl DisputeBrief {
    pub fn of(d: &Dispute) -> DisputeBrief {
        DisputeBrief {
            id: d.stripe_dispute_id.clone(),
            status: d.status,
            reason: d.reason.clone(),
            amount: Money::from_minor(d.amount, d.currency).to_decimal_string(),
            evidence_due_by: d.evidence_due_by.map(super::timestamp),
        }
    }
}

impl DisputeResponse {
    fn of(view: DisputeView, external_account_id: &str) -> DisputeResponse {
        let d = view.dispute;
        let amount = |minor: MinorUnits| Money::from_minor(minor, d.currency).to_decimal_string();
        DisputeResponse {
            id: d.stripe_dispute_id.clone(),
            payment_id: d.stripe_payment_intent_id.clone(),
            charge_id: d.stripe_charge_id.clone(),
            status: d.status,
            reason: d.reason.clone(),
            amount: amount(d.amount),
            currency: d.currency.code().to_string(),
            amount_withdrawn: amount(d.amount_withdrawn),
            amount_reinstated: amount(d.amount_reinstated),
            fee: amount(d.fee),
            evidence_due_by: d.evidence_due_by.map(super::timestamp),
            submission_count: d.submission_count,
            evidence: serde_json::from_str(&d.evidence).unwrap_or_default(),
            external_account_id: external_account_id.to_string(),
            external_transaction_id: view.external_transaction_id,
            opened_at: super::timestamp(d.opened_at),
            created_at: super::timestamp(d.created_at),
            updated_at: super::timestamp(d.updated_at),
        }
    }
}

/// A dispute id as the API takes it.
fn dispute_id(param: &str, value: &str) -> Result<(), Error> {
    super::extract::stripe_id(param, "dp_", "dispute", value)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    external_account_id: String,
    #[serde(default)]
    status: Option<String>,
    /// A payment id (`pi_…`).
    #[serde(default)]
    payment_id: Option<String>,
    #[serde(default)]
    limit: Option<String>,
    #[serde(default)]
    starting_after: Option<String>,
}

/// `GET /v1/disputes`: newest first, by status and payment, with cursor pagination.
pub async fn list(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    let limit = super::extract::page_limit(q.limit.as_deref(), 20)?;
    let status = super::extract::status_filter(
        q.status.as_deref(),
        DisputeStatus::parse,
        DisputeStatus::ALL.iter().map(|s| s.as_str()),
    )?;
    if let Some(p) = &q.payment_id {
        super::payments::payment_id(p)?;
    }
    if let Some(cursor) = &q.starting_after {
        dispute_id("starting_after", cursor)?;
    }
    let external = account.into_string();
    let filter = DisputeFilter {
        status,
        payment: q.payment_id,
        limit,
        starting_after: q.starting_after,
    };
    let (views, has_more) = disputes::list(&services, external.clone(), filter).await?;
    let data: Vec<DisputeResponse> = views
        .into_iter()
        .map(|v| DisputeResponse::of(v, &external))
        .collect();
    Ok(super::Page::new(data, has_more, |d| Some(d.id.clone())).response())
}

/// `GET /v1/dispute/{id}`
pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(query): ApiQuery<AccountQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &query.external_account_id)?;
    let id = path.into_inner();
    dispute_id("dispute_id", &id)?;
    let external = account.into_string();
    let view = disputes::get(&services, external.clone(), id).await?;
    Ok(HttpResponse::Ok().json(DisputeResponse::of(view, &external)))
}

/// One evidence file: base64 content, its name and type.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    filename: String,
    content_type: String,
    /// The file, base64 (standard alphabet, padded).
    data: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceRequest {
    external_account_id: String,
    #[serde(default)]
    evidence: BTreeMap<String, String>,
    #[serde(default)]
    files: BTreeMap<String, FileRequest>,
    /// Submit to the cardholder's bank now (final); false or absent: staged at Stripe.
    #[serde(default)]
    submit: bool,
}

fn validate_evidence(body: EvidenceRequest) -> Result<Evidence, Error> {
    for (field, text) in &body.evidence {
        let param = format!("evidence.{field}");
        if !TEXT_FIELDS.contains(&field.as_str()) {
            return Err(Error::invalid(
                &param,
                format!(
                    "'{param}' is not a text evidence field (one of {}; documents go in 'files')",
                    TEXT_FIELDS.join(", ")
                ),
            ));
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(Error::invalid(
                &param,
                format!("'{param}' is longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
    }
    let mut files = BTreeMap::new();
    let mut total = 0usize;
    for (field, file) in body.files {
        let param = format!("files.{field}");
        if !FILE_FIELDS.contains(&field.as_str()) {
            return Err(Error::invalid(
                &param,
                format!(
                    "'{param}' is not a document evidence field (one of {})",
                    FILE_FIELDS.join(", ")
                ),
            ));
        }
        if !FILE_TYPES.contains(&file.content_type.as_str()) {
            return Err(Error::invalid(
                &format!("{param}.content_type"),
                format!(
                    "'{param}.content_type' must be one of {}",
                    FILE_TYPES.join(", ")
                ),
            ));
        }
        if file.filename.is_empty()
            || file.filename.len() > 255
            || file.filename.chars().any(|c| c.is_control())
        {
            return Err(Error::invalid(
                &format!("{param}.filename"),
                format!("'{param}.filename' must be 1 to 255 characters, no control characters"),
            ));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(file.data.as_bytes())
            .map_err(|_| {
                Error::invalid(
                    &format!("{param}.data"),
                    format!("'{param}.data' must be base64 (standard alphabet, padded)"),
                )
            })?;
        if bytes.is_empty() {
            return Err(Error::invalid(
                &format!("{param}.data"),
                format!("'{param}.data' is empty"),
            ));
        }
        total += bytes.len();
        if total > MAX_FILES_BYTES {
            return Err(Error::invalid(
                &format!("{param}.data"),
                format!("the evidence files exceed {MAX_FILES_BYTES} bytes together"),
            ));
        }
        files.insert(
            field,
            EvidenceFile {
                filename: file.filename,
                content_type: file.content_type,
                bytes,
            },
        );
    }
    if body.evidence.is_empty() && files.is_empty() && !body.submit {
        return Err(Error::invalid(
            "evidence",
            "give 'evidence' or 'files', or 'submit' what is staged",
        ));
    }
    Ok(Evidence {
        text: body.evidence,
        files,
        submit: body.submit,
    })
}

/// `POST /v1/dispute/{id}/evidence`
pub async fn evidence(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<EvidenceRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    let id = path.into_inner();
    dispute_id("dispute_id", &id)?;
    let evidence = validate_evidence(body)?;
    let external = account.into_string();
    let view = disputes::give_evidence(&services, external.clone(), id, evidence).await?;
    Ok(HttpResponse::Ok().json(DisputeResponse::of(view, &external)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    external_account_id: String,
}

/// `POST /v1/dispute/{id}/accept`: closes the dispute, accepting the loss.
pub async fn accept(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<AcceptRequest>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsWrite, &body.external_account_id)?;
    let id = path.into_inner();
    dispute_id("dispute_id", &id)?;
    let external = account.into_string();
    let view = disputes::accept(&services, external.clone(), id).await?;
    Ok(HttpResponse::Ok().json(DisputeResponse::of(view, &external)))
}
