//! Sign-ups and orders that a double click, a form sent twice or a retried API call do not repeat.
//!
//! A request may come with a key of its own: the one-time token of the HTML form it was sent from,
//! or an API caller's `Idempotency-Key` header. The first request under a key keeps its outcome
//! (ids only, never a personal value) in the same transaction as what it did. The same request
//! again under that key, within [`KEPT_HOURS`], gets the same outcome and changes nothing: no second
//! seat, no second order. Another request under a key already used is refused
//! ([`CoreError::KeyReused`]). Two copies made at the same moment cannot both go through: the second
//! one's change fails on the key, and it answers with the first one's outcome.
//!
//! Keys and requests are kept as keyed hashes, so the table tells nothing about who asked for what.

use pactum_store::{Backend, Change, Op, RememberedRequest, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Clock, CoreError, Pactum};

/// How long an outcome is kept for a repeat.
pub const KEPT_HOURS: i64 = 24;
/// The longest key a caller may give.
pub const MAX_KEY_LEN: usize = 255;

/// A request's key and what the request is, hashed.
#[derive(Debug, Clone)]
pub struct RequestKey {
    key_hash: Vec<u8>,
    request_hash: Vec<u8>,
}

/// Whether a caller's key is one Pactum accepts: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn key_is_valid(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// The fields of a form in one order, so that the same request sent twice hashes alike.
pub(crate) fn sorted(values: &[(String, String)]) -> Vec<(String, String)> {
    let mut values = values.to_vec();
    values.sort();
    values
}

impl<B: Backend, C: Clock> Pactum<B, C> {
    /// For a request of `kind` made under the caller's `key` (if any), whose content `content`
    /// gives: its [`RequestKey`], and the outcome of the same request made before, if it was.
    pub(crate) async fn earlier<T: DeserializeOwned>(
        &self,
        kind: &str,
        key: Option<&str>,
        content: impl FnOnce() -> serde_json::Value,
    ) -> Result<(Option<RequestKey>, Option<T>), CoreError> {
        let Some(key) = key else { return Ok((None, None)) };
        let key = self.request_key(kind, key, &content());
        let first = self.repeated(&key).await?;
        Ok((Some(key), first))
    }

    /// The key of a request of `kind` (an enrolment, an order) made under the caller's `key`, whose
    /// content is `request`: whatever tells one request from another.
    fn request_key(&self, kind: &str, key: &str, request: &serde_json::Value) -> RequestKey {
        let blind = &self.keys.blind_index;
        RequestKey {
            key_hash: blind.tag("request-key", format!("{kind}\n{key}").as_bytes()),
            request_hash: blind.tag("request", format!("{kind}\n{request}").as_bytes()),
        }
    }

    /// The outcome kept for this request, if it was made before; [`CoreError::KeyReused`] if its
    /// key was used for another request.
    pub(crate) async fn repeated<T: DeserializeOwned>(&self, key: &RequestKey) -> Result<Option<T>, CoreError> {
        let Some(kept) = self.store.backend().remembered_request(&key.key_hash).await? else { return Ok(None) };
        if kept.expires_at < self.clock.now_micros() {
            return Ok(None);
        }
        if kept.request_hash != key.request_hash {
            return Err(CoreError::KeyReused);
        }
        let outcome = serde_json::from_str(&kept.outcome).map_err(|_| {
            tracing::error!("a kept request outcome could not be read");
            CoreError::Store(StoreError::Corrupt("a kept request outcome could not be read".into()))
        })?;
        Ok(Some(outcome))
    }

    /// Forgets the outcomes kept longer than [`KEPT_HOURS`] (`serve` does this every hour).
    pub async fn forget_expired_requests(&self) -> Result<(), CoreError> {
        let now = self.clock.now_micros();
        self.store.commit(Change { at: now, ops: vec![Op::ForgetExpiredRequests { now }], audit: Vec::new() }).await?;
        Ok(())
    }

    /// Commits `change`, keeping `outcome` under `key` in the same transaction when there is a key.
    /// If a copy of the same request got there first, its outcome comes back instead: `Ok(Some)`.
    pub(crate) async fn commit_once<T: Serialize + DeserializeOwned>(
        &self,
        mut change: Change,
        key: Option<&RequestKey>,
        outcome: &T,
    ) -> Result<Option<T>, CoreError> {
        let Some(key) = key else {
            self.store.commit(change).await?;
            return Ok(None);
        };
        let now = self.clock.now_micros();
        let request = RememberedRequest {
            key_hash: key.key_hash.clone(),
            request_hash: key.request_hash.clone(),
            outcome: serde_json::to_string(outcome)
                .map_err(|_| CoreError::Store(StoreError::Corrupt("an outcome could not be written".into())))?,
            expires_at: now + KEPT_HOURS * 3_600_000_000,
        };
        change.ops.insert(0, Op::RememberRequest(request));
        match self.store.commit(change).await {
            Ok(()) => Ok(None),
            Err(StoreError::Conflict(reason)) => match self.repeated(key).await? {
                Some(first) => Ok(Some(first)),
                None => Err(CoreError::Store(StoreError::Conflict(reason))),
            },
            Err(e) => Err(e.into()),
        }
    }
}
