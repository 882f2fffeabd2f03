//! The storage conformance suite on SQLite, each case on a fresh database file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_store_sqlite::SqliteBackend;

async fn fresh() -> Option<SqliteBackend> {
    let path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conformance-{}.db", uuid::Uuid::now_v7()));
    Some(SqliteBackend::connect(&format!("sqlite://{}", path.display())).await.expect("SQLite opens a fresh file"))
}

pactum_store::conformance_tests!(fresh);

/// Under a steady stream of commits the write-ahead log stays bounded: the checkpointer has the
/// log start again once it passes 64 MiB, and its file is cut back when it does. (A passive
/// checkpoint alone never catches up with a log that keeps growing, so without the restart the log
/// holds everything written: here 480 MiB, in the bench gigabytes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_bounded_under_a_steady_stream_of_commits() {
    use pactum_store::{Change, ItemId, NewSubject, Op, Store, StoredItem, SubjectId, WrappedKey};
    use pactum_vault::{AuditKey, SystemKey};
    const MIB: u64 = 1024 * 1024;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wal-{}.db", uuid::Uuid::now_v7()));
    let backend = SqliteBackend::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let store = Store::start(backend, AuditKey::new(SystemKey::generate().unwrap()), "node-a").await.unwrap();
    let log = path.with_extension("db-wal");
    let largest = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let watching = {
        let (log, largest) = (log.clone(), largest.clone());
        tokio::spawn(async move {
            loop {
                let size = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
                largest.fetch_max(size, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
    };
    // Eight writers, each committing a person with four 256 KiB values at a time: 480 MiB in all.
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..60 {
                    let subject = SubjectId::new();
                    let mut ops = vec![Op::CreateSubject(NewSubject {
                        id: subject,
                        email_index: None,
                        key: WrappedKey { master_key_id: "m1".into(), wrapped: vec![1; 32] },
                        created_at: 1,
                    })];
                    ops.extend((0..4).map(|n| {
                        Op::PutItem(StoredItem {
                            id: ItemId::new(),
                            subject,
                            category: "course_feedback".into(),
                            source: "form:test".into(),
                            collected_at: 1,
                            value: vec![n as u8 ^ 0x5a; 256 * 1024],
                        })
                    }));
                    store.commit(Change { at: 1, ops, audit: Vec::new() }).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    watching.abort();
    let largest = largest.load(std::sync::atomic::Ordering::Relaxed) / MIB;
    assert!(largest > 0, "the log was watched");
    // It may pass 64 MiB by what is committed before the writer starts it again, not by half of all.
    assert!(largest <= 240, "the log grew to {largest} MiB while 480 MiB were written");
}
