//! The README's run command on a fresh machine: `pactum serve` with no settings creates its data
//! directory, database and master key, and serves the notice; later runs reuse them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Running {
    child: Child,
    base: String,
    /// The lines the server prints after its address (the first admin's setup link).
    rest: std::sync::mpsc::Receiver<String>,
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
    let mut reader = BufReader::new(stdout);
    let mut line = String::new();
    reader.read_line(&mut line).expect("pactum prints where it serves");
    // Keep reading, so the server never writes into a closed pipe.
    let (lines, rest) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Running { child, base, rest }
}

/// Runs a `pactum` command in `dir` as a user would, with no settings from this environment.
fn pactum(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pactum"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("PACTUM_MASTER_KEY")
        .env_remove("PACTUM_DATA_DIR")
        .env_remove("PACTUM_PUBLIC_URL")
        .output()
        .expect("the pactum binary runs")
}

#[tokio::test]
async fn first_run_needs_no_setup_and_the_second_reuses_everything() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path());
    let notice = reqwest::get(format!("{}/privatliv", first.base)).await.unwrap();
    assert_eq!(notice.status(), 200);
    assert!(notice.text().await.unwrap().contains("5 år efter endt kursus"));
    assert_eq!(reqwest::get(format!("{}/healthz", first.base)).await.unwrap().status(), 200);
    // The first start offers a one-time link to set up the first admin account.
    let line = first.rest.recv_timeout(std::time::Duration::from_secs(10)).expect("a second line");
    let setup = line.split_whitespace().find(|w| w.contains("/admin/setup/")).expect("a setup link");
    assert!(setup.starts_with(&first.base), "{setup}");
    let page = reqwest::get(setup).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Opret din adgang"));
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
    let out = pactum(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("master key file") && stderr.contains("is missing"), "{stderr}");
    assert!(!data.join("master.key").exists(), "no replacement key is created");
}

/// DESIGN invariant 8: a full sign-up and order flow at debug level logs none of the personal values used.
#[tokio::test]
async fn no_personal_data_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pactum"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("PACTUM_MASTER_KEY")
        .env_remove("PACTUM_DATA_DIR")
        .env("PACTUM_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain the log from the start: a full pipe would stall the server.
    let mut stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
        log
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap().to_string();
    let client = reqwest::Client::new();
    let form = client.get(format!("{base}/nyhedsbrev")).send().await.unwrap().text().await.unwrap();
    let token = form.split("name=\"form_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let values = [("name", "Zacharias Zeuthen"), ("email", "zz.logtest@eksempel.dk")];
    let response = client
        .post(format!("{base}/nyhedsbrev"))
        .form(&[("form_token", token.as_str()), ("notice_version", "2026.1"), values[0], values[1], ("consent", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let courses = client.get(format!("{base}/kurser/prince2-foundation")).send().await.unwrap().text().await.unwrap();
    let link = courses
        .split("href=\"")
        .find(|s| s.starts_with("/kurser/prince2-foundation/tilmelding/"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let form = client.get(format!("{base}{link}")).send().await.unwrap().text().await.unwrap();
    let token = form.split("name=\"form_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let response = client
        .post(format!("{base}{link}"))
        .form(&[
            ("form_token", token.as_str()),
            ("notice_version", "2026.1"),
            values[0],
            values[1],
            ("phone", "+45 29 87 65 43"),
            ("newsletter", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // An order as a company for a colleague, with an invoice and its confirmation mail.
    let order_link = courses
        .split("href=\"")
        .find(|s| s.starts_with("/kurser/prince2-foundation/bestil/"))
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let form = client.get(format!("{base}{order_link}")).send().await.unwrap().text().await.unwrap();
    let token = form.split("name=\"form_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let response = client
        .post(format!("{base}{order_link}"))
        .form(&[
            ("form_token", token.as_str()),
            ("notice_version", "2026.1"),
            ("seats", "1"),
            ("ordered_as", "company"),
            ("buyer_name", "Zacharias Zeuthen"),
            ("buyer_email", "zz.logtest@eksempel.dk"),
            ("buyer_company", "Zeuthen Logtest ApS"),
            ("buyer_address", "Xylofonvej 99, 9999 Ydby"),
            ("cvr", "98765432"),
            ("purchase_order", "PO-LOGTEST"),
            ("p1_name", "Quirin Quistgaard"),
            ("p1_email", "qq.logtest@eksempel.dk"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    // Let the mail worker write its .eml files and log about it, then stop the server.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    child.wait().unwrap();
    let log = log_reader.join().unwrap();
    assert!(log.contains("mail delivery round"), "the log is at debug level and saw the mail go out:\n{log}");
    for value in [
        "Zacharias",
        "Zeuthen",
        "zz.logtest",
        "Quirin",
        "Quistgaard",
        "qq.logtest",
        "eksempel.dk",
        "29 87 65 43",
        "4529876543",
        "Xylofonvej",
        "98765432",
        "LOGTEST",
    ] {
        assert!(!log.contains(value), "the log contains personal data ({value})");
    }
    let mail_dir = dir.path().join("pactum-data/mail");
    assert!(
        std::fs::read_dir(&mail_dir).map(|d| d.count()).unwrap_or(0) >= 1,
        "without SMTP, mail is written as .eml files"
    );
}

/// A `pactum` command run beside the server, on the same data directory, writes to the same audit
/// chain as the server does. The server goes on taking sign-ups after it (never a 500 for a chain
/// head it held from before), and the chain the two wrote verifies.
#[tokio::test]
async fn a_command_run_beside_the_server_leaves_it_working_and_the_chain_whole() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path());
    let client = reqwest::Client::new();
    let courses: serde_json::Value =
        client.get(format!("{}/api/v1/courses", running.base)).send().await.unwrap().json().await.unwrap();
    let session = courses.as_array().unwrap().iter().find(|c| c["slug"] == "prince2-foundation").unwrap()["sessions"]
        [0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let enrol = |email: &'static str| {
        client.post(format!("{}/api/v1/enrolments", running.base)).json(&serde_json::json!({
            "session_id": session,
            "fields": {"name": "Ane Jensen", "email": email},
            "notice_version": "2026.1",
        }))
    };
    assert_eq!(enrol("ane.foer@eksempel.dk").send().await.unwrap().status(), 201);

    let catalogue = dir.path().join("catalogue.toml");
    std::fs::write(
        &catalogue,
        "[[course]]\nslug = \"ekstra\"\ntitle = { da = \"Ekstra\", en = \"Extra\" }\nsummary = { da = \"-\", en = \"-\" }\n",
    )
    .unwrap();
    let imported = pactum(dir.path(), &["catalogue", "import", catalogue.to_str().unwrap()]);
    assert_eq!(imported.status.code(), Some(0), "{}", String::from_utf8_lossy(&imported.stderr));

    let after = enrol("ane.efter@eksempel.dk").send().await.unwrap();
    assert_eq!(after.status(), 201, "{}", after.text().await.unwrap());
    drop(running);
    let verified = pactum(dir.path(), &["audit", "verify"]);
    assert_eq!(verified.status.code(), Some(0), "{}", String::from_utf8_lossy(&verified.stdout));
}

/// A command run without `--public-url` on the data directory of a server started with another
/// address puts that server's address in the links it makes (here a staff setup link; a
/// newsletter's unsubscribe links alike), not the default one.
#[test]
fn a_command_makes_links_to_where_the_server_is_reached() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path());
    assert!(!running.base.ends_with(":8080"), "the test server runs on a port of its own: {}", running.base);
    let created = pactum(dir.path(), &["admin", "create", "--username", "koordinator", "--role", "coordinator"]);
    assert_eq!(created.status.code(), Some(0), "{}", String::from_utf8_lossy(&created.stderr));
    let stdout = String::from_utf8_lossy(&created.stdout);
    assert!(stdout.contains(&format!("{}/admin/setup/", running.base)), "{stdout}");
}

/// A server and a master key rotation never run at once: the rotation would re-wrap every key under
/// a master key the running server does not hold, and the keys of people signing up meanwhile would
/// be wrapped under one the next start no longer loads.
#[tokio::test]
async fn key_rotate_refuses_while_a_server_runs_and_a_server_waits_for_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pactum-data");
    let running = start(dir.path());
    let refused = pactum(dir.path(), &["key", "rotate"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("1 Pactum server(s) are running against this database (on "), "{stderr}");
    assert!(stderr.contains("Stop every server, then run `pactum key rotate` again; nothing was changed"), "{stderr}");
    assert!(!data.join("master.key.next").exists(), "no new key was made");
    // The server still works after the refusal.
    let health = reqwest::get(format!("{}/healthz", running.base)).await.unwrap();
    assert_eq!(health.status(), 200);

    // Stopped as an operator stops it, the server gives its registration up: the rotation runs.
    let mut running = running;
    let _ = Command::new("kill").args(["-TERM", &running.child.id().to_string()]).status();
    assert!(running.child.wait().unwrap().success());
    let rotated = pactum(dir.path(), &["key", "rotate"]);
    assert_eq!(rotated.status.code(), Some(0), "{}", String::from_utf8_lossy(&rotated.stderr));
    drop(running);

    // While a rotation holds its lease (as one running in another process does, here for two more
    // seconds), no server starts and no second rotation either.
    {
        use pactum_core::Clock;
        use pactum_core::keyfile::{KeySource, load};
        let url = format!("sqlite://{}", data.join("pactum.db").display());
        let backend = pactum_store_sqlite::SqliteBackend::connect(&url).await.unwrap();
        let policy = pactum_policy::parse_policy("metier.toml", pactum_policy::BUNDLED_POLICY).unwrap();
        let ring = load(KeySource::File { path: data.join("master.key"), may_create: false }).unwrap();
        let clock = pactum_core::SystemClock;
        let p =
            pactum_core::Pactum::start(backend, ring, policy, clock, pactum_core::Settings::default()).await.unwrap();
        let now = clock.now_micros();
        let lease = pactum_store::Op::TakeLease {
            job: pactum_core::running::ROTATION_LEASE.into(),
            holder: "elsewhere:rotation".into(),
            now,
            until: now + 2_000_000,
        };
        p.store.commit(pactum_store::Change { at: now, ops: vec![lease], audit: Vec::new() }).await.unwrap();
    }
    let waiting = pactum(dir.path(), &["serve", "--listen", "127.0.0.1:0"]);
    assert_ne!(waiting.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&waiting.stderr);
    assert!(stderr.contains("the master key is being rotated"), "{stderr}");
    assert!(stderr.contains("run `pactum key rotate` again after"), "{stderr}");
    let second = pactum(dir.path(), &["key", "rotate"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("nor a second rotation may run"));
    // Once the interrupted rotation's lease has run out, a rotation runs again and finishes.
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let resumed = pactum(dir.path(), &["key", "rotate"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("master key rotated"));

    // A server killed outright cannot give its registration up, and counts as running until it
    // runs out; the message says so, with the time.
    let mut killed = start(dir.path());
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    let refused = pactum(dir.path(), &["key", "rotate"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("A server that was killed counts as running until its registration runs out at"),
        "{stderr}"
    );
    drop(killed);
}
