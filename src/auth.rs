//! JWT authentication: `Authorization: Bearer <JWT>` → `Caller {subject, accounts, scopes}`.
//!
//! Tokens are HS256 (shared secret) or RS256 (public key); only the configured algorithm is
//! accepted (`alg: none` never is). Claims: `sub`, `accounts` (a list, or `"*"` for platform
//! operators), `scope` (space separated), `exp`; optional `nbf` and `iat`. A token is refused
//! (401) when expired, not yet valid (`nbf` in the future) or issued in the future (`iat`), each
//! with the same 30 s leeway for clock skew, or when its `sub` is empty.

use crate::error::ApiError;
use crate::secret::Secret;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::future::{ready, Ready};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    PaymentsRead,
    PaymentsWrite,
    CardsRead,
    CardsWrite,
    Terminal,
    AccountsAdmin,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::PaymentsRead,
        Scope::PaymentsWrite,
        Scope::CardsRead,
        Scope::CardsWrite,
        Scope::Terminal,
        Scope::AccountsAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PaymentsRead => "payments:read",
            Scope::PaymentsWrite => "payments:write",
            Scope::CardsRead => "cards:read",
            Scope::CardsWrite => "cards:write",
            Scope::Terminal => "terminal",
            Scope::AccountsAdmin => "accounts:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The accounts a token may act for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AccountsClaim {
    /// `"*"`: every account (platform operators).
    All(String),
    List(Vec<String>),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub accounts: AccountsClaim,
    #[serde(default)]
    pub scope: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not before (checked by the validation; typed here so that a non-number is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: String,
    all_accounts: bool,
    accounts: Vec<String>,
    scopes: u8,
}

impl Caller {
    /// The token's scopes as a bit set (a stable identity of what the token may do).
    pub fn scope_bits(&self) -> u8 {
        self.scopes
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        self.scopes & scope.bit() != 0
    }

    /// 403 unless the token carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "scope_missing",
                format!("this token lacks the '{}' scope", scope.as_str()),
            ))
        }
    }

    /// 403 unless the token may act for `external_account_id`.
    pub fn require_account(&self, external_account_id: &str) -> Result<(), ApiError> {
        if self.all_accounts || self.accounts.iter().any(|a| a == external_account_id) {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "account_forbidden",
                "this token may not act for that account",
            )
            .with_param("external_account_id"))
        }
    }

    /// Both checks in one call: the scope, then the account.
    pub fn authorize(&self, scope: Scope, external_account_id: &str) -> Result<(), ApiError> {
        self.require(scope)?;
        self.require_account(external_account_id)
    }
}

/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// Verifies tokens (and, with a shared secret, issues them).
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Authenticator({:?})", self.validation.algorithms)
    }
}

impl Authenticator {
    fn validation(alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation
    }

    /// HS256 with a shared secret.
    pub fn hs256(secret: &Secret<String>) -> Authenticator {
        let bytes = secret.expose().as_bytes();
        Authenticator {
            decoding: DecodingKey::from_secret(bytes),
            encoding: Some(EncodingKey::from_secret(bytes)),
            validation: Self::validation(Algorithm::HS256),
        }
    }

    /// RS256 with a PEM public key: verification only.
    pub fn rs256(public_key_pem: &[u8]) -> Result<Authenticator, String> {
        Ok(Authenticator {
            decoding: DecodingKey::from_rsa_pem(public_key_pem).map_err(|e| e.to_string())?,
            encoding: None,
            validation: Self::validation(Algorithm::RS256),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::unauthorized("token_expired", "the token has expired")
                    }
                    ErrorKind::ImmatureSignature => ApiError::unauthorized(
                        "token_not_yet_valid",
                        "the token is not valid yet (nbf)",
                    ),
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidAlgorithm
                    | ErrorKind::InvalidAlgorithmName => ApiError::unauthorized(
                        "token_invalid",
                        "the token's signature or algorithm is not accepted",
                    ),
                    _ => ApiError::unauthorized(
                        "token_invalid",
                        "the token is malformed or its claims are invalid",
                    ),
                }
            })?;
        let claims = data.claims;
        let leeway = LEEWAY_SECS as i64;
        if claims
            .iat
            .is_some_and(|iat| iat > jsonwebtoken::get_current_timestamp() as i64 + leeway)
        {
            return Err(ApiError::unauthorized(
                "token_not_yet_valid",
                "the token is issued in the future (iat)",
            ));
        }
        if claims.sub.trim().is_empty() {
            return Err(ApiError::unauthorized(
                "token_invalid",
                "the token's subject (sub) is empty",
            ));
        }
        let (all_accounts, accounts) = match claims.accounts {
            AccountsClaim::All(star) if star == "*" => (true, Vec::new()),
            AccountsClaim::All(one) => (false, vec![one]),
            AccountsClaim::List(list) => (false, list),
        };
        let scopes = claims
            .scope
            .split_whitespace()
            .filter_map(Scope::parse)
            .fold(0u8, |bits, s| bits | s.bit());
        Ok(Caller {
            subject: claims.sub,
            all_accounts,
            accounts,
            scopes,
        })
    }

    /// Issues a token (HS256 only).
    pub fn issue(
        &self,
        subject: &str,
        accounts: AccountsClaim,
        scopes: &[Scope],
        ttl_secs: i64,
    ) -> Result<String, String> {
        let key = self
            .encoding
            .as_ref()
            .ok_or("tokens can only be issued with an HS256 secret (POS_JWT_SECRET)")?;
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_string(),
            accounts,
            scope: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            exp: now + ttl_secs,
            iat: Some(now),
            nbf: None,
        };
        encode(&Header::new(Algorithm::HS256), &claims, key).map_err(|e| e.to_string())
    }
}

/// Parses a duration like `8h`, `30m`, `7d`, `3600s` or `3600` into seconds.
pub fn parse_ttl(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("invalid duration '{text}'"))?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => {
            return Err(format!(
                "invalid duration unit in '{text}' (use s, m, h or d)"
            ))
        }
    };
    if n <= 0 {
        return Err("duration must be positive".into());
    }
    n.checked_mul(factor)
        .ok_or_else(|| "duration too long".into())
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let auth = req
        .app_data::<web::Data<Authenticator>>()
        .ok_or_else(|| ApiError::internal("Authenticator missing from app data"))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::unauthorized(
                "token_missing",
                "an Authorization: Bearer token is required",
            )
        })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "token_invalid",
                "the Authorization header must be 'Bearer <token>'",
            )
        })?;
    auth.verify(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing() {
        assert_eq!(parse_ttl("8h"), Ok(8 * 3600));
        assert_eq!(parse_ttl("30m"), Ok(1800));
        assert_eq!(parse_ttl("7d"), Ok(7 * 86400));
        assert_eq!(parse_ttl("90"), Ok(90));
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("8y").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn issued_tokens_verify_with_scopes_and_accounts() {
        let auth = Authenticator::hs256(&Secret::new("s3cret-for-tests-only".into()));
        let token = auth
            .issue(
                "till-1",
                AccountsClaim::List(vec!["a".into()]),
                &[Scope::PaymentsRead],
                60,
            )
            .unwrap();
        let caller = auth.verify(&token).unwrap();
        assert_eq!(caller.subject, "till-1");
        assert!(caller.has_scope(Scope::PaymentsRead));
        assert!(!caller.has_scope(Scope::PaymentsWrite));
        assert!(caller.require_account("a").is_ok());
        assert!(caller.require_account("b").is_err());
        let other = Authenticator::hs256(&Secret::new("another".into()));
        assert_eq!(other.verify(&token).unwrap_err().code, "token_invalid");
    }
}
