//! `PUT/GET /v1/accounts/{external_account_id}` (scope `accounts:admin`): merchant settings.

use super::extract::{ApiJson, Patch};
use crate::auth::{Caller, Scope};
use crate::db::models::Account;
use crate::error::Error;
use crate::flows::accounts::{self, AccountChanges, Address};
use crate::flows::Services;
use crate::money::Currency;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use stripe_client::secret::Secret;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutAccount {
    #[serde(default)]
    display_name: Patch<String>,
    #[serde(default)]
    default_currency: Patch<String>,
    #[serde(default)]
    stripe_account_id: Patch<String>,
    #[serde(default)]
    stripe_secret_key: Patch<String>,
    #[serde(default)]
    webhook_url: Patch<String>,
    #[serde(default)]
    stripe_webhook_secret: Patch<String>,
    #[serde(default)]
    address: Patch<AddressRequest>,
    #[serde(default)]
    time_zone: Patch<String>,
}

/// The merchant's address, printed on receipts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    city: String,
    #[serde(default)]
    state: Option<String>,
    postal_code: String,
    country: String,
}

#[derive(Serialize)]
struct AddressResponse {
    line1: String,
    line2: Option<String>,
    city: String,
    state: Option<String>,
    postal_code: String,
    country: String,
}

impl From<Address> for AddressResponse {
    fn from(a: Address) -> Self {
        AddressResponse {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            state: a.state,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

/// ISO 3166-1 alpha-2: the officially assigned codes, and XK (Kosovo, user-assigned; Stripe
/// accepts it).
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET \
FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW \
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// The address, checked: required parts 1 to 200 printable characters (the postal code at most
/// 20), optional ones the same when given, the country an ISO 3166-1 alpha-2 code (either case).
fn validate_address(a: AddressRequest) -> Result<Address, Error> {
    let part = |name: &str, v: String, max: usize| -> Result<String, Error> {
        let param = format!("address.{name}");
        if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
            return Err(Error::invalid(
                &param,
                format!("'{param}' must be 1 to {max} printable characters"),
            ));
        }
        Ok(v)
    };
    let country = a.country.to_ascii_uppercase();
    if country.len() != 2 || !COUNTRIES.split_whitespace().any(|c| c == country) {
        return Err(Error::invalid(
            "address.country",
            "'address.country' must be an ISO 3166-1 alpha-2 country code, like US or CA",
        ));
    }
    Ok(Address {
        line1: part("line1", a.line1, 200)?,
        line2: a.line2.map(|v| part("line2", v, 200)).transpose()?,
        city: part("city", a.city, 200)?,
        state: a.state.map(|v| part("state", v, 200)).transpose()?,
        postal_code: part("postal_code", a.postal_code, 20)?,
        country,
    })
}

#[derive(Serialize)]
pub struct AccountResponse {
    external_account_id: String,
    display_name: Option<String>,
    default_currency: String,
    stripe_account_id: Option<String>,
    has_stripe_secret_key: bool,
    webhook_url: Option<String>,
    /// Only in the answer that set or changed `webhook_url`: the secret that signs our webhooks.
    #[serde(skip_serializing_if = "Option::is_none")]
    webhook_secret: Option<String>,
    has_stripe_webhook_secret: bool,
    address: Option<AddressResponse>,
    /// The IANA time zone the merchant's days are cut in (`GET /v1/reports/totals`).
    time_zone: String,
    created_at: String,
    updated_at: String,
}

impl From<Account> for AccountResponse {
    fn from(a: Account) -> Self {
        let address = Address::of(&a).map(AddressResponse::from);
        AccountResponse {
            address,
            external_account_id: a.external_account_id,
            display_name: a.display_name,
            default_currency: a.default_currency.code().to_string(),
            stripe_account_id: a.stripe_account_id,
            has_stripe_secret_key: a.stripe_secret_key_enc.is_some(),
            webhook_url: a.webhook_url,
            webhook_secret: None,
            has_stripe_webhook_secret: a.stripe_webhook_secret_enc.is_some(),
            time_zone: a.time_zone,
            created_at: super::timestamp(a.created_at),
            updated_at: super::timestamp(a.updated_at),
        }
    }
}

pub async fn put(
    state: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
    ApiJson(body): ApiJson<PutAccount>,
) -> Result<HttpResponse, Error> {
    let external_account_id = path.into_inner();
    let account = caller.for_account(Scope::AccountsAdmin, &external_account_id)?;
    let changes = validate(body, state.simulator)?;
    let upserted =
        accounts::upsert(&state.db, &state.secrets, account.into_string(), changes).await?;
    let mut response = if upserted.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    let mut body = AccountResponse::from(upserted.account);
    body.webhook_secret = upserted.new_webhook_secret.map(|s| s.expose().clone());
    Ok(response.json(body))
}

pub async fn get(
    state: web::Data<Services>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let external_account_id = path.into_inner();
    let account = caller.for_account(Scope::AccountsAdmin, &external_account_id)?;
    let account = accounts::get(&state.db, account.into_string()).await?;
    Ok(HttpResponse::Ok().json(AccountResponse::from(account)))
}

fn validate(body: PutAccount, simulator: bool) -> Result<AccountChanges, Error> {
    fn patch<T>(
        p: Patch<String>,
        check: impl FnOnce(String) -> Result<T, Error>,
    ) -> Result<Option<Option<T>>, Error> {
        match p {
            Patch::Absent => Ok(None),
            Patch::Null => Ok(Some(None)),
            Patch::Value(v) => check(v).map(|v| Some(Some(v))),
        }
    }
    let display_name = patch(body.display_name, |v| {
        if v.trim().is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
            return Err(Error::invalid(
                "display_name",
                "'display_name' must be 1 to 200 printable characters",
            ));
        }
        Ok(v)
    })?;
    let default_currency = match body.default_currency {
        Patch::Absent => None,
        Patch::Null => {
            return Err(Error::invalid(
                "default_currency",
                "'default_currency' cannot be null",
            ))
        }
        Patch::Value(v) => Some(
            Currency::parse(&v).map_err(|e| Error::invalid("default_currency", e.to_string()))?,
        ),
    };
    let stripe_account_id = patch(body.stripe_account_id, |v| {
        let ok = v.strip_prefix("acct_").is_some_and(|rest| {
            !rest.is_empty() && rest.len() <= 64 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !ok {
            return Err(Error::invalid(
                "stripe_account_id",
                "'stripe_account_id' must look like acct_…",
            ));
        }
        Ok(v)
    })?;
    let stripe_secret_key = patch(body.stripe_secret_key, |v| {
        let ok = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"]
            .iter()
            .any(|p| {
                v.strip_prefix(p).is_some_and(|rest| {
                    !rest.is_empty()
                        && rest.len() <= 255
                        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                })
            });
        if !ok {
            return Err(Error::invalid(
                "stripe_secret_key",
                "'stripe_secret_key' must be a Stripe secret or restricted key (sk_… or rk_…)",
            ));
        }
        if simulator && v.contains("_live_") {
            return Err(Error::invalid(
                "stripe_secret_key",
                "live keys cannot be used while the server runs against the Stripe simulator",
            ));
        }
        Ok(Secret::new(v))
    })?;
    let webhook_url = patch(body.webhook_url, |v| {
        // The URL parser drops tabs and newlines silently; what is stored is what was sent.
        if v.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(Error::invalid(
                "webhook_url",
                "'webhook_url' must not contain spaces or control characters",
            ));
        }
        let url = url::Url::parse(&v)
            .map_err(|_| Error::invalid("webhook_url", "'webhook_url' must be an absolute URL"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" if url.host().is_some() => {}
            "http" if loopback => {}
            _ => {
                return Err(Error::invalid(
                    "webhook_url",
                    "'webhook_url' must use https (http only for loopback addresses)",
                ))
            }
        }
        if !url.username().is_empty() || url.password().is_some() || v.len() > 2048 {
            return Err(Error::invalid(
                "webhook_url",
                "'webhook_url' must not carry credentials and be at most 2048 characters",
            ));
        }
        Ok(v)
    })?;
    let stripe_webhook_secret = patch(body.stripe_webhook_secret, |v| {
        let ok = v.strip_prefix("whsec_").is_some_and(|rest| {
            !rest.is_empty() && rest.len() <= 255 && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !ok {
            return Err(Error::invalid(
                "stripe_webhook_secret",
                "'stripe_webhook_secret' must be a Stripe endpoint secret (whsec_…)",
            ));
        }
        Ok(Secret::new(v))
    })?;
    let address = match body.address {
        Patch::Absent => None,
        Patch::Null => Some(None),
        Patch::Value(a) => Some(Some(validate_address(a)?)),
    };
    let time_zone = match body.time_zone {
        Patch::Absent => None,
        Patch::Null => {
            return Err(Error::invalid(
                "time_zone",
                "'time_zone' cannot be null (UTC is \"UTC\")",
            ))
        }
        Patch::Value(v) => Some(crate::flows::reports::time_zone("time_zone", &v)?),
    };
    Ok(AccountChanges {
        address,
        stripe_webhook_secret,
        time_zone,
        display_name,
        default_currency,
        stripe_account_id,
        stripe_secret_key,
        webhook_url,
    })
}
