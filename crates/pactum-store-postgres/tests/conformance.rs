//! The storage conformance suite on PostgreSQL, each case in a schema of its own.
//! Runs where `PACTUM_TEST_PG_URL` is set (CI sets it); elsewhere each case says it skipped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use pactum_store_postgres::PgBackend;
use sqlx::postgres::PgConnectOptions;

async fn fresh() -> Option<PgBackend> {
    let Ok(url) = std::env::var("PACTUM_TEST_PG_URL") else {
        eprintln!("SKIPPED: PostgreSQL backend (PACTUM_TEST_PG_URL is not set)");
        return None;
    };
    let schema = format!("pactum_test_{}", uuid::Uuid::now_v7().simple());
    let admin = PgConnectOptions::from_str(&url).expect("PACTUM_TEST_PG_URL must be a postgres:// URL");
    let mut conn =
        sqlx::ConnectOptions::connect(&admin).await.expect("PostgreSQL must be reachable at PACTUM_TEST_PG_URL");
    drop_stale_schemas(&mut conn).await;
    sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .expect("create schema");
    let options = admin.options([("search_path", schema.as_str())]);
    Some(PgBackend::connect_with(options).await.expect("connect and migrate"))
}

pactum_store::conformance_tests!(fresh);

/// Drops test schemas left by runs that ended over an hour ago (the name carries a UUIDv7 timestamp),
/// so that a crashed run does not leave them forever, and a run in parallel keeps its own.
async fn drop_stale_schemas(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'pactum_test_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    for name in names {
        let created = uuid::Uuid::parse_str(name.trim_start_matches("pactum_test_"))
            .ok()
            .and_then(|u| u.get_timestamp())
            .map(|t| t.to_unix().0);
        if created.is_some_and(|c| c + 3600 < now) {
            let _ = sqlx::Executor::execute(
                &mut *conn,
                sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")),
            )
            .await;
        }
    }
}
