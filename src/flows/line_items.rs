//! What a sale was made of: the line items (and tax) a payment may carry from its intent request,
//! printed on its receipt. They are checked exactly against the payment's amount — Σ unit amount ×
//! quantity + tax = amount, in minor units — and stored with the payment's row, in the same
//! transaction, never changed afterwards. A payment with line items always has a `tax` (0 when
//! none was given): that is how a reader of the row knows there are lines to load.

use crate::db::models::PaymentLineItem;
use crate::error::Error;
use crate::money::{DecimalText, MinorUnits, Money};
use std::ops::RangeInclusive;

/// The most lines an intent may carry.
pub const MAX_LINES: usize = 100;
/// A line's quantity.
pub const QUANTITY: RangeInclusive<i64> = 1..=9999;
/// The longest description of a line, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// One line as the caller gave it (its syntax checked by the API).
#[derive(Debug, Clone)]
pub struct LineInput {
    pub description: String,
    /// The unit price, major units.
    pub amount: DecimalText,
    pub quantity: i64,
}

/// A sale's lines, exact, and its tax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sale {
    /// (description, unit amount, quantity), in the order given.
    pub lines: Vec<(String, MinorUnits, i64)>,
    pub tax: MinorUnits,
}

impl Sale {
    /// The rows of payment `payment_id`'s lines.
    pub fn rows(&self, payment_id: &str) -> Vec<PaymentLineItem> {
        self.lines
            .iter()
            .enumerate()
            .map(
                |(i, (description, unit_amount, quantity))| PaymentLineItem {
                    payment_id: payment_id.to_string(),
                    position: i as i64,
                    description: description.clone(),
                    unit_amount: *unit_amount,
                    quantity: *quantity,
                },
            )
            .collect()
    }
}

/// A decimal that may be zero (the tax; its syntax checked by [`check_syntax`]), exactly in
/// `charge`'s currency.
fn zero_or_amount(param: &str, text: &str, charge: Money) -> Result<MinorUnits, Error> {
    if text.bytes().all(|b| b == b'0' || b == b'.') {
        return Ok(MinorUnits::ZERO);
    }
    Money::parse(text, charge.currency)
        .map(|m| m.minor)
        .map_err(|e| Error::invalid(param, format!("'{param}' {e}")))
}

/// The sale the intent request describes, checked against the charge (`None` without lines). A
/// tax without lines is refused: it would have nothing to be the tax of.
pub fn check(
    lines: &[LineInput],
    tax: Option<&DecimalText>,
    charge: Money,
) -> Result<Option<Sale>, Error> {
    if lines.is_empty() {
        if tax.is_some() {
            return Err(Error::invalid(
                "tax",
                "'tax' is only taken with 'line_items' (the tax of those lines)",
            ));
        }
        return Ok(None);
    }
    let overflow = || {
        Error::invalid(
            "line_items",
            "'line_items' add up to more than Stripe accepts",
        )
    };
    let mut sum = MinorUnits::ZERO;
    let mut checked = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let param = format!("line_items[{i}].amount");
        let unit = Money::parse(&line.amount.0, charge.currency)
            .map_err(|e| Error::invalid(&param, format!("'{param}' {e}")))?
            .minor;
        sum = unit
            .checked_mul(line.quantity)
            .and_then(|amount| sum.checked_add(amount))
            .ok_or_else(overflow)?;
        checked.push((line.description.clone(), unit, line.quantity));
    }
    let tax = match tax {
        Some(t) => zero_or_amount("tax", &t.0, charge)?,
        None => MinorUnits::ZERO,
    };
    let total = sum.checked_add(tax).ok_or_else(overflow)?;
    if total != charge.minor {
        let shown = |m: MinorUnits| Money::from_minor(m, charge.currency).to_decimal_string();
        return Err(Error::invalid(
            "line_items",
            format!(
                "'line_items' (amount × quantity) plus 'tax' make {}, not the payment's amount {}",
                shown(total),
                shown(charge.minor)
            ),
        ));
    }
    Ok(Some(Sale {
        lines: checked,
        tax,
    }))
}

/// The syntax of the lines and the tax, before the currency is known: count, descriptions,
/// quantities, decimals.
pub fn check_syntax(lines: &[LineInput], tax: Option<&DecimalText>) -> Result<(), Error> {
    if lines.len() > MAX_LINES {
        return Err(Error::invalid(
            "line_items",
            format!("'line_items' takes at most {MAX_LINES} lines"),
        ));
    }
    for (i, line) in lines.iter().enumerate() {
        let param = format!("line_items[{i}].description");
        let d = &line.description;
        if d.trim().is_empty()
            || d.chars().count() > MAX_DESCRIPTION_CHARS
            || d.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                &param,
                format!("'{param}' must be 1 to {MAX_DESCRIPTION_CHARS} printable characters"),
            ));
        }
        let param = format!("line_items[{i}].amount");
        crate::money::check_decimal(&line.amount.0)
            .map_err(|e| Error::invalid(&param, format!("'{param}' {e}")))?;
        if !QUANTITY.contains(&line.quantity) {
            let param = format!("line_items[{i}].quantity");
            return Err(Error::invalid(
                &param,
                format!(
                    "'{param}' must be a whole number from {} to {}",
                    QUANTITY.start(),
                    QUANTITY.end()
                ),
            ));
        }
    }
    if let Some(t) = tax {
        let text = &t.0;
        let zero = !text.is_empty()
            && !text.starts_with('.')
            && !text.ends_with('.')
            && text.bytes().all(|b| b == b'0' || b == b'.')
            && text.matches('.').count() <= 1;
        if !zero {
            crate::money::check_decimal(text)
                .map_err(|e| Error::invalid("tax", format!("'tax' {e}")))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn line(amount: &str, quantity: i64) -> LineInput {
        LineInput {
            description: "x".into(),
            amount: DecimalText(amount.into()),
            quantity,
        }
    }

    fn usd(text: &str) -> Money {
        Money::parse(text, Currency::parse("usd").unwrap()).unwrap()
    }

    #[test]
    fn lines_and_tax_must_make_the_amount_exactly() {
        let lines = [line("4.50", 2), line("1", 1)];
        let tax = DecimalText("0.80".into());
        let sale = check(&lines, Some(&tax), usd("10.80")).unwrap().unwrap();
        assert_eq!(sale.tax.get(), 80);
        assert_eq!(sale.lines[0].1.get(), 450);
        let e = check(&lines, Some(&tax), usd("10.81")).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("line_items"));
        assert!(check(&lines, Some(&DecimalText("0".into())), usd("10.00"))
            .unwrap()
            .is_some());
        assert!(check(&lines, None, usd("10.00")).unwrap().is_some());
        let e = check(&[line("4.505", 1)], None, usd("4.51")).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("line_items[0].amount"));
        let e = check(&[], Some(&tax), usd("1.00")).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tax"));
        assert_eq!(check(&[], None, usd("1.00")).unwrap(), None);
    }

    #[test]
    fn syntax_is_checked_before_the_currency_is_known() {
        assert!(check_syntax(&[line("1", 1)], Some(&DecimalText("0.00".into()))).is_ok());
        let e = check_syntax(&[line("1", 0)], None).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("line_items[0].quantity"));
        let e = check_syntax(&[line("-1", 1)], None).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("line_items[0].amount"));
        let e = check_syntax(&[], Some(&DecimalText("-1".into()))).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tax"));
        let e = check_syntax(&[], Some(&DecimalText("0..0".into()))).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("tax"));
        let many: Vec<LineInput> = (0..=MAX_LINES).map(|_| line("1", 1)).collect();
        let e = check_syntax(&many, None).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("line_items"));
    }
}
