//! The behaviour every backend must show. Each adapter runs all of it through
//! [`conformance_tests!`](crate::conformance_tests), SQLite always and PostgreSQL where configured.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_vault::{AuditKey, SystemKey};
use time::macros::date;

use crate::audit::{VerifyError, verify};
use crate::schema::unclassified;
use crate::*;

/// Declares one `#[tokio::test]` per conformance case. `$make` is an async fn returning
/// `Option<B>`: a fresh, migrated backend, or `None` when this backend is not configured here.
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::conformance_tests!(@cases $make;
            subject_round_trip,
            many_people_are_found_by_email_index_in_one_read,
            duplicate_email_index_is_a_conflict_and_nothing_is_stored,
            shredding_removes_key_first_then_every_row,
            purposes_record_their_retention,
            audit_chain_links_every_event_and_verifies,
            concurrent_commits_are_group_committed_and_all_acknowledged,
            a_failing_change_does_not_fail_its_batch_neighbours,
            chain_continues_after_restart,
            two_writers_on_one_chain_keep_it_unbroken,
            verifying_while_the_chain_grows_is_no_false_alarm,
            vault_keys_bootstrap_once,
            subject_keys_page_in_order_and_rewrap,
            policy_activations_latest_wins,
            cookie_consents_are_kept_with_their_receipt,
            outbox_is_claimed_under_a_lease_and_emptied_when_delivered,
            consents_move_from_pending_to_active_to_withdrawn,
            catalogue_is_upserted_and_enrolments_follow_their_subject,
            staff_accounts_lock_after_repeated_failures_and_sessions_expire,
            api_tokens_are_found_by_hash_and_revoked,
            expired_purposes_are_found_and_deleted_with_what_hangs_on_them,
            a_job_lease_is_held_by_one_node_until_it_runs_out,
            leases_are_listed_while_they_run_and_released_or_forgotten,
            a_request_is_remembered_once_under_its_key_until_it_expires,
            orders_keep_their_participants_and_invoices_are_numbered_without_gaps,
            rights_requests_are_queued_by_deadline_and_go_with_their_purpose,
            every_column_is_classified
        );
    };
    (@cases $make:path; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(backend) = $make().await else { return };
                $crate::conformance::$name(backend).await;
            }
        )*
    };
}

fn audit_key() -> AuditKey {
    AuditKey::new(SystemKey::generate().unwrap())
}

async fn store<B: Backend>(backend: B) -> (Store<B>, AuditKey) {
    let key = audit_key();
    let store = Store::start(backend, key.clone(), "node-a").await.unwrap();
    (store, key)
}

fn subject(index: &[u8]) -> NewSubject {
    NewSubject {
        id: SubjectId::new(),
        email_index: Some(index.to_vec()),
        key: WrappedKey { master_key_id: "m1".into(), wrapped: vec![1, 2, 3] },
        created_at: 1_700_000_000_000_000,
    }
}

fn item(subject: SubjectId, category: &str) -> StoredItem {
    StoredItem {
        id: ItemId::new(),
        subject,
        category: category.into(),
        source: "form:test".into(),
        collected_at: 1_700_000_000_000_001,
        value: vec![9, 9, 9],
    }
}

fn purpose(subject: SubjectId, categories: &[&str]) -> PurposeInstance {
    PurposeInstance {
        id: PurposeInstanceId::new(),
        subject,
        purpose: "course_enrolment".into(),
        basis: "contract".into(),
        anchor: "course_end".into(),
        anchor_date: Some(date!(2028 - 02 - 29)),
        retain_until: Some(date!(2033 - 02 - 28)),
        started_at: 1_700_000_000_000_002,
        ended_at: None,
        end_reason: None,
        notice_version: "2026.1".into(),
        categories: categories.iter().map(|c| c.to_string()).collect(),
        items: Vec::new(),
    }
}

fn event(action: &str, subject: Option<SubjectId>) -> AuditEvent {
    AuditEvent::new("test", action, subject, serde_json::json!({"n": 1}))
}

fn change(ops: Vec<Op>, audit: Vec<AuditEvent>) -> Change {
    Change { at: 1_700_000_000_000_100, ops, audit }
}

/// A page of e-mail look-ups is answered by one read, each index with its own subject, unknown
/// ones left out; concurrent look-ups through the store all get their own answer.
pub async fn many_people_are_found_by_email_index_in_one_read<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let people: Vec<NewSubject> = (0..40u8).map(|n| subject(&[b'e', n])).collect();
    store
        .commit(change(people.iter().cloned().map(Op::CreateSubject).collect(), vec![event("subject.create", None)]))
        .await
        .unwrap();
    let b = store.backend();
    assert!(b.subjects_by_email_indexes(&[]).await.unwrap().is_empty());
    let mut asked: Vec<Vec<u8>> = people.iter().step_by(3).map(|s| s.email_index.clone().unwrap()).collect();
    asked.push(b"nobody".to_vec());
    asked.push(Vec::new());
    let mut found = b.subjects_by_email_indexes(&asked).await.unwrap();
    found.sort();
    let mut expected: Vec<(Vec<u8>, SubjectId)> =
        people.iter().step_by(3).map(|s| (s.email_index.clone().unwrap(), s.id)).collect();
    expected.sort();
    assert_eq!(found, expected);

    // Every concurrent caller gets the answer to its own question, known or not.
    let mut lookups = tokio::task::JoinSet::new();
    for n in 0..80u8 {
        let store = store.clone();
        lookups.spawn(async move { (n, store.subject_by_email_index(&[b'e', n]).await.unwrap()) });
    }
    while let Some(done) = lookups.join_next().await {
        let (n, subject) = done.unwrap();
        assert_eq!(subject, people.get(usize::from(n)).map(|s| s.id), "look-up {n}");
    }
}

pub async fn subject_round_trip<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let s = subject(b"index-a");
    let i1 = item(s.id, "name");
    let i2 = item(s.id, "email");
    // The values the purpose began with come back in the order given.
    let p = PurposeInstance { items: vec![i2.id, i1.id], ..purpose(s.id, &["name", "email"]) };
    store
        .commit(change(
            vec![
                Op::CreateSubject(s.clone()),
                Op::PutItem(i1.clone()),
                Op::PutItem(i2.clone()),
                Op::StartPurpose(p.clone()),
            ],
            vec![event("subject.create", Some(s.id))],
        ))
        .await
        .unwrap();
    let b = store.backend();
    assert_eq!(b.subject_by_email_index(b"index-a").await.unwrap(), Some(s.id));
    assert_eq!(b.subject_by_email_index(b"index-b").await.unwrap(), None);
    assert_eq!(b.subject_key(s.id).await.unwrap(), Some(s.key.clone()));
    let mut items = b.items_of(s.id).await.unwrap();
    items.sort_by_key(|i| i.id);
    let mut expected = vec![i1, i2];
    expected.sort_by_key(|i| i.id);
    assert_eq!(items, expected);
    let mut purposes = b.purposes_of(s.id).await.unwrap();
    for p in &mut purposes {
        p.categories.sort();
    }
    let mut p_sorted = p.clone();
    p_sorted.categories.sort();
    assert_eq!(purposes, vec![p_sorted]);

    // The values a purpose holds are replaced as a whole.
    let (kept, corrected) = (p.items[1], ItemId::new());
    let set = Op::SetPurposeItems { instance: p.id, items: vec![kept, corrected] };
    store.commit(change(vec![set], vec![event("subject.rectify", Some(s.id))])).await.unwrap();
    assert_eq!(b.purposes_of(s.id).await.unwrap()[0].items, vec![kept, corrected]);
    b.health().await.unwrap();
}

pub async fn duplicate_email_index_is_a_conflict_and_nothing_is_stored<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let first = subject(b"same");
    store.commit(change(vec![Op::CreateSubject(first.clone())], vec![])).await.unwrap();
    let second = subject(b"same");
    let orphan = item(second.id, "name");
    let result = store
        .commit(change(vec![Op::PutItem(orphan), Op::CreateSubject(second.clone())], vec![event("x", None)]))
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "expected a conflict, got {result:?}");
    assert!(store.backend().items_of(second.id).await.unwrap().is_empty(), "a failed change must leave nothing behind");
    assert_eq!(store.backend().subject_key(second.id).await.unwrap(), None);
}

pub async fn shredding_removes_key_first_then_every_row<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let s = subject(b"to-erase");
    let keep = subject(b"to-keep");
    store
        .commit(change(
            vec![
                Op::CreateSubject(s.clone()),
                Op::PutItem(item(s.id, "name")),
                Op::StartPurpose(purpose(s.id, &["name"])),
                Op::CreateSubject(keep.clone()),
                Op::PutItem(item(keep.id, "name")),
            ],
            vec![],
        ))
        .await
        .unwrap();
    let proof = DeletionProof {
        id: ProofId::new(),
        at: 1_800_000_000_000_000,
        record_class: "subject".into(),
        subject_ref: s.id.to_string(),
        rule: "erasure request".into(),
        content_hash: vec![1; 32],
    };
    store
        .commit(change(
            vec![Op::ShredSubjects(vec![s.id]), Op::RecordDeletion(proof.clone())],
            vec![event("subject.erase", Some(s.id))],
        ))
        .await
        .unwrap();
    let b = store.backend();
    assert_eq!(b.subject_key(s.id).await.unwrap(), None);
    assert!(b.items_of(s.id).await.unwrap().is_empty());
    assert!(b.purposes_of(s.id).await.unwrap().is_empty());
    assert_eq!(b.subject_by_email_index(b"to-erase").await.unwrap(), None);
    assert_eq!(b.deletion_proofs_of(&s.id.to_string()).await.unwrap(), vec![proof]);
    assert_eq!(b.items_of(keep.id).await.unwrap().len(), 1, "other subjects are untouched");
}

pub async fn purposes_record_their_retention<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let s = subject(b"ret");
    let mut open = purpose(s.id, &["email"]);
    open.anchor = "withdrawal".into();
    open.anchor_date = None;
    open.retain_until = None;
    let other = purpose(s.id, &["name"]);
    store
        .commit(change(
            vec![Op::CreateSubject(s.clone()), Op::StartPurpose(open.clone()), Op::StartPurpose(other.clone())],
            vec![],
        ))
        .await
        .unwrap();
    store
        .commit(change(
            vec![
                Op::EndPurpose {
                    instance: open.id,
                    ended_at: 1_800_000_000_000_000,
                    reason: "withdrawal".into(),
                    retain_until: date!(2027 - 01 - 30),
                },
                Op::SetRetention {
                    instance: other.id,
                    anchor_date: date!(2026 - 03 - 15),
                    retain_until: date!(2031 - 03 - 15),
                },
            ],
            vec![],
        ))
        .await
        .unwrap();
    let purposes = store.backend().purposes_of(s.id).await.unwrap();
    let ended = purposes.iter().find(|p| p.id == open.id).unwrap();
    assert_eq!(ended.retain_until, Some(date!(2027 - 01 - 30)));
    assert_eq!(ended.ended_at, Some(1_800_000_000_000_000));
    assert_eq!(ended.end_reason.as_deref(), Some("withdrawal"));
    assert!(ended.is_live(date!(2027 - 01 - 30)) && !ended.is_live(date!(2027 - 01 - 31)));
    let anchored = purposes.iter().find(|p| p.id == other.id).unwrap();
    assert_eq!(anchored.anchor_date, Some(date!(2026 - 03 - 15)));
    assert_eq!(anchored.retain_until, Some(date!(2031 - 03 - 15)));
}

async fn chain_of<B: Backend>(b: &B, chain: &str) -> Vec<AuditEntry> {
    b.audit_entries(chain, 0, 100_000).await.unwrap()
}

pub async fn audit_chain_links_every_event_and_verifies<B: Backend>(backend: B) {
    let (store, key) = store(backend).await;
    let s = subject(b"audited");
    store
        .commit(change(
            vec![Op::CreateSubject(s.clone())],
            vec![event("subject.create", Some(s.id)), event("consent.grant", Some(s.id))],
        ))
        .await
        .unwrap();
    store.commit(change(vec![], vec![event("admin.action", None)])).await.unwrap();
    let entries = chain_of(store.backend(), "node-a").await;
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(entries[0].prev_hash, vec![0; 32]);
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
    assert_eq!(entries[0].subject_ref.as_deref(), Some(s.id.to_string().as_str()));
    let summary = verify(store.backend(), &key).await.unwrap();
    assert_eq!(summary, vec![crate::audit::ChainSummary { chain: "node-a".into(), entries: 3 }]);
    // A different key cannot verify the chain: the links are MACs, not plain hashes.
    match verify(store.backend(), &audit_key()).await {
        Err(VerifyError::Broken(b)) => assert_eq!(b.chain, "node-a"),
        other => panic!("a wrong key must not verify: {other:?}"),
    }
}

pub async fn concurrent_commits_are_group_committed_and_all_acknowledged<B: Backend>(backend: B) {
    let (store, key) = store(backend).await;
    let mut tasks = Vec::new();
    for n in 0..300u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let s = subject(format!("concurrent-{n}").as_bytes());
            store
                .commit(change(
                    vec![Op::CreateSubject(s.clone()), Op::PutItem(item(s.id, "email"))],
                    vec![event("subject.create", Some(s.id))],
                ))
                .await
                .map(|_| s.id)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap().unwrap());
    }
    for id in &ids {
        assert_eq!(store.backend().items_of(*id).await.unwrap().len(), 1, "every acknowledged change is stored");
    }
    let entries = chain_of(store.backend(), "node-a").await;
    assert_eq!(entries.len(), 300);
    assert!(entries.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    verify(store.backend(), &key).await.unwrap();
}

pub async fn a_failing_change_does_not_fail_its_batch_neighbours<B: Backend>(backend: B) {
    let (store, key) = store(backend).await;
    store.commit(change(vec![Op::CreateSubject(subject(b"taken"))], vec![event("first", None)])).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..100u32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let index = if n == 50 { b"taken".to_vec() } else { format!("free-{n}").into_bytes() };
            store.commit(change(vec![Op::CreateSubject(subject(&index))], vec![event("subject.create", None)])).await
        }));
    }
    let mut failures = 0;
    for t in tasks {
        if t.await.unwrap().is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 1, "only the duplicate fails");
    let entries = chain_of(store.backend(), "node-a").await;
    assert_eq!(entries.len(), 100, "the failed change left no audit entry, and the chain has no gap");
    assert!(entries.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1));
    verify(store.backend(), &key).await.unwrap();
}

pub async fn chain_continues_after_restart<B: Backend>(backend: B) {
    let key = audit_key();
    let first = Store::start(backend.clone(), key.clone(), "node-a").await.unwrap();
    first.commit(change(vec![], vec![event("one", None), event("two", None)])).await.unwrap();
    let head = first.backend().audit_heads().await.unwrap();
    assert_eq!(head.iter().find(|h| h.chain == "node-a").map(|h| h.seq), Some(2));
    drop(first);
    let second = Store::start(backend, key.clone(), "node-a").await.unwrap();
    second.commit(change(vec![], vec![event("three", None)])).await.unwrap();
    let entries = chain_of(second.backend(), "node-a").await;
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[2].seq, 3);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
    verify(second.backend(), &key).await.unwrap();
}

/// Two writers on one chain (a `pactum` command beside `serve`): each one's commits succeed after
/// the other's, including a batch of concurrent ones and a change that fails on its own, and the
/// chain stays one unbroken sequence that verifies.
pub async fn two_writers_on_one_chain_keep_it_unbroken<B: Backend>(backend: B) {
    let key = audit_key();
    let serving = Store::start(backend.clone(), key.clone(), "node-a").await.unwrap();
    let command = Store::start(backend, key.clone(), "node-a").await.unwrap();
    serving.commit(change(vec![], vec![event("serving.one", None)])).await.unwrap();
    command.commit(change(vec![], vec![event("command.one", None), event("command.two", None)])).await.unwrap();
    serving.commit(change(vec![Op::CreateSubject(subject(b"taken"))], vec![event("serving.two", None)])).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..20u32 {
        let store = if n % 2 == 0 { serving.clone() } else { command.clone() };
        tasks.push(tokio::spawn(async move {
            let index = if n == 7 { b"taken".to_vec() } else { format!("free-{n}").into_bytes() };
            store.commit(change(vec![Op::CreateSubject(subject(&index))], vec![event("subject.create", None)])).await
        }));
    }
    let mut failures = 0;
    for t in tasks {
        if t.await.unwrap().is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 1, "only the duplicate e-mail index fails");
    command.commit(change(vec![], vec![event("command.three", None)])).await.unwrap();
    let entries = chain_of(serving.backend(), "node-a").await;
    assert_eq!(entries.len(), 1 + 2 + 1 + 19 + 1, "every committed event is in the chain once");
    assert!(entries.iter().enumerate().all(|(i, e)| e.seq == i as u64 + 1), "no gap and no repeat");
    assert!(entries.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert_eq!(entries.last().unwrap().action, "command.three");
    verify(serving.backend(), &key).await.unwrap();
}

/// `audit verify` run while the server writes: the heads were read before entries were appended
/// past them. That is no break, and the new entries are still checked; cutting entries off below
/// the head still is one.
pub async fn verifying_while_the_chain_grows_is_no_false_alarm<B: Backend>(backend: B) {
    let (store, key) = store(backend).await;
    store.commit(change(vec![], vec![event("one", None), event("two", None)])).await.unwrap();
    let heads_read_first = store.backend().audit_heads().await.unwrap();
    store.commit(change(vec![], vec![event("three", None), event("four", None)])).await.unwrap();
    let summaries = crate::audit::verify_from_heads(store.backend(), &key, heads_read_first.clone()).await.unwrap();
    assert_eq!(summaries.iter().map(|s| (s.chain.as_str(), s.entries)).collect::<Vec<_>>(), vec![("node-a", 4)]);

    // A head further along than the entries: entries were cut off the end.
    let mut ahead = store.backend().audit_heads().await.unwrap();
    ahead[0].seq = 6;
    ahead[0].mac = key.head(&ahead[0].chain, 6, &ahead[0].hash);
    match crate::audit::verify_from_heads(store.backend(), &key, ahead).await {
        Err(VerifyError::Broken(b)) => assert_eq!(b.seq, 5, "{b}"),
        other => panic!("a head past the entries must be a break, got {other:?}"),
    }
}

pub async fn vault_keys_bootstrap_once<B: Backend>(backend: B) {
    let first =
        vec![VaultKeyRecord { name: "audit".into(), key: WrappedKey { master_key_id: "m1".into(), wrapped: vec![1] } }];
    let second =
        vec![VaultKeyRecord { name: "audit".into(), key: WrappedKey { master_key_id: "m2".into(), wrapped: vec![2] } }];
    assert_eq!(backend.bootstrap_vault_keys(&first).await.unwrap(), first);
    assert_eq!(backend.bootstrap_vault_keys(&second).await.unwrap(), first, "existing keys are never replaced");
    let (store, _) = store(backend).await;
    let rewrapped =
        VaultKeyRecord { name: "audit".into(), key: WrappedKey { master_key_id: "m3".into(), wrapped: vec![3] } };
    store.commit(change(vec![Op::RewrapVaultKey(rewrapped.clone())], vec![])).await.unwrap();
    assert_eq!(store.backend().vault_keys().await.unwrap(), vec![rewrapped]);
}

pub async fn subject_keys_page_in_order_and_rewrap<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let subjects: Vec<NewSubject> = (0..5).map(|n| subject(format!("page-{n}").as_bytes())).collect();
    store.commit(change(subjects.iter().cloned().map(Op::CreateSubject).collect(), vec![])).await.unwrap();
    let b = store.backend();
    let page1 = b.subject_keys_page(None, 3).await.unwrap();
    let page2 = b.subject_keys_page(page1.last().map(|(id, _)| *id), 3).await.unwrap();
    let mut seen: Vec<SubjectId> = page1.iter().chain(page2.iter()).map(|(id, _)| *id).collect();
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "pages come in id order");
    seen.dedup();
    assert_eq!(seen.len(), 5);
    let new_key = WrappedKey { master_key_id: "m2".into(), wrapped: vec![4, 5, 6] };
    store
        .commit(change(vec![Op::RewrapSubjectKey { subject: subjects[0].id, key: new_key.clone() }], vec![]))
        .await
        .unwrap();
    assert_eq!(b.subject_key(subjects[0].id).await.unwrap(), Some(new_key));
}

pub async fn policy_activations_latest_wins<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    assert_eq!(store.backend().latest_policy_activation().await.unwrap(), None);
    let a = PolicyActivation {
        version: "1".into(),
        source_digest: "aa".into(),
        cookie_version: "c1".into(),
        activated_at: 10,
    };
    let b = PolicyActivation {
        version: "2".into(),
        source_digest: "bb".into(),
        cookie_version: "c2".into(),
        activated_at: 20,
    };
    store.commit(change(vec![Op::ActivatePolicy(a)], vec![])).await.unwrap();
    store.commit(change(vec![Op::ActivatePolicy(b.clone())], vec![])).await.unwrap();
    assert_eq!(store.backend().latest_policy_activation().await.unwrap(), Some(b));
}

pub async fn every_column_is_classified<B: Backend>(backend: B) {
    let columns = backend.schema_columns().await.unwrap();
    assert!(columns.len() > 20, "the schema must be readable: {columns:?}");
    let (unknown, missing) = unclassified(&columns);
    assert!(
        unknown.is_empty(),
        "columns without a privacy classification (add them to pactum_store::schema::COLUMNS): {unknown:?}"
    );
    assert!(missing.is_empty(), "classified columns the schema lacks: {missing:?}");
}

pub async fn cookie_consents_are_kept_with_their_receipt<B: Backend>(backend: B) {
    let (store, key) = store(backend.clone()).await;
    let decisions: Vec<CookieConsent> = (0..50)
        .map(|n| CookieConsent {
            receipt: ReceiptId::new(),
            device: vec![n as u8; 32],
            granted: if n % 2 == 0 { "necessary".into() } else { "necessary,statistics".into() },
            method: if n == 7 { "gpc".into() } else { "click".into() },
            cookie_version: "c1".into(),
            policy_version: "2026.1".into(),
            ip_prefix: "192.0.2.0/24".into(),
            decided_at: 1_700_000_000_000_000 + n,
        })
        .collect();
    let mut tasks = Vec::new();
    let record = |store: &Store<B>, d: CookieConsent| {
        let store = store.clone();
        tokio::spawn(async move {
            store.commit(change(vec![Op::RecordCookieConsent(d)], vec![event("cookie_consent.record", None)])).await
        })
    };
    for d in decisions.clone() {
        tasks.push(record(&store, d));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for d in &decisions {
        assert_eq!(store.backend().cookie_consent(d.receipt).await.unwrap().as_ref(), Some(d));
    }
    assert_eq!(store.backend().cookie_consent(ReceiptId::new()).await.unwrap(), None);
    // Every decision has its audit entry, in one unbroken chain whose head was kept.
    assert_eq!(chain_of(store.backend(), "node-a").await.len(), 50);
    let head = store.backend().audit_heads().await.unwrap();
    assert_eq!(head.iter().find(|h| h.chain == "node-a").map(|h| h.seq), Some(50));
    // A decision recorded twice fails alone; its batch neighbours are kept, and the chain has no gap.
    let mut again: Vec<CookieConsent> =
        decisions[..20].iter().map(|d| CookieConsent { receipt: ReceiptId::new(), ..d.clone() }).collect();
    again[10] = decisions[0].clone();
    let tasks: Vec<_> = again.iter().cloned().map(|d| record(&store, d)).collect();
    let mut failures = 0;
    for t in tasks {
        failures += usize::from(t.await.unwrap().is_err());
    }
    assert_eq!(failures, 1, "only the decision recorded twice fails");
    assert_eq!(chain_of(store.backend(), "node-a").await.len(), 69);
    drop(store);
    let restarted = Store::start(backend, key.clone(), "node-a").await.unwrap();
    record(&restarted, CookieConsent { receipt: ReceiptId::new(), ..decisions[1].clone() }).await.unwrap().unwrap();
    assert_eq!(chain_of(restarted.backend(), "node-a").await.len(), 70);
    verify(restarted.backend(), &key).await.unwrap();
}

pub async fn outbox_is_claimed_under_a_lease_and_emptied_when_delivered<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let s = subject(b"mailed");
    let mail = |n: i64| OutboxMail {
        id: MailId::new(),
        subject: s.id,
        kind: "newsletter_confirmation".into(),
        sealed: vec![7; 40],
        status: MailStatus::Pending,
        attempts: 0,
        created_at: 100,
        next_attempt_at: 100 + n,
        sent_at: None,
    };
    let (a, b, later) = (mail(0), mail(1), mail(10_000));
    store
        .commit(change(
            vec![
                Op::CreateSubject(s.clone()),
                Op::EnqueueMail(a.clone()),
                Op::EnqueueMail(b.clone()),
                Op::EnqueueMail(later.clone()),
            ],
            vec![],
        ))
        .await
        .unwrap();
    let backend = store.backend();
    let claimed = backend.claim_mail(200, 1_000, 10).await.unwrap();
    let ids: Vec<MailId> = claimed.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![a.id, b.id], "due mail, oldest first; the later one is not due");
    assert_eq!(claimed[0], a);
    assert!(backend.claim_mail(300, 1_000, 10).await.unwrap().is_empty(), "leased mail is not claimed twice");
    store.commit(change(vec![Op::MailDelivered { id: a.id, at: 400 }], vec![])).await.unwrap();
    store
        .commit(change(
            vec![Op::MailAttemptFailed { id: b.id, attempts: 1, next_attempt_at: 2_000, give_up: false }],
            vec![],
        ))
        .await
        .unwrap();
    let delivered = backend.mail(a.id).await.unwrap().unwrap();
    assert_eq!(delivered.status, MailStatus::Sent);
    assert!(delivered.sealed.is_empty(), "the content is dropped once delivered");
    assert_eq!(delivered.sent_at, Some(400));
    assert!(backend.claim_mail(1_500, 3_000, 10).await.unwrap().is_empty(), "a failed mail waits for its retry time");
    let retried = backend.claim_mail(2_500, 3_000, 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].id, retried[0].attempts), (b.id, 1));
    store
        .commit(change(
            vec![Op::MailAttemptFailed { id: b.id, attempts: 8, next_attempt_at: 0, give_up: true }],
            vec![],
        ))
        .await
        .unwrap();
    let failed = backend.mail(b.id).await.unwrap().unwrap();
    assert_eq!(failed.status, MailStatus::Failed);
    assert!(failed.sealed.is_empty());
    store.commit(change(vec![Op::DeleteMailOf(s.id)], vec![])).await.unwrap();
    assert_eq!(backend.mail(later.id).await.unwrap(), None, "a restricted subject's pending mail is dropped");
    assert_eq!(backend.mail(a.id).await.unwrap(), None, "with its delivery records");
    let again = mail(0);
    store.commit(change(vec![Op::EnqueueMail(again.clone())], vec![])).await.unwrap();
    store.commit(change(vec![Op::ShredSubjects(vec![s.id])], vec![])).await.unwrap();
    assert_eq!(backend.mail(again.id).await.unwrap(), None, "erasure removes the subject's mail");
}

pub async fn consents_move_from_pending_to_active_to_withdrawn<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let s = subject(b"consenting");
    let mut p = purpose(s.id, &["email"]);
    p.retain_until = Some(date!(2026 - 12 - 02));
    let consent = ConsentRecord {
        id: ConsentId::new(),
        subject: s.id,
        purpose: "newsletter".into(),
        instance: p.id,
        state: ConsentState::Pending,
        lang: "da".into(),
        policy_version: "2026.1".into(),
        text: "Ja tak, send mig nyhedsmails.".into(),
        text_hash: "ab".repeat(32),
        method: "form:newsletter".into(),
        requested_at: 10,
        confirmed_at: None,
        withdrawn_at: None,
        withdraw_method: None,
    };
    let token = LinkToken {
        hash: vec![5; 32],
        subject: s.id,
        consent: consent.id,
        kind: "confirm".into(),
        expires_at: Some(99),
        used_at: None,
    };
    store
        .commit(change(
            vec![
                Op::CreateSubject(s.clone()),
                Op::StartPurpose(p.clone()),
                Op::RecordConsent(consent.clone()),
                Op::PutLinkToken(token.clone()),
            ],
            vec![],
        ))
        .await
        .unwrap();
    let b = store.backend();
    assert_eq!(b.consent(consent.id).await.unwrap(), Some(consent.clone()));
    assert_eq!(b.link_token(&[5; 32]).await.unwrap(), Some(token.clone()));
    assert_eq!(b.link_token(&[6; 32]).await.unwrap(), None);
    store
        .commit(change(
            vec![
                Op::ConfirmConsent { id: consent.id, at: 20 },
                Op::UseLinkToken { hash: vec![5; 32], at: 20 },
                Op::ClearRetention { instance: p.id },
            ],
            vec![],
        ))
        .await
        .unwrap();
    let active = b.consent(consent.id).await.unwrap().unwrap();
    assert_eq!((active.state, active.confirmed_at), (ConsentState::Active, Some(20)));
    assert_eq!(b.link_token(&[5; 32]).await.unwrap().unwrap().used_at, Some(20));
    assert_eq!(b.purposes_of(s.id).await.unwrap()[0].retain_until, None, "a confirmed subscription has no end date");
    // A second use of the token does not move its time.
    store.commit(change(vec![Op::UseLinkToken { hash: vec![5; 32], at: 30 }], vec![])).await.unwrap();
    assert_eq!(b.link_token(&[5; 32]).await.unwrap().unwrap().used_at, Some(20));
    store
        .commit(change(vec![Op::WithdrawConsent { id: consent.id, at: 40, method: "one-click".into() }], vec![]))
        .await
        .unwrap();
    store
        .commit(change(vec![Op::WithdrawConsent { id: consent.id, at: 50, method: "portal".into() }], vec![]))
        .await
        .unwrap();
    let withdrawn = b.consent(consent.id).await.unwrap().unwrap();
    assert_eq!(
        (withdrawn.state, withdrawn.withdrawn_at, withdrawn.withdraw_method.as_deref()),
        (ConsentState::Withdrawn, Some(40), Some("one-click"))
    );
    assert_eq!(b.consents_of(s.id).await.unwrap().len(), 1);
    store.commit(change(vec![Op::ShredSubjects(vec![s.id])], vec![])).await.unwrap();
    assert!(b.consents_of(s.id).await.unwrap().is_empty());
    assert_eq!(b.link_token(&[5; 32]).await.unwrap(), None);
}

pub async fn catalogue_is_upserted_and_enrolments_follow_their_subject<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let course = Course {
        id: CourseId::new(),
        slug: "prince2-foundation".into(),
        title_da: "PRINCE2 Foundation".into(),
        title_en: "PRINCE2 Foundation".into(),
        summary_da: "Grundkursus".into(),
        summary_en: "Foundation course".into(),
        delivered_by: Some("course_partner".into()),
        certification: true,
        cancel_free_days: 14,
        cancel_late_fee_percent: 50,
    };
    let session = CourseSession {
        id: SessionId::new(),
        course: course.id,
        starts_on: date!(2028 - 02 - 27),
        ends_on: date!(2028 - 02 - 29),
        location: "København".into(),
        online: false,
        language: "da".into(),
        price_ore: 1_495_000,
        seats: 12,
        instructor: Some("ida".into()),
    };
    let event = Event {
        id: EventId::new(),
        slug: "pm-konference".into(),
        title_da: "PM-konference".into(),
        title_en: "PM conference".into(),
        summary_da: "s".into(),
        summary_en: "s".into(),
        starts_on: date!(2027 - 05 - 04),
        ends_on: date!(2027 - 05 - 04),
        location: "Aarhus".into(),
        co_organiser: Some("co_organiser".into()),
        sponsor: Some("sponsor".into()),
        seats: 200,
    };
    store
        .commit(change(
            vec![Op::PutCourse(course.clone()), Op::PutSession(session.clone()), Op::PutEvent(event.clone())],
            vec![],
        ))
        .await
        .unwrap();
    let mut renamed = course.clone();
    renamed.title_en = "PRINCE2® Foundation".into();
    let mut moved = session.clone();
    moved.seats = 10;
    moved.instructor = None;
    store.commit(change(vec![Op::PutCourse(renamed.clone()), Op::PutSession(moved.clone())], vec![])).await.unwrap();
    let b = store.backend();
    assert_eq!(b.courses().await.unwrap(), vec![renamed]);
    assert_eq!(b.sessions().await.unwrap(), vec![moved]);
    assert_eq!(b.events().await.unwrap(), vec![event.clone()]);

    let s = subject(b"enrolled");
    let p = purpose(s.id, &["name"]);
    let enrolment = Enrolment {
        id: EnrolmentId::new(),
        activity: session.id.0,
        kind: "course_session".into(),
        subject: s.id,
        instance: p.id,
        certification: Some(PurposeInstanceId::new()),
        sponsor_consent: None,
        created_at: 5,
        cancelled_at: None,
    };
    store
        .commit(change(
            vec![
                Op::CreateSubject(s.clone()),
                Op::StartPurpose(p),
                Op::Enrol { enrolment: enrolment.clone(), seats: 1 },
            ],
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(b.enrolments_of(session.id.0).await.unwrap(), vec![enrolment.clone()]);
    let late = Enrolment { id: EnrolmentId::new(), ..enrolment.clone() };
    let full = store.commit(change(vec![Op::Enrol { enrolment: late, seats: 1 }], vec![])).await;
    assert!(matches!(full, Err(StoreError::Full)), "the seat limit holds inside the transaction: {full:?}");
    assert_eq!(b.enrolments_of_subject(s.id).await.unwrap(), vec![enrolment]);
    assert!(b.enrolments_of(event.id.0).await.unwrap().is_empty());
    store.commit(change(vec![Op::ShredSubjects(vec![s.id])], vec![])).await.unwrap();
    assert!(b.enrolments_of(session.id.0).await.unwrap().is_empty());
}

pub async fn staff_accounts_lock_after_repeated_failures_and_sessions_expire<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let b = store.backend().clone();
    let account = StaffAccount {
        id: StaffId::new(),
        username: "ida".into(),
        role: "instructor".into(),
        password_hash: None,
        totp_secret: vec![1, 2, 3],
        failed_logins: 0,
        locked_until: None,
        setup_hash: Some(vec![9; 32]),
        setup_expires_at: Some(100),
        created_at: 1,
        disabled_at: None,
    };
    store.commit(change(vec![Op::PutStaff(account.clone())], vec![])).await.unwrap();
    assert_eq!(b.staff_by_username("ida").await.unwrap(), Some(account.clone()));
    assert_eq!(b.staff_by_setup_hash(&[9; 32]).await.unwrap(), Some(account.clone()));
    let twin = StaffAccount { id: StaffId::new(), ..account.clone() };
    let taken = store.commit(change(vec![Op::PutStaff(twin)], vec![])).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "usernames are unique: {taken:?}");

    let set_up = StaffAccount {
        password_hash: Some("$argon2id$…".into()),
        setup_hash: None,
        setup_expires_at: None,
        ..account.clone()
    };
    store.commit(change(vec![Op::PutStaff(set_up.clone())], vec![])).await.unwrap();
    assert_eq!(b.staff_by_setup_hash(&[9; 32]).await.unwrap(), None, "a used setup link no longer matches");
    for _ in 0..2 {
        let failed = Op::StaffLoginFailed { staff: account.id, lock_after: 3, locked_until: 500 };
        store.commit(change(vec![failed], vec![])).await.unwrap();
    }
    let after_two = b.staff_account(account.id).await.unwrap().unwrap();
    assert_eq!((after_two.failed_logins, after_two.locked_until), (2, None));
    let third = Op::StaffLoginFailed { staff: account.id, lock_after: 3, locked_until: 500 };
    store.commit(change(vec![third], vec![])).await.unwrap();
    let locked = b.staff_account(account.id).await.unwrap().unwrap();
    assert_eq!((locked.failed_logins, locked.locked_until), (3, Some(500)), "the third failure locks");
    store.commit(change(vec![Op::StaffLoginSucceeded { staff: account.id, totp_step: 7 }], vec![])).await.unwrap();
    let replay = store.commit(change(vec![Op::StaffLoginSucceeded { staff: account.id, totp_step: 7 }], vec![])).await;
    assert!(matches!(replay, Err(StoreError::Conflict(_))), "a TOTP step is accepted once: {replay:?}");
    let reset = b.staff_account(account.id).await.unwrap().unwrap();
    assert_eq!((reset.failed_logins, reset.locked_until), (0, None));

    let live = StaffSession { token_hash: vec![1; 32], staff: account.id, created_at: 10, expires_at: 1_000 };
    let old = StaffSession { token_hash: vec![2; 32], staff: account.id, created_at: 10, expires_at: 20 };
    store
        .commit(change(vec![Op::PutStaffSession(live.clone()), Op::PutStaffSession(old.clone())], vec![]))
        .await
        .unwrap();
    store.commit(change(vec![Op::DeleteExpiredStaffSessions { expired_before: 500 }], vec![])).await.unwrap();
    assert_eq!(b.staff_session(&[2; 32]).await.unwrap(), None);
    assert_eq!(b.staff_session(&[1; 32]).await.unwrap(), Some(live));
    store.commit(change(vec![Op::DeleteStaffSession { token_hash: vec![1; 32] }], vec![])).await.unwrap();
    assert_eq!(b.staff_session(&[1; 32]).await.unwrap(), None);
    assert_eq!(b.staff_accounts().await.unwrap().len(), 1);
}

pub async fn api_tokens_are_found_by_hash_and_revoked<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let b = store.backend().clone();
    let token = ApiToken {
        id: ApiTokenId::new(),
        token_hash: vec![7; 32],
        name: "website".into(),
        scopes: "catalogue:write".into(),
        created_at: 3,
        revoked_at: None,
    };
    store.commit(change(vec![Op::PutApiToken(token.clone())], vec![])).await.unwrap();
    assert_eq!(b.api_token_by_hash(&[7; 32]).await.unwrap(), Some(token.clone()));
    assert_eq!(b.api_token_by_hash(&[8; 32]).await.unwrap(), None);
    store.commit(change(vec![Op::RevokeApiToken { id: token.id, at: 9 }], vec![])).await.unwrap();
    store.commit(change(vec![Op::RevokeApiToken { id: token.id, at: 12 }], vec![])).await.unwrap();
    let revoked = b.api_token_by_hash(&[7; 32]).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(9), "revoking twice keeps the first time");
    assert_eq!(b.api_tokens().await.unwrap(), vec![revoked]);
}

pub async fn expired_purposes_are_found_and_deleted_with_what_hangs_on_them<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let b = store.backend().clone();
    let mut subjects: Vec<NewSubject> = (0..3u8).map(|i| subject(&[b'x', i])).collect();
    subjects.sort_by_key(|s| s.id);
    let expired =
        |s: &NewSubject, until: time::Date| PurposeInstance { retain_until: Some(until), ..purpose(s.id, &["email"]) };
    let old = expired(&subjects[0], date!(2027 - 01 - 31));
    let later = expired(&subjects[1], date!(2027 - 02 - 01));
    let live = PurposeInstance { retain_until: None, ..purpose(subjects[2].id, &["email"]) };
    let enrolment = Enrolment {
        id: EnrolmentId::new(),
        activity: Uuid::now_v7(),
        kind: "course_session".into(),
        subject: subjects[0].id,
        instance: old.id,
        certification: None,
        sponsor_consent: None,
        created_at: 1,
        cancelled_at: None,
    };
    let mut ops: Vec<Op> = subjects.iter().cloned().map(Op::CreateSubject).collect();
    ops.extend([Op::StartPurpose(old.clone()), Op::StartPurpose(later), Op::StartPurpose(live)]);
    ops.push(Op::Enrol { enrolment, seats: 10 });
    store.commit(change(ops, vec![])).await.unwrap();

    let due = b.subjects_with_expired_purposes(date!(2027 - 02 - 01), None, 10).await.unwrap();
    assert_eq!(due, vec![subjects[0].id], "only purposes whose last day is before today");
    let both = b.subjects_with_expired_purposes(date!(2027 - 02 - 02), None, 10).await.unwrap();
    assert_eq!(both, vec![subjects[0].id, subjects[1].id]);
    let page = b.subjects_with_expired_purposes(date!(2027 - 02 - 02), Some(subjects[0].id), 10).await.unwrap();
    assert_eq!(page, vec![subjects[1].id], "paged by subject id");

    store.commit(change(vec![Op::DeletePurpose(old.id)], vec![])).await.unwrap();
    assert!(b.purposes_of(subjects[0].id).await.unwrap().is_empty());
    assert!(b.enrolments_of_subject(subjects[0].id).await.unwrap().is_empty(), "its enrolment goes with it");
    assert_eq!(b.email_index_of(subjects[0].id).await.unwrap(), Some(vec![b'x', 0]));

    let suppress = Op::Suppress { email_index: vec![b'x', 0], purpose: "newsletter".into(), since: 5 };
    store.commit(change(vec![suppress.clone(), suppress], vec![])).await.unwrap();
    assert_eq!(b.suppression(&[b'x', 0]).await.unwrap().as_deref(), Some("newsletter"));
    assert_eq!(b.suppression(&[b'x', 1]).await.unwrap(), None);
}

pub async fn a_job_lease_is_held_by_one_node_until_it_runs_out<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let take = |holder: &str, now: Micros| {
        let op = Op::TakeLease { job: "retention".into(), holder: holder.into(), now, until: now + 100 };
        store.commit(change(vec![op], vec![]))
    };
    take("node-a", 1_000).await.unwrap();
    assert!(matches!(take("node-b", 1_050).await, Err(StoreError::LeaseHeld)), "node-a holds it until 1100");
    take("node-a", 1_090).await.unwrap();
    assert!(matches!(take("node-b", 1_150).await, Err(StoreError::LeaseHeld)), "renewed until 1190");
    take("node-b", 1_191).await.unwrap();
    assert!(matches!(take("node-a", 1_200).await, Err(StoreError::LeaseHeld)));
}

pub async fn a_request_is_remembered_once_under_its_key_until_it_expires<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let b = store.backend().clone();
    let request = |key: u8, outcome: &str, expires_at: Micros| RememberedRequest {
        key_hash: vec![key; 32],
        request_hash: vec![key ^ 0xff; 32],
        outcome: outcome.into(),
        expires_at,
    };
    let remember = |r: RememberedRequest| store.commit(change(vec![Op::RememberRequest(r)], vec![]));
    remember(request(1, r#"{"enrolment":"a"}"#, 2_000)).await.unwrap();
    assert_eq!(b.remembered_request(&[1; 32]).await.unwrap(), Some(request(1, r#"{"enrolment":"a"}"#, 2_000)));
    assert_eq!(b.remembered_request(&[2; 32]).await.unwrap(), None);

    // The same key again, as a second copy of the request made at the same moment would: refused,
    // and whatever else its change held is not made either.
    let twin = change(
        vec![
            Op::RememberRequest(request(1, r#"{"enrolment":"b"}"#, 2_000)),
            Op::Suppress { email_index: vec![9], purpose: "newsletter".into(), since: 1_000 },
        ],
        vec![],
    );
    assert!(matches!(store.commit(twin).await, Err(StoreError::Conflict(_))));
    assert_eq!(b.remembered_request(&[1; 32]).await.unwrap().unwrap().outcome, r#"{"enrolment":"a"}"#);
    assert_eq!(b.suppression(&[9]).await.unwrap(), None, "the twin's change was not made");

    // Outcomes that expired are forgotten; the others stay.
    remember(request(3, "{}", 9_000)).await.unwrap();
    store.commit(change(vec![Op::ForgetExpiredRequests { now: 2_001 }], vec![])).await.unwrap();
    assert_eq!(b.remembered_request(&[1; 32]).await.unwrap(), None);
    assert!(b.remembered_request(&[3; 32]).await.unwrap().is_some());
}

pub async fn leases_are_listed_while_they_run_and_released_or_forgotten<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let b = store.backend().clone();
    let take = |job: &str, holder: &str, until: Micros| {
        let op = Op::TakeLease { job: job.into(), holder: holder.into(), now: 1_000, until };
        store.commit(change(vec![op], vec![]))
    };
    take("serve:a", "a", 2_000).await.unwrap();
    take("serve:b", "b", 1_500).await.unwrap();
    take("serve_other", "c", 9_000).await.unwrap();
    take("retention", "d", 9_000).await.unwrap();
    let jobs = |leases: Vec<Lease>| leases.into_iter().map(|l| l.job).collect::<Vec<_>>();
    assert_eq!(jobs(b.live_leases("serve:", 1_200).await.unwrap()), vec!["serve:a", "serve:b"], "by prefix");
    assert_eq!(jobs(b.live_leases("serve:", 1_600).await.unwrap()), vec!["serve:a"], "b ran out at 1500");
    let live = b.live_leases("serve:a", 1_600).await.unwrap();
    assert_eq!((live[0].holder.as_str(), live[0].until), ("a", 2_000));
    assert!(b.live_leases("%", 1_000).await.unwrap().is_empty(), "the prefix is text, not a pattern");

    // Another holder cannot release it; its own holder can, and then anyone may take the job.
    let release = |job: &str, holder: &str| {
        store.commit(change(vec![Op::ReleaseLease { job: job.into(), holder: holder.into() }], vec![]))
    };
    release("serve:a", "b").await.unwrap();
    assert_eq!(jobs(b.live_leases("serve:", 1_600).await.unwrap()), vec!["serve:a"]);
    release("serve:a", "a").await.unwrap();
    assert!(b.live_leases("serve:", 1_600).await.unwrap().is_empty());
    take("serve:a", "z", 3_000).await.unwrap();

    // Forgetting expired leases removes the rows of the prefix that ran out, and only those: seen
    // from before they ran out, serve:b is gone, the others are all still there.
    assert_eq!(jobs(b.live_leases("serve", 0).await.unwrap()), vec!["serve:a", "serve:b", "serve_other"]);
    let forget = Op::ForgetExpiredLeases { prefix: "serve:".into(), now: 2_500 };
    store.commit(change(vec![forget], vec![])).await.unwrap();
    assert_eq!(jobs(b.live_leases("serve", 0).await.unwrap()), vec!["serve:a", "serve_other"]);
    assert_eq!(jobs(b.live_leases("retention", 0).await.unwrap()), vec!["retention"]);
}

fn invoice(order: &Order, instance: PurposeInstanceId, kind: &str, credits: Option<InvoiceId>) -> Invoice {
    Invoice {
        id: InvoiceId::new(),
        number: 0,
        kind: kind.into(),
        credits,
        order: order.id,
        buyer: order.buyer,
        instance,
        issued_on: date!(2025 - 03 - 01),
        due_on: date!(2025 - 03 - 15),
        lines: r#"[{"description":"PRINCE2","quantity":2}]"#.into(),
        net_ore: 2_990_000,
        vat_ore: 747_500,
        total_ore: 3_737_500,
        buyer_sealed: vec![4, 2],
        created_at: 1_700_000_000_000_200,
    }
}

pub async fn orders_keep_their_participants_and_invoices_are_numbered_without_gaps<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let b = store.backend().clone();
    let session = SessionId::new();
    let buyer = subject(b"buyer");
    let order_purpose = purpose(buyer.id, &["name", "order"]);
    let participants: Vec<(NewSubject, PurposeInstance, Enrolment)> = (0..2)
        .map(|n| {
            let s = subject(format!("participant-{n}").as_bytes());
            let p = purpose(s.id, &["name"]);
            let e = Enrolment {
                id: EnrolmentId::new(),
                activity: session.0,
                kind: "course_session".into(),
                subject: s.id,
                instance: p.id,
                certification: None,
                sponsor_consent: None,
                created_at: 7,
                cancelled_at: None,
            };
            (s, p, e)
        })
        .collect();
    let order = Order {
        id: OrderId::new(),
        session,
        buyer: buyer.id,
        buyer_kind: "company".into(),
        instance: order_purpose.id,
        participants: participants.iter().map(|(_, _, e)| e.id).rev().collect(),
        unit_price_ore: 1_495_000,
        status: "placed".into(),
        payment_method: "invoice".into(),
        payment_status: "pending".into(),
        payment_session: None,
        payment_ref: None,
        created_at: 8,
        updated_at: 8,
    };
    let mut ops = vec![Op::CreateSubject(buyer.clone()), Op::StartPurpose(order_purpose.clone())];
    for (s, p, e) in &participants {
        ops.extend([Op::CreateSubject(s.clone()), Op::StartPurpose(p.clone())]);
        ops.push(Op::Enrol { enrolment: e.clone(), seats: 2 });
    }
    ops.push(Op::PutOrder(order.clone()));
    store.commit(change(ops, vec![event("order.place", Some(buyer.id))])).await.unwrap();
    assert_eq!(b.order(order.id).await.unwrap(), Some(order.clone()), "participants keep their order");
    assert_eq!(b.orders_of_buyer(buyer.id).await.unwrap(), vec![order.clone()]);
    assert_eq!(b.seats_taken(session.0).await.unwrap(), 2);

    // Issued invoices take 1, 2, 3 … in commit order; concurrent issues share one series.
    let bookkeeping = PurposeInstance { purpose: "bookkeeping".into(), ..purpose(buyer.id, &["name", "order"]) };
    store.commit(change(vec![Op::StartPurpose(bookkeeping.clone())], vec![])).await.unwrap();
    let first = invoice(&order, bookkeeping.id, "invoice", None);
    store.commit(change(vec![Op::IssueInvoice(first.clone())], vec![])).await.unwrap();
    let issued = b.invoice(first.id).await.unwrap().unwrap();
    assert_eq!(issued, Invoice { number: 1, ..first.clone() });
    let concurrent: Vec<Invoice> = (0..6).map(|_| invoice(&order, bookkeeping.id, "invoice", None)).collect();
    let tasks: Vec<_> = concurrent
        .iter()
        .map(|i| {
            let (store, op) = (store.clone(), Op::IssueInvoice(i.clone()));
            tokio::spawn(async move { store.commit(change(vec![op], vec![])).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // A change that fails after taking a number gives it back: the series stays gapless.
    let doomed = invoice(&order, bookkeeping.id, "invoice", None);
    let failed =
        store.commit(change(vec![Op::IssueInvoice(doomed.clone()), Op::CreateSubject(buyer.clone())], vec![])).await;
    assert!(matches!(failed, Err(StoreError::Conflict(_))), "{failed:?}");
    assert!(b.invoice(doomed.id).await.unwrap().is_none());
    let credit = invoice(&order, bookkeeping.id, "credit_note", Some(first.id));
    store.commit(change(vec![Op::IssueInvoice(credit.clone())], vec![])).await.unwrap();
    let numbers: Vec<u64> = b.invoices_of_order(order.id).await.unwrap().iter().map(|i| i.number).collect();
    assert_eq!(numbers, (1..=8).collect::<Vec<u64>>(), "no gaps, no repeats");
    let twice = store
        .commit(change(vec![Op::IssueInvoice(invoice(&order, bookkeeping.id, "credit_note", Some(first.id)))], vec![]))
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "an invoice is credited once: {twice:?}");
    let credit_note = b.invoice(credit.id).await.unwrap().unwrap();
    assert_eq!((credit_note.number, credit_note.credits), (8, Some(first.id)));
    assert_eq!(b.invoices_of_buyer(buyer.id).await.unwrap().len(), 8);
    let page: Vec<u64> = b.invoices_after(3, 2).await.unwrap().iter().map(|i| i.number).collect();
    assert_eq!(page, vec![4, 5], "paged by number");

    // Cancelling an enrolment gives its seat back, once.
    let (_, _, cancelled) = &participants[0];
    for _ in 0..2 {
        let cancel = Op::CancelEnrolment { id: cancelled.id, activity: session.0, at: 9 };
        store.commit(change(vec![cancel], vec![])).await.unwrap();
    }
    assert_eq!(b.seats_taken(session.0).await.unwrap(), 1);
    let update = Op::UpdateOrder {
        id: order.id,
        expected: ("placed".into(), "pending".into()),
        status: "placed".into(),
        payment_status: "paid".into(),
        at: 10,
    };
    store.commit(change(vec![update.clone()], vec![])).await.unwrap();
    // Decided on a stale read (it expected "pending"): refused, nothing changes.
    let stale = store.commit(change(vec![update], vec![])).await;
    assert!(matches!(stale, Err(StoreError::Conflict(_))), "{stale:?}");
    let paid = b.order(order.id).await.unwrap().unwrap();
    assert_eq!((paid.payment_status.as_str(), paid.updated_at), ("paid", 10));

    // A payment event is applied once: the same event id again is a conflict and changes nothing.
    let event = |id: &str, status: &str, payment_ref: Option<&str>| PaymentEvent {
        event_id: id.into(),
        order: order.id,
        kind: "paid".into(),
        expected: ("placed".into(), "paid".into()),
        payment_status: status.into(),
        session: Some("cs_1".into()),
        payment_ref: payment_ref.map(str::to_string),
        at: 11,
    };
    store.commit(change(vec![Op::RecordPayment(event("evt_1", "paid", Some("pi_1")))], vec![])).await.unwrap();
    let again = store.commit(change(vec![Op::RecordPayment(event("evt_1", "paid", None))], vec![])).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let paid = b.order(order.id).await.unwrap().unwrap();
    assert_eq!(paid.payment_status, "paid");
    assert_eq!((paid.payment_session.as_deref(), paid.payment_ref.as_deref()), (Some("cs_1"), Some("pi_1")));
    store.commit(change(vec![Op::RecordPayment(event("evt_2", "refunded", None))], vec![])).await.unwrap();
    let crossed = store.commit(change(vec![Op::RecordPayment(event("evt_3", "paid", None))], vec![])).await;
    assert!(matches!(crossed, Err(StoreError::Conflict(_))), "decided on a stale state: {crossed:?}");
    let refunded = b.order(order.id).await.unwrap().unwrap();
    assert_eq!((refunded.payment_status.as_str(), refunded.payment_ref.as_deref()), ("refunded", Some("pi_1")));

    // A waiting list keeps its order; being told is recorded; shredding a person takes their place.
    let waiting: Vec<WaitingEntry> = participants
        .iter()
        .enumerate()
        .map(|(n, (s, p, _))| WaitingEntry {
            id: WaitingId::new(),
            session,
            subject: s.id,
            instance: p.id,
            created_at: 20 + n as i64,
            notified_at: None,
        })
        .collect();
    for entry in waiting.iter().rev() {
        store.commit(change(vec![Op::JoinWaitingList(entry.clone())], vec![])).await.unwrap();
    }
    assert_eq!(b.waiting_list(session).await.unwrap(), waiting, "in the order people joined");
    store.commit(change(vec![Op::WaitingNotified { id: waiting[0].id, at: 30 }], vec![])).await.unwrap();
    assert_eq!(b.waiting_list(session).await.unwrap()[0].notified_at, Some(30));
    store.commit(change(vec![Op::ShredSubjects(vec![waiting[0].subject])], vec![])).await.unwrap();
    assert_eq!(b.waiting_list(session).await.unwrap(), waiting[1..].to_vec());

    // The bookkeeping hold ending takes its invoices with it; shredding the buyer takes the order.
    store.commit(change(vec![Op::DeletePurpose(bookkeeping.id)], vec![])).await.unwrap();
    assert!(b.invoices_of_buyer(buyer.id).await.unwrap().is_empty());
    store.commit(change(vec![Op::ShredSubjects(vec![buyer.id])], vec![])).await.unwrap();
    assert!(b.order(order.id).await.unwrap().is_none());
    assert!(b.orders_of_buyer(buyer.id).await.unwrap().is_empty());
}

pub async fn rights_requests_are_queued_by_deadline_and_go_with_their_purpose<B: Backend>(backend: B) {
    let (store, _) = store(backend).await;
    let b = store.backend().clone();
    let person = subject(b"rights");
    let held =
        PurposeInstance { purpose: "rights_requests".into(), retain_until: None, ..purpose(person.id, &["email"]) };
    let request = |due_on: time::Date, instance: Option<PurposeInstanceId>| RightsRequest {
        id: RightsRequestId::new(),
        subject: person.id,
        kind: "access".into(),
        channel: "letter".into(),
        scope: String::new(),
        received_at: 1_700_000_000_000_000,
        due_on,
        extended_to: None,
        extension_reason: None,
        status: "open".into(),
        restricts: true,
        restricted_until: None,
        decision_reason: None,
        decided_at: None,
        decided_by: None,
        instance,
        details_item: None,
        created_by: "staff:test".into(),
        lang: "da".into(),
    };
    let later = request(date!(2027 - 03 - 31), Some(held.id));
    let sooner = request(date!(2027 - 02 - 28), None);
    let ops = vec![
        Op::CreateSubject(person.clone()),
        Op::StartPurpose(held.clone()),
        Op::PutRightsRequest(later.clone()),
        Op::PutRightsRequest(sooner.clone()),
    ];
    store.commit(change(ops, vec![])).await.unwrap();
    let open: Vec<RightsRequestId> = b.rights_requests(true, 10).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(open, vec![sooner.id, later.id], "the one due first comes first");
    assert_eq!(b.rights_request(later.id).await.unwrap().as_ref(), Some(&later), "every field round-trips");

    // Extended past the other, then decided: the row is replaced whole.
    let extended = RightsRequest {
        extended_to: Some(date!(2027 - 05 - 31)),
        extension_reason: Some(vec![7, 7]),
        ..sooner.clone()
    };
    store.commit(change(vec![Op::PutRightsRequest(extended.clone())], vec![])).await.unwrap();
    let open: Vec<RightsRequestId> = b.rights_requests(true, 10).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(open, vec![later.id, sooner.id], "ordered by the deadline after extension");
    let decided = RightsRequest {
        status: "rejected".into(),
        decision_reason: Some(vec![8]),
        decided_at: Some(1_700_000_000_000_500),
        decided_by: Some("staff:test".into()),
        restricted_until: Some(date!(2027 - 03 - 07)),
        ..extended
    };
    store.commit(change(vec![Op::PutRightsRequest(decided.clone())], vec![])).await.unwrap();
    assert_eq!(b.rights_requests(true, 10).await.unwrap().len(), 1);
    assert_eq!(b.rights_requests(false, 10).await.unwrap(), vec![decided.clone()]);
    assert_eq!(b.rights_requests_of(person.id).await.unwrap().len(), 2);

    // The request held by a purpose goes when that purpose is deleted; shredding the person
    // drops the sealed reasons of what is left, and keeps the pseudonymous record.
    store.commit(change(vec![Op::DeletePurpose(held.id)], vec![])).await.unwrap();
    assert_eq!(b.rights_request(later.id).await.unwrap(), None);
    store.commit(change(vec![Op::ShredSubjects(vec![person.id])], vec![])).await.unwrap();
    let kept = b.rights_request(decided.id).await.unwrap().unwrap();
    assert_eq!((kept.decision_reason, kept.extension_reason), (None, None));
    assert_eq!(kept.status, "rejected");
}

/// Migration 0020 on a store that already held a person: each adapter's upgrade test seeds, on the
/// schema before 0020, a subject with e-mail blind index `b"blind-index"` and a key, one e-mail value
/// sealed as `CA FE`, a `course_enrolment` purpose (retained until 2026-03-31, notice `v1`) holding
/// `name` and `email`, and a `course_feedback` purpose holding nothing; then opens the backend, which
/// migrates. This checks, through the backend, that all of it is there as it was.
pub async fn the_person_is_all_there_after_migration_0020<B: Backend>(backend: &B, subject: SubjectId) {
    let rows = backend.rows_of_subjects(&[subject]).await.unwrap();
    let held: Vec<(&str, Vec<String>)> =
        rows.purposes.iter().map(|p| (p.purpose.as_str(), p.categories.clone())).collect();
    assert_eq!(
        held,
        vec![("course_enrolment", vec!["email".to_string(), "name".to_string()]), ("course_feedback", vec![])]
    );
    assert_eq!(rows.purposes[0].retain_until, Some(date!(2026 - 03 - 31)));
    assert_eq!(rows.purposes[0].notice_version, "v1");
    assert_eq!(rows.items.len(), 1);
    assert_eq!((rows.items[0].category.as_str(), rows.items[0].value.as_slice()), ("email", [0xCA, 0xFE].as_slice()));
    assert_eq!(backend.subject_by_email_index(b"blind-index").await.unwrap(), Some(subject));
    assert!(backend.subject_key(subject).await.unwrap().is_some(), "the person's key is still there");
}
