//! `GET /v1/payment/{payment_id}/receipt`: a card-present payment's receipt as JSON (default),
//! as plain text for an 80 mm receipt printer (`?format=text`, 42 columns) or as a printable
//! HTML page (`?format=html`, every merchant- and Stripe-supplied text escaped).
//!
//! The EMV fields are listed under Stripe's field names with the labels Stripe's "Provide
//! receipts" page prints them under, and whether that page marks them required.

use super::extract::ApiQuery;
use super::payments::payment_id;
use crate::auth::{Caller, Scope};
use crate::error::Error;
use crate::flows::receipts::{self, Receipt};
use crate::flows::Services;
use crate::money::{MinorUnits, Money};
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use stripe_client::ReceiptDetails;

/// Characters per line of an 80 mm thermal printer in its common 42-column font.
pub const TEXT_WIDTH: usize = 42;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptQuery {
    external_account_id: String,
    #[serde(default)]
    format: Option<String>,
}

enum Format {
    Json,
    Text,
    Html,
}

pub async fn get(
    services: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiQuery(query): ApiQuery<ReceiptQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &query.external_account_id)?;
    let id = path.into_inner();
    payment_id(&id)?;
    let format = match query.format.as_deref() {
        None | Some("json") => Format::Json,
        Some("text") => Format::Text,
        Some("html") => Format::Html,
        Some(_) => {
            return Err(Error::invalid(
                "format",
                "'format' must be json, text or html",
            ))
        }
    };
    let receipt = receipts::receipt(&services, account.into_string(), id).await?;
    let view = ReceiptResponse::from(&receipt);
    Ok(match format {
        Format::Json => HttpResponse::Ok().json(view),
        Format::Text => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(text(&view)),
        Format::Html => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            // Nothing runs or loads: the page is text and its own inline style.
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'",
            ))
            .body(html(&view)),
    })
}

#[derive(Serialize)]
struct Merchant {
    name: Option<String>,
    address: Option<MerchantAddress>,
}

#[derive(Serialize)]
struct MerchantAddress {
    line1: String,
    line2: Option<String>,
    city: String,
    state: Option<String>,
    postal_code: String,
    country: String,
}

impl MerchantAddress {
    /// The address as printed, line by line: street, city line, country.
    fn lines(&self) -> Vec<String> {
        let mut lines = vec![self.line1.clone()];
        lines.extend(self.line2.clone());
        let city = match &self.state {
            Some(state) => format!("{}, {state} {}", self.city, self.postal_code),
            None => format!("{} {}", self.postal_code, self.city),
        };
        lines.push(city);
        lines.push(self.country.clone());
        lines
    }
}

/// A line of what was sold.
#[derive(Serialize)]
struct ItemLine {
    description: String,
    unit_amount: String,
    quantity: i64,
    amount: String,
}

#[derive(Serialize)]
struct RefundLine {
    id: String,
    amount: String,
    status: String,
    created_at: String,
}

#[derive(Serialize)]
struct CardLine {
    payment_method_type: String,
    brand: Option<String>,
    last4: Option<String>,
    funding: Option<String>,
    read_method: Option<String>,
    cardholder_name: Option<String>,
}

/// One EMV field as a receipt prints it.
#[derive(Serialize)]
struct EmvLine {
    /// Stripe's field name in `payment_method_details.card_present.receipt`.
    field: &'static str,
    /// The name Stripe's receipt page prints it under.
    label: &'static str,
    value: String,
    /// Whether Stripe's receipt page lists it as required on EMV receipts.
    required: bool,
}

#[derive(Serialize)]
struct ReceiptResponse {
    payment_id: String,
    external_account_id: String,
    external_transaction_id: String,
    merchant: Merchant,
    description: Option<String>,
    status: String,
    currency: String,
    line_items: Vec<ItemLine>,
    tax: Option<String>,
    amount: String,
    subtotal: String,
    tip: Option<String>,
    amount_captured: String,
    amount_refunded: String,
    refunds: Vec<RefundLine>,
    authorized_at: String,
    card: CardLine,
    emv: Vec<EmvLine>,
    receipt_url: Option<String>,
}

/// The EMV fields in print order: Stripe's field, its label on Stripe's receipt page, whether
/// that page marks it required, and where the client's type has it. Account Type is "Required
/// (Optional in US)": required here, as printing it in the US too is allowed. Stripe's page does
/// not list the authorisation code and the CVM; they are printed as optional.
type EmvField = (
    &'static str,
    &'static str,
    bool,
    fn(&ReceiptDetails) -> &Option<String>,
);
const EMV_FIELDS: &[EmvField] = &[
    (
        "application_preferred_name",
        "Application name",
        true,
        |d| &d.application_preferred_name,
    ),
    ("dedicated_file_name", "AID", true, |d| {
        &d.dedicated_file_name
    }),
    ("account_type", "Account Type", true, |d| &d.account_type),
    ("authorization_code", "Authorization code", false, |d| {
        &d.authorization_code
    }),
    ("authorization_response_code", "ARC", false, |d| {
        &d.authorization_response_code
    }),
    (
        "application_cryptogram",
        "Application Cryptogram",
        false,
        |d| &d.application_cryptogram,
    ),
    ("terminal_verification_results", "TVR", false, |d| {
        &d.terminal_verification_results
    }),
    ("transaction_status_information", "TSI", false, |d| {
        &d.transaction_status_information
    }),
    ("cardholder_verification_method", "CVM", false, |d| {
        &d.cardholder_verification_method
    }),
];

impl From<&Receipt> for ReceiptResponse {
    fn from(r: &Receipt) -> ReceiptResponse {
        let money = |minor: MinorUnits| Money::from_minor(minor, r.currency).to_decimal_string();
        let subtotal = r.amount.saturating_sub(r.tip.unwrap_or_default());
        let emv = match &r.card.receipt {
            None => Vec::new(),
            Some(data) => EMV_FIELDS
                .iter()
                .filter_map(|&(field, label, required, value)| {
                    value(data).clone().map(|value| EmvLine {
                        field,
                        label,
                        value,
                        required,
                    })
                })
                .collect(),
        };
        ReceiptResponse {
            payment_id: r.payment_id.clone(),
            external_account_id: r.external_account_id.clone(),
            external_transaction_id: r.external_transaction_id.clone(),
            merchant: Merchant {
                name: r.merchant_name.clone(),
                address: r.merchant_address.clone().map(|a| MerchantAddress {
                    line1: a.line1,
                    line2: a.line2,
                    city: a.city,
                    state: a.state,
                    postal_code: a.postal_code,
                    country: a.country,
                }),
            },
            line_items: r
                .line_items
                .iter()
                .map(|l| ItemLine {
                    description: l.description.clone(),
                    unit_amount: money(l.unit_amount),
                    quantity: l.quantity,
                    // Σ of the lines is at most the amount: checked when they were recorded.
                    amount: l
                        .unit_amount
                        .checked_mul(l.quantity)
                        .map(money)
                        .unwrap_or_default(),
                })
                .collect(),
            tax: r.tax.map(money),
            description: r.description.clone(),
            status: r.status.clone(),
            currency: r.currency.code().to_string(),
            amount: money(r.amount),
            subtotal: money(subtotal),
            tip: r.tip.map(money),
            amount_captured: money(r.amount_captured),
            amount_refunded: money(r.amount_refunded),
            refunds: r
                .refunds
                .iter()
                .map(|f| RefundLine {
                    id: f.stripe_refund_id.clone(),
                    amount: money(f.amount),
                    status: f.status.clone(),
                    created_at: super::timestamp(f.created_at),
                })
                .collect(),
            authorized_at: super::timestamp(r.authorized_at),
            card: CardLine {
                payment_method_type: r.payment_method_type.clone(),
                brand: r.card.brand.clone(),
                last4: r.card.last4.clone(),
                funding: r.card.funding.clone(),
                read_method: r.card.read_method.clone(),
                cardholder_name: r.card.cardholder_name.clone(),
            },
            emv,
            receipt_url: r.receipt_url.clone(),
        }
    }
}

/// What the receipt is a record of.
fn transaction_type(status: &str) -> &str {
    match status {
        "succeeded" => "Sale",
        "requires_capture" => "Authorisation",
        "canceled" => "Authorisation voided",
        other => other,
    }
}

/// How the card was read, as a receipt says it.
fn entry_mode(read_method: &str) -> &str {
    match read_method {
        "contact_emv" => "Chip",
        "contactless_emv" => "Contactless",
        "contactless_magstripe_mode" => "Contactless (magstripe)",
        "magnetic_stripe_fallback" => "Swipe (chip fallback)",
        "magnetic_stripe_track2" => "Swipe",
        other => other,
    }
}

/// The cardholder verification statement card networks want printed, if any.
fn verification_statement(cvm: &str) -> Option<&'static str> {
    match cvm {
        "online_pin" | "offline_pin" => Some("Verified by PIN"),
        "offline_pin_and_signature" => Some("Verified by PIN and signature"),
        _ => None,
    }
}

/// The time as printed: minutes, UTC.
fn printed_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// Merchant- or Stripe-supplied text on one line: control characters become spaces.
fn flat(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `text` in lines of at most `width` characters, breaking at spaces, and inside words longer
/// than a line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in flat(text).split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let used = line.chars().count();
            let gap = usize::from(used > 0);
            if used + gap + word.len() <= width {
                if gap == 1 {
                    line.push(' ');
                }
                line.extend(word.iter());
                break;
            }
            if used > 0 {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A label on the left and its value right-aligned; on two (or more) lines when both do not fit.
fn row(out: &mut Vec<String>, label: &str, value: &str) {
    let (label, value) = (flat(label), flat(value));
    let (l, v) = (label.chars().count(), value.chars().count());
    if l + 1 + v <= TEXT_WIDTH {
        out.push(format!("{label}{}{value}", " ".repeat(TEXT_WIDTH - l - v)));
        return;
    }
    out.extend(wrap(&label, TEXT_WIDTH));
    for part in wrap(&value, TEXT_WIDTH) {
        out.push(format!("{part:>TEXT_WIDTH$}"));
    }
}

fn centred(out: &mut Vec<String>, text: &str) {
    for line in wrap(text, TEXT_WIDTH) {
        let pad = (TEXT_WIDTH - line.chars().count()) / 2;
        out.push(format!("{}{line}", " ".repeat(pad)));
    }
}

/// The receipt's rows, grouped in sections (shared by the text and the HTML forms).
struct Layout {
    header: Vec<(String, String)>,
    /// What was sold: "2 x Latte", the line's amount.
    items: Vec<(String, String)>,
    amounts: Vec<(String, String)>,
    card: Vec<(String, String)>,
    statement: Option<&'static str>,
    signature: bool,
}

fn layout(r: &ReceiptResponse) -> Layout {
    let currency = r.currency.to_uppercase();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    let mut header = vec![
        pair("Type", transaction_type(&r.status)),
        pair("Date", &printed_time(&r.authorized_at)),
        pair("Payment", &r.payment_id),
        pair("Reference", &r.external_transaction_id),
    ];
    if let Some(d) = &r.description {
        header.push(pair("Description", d));
    }
    let items = r
        .line_items
        .iter()
        .map(|l| match l.quantity {
            1 => (l.description.clone(), l.amount.clone()),
            n => (format!("{n} x {}", l.description), l.amount.clone()),
        })
        .collect();
    let mut amounts = Vec::new();
    if let Some(tax) = &r.tax {
        amounts.push(pair("Tax", tax));
    }
    if let Some(tip) = &r.tip {
        amounts.push(pair("Subtotal", &r.subtotal));
        amounts.push(pair("Tip", tip));
    }
    amounts.push(pair("Total", &format!("{currency} {}", r.amount)));
    if r.status == "succeeded" {
        amounts.push(pair("Captured", &r.amount_captured));
    }
    for f in &r.refunds {
        let label = match f.status.as_str() {
            "succeeded" => format!("Refund {}", &f.created_at[..10]),
            other => format!("Refund {} ({other})", &f.created_at[..10]),
        };
        amounts.push((label, format!("-{}", f.amount)));
    }
    if !r.refunds.is_empty() {
        amounts.push(pair("Refunded", &r.amount_refunded));
    }
    let c = &r.card;
    let mut card = Vec::new();
    let brand = c.brand.as_deref().unwrap_or("card").to_uppercase();
    let last4 = c.last4.as_deref().unwrap_or("????");
    card.push(pair("Card", &format!("{brand} **** {last4}")));
    if let Some(f) = &c.funding {
        card.push(pair("Funding", f));
    }
    if let Some(m) = &c.read_method {
        card.push(pair("Entry", entry_mode(m)));
    }
    if let Some(name) = &c.cardholder_name {
        card.push(pair("Cardholder", name));
    }
    for e in &r.emv {
        card.push(pair(e.label, &e.value));
    }
    let cvm = r
        .emv
        .iter()
        .find(|e| e.field == "cardholder_verification_method")
        .map(|e| e.value.as_str())
        .unwrap_or_default();
    Layout {
        header,
        items,
        amounts,
        card,
        statement: verification_statement(cvm),
        signature: cvm.contains("signature"),
    }
}

/// The plain-text receipt: lines of at most [`TEXT_WIDTH`] characters, amounts right-aligned.
fn text(r: &ReceiptResponse) -> String {
    let l = layout(r);
    let rule = "-".repeat(TEXT_WIDTH);
    let mut out = Vec::new();
    if let Some(name) = &r.merchant.name {
        centred(&mut out, name);
    }
    for line in r.merchant.address.iter().flat_map(MerchantAddress::lines) {
        centred(&mut out, &line);
    }
    out.push(rule.clone());
    for (k, v) in &l.header {
        row(&mut out, k, v);
    }
    out.push(rule.clone());
    if !l.items.is_empty() {
        for (k, v) in &l.items {
            row(&mut out, k, v);
        }
        out.push(rule.clone());
    }
    for (k, v) in &l.amounts {
        row(&mut out, k, v);
    }
    out.push(rule.clone());
    for (k, v) in &l.card {
        row(&mut out, k, v);
    }
    if let Some(s) = l.statement {
        out.push(String::new());
        centred(&mut out, s);
    }
    if l.signature {
        out.push(String::new());
        out.push(format!("X{}", "_".repeat(TEXT_WIDTH - 1)));
        centred(&mut out, "Cardholder signature");
    }
    out.push(rule);
    let mut body = out.join("\n");
    body.push('\n');
    body
}

/// HTML-escapes text for element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The printable HTML receipt, sized for 80 mm paper.
fn html(r: &ReceiptResponse) -> String {
    let l = layout(r);
    let rows = |pairs: &[(String, String)]| -> String {
        pairs
            .iter()
            .map(|(k, v)| {
                format!(
                    "<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n",
                    esc(k),
                    esc(v)
                )
            })
            .collect()
    };
    let name = r.merchant.name.as_deref().map(esc);
    let mut body = String::new();
    if let Some(name) = &name {
        body.push_str(&format!("<h1>{name}</h1>\n"));
    }
    if let Some(address) = &r.merchant.address {
        let lines: Vec<String> = address.lines().iter().map(|l| esc(l)).collect();
        body.push_str(&format!(
            "<p class=\"address\">{}</p>\n",
            lines.join("<br>")
        ));
    }
    body.push_str(&format!(
        "<table class=\"header\">\n{}</table>\n",
        rows(&l.header)
    ));
    if !l.items.is_empty() {
        body.push_str(&format!(
            "<table class=\"items\">\n{}</table>\n",
            rows(&l.items)
        ));
    }
    body.push_str(&format!(
        "<table class=\"amounts\">\n{}</table>\n",
        rows(&l.amounts)
    ));
    body.push_str(&format!(
        "<table class=\"card\">\n{}</table>\n",
        rows(&l.card)
    ));
    if let Some(s) = l.statement {
        body.push_str(&format!("<p class=\"statement\">{}</p>\n", esc(s)));
    }
    if l.signature {
        body.push_str(
            "<p class=\"signature\">X</p><p class=\"statement\">Cardholder signature</p>\n",
        );
    }
    if let Some(url) = r
        .receipt_url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        body.push_str(&format!(
            "<p class=\"online\"><a href=\"{}\">Receipt online</a></p>\n",
            esc(url)
        ));
    }
    let title = match &name {
        Some(n) => format!("Receipt – {n}"),
        None => "Receipt".to_string(),
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n\
@page {{ size: 80mm auto; margin: 4mm; }}\n\
body {{ font-family: monospace; width: 72mm; margin: 0 auto; font-size: 12px; }}\n\
h1 {{ font-size: 16px; text-align: center; margin: 0 0 6px; }}\n\
.address {{ text-align: center; margin: 0 0 6px; }}\n\
table {{ width: 100%; border-collapse: collapse; border-top: 1px dashed #000; margin: 4px 0; }}\n\
th {{ text-align: left; font-weight: normal; padding-right: 6px; }}\n\
td {{ text-align: right; word-break: break-all; }}\n\
.statement {{ text-align: center; }}\n\
.signature {{ border-bottom: 1px solid #000; margin-top: 24px; }}\n\
@media print {{ .online {{ display: none; }} }}\n\
</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_inside_long_words() {
        assert_eq!(wrap("a bb  ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("x\nabcdef", 4), vec!["x", "abcd", "ef"]);
        assert!(wrap("", 4).is_empty());
    }

    #[test]
    fn rows_fit_the_width() {
        let mut out = Vec::new();
        row(&mut out, "Total", "USD 14.94");
        row(&mut out, &"L".repeat(30), &"V".repeat(20));
        assert_eq!(out[0], format!("Total{}USD 14.94", " ".repeat(28)));
        assert_eq!(out[1], "L".repeat(30));
        assert_eq!(out[2], format!("{}{}", " ".repeat(22), "V".repeat(20)));
        assert!(out.iter().all(|l| l.chars().count() <= TEXT_WIDTH));
    }

    #[test]
    fn esc_escapes_markup_and_quotes() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
