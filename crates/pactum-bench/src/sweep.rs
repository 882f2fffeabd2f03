//! The retention sweep's throughput: personal values deleted per second, each person's deletion
//! with its proof and audit entry, for a store where every value has expired; next to a plain SQL
//! `DELETE` of the same rows in a second store seeded the same way, in the same run. On SQLite a
//! third store, seeded alike, measures the floor of the sweep's own writes: the same statements that
//! forget a page of people, and a proof per person, run as one SQL script per page, with nothing
//! read back and no Rust work between pages (see [`sql_floor`]).

use std::sync::Arc;
use std::time::Instant;

use pactum_core::personal::Collection;
use pactum_core::{Clock, Pactum, SystemClock};
use pactum_store::Backend;
use tokio::sync::Semaphore;

/// Values per person: name, e-mail address, phone number, job title.
pub const VALUES_PER_PERSON: usize = 4;

/// Fills `pactum` with `people` course participants whose course ended in 2020, so that all their
/// data is past its retention.
pub async fn seed<B: Backend>(pactum: &Pactum<B, SystemClock>, people: usize, run: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..people {
        let permit = gate.clone().acquire_owned().await?;
        let p = pactum.clone();
        let email = format!("deltager{i}.{run}@eksempel.dk");
        tasks.spawn(async move {
            let _permit = permit;
            p.collect(Collection {
                purpose: "course_enrolment".into(),
                values: vec![
                    ("name".into(), format!("Deltager {i}")),
                    ("email".into(), email),
                    ("phone".into(), format!("+45 {:08}", 20_000_000 + i)),
                    ("title".into(), "Projektleder".into()),
                ],
                source: "bench".into(),
                anchor_date: Some(time::macros::date!(2020 - 01 - 01)),
                actor: "subject".into(),
            })
            .await
        });
        while tasks.len() > 1024 {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(started.elapsed().as_secs_f64())
}

pub struct SweepFigures {
    pub backend: &'static str,
    pub people: usize,
    pub items: usize,
    pub seed_seconds: f64,
    pub sweep_seconds: f64,
    pub proofs: usize,
    pub delete_seconds: f64,
    pub deleted_rows: u64,
    /// Seconds the sweep's writes alone took as bare SQL, where measured (SQLite).
    pub floor_seconds: Option<f64>,
}

/// The sweep's writes alone, on SQLite: for each page of [`FLOOR_PAGE`] people, one script from
/// `BEGIN IMMEDIATE` to `COMMIT` runs every statement that shreds a subject (the very script the
/// sweep runs, `pactum_store_sqlite::forget_script` of `pactum_store::sql::forget::SUBJECTS`) over
/// the page's ids and inserts a deletion proof per person, with one fsync per page as in the sweep. It reads no values,
/// computes no hashes and writes no audit entries, so no sweep on this schema can be faster. Returns
/// the seconds it took and the values left afterwards (0 when it deleted them all).
pub async fn sql_floor(pool: &sqlx::SqlitePool) -> anyhow::Result<(f64, i64)> {
    use pactum_store::sql::forget;
    use pactum_store_sqlite::forget_script;
    let mut conn = pool.acquire().await?;
    let ids: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id FROM subjects ORDER BY id").fetch_all(&mut *conn).await?;
    let started = Instant::now();
    // Each proof's id is its subject's: in time order, as the sweep's UUIDv7 proof ids are (random
    // ids would each dirty a random page of the proofs' key, which the sweep does not pay).
    let proofs = "INSERT INTO deletion_proofs (id, at, record_class, subject_ref, rule, content_hash) \
         SELECT id, 0, 'subject', lower(hex(id)), 'course_enrolment', randomblob(32) FROM temp.forget_ids;\n";
    for page in ids.chunks(FLOOR_PAGE) {
        let forget = forget_script(forget::SUBJECTS, page.iter().map(Vec::as_slice), proofs).unwrap_or_default();
        let script = format!("BEGIN IMMEDIATE;\n{forget}COMMIT;");
        sqlx::raw_sql(sqlx::AssertSqlSafe(script)).execute(&mut *conn).await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM items").fetch_one(&mut *conn).await?;
    Ok((seconds, left))
}

/// People per script in [`sql_floor`], as many as the sweep commits at once.
pub const FLOOR_PAGE: usize = 500;

/// Sweeps `pactum` as of today and times it.
pub async fn sweep<B: Backend>(pactum: &Pactum<B, SystemClock>) -> anyhow::Result<(usize, usize, f64)> {
    let started = Instant::now();
    let report = pactum.run_retention(pactum.clock.today(), false).await?;
    Ok((report.items_deleted, report.subjects_erased, started.elapsed().as_secs_f64()))
}

pub fn print(figures: &[SweepFigures]) {
    println!(
        "| Backend | People | Values | Seed s | Sweep s | Values/s (sweep, with proofs) | Plain DELETE s | Rows/s (plain DELETE) | Values/s (the sweep's writes alone, bare SQL) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for f in figures {
        println!(
            "| {} | {} | {} | {:.1} | {:.2} | {:.0} | {:.3} | {:.0} | {} |",
            f.backend,
            f.people,
            f.items,
            f.seed_seconds,
            f.sweep_seconds,
            f.items as f64 / f.sweep_seconds,
            f.delete_seconds,
            f.deleted_rows as f64 / f.delete_seconds,
            f.floor_seconds.map_or("not measured".to_string(), |s| format!("{:.0}", f.items as f64 / s))
        );
        debug_assert_eq!(f.proofs, f.people);
    }
}
