//! The README's run command on a fresh machine: `pactum serve` with no settings creates its data
//! directory, database and master key, and serves the notice; later runs reuse them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pactum"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("PACTUM_MASTER_KEY")
        .env_remove("PACTUM_DATA_DIR")
        .env("PACTUM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pactum starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("pactum prints where it serves");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Running { child, base }
}

#[tokio::test]
async fn first_run_needs_no_setup_and_the_second_reuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path());
    let notice = reqwest::get(format!("{}/privatliv", first.base)).await.unwrap();
    assert_eq!(notice.status(), 200);
    assert!(notice.text().await.unwrap().contains("5 år efter endt kursus"));
    assert_eq!(reqwest::get(format!("{}/healthz", first.base)).await.unwrap().status(), 200);
    let en = reqwest::get(format!("{}/en/privacy", first.base)).await.unwrap().text().await.unwrap();
    assert!(en.contains("5 years after the course ends"));

    let data = dir.path().join("pactum-data");
    assert!(data.join("pactum.db").is_file());
    let key = std::fs::read_to_string(data.join("master.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(data.join("master.key")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    }
    drop(first);

    let second = start(dir.path());
    assert_eq!(reqwest::get(format!("{}/healthz", second.base)).await.unwrap().status(), 200);
    assert_eq!(std::fs::read_to_string(data.join("master.key")).unwrap(), key, "the key is reused, never replaced");
}

#[test]
fn a_database_without_its_key_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    drop(start(dir.path()));
    let data = dir.path().join("pactum-data");
    std::fs::rename(data.join("master.key"), dir.path().join("backup.key")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pactum"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("PACTUM_MASTER_KEY")
        .env_remove("PACTUM_DATA_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master key file") && stderr.contains("is missing"), "{stderr}");
    assert!(!data.join("master.key").exists(), "no replacement key is created");
}
