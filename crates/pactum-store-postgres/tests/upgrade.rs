//! Upgrading a PostgreSQL store that already holds people: migration 0020 moves each purpose's
//! categories from rows of `purpose_holds` into the purpose's own `categories` column. Nothing of
//! what was there is lost or changed on the way. Runs where `PACTUM_TEST_PG_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use pactum_store::SubjectId;
use pactum_store_postgres::PgBackend;
use sqlx::postgres::PgConnectOptions;

/// A subject, a purpose with two held categories and one with none, and one item, as the schema
/// before 0020 stored them; binds the subject, the item, and the two purposes' ids.
const ROWS_BEFORE_0020: &[&str] = &[
    "INSERT INTO subjects (id, email_index, created_at) VALUES ($1, 'blind-index'::bytea, 1)",
    "INSERT INTO subject_keys (subject_id, master_key_id, wrapped) VALUES ($1, 'master-1', '\\x0102'::bytea)",
    "INSERT INTO items (id, subject_id, category, source, collected_at, value) \
     VALUES ($2, $1, 'email', 'form', 2, '\\xcafe'::bytea)",
    "INSERT INTO purpose_instances (id, subject_id, purpose, basis, anchor, anchor_date, retain_until, started_at, \
     ended_at, end_reason, notice_version) VALUES ($3, $1, 'course_enrolment', 'contract', 'course_end', \
     '2026-03-01', '2026-03-31', 3, NULL, NULL, 'v1')",
    "INSERT INTO purpose_instances (id, subject_id, purpose, basis, anchor, anchor_date, retain_until, started_at, \
     ended_at, end_reason, notice_version) VALUES ($4, $1, 'course_feedback', 'legitimate_interest', \
     'course_end', NULL, NULL, 4, NULL, NULL, 'v1')",
    "INSERT INTO purpose_holds (instance_id, subject_id, category) VALUES ($3, $1, 'name'), ($3, $1, 'email')",
];

#[tokio::test]
async fn a_store_with_people_in_it_keeps_them_across_the_upgrade_to_purpose_categories() {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return;
    };
    let schema = format!("pactum_test_{}", uuid::Uuid::now_v7().simple());
    let admin = PgConnectOptions::from_str(&url).expect("PACTUM_TEST_PG_URL must be a postgres:// URL");
    let mut conn =
        sqlx::ConnectOptions::connect(&admin).await.expect("PostgreSQL must be reachable at PACTUM_TEST_PG_URL");
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).await.unwrap();
    let options = admin.options([("search_path", schema.as_str())]);
    let ids: Vec<[u8; 16]> = (0..4).map(|_| *uuid::Uuid::now_v7().as_bytes()).collect();
    {
        let pool = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
        let mut before =
            sqlx::migrate::Migrator::new(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")))
                .await
                .unwrap();
        before.migrations = before.migrations.iter().filter(|m| m.version < 20).cloned().collect::<Vec<_>>().into();
        before.run(&pool).await.unwrap();
        for statement in ROWS_BEFORE_0020 {
            // Every id up to the last one the statement names (sqlx declares each bound type, so an
            // id bound but not named is no error).
            let named = (1..=ids.len()).filter(|n| statement.contains(&format!("${n}"))).max().unwrap_or(0);
            let mut query = sqlx::query(*statement);
            for id in &ids[..named] {
                query = query.bind(id.as_slice());
            }
            query.execute(&pool).await.unwrap();
        }
        pool.close().await;
    }

    let backend = PgBackend::connect_with(options).await.expect("the upgrade runs on a store with people in it");
    let subject = SubjectId::from_slice(&ids[0]).unwrap();
    pactum_store::conformance::the_person_is_all_there_after_migration_0020(&backend, subject).await;
    let holds: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('purpose_holds')::text").fetch_one(backend.raw_pool()).await.unwrap();
    assert_eq!(holds, None, "purpose_holds is gone");
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).await.unwrap();
}
