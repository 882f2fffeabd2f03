//! Upgrading a SQLite store that already holds people: migration 0020 rebuilds their tables keyed
//! by subject and moves each purpose's categories from rows of `purpose_holds` into the purpose's
//! own `categories` column. Nothing of what was there is lost or changed on the way.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use pactum_store::SubjectId;
use pactum_store_sqlite::SqliteBackend;

/// A subject, a purpose with two held categories and one with none, and one item, as the schema
/// before 0020 stored them: each statement with the ids it binds, in order.
fn rows_before_0020(
    subject: &[u8],
    item: &[u8],
    enrolment: &[u8],
    feedback: &[u8],
) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let (s, i, e, f) = (subject.to_vec(), item.to_vec(), enrolment.to_vec(), feedback.to_vec());
    vec![
        (
            "INSERT INTO subjects (id, email_index, created_at) VALUES (?, CAST('blind-index' AS BLOB), 1)",
            vec![s.clone()],
        ),
        (
            "INSERT INTO subject_keys (subject_id, master_key_id, wrapped) VALUES (?, 'master-1', X'0102')",
            vec![s.clone()],
        ),
        (
            "INSERT INTO items (id, subject_id, category, source, collected_at, value) VALUES (?, ?, 'email', 'form', 2, X'CAFE')",
            vec![i, s.clone()],
        ),
        (
            "INSERT INTO purpose_instances (id, subject_id, purpose, basis, anchor, anchor_date, retain_until, \
             started_at, ended_at, end_reason, notice_version) VALUES (?, ?, 'course_enrolment', 'contract', \
             'course_end', '2026-03-01', '2026-03-31', 3, NULL, NULL, 'v1')",
            vec![e.clone(), s.clone()],
        ),
        (
            "INSERT INTO purpose_instances (id, subject_id, purpose, basis, anchor, anchor_date, retain_until, \
             started_at, ended_at, end_reason, notice_version) VALUES (?, ?, 'course_feedback', \
             'legitimate_interest', 'course_end', NULL, NULL, 4, NULL, NULL, 'v1')",
            vec![f, s.clone()],
        ),
        (
            "INSERT INTO purpose_holds (instance_id, subject_id, category) VALUES (?, ?, 'name')",
            vec![e.clone(), s.clone()],
        ),
        ("INSERT INTO purpose_holds (instance_id, subject_id, category) VALUES (?, ?, 'email')", vec![e, s]),
    ]
}

#[tokio::test]
async fn a_store_with_people_in_it_keeps_them_across_the_upgrade_to_rows_kept_by_subject() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("upgrade-{}.db", uuid::Uuid::now_v7()));
    let url = format!("sqlite://{}", path.display());
    let ids: Vec<[u8; 16]> = (0..4).map(|_| *uuid::Uuid::now_v7().as_bytes()).collect();
    let (subject, item, enrolment, feedback) = (ids[0], ids[1], ids[2], ids[3]);
    {
        let options =
            <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&url).unwrap().create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        let mut before =
            sqlx::migrate::Migrator::new(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")))
                .await
                .unwrap();
        before.migrations = before.migrations.iter().filter(|m| m.version < 20).cloned().collect::<Vec<_>>().into();
        before.run(&pool).await.unwrap();
        for (statement, binds) in rows_before_0020(&subject, &item, &enrolment, &feedback) {
            let mut query = sqlx::query(statement);
            for bind in binds {
                query = query.bind(bind);
            }
            query.execute(&pool).await.unwrap();
        }
        pool.close().await;
    }

    let backend = SqliteBackend::connect(&url).await.expect("the upgrade runs on a store with people in it");
    let subject = SubjectId::from_slice(&subject).unwrap();
    pactum_store::conformance::the_person_is_all_there_after_migration_0020(&backend, subject).await;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'purpose_holds'")
            .fetch_all(backend.raw_pool())
            .await
            .unwrap();
    assert!(tables.is_empty(), "purpose_holds is gone: {tables:?}");
    for table in ["subjects", "subject_keys", "items", "purpose_instances"] {
        let sql: String = sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
            .bind(table)
            .fetch_one(backend.raw_pool())
            .await
            .unwrap();
        assert!(sql.ends_with("WITHOUT ROWID"), "{table} is keyed without a rowid: {sql}");
    }
}
