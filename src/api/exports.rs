//! `GET /v1/payments/export` (scope `payments:read`): every payment the list's filters select, as
//! one CSV streamed page by page (keyset pages of [`PAGE`] rows on the time-ordered id, like the
//! list's cursor), so an export of any size holds one page in memory at a time.
//!
//! The format: RFC 4180 (comma-separated, CRLF line ends, a cell with a comma, quote, CR or LF in
//! double quotes with quotes doubled), UTF-8, a header row of [`COLUMNS`] — a stable set, in this
//! order; new columns are only ever added at the end. Amounts are decimals in major units of the
//! row's currency. A cell that a spreadsheet would read as a formula (starting with `=`, `+`,
//! `-`, `@`, tab or CR) is prefixed with `'` and quoted (OWASP's CSV-injection advice).

use super::extract::ApiQuery;
use super::payments::ListQuery;
use crate::auth::{Caller, Scope};
use crate::error::Error;
use crate::flows::payments::{self, PaymentFilter, PaymentView};
use crate::flows::Services;
use crate::money::{decimal_string, Money};
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use serde::Deserialize;

/// The columns of the export, in order (docs/api-guide.md, "Exports").
pub const COLUMNS: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "status",
    "currency",
    "amount",
    "amount_capturable",
    "amount_captured",
    "amount_refunded",
    "net_amount",
    "capture_method",
    "payment_method_types",
    "external_transaction_id",
    "external_customer_id",
    "customer_id",
    "external_cashier_id",
    "description",
    "metadata",
];

/// Payments read per database hop (and written per chunk of the body).
pub const PAGE: i64 = 500;

/// The list's filters, without its page size and cursor.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    external_account_id: String,
    status: Option<String>,
    external_customer_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    min_amount: Option<String>,
    max_amount: Option<String>,
    currency: Option<String>,
}

/// `GET /v1/payments/export`.
pub async fn payments(
    services: web::Data<Services>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<HttpResponse, Error> {
    let account = caller.for_account(Scope::PaymentsRead, &q.external_account_id)?;
    let list = ListQuery {
        external_account_id: q.external_account_id,
        status: q.status,
        external_customer_id: q.external_customer_id,
        since: q.since,
        until: q.until,
        min_amount: q.min_amount,
        max_amount: q.max_amount,
        currency: q.currency,
        limit: None,
        starting_after: None,
    };
    let mut filter = super::payments::filter_of(&services, account.as_str(), list).await?;
    filter.limit = PAGE;
    let account = account.into_string();
    // The first page before the answer starts: an unknown account is still a JSON 404.
    let first = payments::list(&services, account.clone(), filter.clone()).await?;
    let export = Export {
        services,
        account,
        filter,
        page: Some(first),
        header: true,
        done: false,
    };
    let body = futures_util::stream::unfold(export, next_chunk);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"payments.csv\"",
        ))
        .streaming(body))
}

/// Where an export is: the page in hand (or the cursor to read the next from).
struct Export {
    services: web::Data<Services>,
    account: String,
    filter: PaymentFilter,
    page: Option<(Vec<PaymentView>, bool)>,
    header: bool,
    done: bool,
}

/// The next chunk of the body: the header (with the first page), then a page at a time.
async fn next_chunk(mut export: Export) -> Option<(Result<Bytes, Error>, Export)> {
    if export.done {
        return None;
    }
    let (views, has_more) = match export.page.take() {
        Some(page) => page,
        None => match payments::list(
            &export.services,
            export.account.clone(),
            export.filter.clone(),
        )
        .await
        {
            Ok(page) => page,
            Err(e) => {
                // The status is sent already: ending the stream with an error cuts the body.
                log::error!("payments export of {}: {e}", export.account);
                export.done = true;
                return Some((Err(e), export));
            }
        },
    };
    let mut out = String::with_capacity(views.len() * 256 + 256);
    if export.header {
        row(&mut out, COLUMNS.iter().copied());
        export.header = false;
    }
    for view in &views {
        payment_row(&mut out, view);
    }
    match (has_more, views.last()) {
        (true, Some(last)) => {
            export.filter.starting_after = last.payment.stripe_payment_intent_id.clone()
        }
        _ => export.done = true,
    }
    Some((Ok(Bytes::from(out)), export))
}

/// One payment's row, in the order of [`COLUMNS`].
fn payment_row(out: &mut String, view: &PaymentView) {
    let p = &view.payment;
    let money = |minor| Money::from_minor(minor, p.currency).to_decimal_string();
    let net = decimal_string(
        p.amount_captured.get() - p.amount_refunded.get(),
        p.currency,
    );
    let customer = view.customer.as_ref();
    let cells: [&str; 18] = [
        p.stripe_payment_intent_id.as_deref().unwrap_or_default(),
        &super::timestamp(p.created_at),
        &super::timestamp(p.updated_at),
        p.status.as_str(),
        p.currency.code(),
        &money(p.amount),
        &money(p.amount_capturable),
        &money(p.amount_captured),
        &money(p.amount_refunded),
        &net,
        &p.capture_method,
        &p.payment_method_types.0.join(" "),
        &p.external_transaction_id,
        customer.map_or("", |c| c.external_customer_id.as_str()),
        customer.map_or("", |c| c.stripe_customer_id.as_str()),
        p.external_cashier_id.as_deref().unwrap_or_default(),
        p.description.as_deref().unwrap_or_default(),
        p.metadata.as_deref().unwrap_or_default(),
    ];
    row(out, cells);
}

/// A CSV line of `cells`, CRLF-terminated.
fn row<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, value) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        cell(out, value);
    }
    out.push_str("\r\n");
}

/// One cell: quoted when RFC 4180 requires it, and defused when a spreadsheet would run it.
fn cell(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if !formula && !value.contains([',', '"', '\r', '\n']) {
        out.push_str(value);
        return;
    }
    out.push('"');
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(cells: &[&str]) -> String {
        let mut out = String::new();
        row(&mut out, cells.iter().copied());
        out
    }

    #[test]
    fn cells_are_quoted_as_rfc_4180_says() {
        assert_eq!(line(&["a", "b c", ""]), "a,b c,\r\n");
        assert_eq!(
            line(&["x,y", "say \"hi\"", "two\nlines"]),
            "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n"
        );
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(
            line(&["=1+2", "+SUM(A1)", "-3", "@cmd", "\tx", "\rx", "a=b"]),
            "\"'=1+2\",\"'+SUM(A1)\",\"'-3\",\"'@cmd\",\"'\tx\",\"'\rx\",a=b\r\n"
        );
        assert_eq!(
            line(&["=HYPERLINK(\"x\")"]),
            "\"'=HYPERLINK(\"\"x\"\")\"\r\n"
        );
    }
}
