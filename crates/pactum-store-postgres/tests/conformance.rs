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

/// DESIGN (scale-out): the consent log is partitioned by month on PostgreSQL. This month's and the
/// next months' partitions exist after start; a decision lands in its month's partition, one outside
/// every month in the default one, and both are found by receipt and by device.
#[tokio::test]
async fn the_consent_log_is_partitioned_by_month() {
    use pactum_store::{Backend, Change, CookieConsent, Op, ReceiptId, Store};
    let Some(backend) = fresh().await else { return };
    let partitioned: Option<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()",
    )
    .fetch_optional(backend.raw_pool())
    .await
    .unwrap();
    assert_eq!(partitioned.as_deref(), Some("cookie_consents"));
    let today = time::OffsetDateTime::now_utc();
    let this_month = format!("cookie_consents_y{}m{:02}", today.year(), u8::from(today.month()));
    backend.maintain().await.unwrap();
    backend.maintain().await.unwrap();
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'cookie_consents' \
         AND c.relnamespace = p.relnamespace AND p.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
         ORDER BY 1",
    )
    .fetch_all(backend.raw_pool())
    .await
    .unwrap();
    assert_eq!(partitions.len(), 4, "the default and three months, created once: {partitions:?}");
    assert!(partitions.contains(&this_month), "{partitions:?}");

    let key = pactum_vault::AuditKey::new(pactum_vault::SystemKey::generate().unwrap());
    let store = Store::start(backend.clone(), key, "node-a").await.unwrap();
    let decision = |at: i64| CookieConsent {
        receipt: ReceiptId::new(),
        device: vec![7; 32],
        granted: "necessary".into(),
        method: "click".into(),
        cookie_version: "c1".into(),
        policy_version: "2026.1".into(),
        ip_prefix: "192.0.2.0/24".into(),
        decided_at: at,
    };
    let now = today.unix_timestamp() * 1_000_000;
    let (current, old) = (decision(now), decision(1_500_000_000_000_000));
    for d in [&current, &old] {
        store
            .commit(Change { at: now, ops: vec![Op::RecordCookieConsent(d.clone())], audit: Vec::new() })
            .await
            .unwrap();
    }
    let home = |receipt: ReceiptId| {
        let pool = backend.raw_pool().clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT tableoid::regclass::text FROM cookie_consents WHERE receipt = $1")
                .bind(receipt.as_bytes().as_slice())
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(home(current.receipt).await.ends_with(&this_month));
    assert!(home(old.receipt).await.ends_with("cookie_consents_default"));
    assert_eq!(backend.cookie_consent(old.receipt).await.unwrap(), Some(old.clone()));
    assert_eq!(backend.cookie_consents_of_device(&[7; 32]).await.unwrap().len(), 2);
}

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
