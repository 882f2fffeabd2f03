//! `pactum-bench`: requests per second and latency of Pactum's durable enrolment API, next to a bare
//! axum handler that parses the same JSON, measured by the same client in the same run; and, with
//! `--sweep VALUES`, the retention sweep's throughput next to a plain SQL DELETE (see `sweep`); and,
//! with `--rights PEOPLE`, access-report and erasure latency for one person among many (see `rights`).
//!
//! cargo run --release -p pactum-bench -- [--requests N] [--concurrency C] [--postgres URL]
//! cargo run --release -p pactum-bench -- --sweep 1000000 [--postgres URL]
//! cargo run --release -p pactum-bench -- --rights 1000000 [--samples 1000] [--postgres URL]

mod rights;
mod sweep;

/// The allocator of the `pactum` binary, so that the figures are those of the server as shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use pactum_core::keyfile::{KeySource, load};
use pactum_core::{Pactum, Settings, SystemClock};
use pactum_policy::{BUNDLED_POLICY, parse_policy};
use pactum_store::Backend;

const CATALOGUE: &str = r#"
[[course]]
slug = "bench"
title = { da = "Benchmark", en = "Benchmark" }
summary = { da = "-", en = "-" }

[[course.session]]
code = "BENCH-1"
starts_on = 2099-01-01
ends_on = 2099-01-02
location = "-"
language = "da"
price_dkk = 1
seats = 100000000
"#;

struct Options {
    requests: usize,
    concurrency: usize,
    postgres: Option<String>,
    /// Expired personal values to sweep; 0 runs the load benchmark instead.
    sweep_values: usize,
    /// People in the store for the rights latency benchmark; 0 skips it.
    rights_people: usize,
    samples: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o =
        Options { requests: 20_000, concurrency: 64, postgres: None, sweep_values: 0, rights_people: 0, samples: 1000 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().context("a value is missing");
        match a.as_str() {
            "--requests" => o.requests = value()?.parse()?,
            "--concurrency" => o.concurrency = value()?.parse()?,
            "--postgres" => o.postgres = Some(value()?),
            "--sweep" => o.sweep_values = value()?.parse()?,
            "--rights" => o.rights_people = value()?.parse()?,
            "--samples" => o.samples = value()?.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(o)
}

struct Measured {
    name: String,
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// Sends `requests` POSTs of `body(i)` to `url` from `concurrency` concurrent clients.
async fn run_load(
    name: &str,
    url: String,
    requests: usize,
    concurrency: usize,
    body: Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync>,
) -> Measured {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().unwrap_or_default();
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url, body) = (client.clone(), next.clone(), url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let t = Instant::now();
                match client.post(&url).json(&body(i)).send().await {
                    Ok(r) if r.status() == StatusCode::CREATED => {}
                    _ => failures += 1,
                }
                latencies.push(t.elapsed());
            }
            (latencies, failures)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(requests);
    let mut failures = 0;
    for t in tasks {
        if let Ok((l, f)) = t.await {
            latencies.extend(l);
            failures += f;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(0.0)
    };
    Measured { name: name.to_string(), requests, seconds, p50_ms: pct(0.50), p99_ms: pct(0.99), failures }
}

async fn bare_axum() -> anyhow::Result<String> {
    async fn handler(Json(body): Json<serde_json::Value>) -> (StatusCode, Json<serde_json::Value>) {
        let _ = body;
        (StatusCode::CREATED, Json(serde_json::json!({"id": uuid::Uuid::now_v7().to_string(), "newsletter": null})))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/enrol", listener.local_addr()?);
    let app = axum::Router::new().route("/enrol", post(handler));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn pactum_server<B: Backend>(backend: B, dir: &std::path::Path) -> anyhow::Result<(String, String)> {
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true })?;
    let pactum = Pactum::start(backend, ring, policy, SystemClock, Settings::default()).await?;
    pactum.import_catalogue(CATALOGUE, "bench").await?;
    let session = pactum.course_listing("bench").await?.context("the bench course")?.sessions[0].session.id.to_string();
    // The per-address limit would stop a load test from one address; it is lifted here only.
    let options = pactum_web::WebOptions { consent_decisions_per_minute: u32::MAX, ..Default::default() };
    let app = pactum_web::Application::build(pactum, "127.0.0.1:0".parse()?, options).await?;
    let url = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    Ok((url, session))
}

fn enrolment_body(session: String, run: &'static str) -> Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync> {
    Arc::new(move |i| {
        serde_json::json!({
            "session_id": session,
            "fields": {"name": format!("Deltager {i}"), "email": format!("bench-{run}-{i}@eksempel.dk"), "phone": "+45 12 34 56 78"},
            "notice_version": "2026.1",
        })
    })
}

/// The enrolment and consent-decision runs against one Pactum server.
async fn run_pactum(
    results: &mut Vec<Measured>,
    o: &Options,
    backend: &str,
    base: &str,
    session: String,
    run: &'static str,
) -> anyhow::Result<()> {
    let enrol = format!("{base}/api/v1/enrolments");
    let name = format!("Pactum enrolment, {backend}");
    results.push(run_load(&name, enrol, o.requests, o.concurrency, enrolment_body(session, run)).await);
    let version = cookie_version(base).await?;
    let decisions = format!("{base}/consent/decisions");
    let name = format!("Pactum consent decision, {backend}");
    results.push(run_load(&name, decisions, o.requests, o.concurrency, decision_body(version, run)).await);
    Ok(())
}

async fn cookie_version(base: &str) -> anyhow::Result<String> {
    let config: serde_json::Value = reqwest::get(format!("{base}/consent/config")).await?.json().await?;
    config["cookie_version"].as_str().map(str::to_string).context("a cookie version")
}

fn decision_body(version: String, run: &'static str) -> Arc<dyn Fn(usize) -> serde_json::Value + Send + Sync> {
    Arc::new(move |i| {
        serde_json::json!({
            "device_id": format!("bench-{run}-{i:016}"),
            "granted": if i % 2 == 0 { vec!["statistics"] } else { vec![] },
            "method": "click",
            "cookie_version": version,
        })
    })
}

fn print(results: &[Measured]) {
    println!("| run | requests | seconds | requests/s | p50 ms | p99 ms | failures |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in results {
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {} |",
            r.name,
            r.requests,
            r.seconds,
            r.requests as f64 / r.seconds,
            r.p50_ms,
            r.p99_ms,
            r.failures
        );
    }
}

async fn start<B: Backend>(backend: B, dir: &std::path::Path) -> anyhow::Result<Pactum<B, SystemClock>> {
    let policy = parse_policy("metier.toml", BUNDLED_POLICY).map_err(|e| anyhow::anyhow!("{e}"))?;
    let ring = load(KeySource::File { path: dir.join("master.key"), may_create: true })?;
    Ok(Pactum::start(backend, ring, policy, SystemClock, Settings::default()).await?)
}

/// The sweep on one store and a plain DELETE of the same rows on a second, seeded alike; with
/// `floor`, the sweep's writes alone as bare SQL on a third (see [`sweep::sql_floor`]).
async fn sweep_pair<B: Backend>(
    name: &'static str,
    make: impl AsyncFn(&str) -> anyhow::Result<B>,
    plain_delete: impl AsyncFn(&B) -> anyhow::Result<u64>,
    floor: Option<impl AsyncFn(&B) -> anyhow::Result<f64>>,
    people: usize,
    dir: &std::path::Path,
) -> anyhow::Result<sweep::SweepFigures> {
    let swept = start(make("swept").await?, dir).await?;
    let seed_seconds = sweep::seed(&swept, people, "swept").await?;
    let (items, erased, sweep_seconds) = sweep::sweep(&swept).await?;
    anyhow::ensure!(items == people * sweep::VALUES_PER_PERSON, "the sweep deleted {items} values");
    let reference_backend = make("plain").await?;
    let reference = start(reference_backend.clone(), dir).await?;
    sweep::seed(&reference, people, "plain").await?;
    let started = Instant::now();
    let deleted_rows = plain_delete(&reference_backend).await?;
    let delete_seconds = started.elapsed().as_secs_f64();
    let floor_seconds = match floor {
        None => None,
        Some(floor) => {
            let floored = make("floor").await?;
            sweep::seed(&start(floored.clone(), dir).await?, people, "floor").await?;
            Some(floor(&floored).await?)
        }
    };
    Ok(sweep::SweepFigures {
        backend: name,
        people,
        items,
        seed_seconds,
        sweep_seconds,
        proofs: erased,
        delete_seconds,
        deleted_rows,
        floor_seconds,
    })
}

async fn run_sweeps(o: &Options) -> anyhow::Result<()> {
    let people = o.sweep_values.div_ceil(sweep::VALUES_PER_PERSON);
    let dir = tempfile::tempdir()?;
    let mut figures = Vec::new();
    let sqlite_dir = dir.path().to_path_buf();
    figures.push(
        sweep_pair(
            "SQLite",
            async |name: &str| {
                let url = format!("sqlite://{}", sqlite_dir.join(format!("{name}.db")).display());
                Ok(pactum_store_sqlite::SqliteBackend::connect(&url).await?)
            },
            async |b: &pactum_store_sqlite::SqliteBackend| {
                Ok(sqlx::query("DELETE FROM items").execute(b.raw_pool()).await?.rows_affected())
            },
            Some(async |b: &pactum_store_sqlite::SqliteBackend| {
                let (seconds, left) = sweep::sql_floor(b.raw_pool()).await?;
                anyhow::ensure!(left == 0, "the bare SQL left {left} values");
                Ok(seconds)
            }),
            people,
            dir.path(),
        )
        .await?,
    );
    if let Some(pg) = &o.postgres {
        figures.push(
            sweep_pair(
                "PostgreSQL",
                async |name: &str| Ok(FreshSchema::create(pg, name).await?.backend),
                async |b: &pactum_store_postgres::PgBackend| {
                    Ok(sqlx::query("DELETE FROM items").execute(b.raw_pool()).await?.rows_affected())
                },
                None::<fn(&pactum_store_postgres::PgBackend) -> std::future::Ready<anyhow::Result<f64>>>,
                people,
                dir.path(),
            )
            .await?,
        );
    }
    sweep::print(&figures);
    Ok(())
}

/// Access-report and erasure latency on SQLite and, with `--postgres`, on PostgreSQL.
async fn run_rights(o: &Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut figures = Vec::new();
    let url = format!("sqlite://{}", dir.path().join("rights.db").display());
    let sqlite = pactum_store_sqlite::SqliteBackend::connect(&url).await?;
    let pool = sqlite.raw_pool().clone();
    let pactum = start(sqlite, dir.path()).await?;
    let (ids, seed_seconds) = rights::seed(&pactum, o.rights_people).await?;
    let rows = rights::measure(&pactum, &ids, o.samples, async |s: pactum_store::SubjectId| {
        let rows = sqlx::query("SELECT id, category, source, collected_at, value FROM items WHERE subject_id = ?")
            .bind(s.as_bytes().as_slice())
            .fetch_all(&pool)
            .await?;
        Ok(rows.len())
    })
    .await?;
    figures.push(rights::RightsFigures {
        backend: "SQLite",
        people: o.rights_people,
        items: o.rights_people * rights::ITEMS_PER_PERSON,
        seed_seconds,
        samples: o.samples,
        rows,
    });
    // The SQLite store and its files go before PostgreSQL is measured, so nothing of them runs beside it.
    drop((pactum, pool, dir));
    if let Some(pg) = &o.postgres {
        let fresh = FreshSchema::create(pg, "rights").await?;
        let backend = fresh.backend.clone();
        let pool = backend.raw_pool().clone();
        let pg_dir = tempfile::tempdir()?;
        let pactum = start(backend, pg_dir.path()).await?;
        let (ids, seed_seconds) = rights::seed(&pactum, o.rights_people).await?;
        // What autovacuum and the checkpointer do on their own some time after a bulk load:
        // without them, the first minutes after seeding measure the load (its statistics, and
        // gigabytes of pages still to be written out), not the store.
        sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
        sqlx::query("CHECKPOINT").execute(&pool).await?;
        let rows = rights::measure(&pactum, &ids, o.samples, async |s: pactum_store::SubjectId| {
            let rows = sqlx::query("SELECT id, category, source, collected_at, value FROM items WHERE subject_id = $1")
                .bind(s.as_bytes().as_slice())
                .fetch_all(&pool)
                .await?;
            Ok(rows.len())
        })
        .await?;
        // The store is dropped at once, so that its autovacuum does not disturb a later run.
        drop(pactum);
        fresh.drop().await?;
        figures.push(rights::RightsFigures {
            backend: "PostgreSQL",
            people: o.rights_people,
            items: o.rights_people * rights::ITEMS_PER_PERSON,
            seed_seconds,
            samples: o.samples,
            rows,
        });
    }
    rights::print(&figures);
    Ok(())
}

/// A PostgreSQL store in a schema of its own, so that every run starts empty and leaves nothing.
struct FreshSchema {
    backend: pactum_store_postgres::PgBackend,
    schema: String,
    admin: sqlx::PgConnection,
}

impl FreshSchema {
    async fn create(url: &str, name: &str) -> anyhow::Result<FreshSchema> {
        let schema = format!("pactum_bench_{name}_{}", uuid::Uuid::now_v7().simple());
        let options: sqlx::postgres::PgConnectOptions = url.parse()?;
        let mut admin = sqlx::ConnectOptions::connect(&options).await?;
        sqlx::Executor::execute(&mut admin, sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).await?;
        let backend =
            pactum_store_postgres::PgBackend::connect_with(options.options([("search_path", schema.as_str())])).await?;
        Ok(FreshSchema { backend, schema, admin })
    }

    async fn drop(mut self) -> anyhow::Result<()> {
        drop(self.backend);
        let sql = format!("DROP SCHEMA {} CASCADE", self.schema);
        sqlx::Executor::execute(&mut self.admin, sqlx::AssertSqlSafe(sql)).await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    if o.sweep_values > 0 {
        return run_sweeps(&o).await;
    }
    if o.rights_people > 0 {
        return run_rights(&o).await;
    }
    let mut results = Vec::new();
    let bare = bare_axum().await?;
    let dummy = Arc::new(
        |i: usize| serde_json::json!({"session_id": "x", "fields": {"name": format!("Deltager {i}")}, "notice_version": "2026.1"}),
    );
    results.push(run_load("bare axum handler (reference)", bare, o.requests, o.concurrency, dummy).await);

    let dir = tempfile::tempdir()?;
    let sqlite =
        pactum_store_sqlite::SqliteBackend::connect(&format!("sqlite://{}", dir.path().join("bench.db").display()))
            .await?;
    let (base, session) = pactum_server(sqlite, dir.path()).await?;
    run_pactum(&mut results, &o, "SQLite", &base, session, "sqlite").await?;

    if let Some(pg) = &o.postgres {
        let pg_dir = tempfile::tempdir()?;
        let fresh = FreshSchema::create(pg, "load").await?;
        let (base, session) = pactum_server(fresh.backend.clone(), pg_dir.path()).await?;
        run_pactum(&mut results, &o, "PostgreSQL", &base, session, "pg").await?;
        fresh.drop().await?;
    }
    print(&results);
    Ok(())
}
