//! The audit chain: how an entry is linked, and how a chain is verified (DESIGN invariant 4).
//!
//! Each entry's hash is a MAC, under the audit key, of the previous entry's hash and the entry's
//! own fields. The chain head is stored with its own MAC. Verification walks every chain from
//! sequence 1 and reports the first entry that was edited, removed or moved, and a head that does
//! not match its entry (entries cut off the end). Entries appended after the head was read (a
//! server writing during the check) are checked too, and are no break.

use pactum_vault::AuditKey;

use crate::{AuditEntry, Backend, StoreError};

pub fn link(key: &AuditKey, entry: &AuditEntry) -> Vec<u8> {
    let fields = entry.linked_fields();
    let parts: Vec<&[u8]> = fields.iter().map(|f| f.as_slice()).collect();
    key.link(&entry.prev_hash, &parts)
}

/// The first problem found in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    pub chain: String,
    /// The first sequence number that does not verify.
    pub seq: u64,
    pub reason: String,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "audit chain `{}` is broken at entry {}: {}", self.chain, self.seq, self.reason)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub chain: String,
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Broken(ChainBreak),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const PAGE: u32 = 10_000;

/// Verifies every chain in the store.
pub async fn verify<B: Backend>(backend: &B, key: &AuditKey) -> Result<Vec<ChainSummary>, VerifyError> {
    verify_from_heads(backend, key, backend.audit_heads().await?).await
}

/// Verifies every chain against `heads`, read before its entries. A server may write while this
/// runs: entries past a head were appended after it was read, and are checked like the rest, but
/// their presence is no break.
pub async fn verify_from_heads<B: Backend>(
    backend: &B,
    key: &AuditKey,
    heads: Vec<crate::AuditHead>,
) -> Result<Vec<ChainSummary>, VerifyError> {
    let mut summaries = Vec::new();
    for head in heads {
        let broken = |seq: u64, reason: &str| {
            VerifyError::Broken(ChainBreak { chain: head.chain.clone(), seq, reason: reason.to_string() })
        };
        if key.head(&head.chain, head.seq, &head.hash) != head.mac {
            return Err(broken(head.seq, "the chain head record was altered"));
        }
        let mut expected_seq = 1u64;
        let mut prev = vec![0u8; 32];
        // The hash of the entry the head names, once the walk reaches it.
        let mut at_head = None;
        loop {
            let page = backend.audit_entries(&head.chain, expected_seq - 1, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for entry in &page {
                if entry.seq != expected_seq {
                    return Err(broken(
                        expected_seq,
                        "this entry is missing (deleted, or its sequence number was changed)",
                    ));
                }
                if entry.prev_hash != prev {
                    return Err(broken(
                        entry.seq,
                        "it does not link to the entry before it (entries were removed or reordered)",
                    ));
                }
                if link(key, entry) != entry.hash {
                    return Err(broken(entry.seq, "its content was changed after it was written"));
                }
                if entry.seq == head.seq {
                    at_head = Some(entry.hash.clone());
                }
                prev = entry.hash.clone();
                expected_seq += 1;
            }
        }
        let last = expected_seq - 1;
        if at_head.as_ref() != Some(&head.hash) {
            let at = last.min(head.seq) + 1;
            return Err(broken(at, "the chain ends before its recorded head (entries were cut off the end)"));
        }
        summaries.push(ChainSummary { chain: head.chain.clone(), entries: last });
    }
    Ok(summaries)
}
