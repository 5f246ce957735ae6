//! Terminal Configurations (`/v1/terminal/configurations`): what readers at a location show and
//! do; here, on-reader tipping per currency (`tipping[<currency>][percentages|fixed_amounts|
//! smart_tip_threshold]`). A location uses one through its `configuration_overrides`
//! ([`UpdateLocation`](super::terminal::UpdateLocation)).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::types::HasId;

/// One currency's tipping options (amounts in minor units).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CurrencyTipping {
    #[serde(default)]
    pub percentages: Option<Vec<i64>>,
    #[serde(default)]
    pub fixed_amounts: Option<Vec<i64>>,
    /// Below it the reader offers the fixed amounts, at or above it the percentages.
    #[serde(default)]
    pub smart_tip_threshold: Option<i64>,
}

/// A Terminal Configuration (the settings this client uses: its name and tipping).
#[derive(Debug, Clone, Deserialize)]
pub struct TerminalConfiguration {
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub is_account_default: Option<bool>,
    /// By lower-case currency code; absent when none is set.
    #[serde(default)]
    pub tipping: Option<BTreeMap<String, CurrencyTipping>>,
    /// The BBPOS WisePOS E's settings: its splash screen.
    #[serde(default)]
    pub bbpos_wisepos_e: Option<DeviceSplashscreen>,
    #[serde(default)]
    pub livemode: bool,
}

/// A reader type's settings of a configuration: the splash screen (a File id, or the File when
/// expanded).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeviceSplashscreen {
    #[serde(default)]
    pub splashscreen: Option<super::types::Expandable<super::files::File>>,
}

impl HasId for TerminalConfiguration {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `{"id", "deleted": true}`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeletedConfiguration {
    pub id: String,
    #[serde(default)]
    pub deleted: bool,
}

/// Create or update a configuration. `tipping: Some(map)` replaces the configuration's tipping
/// with `map` (an empty map unsets it, `tipping=`); `None` leaves it alone.
#[derive(Debug, Clone, Default)]
pub struct ConfigurationParams<'a> {
    pub name: Option<&'a str>,
    pub tipping: Option<&'a BTreeMap<String, CurrencyTipping>>,
    /// `bbpos_wisepos_e[splashscreen]`: a File of purpose `terminal_reader_splashscreen`;
    /// `Some("")` unsets it.
    pub wisepos_e_splashscreen: Option<&'a str>,
}

impl ConfigurationParams<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("name", self.name);
        if let Some(file) = self.wisepos_e_splashscreen {
            f.key("bbpos_wisepos_e").field("splashscreen").value(file);
        }
        match self.tipping {
            None => {}
            Some(map) if map.is_empty() => f.push("tipping", ""),
            Some(map) => {
                for (currency, t) in map {
                    for (i, p) in t.percentages.iter().flatten().enumerate() {
                        f.key("tipping")
                            .field(currency)
                            .field("percentages")
                            .index(i)
                            .value(*p);
                    }
                    for (i, a) in t.fixed_amounts.iter().flatten().enumerate() {
                        f.key("tipping")
                            .field(currency)
                            .field("fixed_amounts")
                            .index(i)
                            .value(*a);
                    }
                    if let Some(threshold) = t.smart_tip_threshold {
                        f.key("tipping")
                            .field(currency)
                            .field("smart_tip_threshold")
                            .value(threshold);
                    }
                }
            }
        }
        f
    }
}

const PATH: &str = "/v1/terminal/configurations";

impl StripeClient {
    pub async fn create_terminal_configuration(
        &self,
        account: &StripeAccount,
        params: &ConfigurationParams<'_>,
        idempotency_key: &str,
    ) -> Result<TerminalConfiguration, StripeError> {
        self.post(account, PATH, params.encode(), idempotency_key)
            .await
    }

    pub async fn retrieve_terminal_configuration(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<TerminalConfiguration, StripeError> {
        self.get(account, &id_path(PATH, id, "")?, Form::new())
            .await
    }

    pub async fn update_terminal_configuration(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &ConfigurationParams<'_>,
        idempotency_key: &str,
    ) -> Result<TerminalConfiguration, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    /// Deletes a configuration; locations that used it go back to the account's settings.
    pub async fn delete_terminal_configuration(
        &self,
        account: &StripeAccount,
        id: &str,
    ) -> Result<DeletedConfiguration, StripeError> {
        self.delete(account, &id_path(PATH, id, "")?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tipping_is_encoded_per_currency_and_can_be_unset() {
        let mut map = BTreeMap::new();
        map.insert(
            "usd".to_string(),
            CurrencyTipping {
                percentages: Some(vec![15, 20]),
                fixed_amounts: Some(vec![100]),
                smart_tip_threshold: Some(1000),
            },
        );
        let params = ConfigurationParams {
            name: Some("Bar"),
            tipping: Some(&map),
            wisepos_e_splashscreen: None,
        };
        assert_eq!(
            params.encode().as_str(),
            "name=Bar&tipping[usd][percentages][0]=15&tipping[usd][percentages][1]=20\
             &tipping[usd][fixed_amounts][0]=100&tipping[usd][smart_tip_threshold]=1000"
        );
        let empty = BTreeMap::new();
        let unset = ConfigurationParams {
            tipping: Some(&empty),
            ..Default::default()
        };
        assert_eq!(unset.encode().as_str(), "tipping=");
    }

    #[test]
    fn decodes_a_configuration() {
        let c: TerminalConfiguration = serde_json::from_str(
            r#"{"id":"tmc_1","object":"terminal.configuration","is_account_default":false,
                "livemode":false,"name":null,
                "tipping":{"usd":{"fixed_amounts":null,"percentages":[15,20]}}}"#,
        )
        .unwrap();
        assert_eq!(c.tipping.unwrap()["usd"].percentages, Some(vec![15, 20]));
    }
}
