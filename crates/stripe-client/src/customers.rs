//! Customers: create, retrieve, update, search (by metadata: one Stripe customer per merchant
//! account and external customer id).

use serde::Deserialize;

use super::client::{id_path, StripeAccount, StripeClient};
use super::error::StripeError;
use super::form::Form;
use super::types::{null_default, HasId, Metadata, SearchParams, SearchResult};

/// A Customer. A deleted customer (`{"id", "deleted": true}`, as an expanded field may show it)
/// decodes too, with `deleted` set.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub deleted: bool,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
}

impl HasId for Customer {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `POST /v1/customers`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreateCustomer<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub description: Option<&'a str>,
    pub metadata: Option<&'a Metadata>,
    pub expand: &'a [&'a str],
}

impl CreateCustomer<'_> {
    fn encode(&self) -> Form {
        let mut f = Form::new();
        f.push_opt("email", self.email);
        f.push_opt("name", self.name);
        f.push_opt("phone", self.phone);
        f.push_opt("description", self.description);
        f.push_map_opt("metadata", self.metadata);
        f.push_expand(self.expand);
        f
    }
}

/// `POST /v1/customers/{id}`: only the fields set are changed; metadata is merged.
pub type UpdateCustomer<'a> = CreateCustomer<'a>;

const PATH: &str = "/v1/customers";

impl StripeClient {
    pub async fn create_customer(
        &self,
        account: &StripeAccount,
        params: &CreateCustomer<'_>,
        idempotency_key: &str,
    ) -> Result<Customer, StripeError> {
        self.post(account, PATH, params.encode(), idempotency_key)
            .await
    }

    pub async fn retrieve_customer(
        &self,
        account: &StripeAccount,
        id: &str,
        expand: &[&str],
    ) -> Result<Customer, StripeError> {
        let mut query = Form::new();
        query.push_expand(expand);
        self.get(account, &id_path(PATH, id, "")?, query).await
    }

    pub async fn update_customer(
        &self,
        account: &StripeAccount,
        id: &str,
        params: &UpdateCustomer<'_>,
        idempotency_key: &str,
    ) -> Result<Customer, StripeError> {
        self.post(
            account,
            &id_path(PATH, id, "")?,
            params.encode(),
            idempotency_key,
        )
        .await
    }

    /// `GET /v1/customers/search`, e.g. with
    /// [`metadata_query`](super::types::metadata_query)`("external_customer_id", …)`.
    pub async fn search_customers(
        &self,
        account: &StripeAccount,
        params: &SearchParams<'_>,
    ) -> Result<SearchResult<Customer>, StripeError> {
        let mut query = Form::new();
        params.encode(&mut query);
        self.get(account, "/v1/customers/search", query).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::metadata_query;

    #[test]
    fn encodes_create_and_search() {
        let mut metadata = Metadata::new();
        metadata.insert("external_customer_id".into(), "customer_12345".into());
        let params = CreateCustomer {
            name: Some("Ada"),
            metadata: Some(&metadata),
            ..Default::default()
        };
        assert_eq!(
            params.encode().as_str(),
            "name=Ada&metadata[external_customer_id]=customer_12345"
        );
        let q = metadata_query("external_customer_id", "customer_12345");
        let mut f = Form::new();
        SearchParams {
            query: &q,
            limit: Some(1),
            ..Default::default()
        }
        .encode(&mut f);
        assert_eq!(
            f.as_str(),
            "query=metadata%5B%27external_customer_id%27%5D%3A%27customer_12345%27&limit=1"
        );
    }

    #[test]
    fn decodes_a_deleted_customer() {
        let c: Customer =
            serde_json::from_str(r#"{"id":"cus_1","object":"customer","deleted":true}"#).unwrap();
        assert!(c.deleted);
        assert!(c.metadata.is_empty());
    }
}
