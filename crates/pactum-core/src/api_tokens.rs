//! Scoped API tokens for websites and partners that use Pactum without a person signing in.
//!
//! A token is shown once, when it is created; the database keeps only its SHA-256. Each token
//! carries scopes, and a route that needs a scope refuses a token without it (deny by default).

use pactum_store::{ApiToken, ApiTokenId, AuditEvent, Backend, Change, Op};

use crate::newsletter::{new_token, token_hash};
use crate::staff::Staff;
use crate::values::{FieldError, Problem};
use crate::{Clock, CoreError, Pactum};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Replace the catalogue of courses, sessions and events.
    CatalogueWrite,
    /// The certification partner: fetch a session's certification participants (a recorded
    /// disclosure) and deliver its messages to the exam proctor.
    Certification,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::CatalogueWrite, Scope::Certification];

    pub fn key(self) -> &'static str {
        match self {
            Scope::CatalogueWrite => "catalogue:write",
            Scope::Certification => "certification",
        }
    }

    pub fn from_key(key: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.key() == key)
    }
}

/// The prefix that makes a Pactum token recognisable (e.g. to secret scanners).
pub const TOKEN_PREFIX: &str = "pct_";

/// A token that is valid and holds `scope`.
pub fn grants(token: &ApiToken, scope: Scope) -> bool {
    token.revoked_at.is_none() && token.scopes.split(',').any(|s| s == scope.key())
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// Creates a token; the returned secret is the only copy. `actor` is who asked, for the audit chain.
    pub async fn create_api_token(
        &self,
        actor: &str,
        name: &str,
        scopes: &[Scope],
    ) -> Result<(ApiToken, String), CoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(CoreError::Invalid(vec![FieldError { field: "name".into(), problem: Problem::Missing }]));
        }
        if name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err(CoreError::Invalid(vec![FieldError { field: "name".into(), problem: Problem::TooLong(80) }]));
        }
        if scopes.is_empty() {
            return Err(CoreError::Invalid(vec![FieldError { field: "scopes".into(), problem: Problem::Missing }]));
        }
        let (raw, _) = new_token()?;
        let secret = format!("{TOKEN_PREFIX}{raw}");
        let now = self.clock.now_micros();
        let token = ApiToken {
            id: ApiTokenId::new(),
            token_hash: token_hash(&secret),
            name: name.to_string(),
            scopes: scopes.iter().map(|s| s.key()).collect::<Vec<_>>().join(","),
            created_at: now,
            revoked_at: None,
        };
        let event = AuditEvent::new(
            actor,
            "api_token.create",
            None,
            serde_json::json!({"token": token.id.to_string(), "scopes": token.scopes}),
        );
        self.store.commit(Change { at: now, ops: vec![Op::PutApiToken(token.clone())], audit: vec![event] }).await?;
        Ok((token, secret))
    }

    /// The token a bearer secret stands for, unless it is unknown or revoked.
    pub async fn api_token(&self, secret: &str) -> Result<Option<ApiToken>, CoreError> {
        if !secret.starts_with(TOKEN_PREFIX) || secret.len() != TOKEN_PREFIX.len() + 64 {
            return Ok(None);
        }
        let token = self.store.backend().api_token_by_hash(&token_hash(secret)).await?;
        Ok(token.filter(|t| t.revoked_at.is_none()))
    }

    pub async fn revoke_api_token(&self, by: &Staff, id: ApiTokenId) -> Result<(), CoreError> {
        let now = self.clock.now_micros();
        let event =
            AuditEvent::new(&by.actor(), "api_token.revoke", None, serde_json::json!({"token": id.to_string()}));
        self.store
            .commit(Change { at: now, ops: vec![Op::RevokeApiToken { id, at: now }], audit: vec![event] })
            .await?;
        Ok(())
    }
}
