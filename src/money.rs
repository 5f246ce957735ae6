//! Money: currencies with Stripe's exponents and minimums, and exact decimal parsing.
//!
//! Amounts enter as decimals in major units (`"12.99"`, JSON `12.99`), are parsed exactly (never
//! through `f64`) and become integer minor units in the currency's Stripe exponent (USD 2, JPY 0,
//! KWD 3). Amounts leave as decimal strings again.
//!
//! A count of minor units is a [`MinorUnits`]: never negative, added and subtracted only by checked
//! operations, stored as BIGINT. Where an amount travels with its currency it is a [`Money`].

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{BigInt, Text};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Stripe's maximum amount for a single charge, in minor units (eight digits).
pub const MAX_AMOUNT: MinorUnits = MinorUnits(99_999_999);

/// A non-negative count of a currency's minor units (cents, yen, fils). Made only from a value
/// checked not to be negative ([`MinorUnits::new`], a parsed [`Money`], a stored row); sums and
/// differences are checked, so an amount can neither overflow nor go below zero. Stored as BIGINT;
/// a negative stored value fails to load.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    AsExpression,
    FromSqlRow,
    Serialize,
    Deserialize,
)]
#[diesel(sql_type = BigInt)]
#[serde(try_from = "i64", into = "i64")]
pub struct MinorUnits(i64);

/// A count of minor units below zero (from Stripe, a row or arithmetic on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("negative amount {0} (minor units)")]
pub struct NegativeAmount(pub i64);

impl MinorUnits {
    pub const ZERO: MinorUnits = MinorUnits(0);

    /// The count, refused when negative.
    pub const fn new(minor: i64) -> Result<MinorUnits, NegativeAmount> {
        if minor < 0 {
            Err(NegativeAmount(minor))
        } else {
            Ok(MinorUnits(minor))
        }
    }

    /// The count as an integer (for Stripe's requests and keys).
    pub const fn get(self) -> i64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// The sum; `None` on overflow.
    pub fn checked_add(self, other: MinorUnits) -> Option<MinorUnits> {
        self.0.checked_add(other.0).map(MinorUnits)
    }

    /// `times` this amount; `None` on overflow or a negative factor.
    pub fn checked_mul(self, times: i64) -> Option<MinorUnits> {
        self.0
            .checked_mul(times)
            .and_then(|minor| MinorUnits::new(minor).ok())
    }

    /// The difference; `None` when `other` is larger (the result would be negative).
    pub fn checked_sub(self, other: MinorUnits) -> Option<MinorUnits> {
        (other.0 <= self.0).then(|| MinorUnits(self.0 - other.0))
    }

    /// The difference, or zero when `other` is larger.
    pub fn saturating_sub(self, other: MinorUnits) -> MinorUnits {
        self.checked_sub(other).unwrap_or(MinorUnits::ZERO)
    }

    /// The sum of `amounts`; `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = MinorUnits>) -> Option<MinorUnits> {
        amounts
            .into_iter()
            .try_fold(MinorUnits::ZERO, MinorUnits::checked_add)
    }
}

impl TryFrom<i64> for MinorUnits {
    type Error = NegativeAmount;

    fn try_from(minor: i64) -> Result<MinorUnits, NegativeAmount> {
        MinorUnits::new(minor)
    }
}

impl From<MinorUnits> for i64 {
    fn from(minor: MinorUnits) -> i64 {
        minor.0
    }
}

impl fmt::Display for MinorUnits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<DB> ToSql<BigInt, DB> for MinorUnits
where
    DB: Backend,
    i64: ToSql<BigInt, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB> FromSql<BigInt, DB> for MinorUnits
where
    DB: Backend,
    i64: FromSql<BigInt, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        MinorUnits::new(i64::from_sql(bytes)?).map_err(|e| e.to_string().into())
    }
}

#[derive(Debug, PartialEq, Eq)]
struct CurrencyInfo {
    /// Lower-case ISO 4217 code, as Stripe wants it.
    code: &'static str,
    /// Stripe's exponent: minor units per major unit are 10^exponent.
    exponent: u32,
    /// Decimals a charge amount may carry (less than `exponent` where Stripe requires trailing
    /// zeros: ISK whole krónur, three-decimal currencies rounded to the hundredth).
    decimals: u32,
    /// Stripe's minimum charge, in minor units.
    minimum: i64,
}

const fn c(code: &'static str, exponent: u32, decimals: u32, minimum: i64) -> CurrencyInfo {
    CurrencyInfo {
        code,
        exponent,
        decimals,
        minimum,
    }
}

/// The currencies we accept. Minimums are Stripe's published minimum charge amounts; where Stripe
/// publishes none, the local equivalent of USD 0.50 rounded up.
static CURRENCIES: &[CurrencyInfo] = &[
    c("aed", 2, 2, 200),
    c("aud", 2, 2, 50),
    c("bgn", 2, 2, 100),
    c("bhd", 3, 2, 190),
    c("brl", 2, 2, 50),
    c("cad", 2, 2, 50),
    c("chf", 2, 2, 50),
    c("clp", 0, 0, 500),
    c("czk", 2, 2, 1500),
    c("dkk", 2, 2, 250),
    c("eur", 2, 2, 50),
    c("gbp", 2, 2, 30),
    c("hkd", 2, 2, 400),
    c("huf", 2, 2, 17500),
    c("inr", 2, 2, 50),
    c("isk", 2, 0, 7000),
    c("jod", 3, 2, 360),
    c("jpy", 0, 0, 50),
    c("krw", 0, 0, 700),
    c("kwd", 3, 2, 160),
    c("mxn", 2, 2, 1000),
    c("myr", 2, 2, 200),
    c("nok", 2, 2, 300),
    c("nzd", 2, 2, 50),
    c("omr", 3, 2, 200),
    c("pln", 2, 2, 200),
    c("ron", 2, 2, 200),
    c("sek", 2, 2, 300),
    c("sgd", 2, 2, 50),
    c("thb", 2, 2, 1000),
    c("tnd", 3, 2, 1600),
    c("ugx", 2, 0, 190000),
    c("usd", 2, 2, 50),
    c("vnd", 0, 0, 13000),
];

/// A supported currency. Cheap to copy; compares by code. Stored as its lower-case code (TEXT);
/// a stored code we do not support fails to load.
#[derive(Clone, Copy, PartialEq, Eq, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub struct Currency(&'static CurrencyInfo);

impl Currency {
    /// Looks a currency up by its ISO code, in any case.
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        CURRENCIES
            .iter()
            .find(|info| info.code.eq_ignore_ascii_case(code))
            .map(Currency)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_string()))
    }

    pub fn code(self) -> &'static str {
        self.0.code
    }

    /// Stripe's exponent for this currency.
    pub fn exponent(self) -> u32 {
        self.0.exponent
    }

    /// Stripe's minimum charge.
    pub fn minimum_charge(self) -> Money {
        Money::from_minor(MinorUnits(self.0.minimum), self)
    }

    /// Whether `minor` is a valid Stripe amount for this currency (its trailing digits are zero
    /// where Stripe requires it).
    pub fn allows_minor(self, minor: MinorUnits) -> bool {
        minor.0 % 10_i64.pow(self.0.exponent - self.0.decimals) == 0
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.code)
    }
}

impl<DB> ToSql<Text, DB> for Currency
where
    DB: Backend,
    str: ToSql<Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.code.to_sql(out)
    }
}

impl<DB> FromSql<Text, DB> for Currency
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let code = String::from_sql(bytes)?;
        Currency::parse(&code).map_err(|e| e.to_string().into())
    }
}

/// An exact amount: integer minor units in a currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money {
    pub minor: MinorUnits,
    pub currency: Currency,
}

impl Money {
    /// An amount already in minor units (from our database or from Stripe).
    pub fn from_minor(minor: MinorUnits, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Parses a positive decimal in major units exactly: digits, optionally a point and more
    /// digits. No sign, exponent, spaces or separators; at most the currency's decimals (trailing
    /// zeros beyond them are fine: `10.00` JPY is 10); at most Stripe's maximum amount.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        check_decimal(text)?;
        let (int, frac) = text.split_once('.').unwrap_or((text, ""));
        let significant = frac.trim_end_matches('0');
        if significant.len() as u32 > currency.0.decimals {
            return Err(MoneyError::TooPrecise {
                decimals: currency.0.decimals,
            });
        }
        let int = int.trim_start_matches('0');
        if int.len() > 12 {
            return Err(MoneyError::TooLarge);
        }
        let exponent = currency.exponent() as usize;
        let padded = format!("{int}{significant:0<exponent$}");
        let minor: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| MoneyError::TooLarge)?
        };
        if minor <= 0 {
            return Err(MoneyError::NotPositive);
        }
        let minor = MinorUnits(minor);
        if minor > MAX_AMOUNT {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money { minor, currency })
    }

    /// Like [`Money::parse`], and also at least Stripe's minimum charge for the currency.
    pub fn parse_charge(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let money = Money::parse(text, currency)?;
        let minimum = currency.minimum_charge();
        if money.minor < minimum.minor {
            return Err(MoneyError::TooSmall {
                minimum: minimum.to_decimal_string(),
            });
        }
        Ok(money)
    }

    /// The amount in major units with the currency's decimals: `"12.99"`, `"1299"` (JPY),
    /// `"1.250"` (KWD).
    pub fn to_decimal_string(&self) -> String {
        Decimal::new(self.minor.0, self.currency.exponent()).to_string()
    }
}

/// A signed sum of minor units (a net) in major units with the currency's decimals: `"-1.50"`.
pub fn decimal_string(minor: i64, currency: Currency) -> String {
    Decimal::new(minor, currency.exponent()).to_string()
}

/// Checks that `text` is a plain positive decimal (digits, optionally a point and more digits),
/// before its currency is known.
pub fn check_decimal(text: &str) -> Result<(), MoneyError> {
    if text.starts_with('-') {
        return Err(MoneyError::NotPositive);
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (text.contains('.') && !digits(frac)) {
        return Err(MoneyError::NotADecimal);
    }
    if text.bytes().all(|b| b == b'0' || b == b'.') {
        return Err(MoneyError::NotPositive);
    }
    Ok(())
}

/// Why an amount or currency was refused. The message is safe to show to API callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error(
        "must be a decimal number in major units, like 12.99 (no exponent, sign or separators)"
    )]
    NotADecimal,
    #[error("must be greater than zero")]
    NotPositive,
    #[error("has more decimal places than the currency allows ({decimals})")]
    TooPrecise { decimals: u32 },
    #[error("is over the maximum amount Stripe accepts (99999999 minor units)")]
    TooLarge,
    #[error("is under the minimum charge for the currency ({minimum})")]
    TooSmall { minimum: String },
    #[error("unsupported currency '{0}'")]
    UnknownCurrency(String),
}

/// The exact text of a decimal that arrived as a JSON number or a JSON string. With serde_json's
/// `arbitrary_precision`, a number keeps the digits the client sent; nothing goes through `f64`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Number(n) => Ok(DecimalText(n.to_string())),
            serde_json::Value::String(s) => Ok(DecimalText(s)),
            _ => Err(serde::de::Error::custom(
                "expected a decimal amount as a JSON number or string",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn minor(text: &str, code: &str) -> Result<i64, MoneyError> {
        Money::parse(text, cur(code)).map(|m| m.minor.get())
    }

    fn units(minor: i64) -> MinorUnits {
        MinorUnits::new(minor).unwrap()
    }

    #[test]
    fn two_decimal_currencies() {
        for code in ["usd", "eur", "huf"] {
            assert_eq!(minor("12.99", code), Ok(1299));
            assert_eq!(minor("12.9", code), Ok(1290));
            assert_eq!(minor("12", code), Ok(1200));
            assert_eq!(minor("0012.990", code), Ok(1299));
            assert_eq!(
                minor("12.999", code),
                Err(MoneyError::TooPrecise { decimals: 2 })
            );
        }
    }

    #[test]
    fn zero_decimal_currencies() {
        for code in ["jpy", "krw"] {
            assert_eq!(minor("1299", code), Ok(1299));
            assert_eq!(minor("1299.00", code), Ok(1299));
            assert_eq!(
                minor("1299.5", code),
                Err(MoneyError::TooPrecise { decimals: 0 })
            );
        }
    }

    #[test]
    fn three_decimal_currencies_need_a_trailing_zero() {
        for code in ["kwd", "bhd"] {
            assert_eq!(minor("1.25", code), Ok(1250));
            assert_eq!(minor("1.250", code), Ok(1250));
            assert_eq!(
                minor("1.255", code),
                Err(MoneyError::TooPrecise { decimals: 2 })
            );
            assert!(cur(code).allows_minor(units(1250)));
            assert!(!cur(code).allows_minor(units(1255)));
        }
    }

    #[test]
    fn isk_is_whole_kronur_in_two_decimal_units() {
        assert_eq!(minor("1500", "isk"), Ok(150_000));
        assert_eq!(
            minor("1500.50", "isk"),
            Err(MoneyError::TooPrecise { decimals: 0 })
        );
        assert!(!cur("isk").allows_minor(units(150_050)));
    }

    #[test]
    fn rejects_what_is_not_a_plain_positive_decimal() {
        for bad in [
            "", "abc", "1e3", "1E3", "12,99", " 12", "12 ", "+12", ".5", "5.", "0x10",
        ] {
            assert_eq!(minor(bad, "usd"), Err(MoneyError::NotADecimal), "{bad:?}");
        }
        assert_eq!(minor("-1", "usd"), Err(MoneyError::NotPositive));
        assert_eq!(minor("0", "usd"), Err(MoneyError::NotPositive));
        assert_eq!(minor("0.00", "usd"), Err(MoneyError::NotPositive));
    }

    #[test]
    fn enforces_stripe_maximum_and_minimum() {
        assert_eq!(minor("999999.99", "usd"), Ok(MAX_AMOUNT.get()));
        assert_eq!(minor("1000000.00", "usd"), Err(MoneyError::TooLarge));
        assert_eq!(
            minor("99999999999999999999999999999999", "usd"),
            Err(MoneyError::TooLarge)
        );
        let usd = cur("usd");
        assert!(Money::parse_charge("0.50", usd).is_ok());
        assert_eq!(
            Money::parse_charge("0.49", usd),
            Err(MoneyError::TooSmall {
                minimum: "0.50".into()
            })
        );
        assert!(Money::parse_charge("49", cur("jpy")).is_err());
        assert!(Money::parse_charge("50", cur("jpy")).is_ok());
    }

    #[test]
    fn currency_lookup_is_case_insensitive_and_closed() {
        assert_eq!(cur("USD").code(), "usd");
        assert_eq!(
            Currency::parse("xyz"),
            Err(MoneyError::UnknownCurrency("xyz".into()))
        );
        assert_eq!(cur("jpy").exponent(), 0);
        assert_eq!(cur("kwd").exponent(), 3);
    }

    #[test]
    fn formats_with_the_currency_exponent() {
        assert_eq!(
            Money::from_minor(units(1299), cur("usd")).to_decimal_string(),
            "12.99"
        );
        assert_eq!(
            Money::from_minor(units(1200), cur("usd")).to_decimal_string(),
            "12.00"
        );
        assert_eq!(
            Money::from_minor(units(5), cur("usd")).to_decimal_string(),
            "0.05"
        );
        assert_eq!(
            Money::from_minor(units(1299), cur("jpy")).to_decimal_string(),
            "1299"
        );
        assert_eq!(
            Money::from_minor(units(1250), cur("kwd")).to_decimal_string(),
            "1.250"
        );
    }

    #[test]
    fn minor_units_never_go_negative_or_overflow() {
        assert_eq!(MinorUnits::new(-1), Err(NegativeAmount(-1)));
        assert_eq!(MinorUnits::try_from(0), Ok(MinorUnits::ZERO));
        assert_eq!(units(5).checked_sub(units(3)), Some(units(2)));
        assert_eq!(units(3).checked_sub(units(3)), Some(MinorUnits::ZERO));
        assert_eq!(units(3).checked_sub(units(5)), None);
        assert_eq!(units(3).saturating_sub(units(5)), MinorUnits::ZERO);
        assert_eq!(units(3).checked_add(units(5)), Some(units(8)));
        assert_eq!(units(i64::MAX).checked_add(units(1)), None);
        assert_eq!(
            MinorUnits::checked_sum([units(1), units(2), units(3)]),
            Some(units(6))
        );
        assert_eq!(MinorUnits::checked_sum([units(i64::MAX), units(1)]), None);
        assert_eq!(units(3).checked_mul(4), Some(units(12)));
        assert_eq!(units(3).checked_mul(-1), None);
        assert_eq!(units(i64::MAX).checked_mul(2), None);
        assert!(units(2) < units(10));
        assert_eq!(serde_json::to_string(&units(1299)).unwrap(), "1299");
        assert_eq!(
            serde_json::from_str::<MinorUnits>("1299").unwrap(),
            units(1299)
        );
        assert!(serde_json::from_str::<MinorUnits>("-1").is_err());
        assert_eq!(units(1299).to_string(), "1299");
    }

    #[test]
    fn decimal_text_keeps_the_digits_sent() {
        let parsed: Vec<DecimalText> =
            serde_json::from_str(r#"[12.99, "12.99", 1e3, 0.1000000000000000055511151231257827]"#)
                .unwrap();
        let texts: Vec<&str> = parsed.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(
            texts,
            [
                "12.99",
                "12.99",
                "1e+3",
                "0.1000000000000000055511151231257827"
            ]
        );
        assert!(serde_json::from_str::<DecimalText>("true").is_err());
    }

    proptest! {
        #[test]
        fn decimal_to_minor_to_decimal_round_trips(
            minor in 1i64..=MAX_AMOUNT.get(),
            code in prop::sample::select(CURRENCIES.iter().map(|c| c.code).collect::<Vec<_>>()),
        ) {
            let currency = cur(code);
            let minor = units(minor);
            prop_assume!(currency.allows_minor(minor));
            let text = Money::from_minor(minor, currency).to_decimal_string();
            prop_assert_eq!(Money::parse(&text, currency).map(|m| m.minor), Ok(minor));
        }
    }
}
