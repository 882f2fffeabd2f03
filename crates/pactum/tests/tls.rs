//! P23: TLS built in. `pactum serve --tls-cert --tls-key --redirect-http` refuses TLS 1.0 and 1.1,
//! speaks TLS 1.2 and 1.3, sends HSTS on every HTTPS response, and its plain-HTTP listener only
//! redirects. Behind a reverse proxy, `X-Forwarded-Proto` and `X-Forwarded-For` count only from a
//! configured proxy address.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pactum_store_sqlite::SqliteBackend;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Running {
    child: Child,
    https: String,
    redirect: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for localhost and 127.0.0.1, written as PEM files.
fn certificate(dir: &Path) -> CertificateDer<'static> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    cert.cert.der().clone()
}

fn start(dir: &Path, extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pactum"))
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert", "cert.pem", "--tls-key", "key.pem"])
        .args(extra)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("PACTUM_MASTER_KEY")
        .env_remove("PACTUM_DATA_DIR")
        .env_remove("PACTUM_PUBLIC_URL")
        .env("PACTUM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("pactum starts");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).expect("pactum prints where it serves");
    let mut second = String::new();
    reader.read_line(&mut second).unwrap();
    std::thread::spawn(move || for _ in reader.lines().map_while(Result::ok) {});
    let address = |line: &str, scheme: &str| {
        line.split_whitespace().find(|w| w.starts_with(scheme)).map(str::to_string).unwrap_or_default()
    };
    Running { https: address(&first, "https://"), redirect: address(&second, "http://"), child }
}

fn client_config(
    root: &CertificateDer<'static>,
    version: &'static rustls::SupportedProtocolVersion,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One HTTP/1.1 GET over TLS; returns the negotiated version and the whole response as text.
async fn https_get(
    base: &str,
    path: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<(rustls::ProtocolVersion, String)> {
    let address = base.trim_start_matches("https://");
    let tcp = TcpStream::connect(address).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
    let version = tls.get_ref().1.protocol_version().unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await?;
    Ok((version, String::from_utf8_lossy(&response).into_owned()))
}

/// A ClientHello that offers only `version` (0x0301 = TLS 1.0, 0x0302 = TLS 1.1) and no
/// supported_versions extension, but otherwise what the server could accept (ECDHE with AES-GCM,
/// P-256 and x25519, ECDSA signatures), so that the version is the only thing it can refuse.
fn legacy_client_hello(version: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // no session id
    let suites: [u16; 4] = [0xc02b, 0xc02f, 0xc013, 0x002f];
    body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // null compression only
    // Extensions: supported groups (x25519, P-256), EC point formats, signature algorithms
    // (ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256).
    let extensions: Vec<u8> = [
        &[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17][..],
        &[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00][..],
        &[0x00, 0x0d, 0x00, 0x08, 0x00, 0x06, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01][..],
    ]
    .concat();
    body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1u8]; // ClientHello
    handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![22u8, 0x03, 0x01]; // handshake record
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Sends `hello` and returns what the server answers before it closes the connection.
async fn answer_to(base: &str, hello: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(base.trim_start_matches("https://")).await.unwrap();
    tcp.write_all(hello).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    answer
}

fn header<'r>(response: &'r str, name: &str) -> Option<&'r str> {
    let head = response.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn p23_tls_12_and_13_only_with_hsts_and_plain_http_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let root = certificate(dir.path());
    let server = start(dir.path(), &["--redirect-http", "127.0.0.1:0"]);
    assert!(server.https.starts_with("https://127.0.0.1:"), "{}", server.https);
    assert!(server.redirect.starts_with("http://127.0.0.1:"), "{}", server.redirect);

    for (version, expected) in [
        (&rustls::version::TLS13, rustls::ProtocolVersion::TLSv1_3),
        (&rustls::version::TLS12, rustls::ProtocolVersion::TLSv1_2),
    ] {
        let (negotiated, response) =
            https_get(&server.https, "/privatliv", client_config(&root, version)).await.unwrap();
        assert_eq!(negotiated, expected);
        assert!(response.starts_with("HTTP/1.1 200"), "{}", &response[..response.len().min(200)]);
        assert_eq!(header(&response, "strict-transport-security"), Some("max-age=31536000"));
        assert!(response.contains("5 år efter endt kursus"), "the notice itself, over TLS");
    }
    // HSTS on every HTTPS response, errors included.
    let (_, missing) =
        https_get(&server.https, "/no-such-page", client_config(&root, &rustls::version::TLS13)).await.unwrap();
    assert!(missing.starts_with("HTTP/1.1 404"), "{}", &missing[..missing.len().min(100)]);
    assert_eq!(header(&missing, "strict-transport-security"), Some("max-age=31536000"));
    // Links in mail and the staff cookie assume HTTPS: the first admin's link is an https:// one.
    let (_, admin) =
        https_get(&server.https, "/admin/login", client_config(&root, &rustls::version::TLS13)).await.unwrap();
    assert!(admin.starts_with("HTTP/1.1 200"));

    // TLS 1.0 and 1.1 are refused with a protocol_version alert (level fatal, description 70).
    for legacy in [0x0301u16, 0x0302] {
        let answer = answer_to(&server.https, &legacy_client_hello(legacy)).await;
        assert!(answer.len() >= 7, "an alert, not silence: {answer:?}");
        assert_eq!(answer[0], 21, "an alert record, not a ServerHello: {answer:?}");
        assert_eq!(&answer[5..7], &[2, 70], "fatal protocol_version for {legacy:#06x}: {answer:?}");
    }

    // Plain HTTP only redirects, to the same path and query under the https:// address.
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for method in [reqwest::Method::GET, reqwest::Method::POST] {
        let response =
            plain.request(method.clone(), format!("{}/kurser?lang=en", server.redirect)).send().await.unwrap();
        assert_eq!(response.status(), 308, "{method}");
        assert_eq!(
            response.headers()["location"].to_str().unwrap(),
            format!("{}/kurser?lang=en", server.https),
            "{method}"
        );
        assert!(response.headers().get("strict-transport-security").is_none(), "HSTS means nothing over HTTP");
    }
    // A forged Host header cannot turn the redirect into an open one.
    let forged = plain.get(format!("{}/", server.redirect)).header("host", "evil.example").send().await.unwrap();
    assert_eq!(forged.headers()["location"].to_str().unwrap(), format!("{}/", server.https));
}

#[test]
fn tls_settings_that_cannot_work_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    certificate(dir.path());
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_pactum"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("PACTUM_MASTER_KEY")
            .env_remove("PACTUM_PUBLIC_URL")
            .env("PACTUM_LOG", "off")
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, error) = run(&["--tls-cert", "cert.pem"]);
    assert_eq!(code, Some(2));
    assert!(error.contains("--tls-cert and --tls-key go together"), "{error}");
    let (code, error) = run(&["--redirect-http", "127.0.0.1:0"]);
    assert_eq!(code, Some(2));
    assert!(error.contains("--redirect-http") && error.contains("--tls-cert"), "{error}");
    let (code, error) = run(&["--tls-cert", "cert.pem", "--tls-key", "missing.pem"]);
    assert_eq!(code, Some(2));
    assert!(error.contains("missing.pem"), "{error}");
    let (code, error) = run(&["--tls-cert", "key.pem", "--tls-key", "key.pem"]);
    assert_eq!(code, Some(2));
    assert!(error.contains("key.pem") && error.contains("no PEM certificate"), "{error}");
    let (code, error) =
        run(&["--tls-cert", "cert.pem", "--tls-key", "key.pem", "--public-url", "http://kurser.example.dk"]);
    assert_eq!(code, Some(2));
    assert!(error.contains("https://"), "{error}");
    let (code, error) = run(&["--trusted-proxy", "10.0.0.0/40"]);
    assert_eq!(code, Some(2));
    assert!(error.contains("10.0.0.0/40"), "{error}");
    assert!(!dir.path().join("pactum-data").exists(), "nothing was created by a refused start");
}

async fn proxied_server(trusted: &[&str]) -> common::Server {
    let dir = tempfile::tempdir().unwrap();
    let backend =
        SqliteBackend::connect(&format!("sqlite://{}", dir.path().join("pactum.db").display())).await.unwrap();
    let options = pactum_web::WebOptions {
        consent_decisions_per_minute: 2,
        trusted_proxies: pactum_web::transport::TrustedProxies::parse(trusted).unwrap(),
        ..Default::default()
    };
    common::serve_with(backend, common::bundled(), dir, options).await
}

async fn decision_statuses(server: &common::Server, forwarded_for: &[&str]) -> Vec<u16> {
    let config: serde_json::Value =
        reqwest::get(format!("{}/consent/config?lang=da", server.base)).await.unwrap().json().await.unwrap();
    let body = serde_json::json!({
        "device_id": "dev_0123456789abcdefABCDEF", "granted": [], "method": "click",
        "cookie_version": config["cookie_version"],
    });
    let mut statuses = Vec::new();
    for client in forwarded_for {
        let response = reqwest::Client::new()
            .post(format!("{}/consent/decisions", server.base))
            .header("x-forwarded-for", *client)
            .json(&body)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn p23_forwarded_headers_count_only_from_a_trusted_proxy() {
    let forwarded = |server: &common::Server, proto: &'static str| {
        reqwest::Client::new().get(format!("{}/privatliv", server.base)).header("x-forwarded-proto", proto).send()
    };
    let behind_proxy = proxied_server(&["127.0.0.1"]).await;
    let https = forwarded(&behind_proxy, "https").await.unwrap();
    assert_eq!(https.headers()["strict-transport-security"], "max-age=31536000");
    let http = forwarded(&behind_proxy, "http").await.unwrap();
    assert!(http.headers().get("strict-transport-security").is_none());
    // Each forwarded client has its own rate limit (2 a minute here), keyed on the proxy's word.
    let clients = ["198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2"];
    assert_eq!(decision_statuses(&behind_proxy, &clients).await, vec![201, 201, 429, 201]);

    // The same headers from a peer that is not a trusted proxy change nothing.
    let direct = proxied_server(&["192.0.2.1"]).await;
    let spoofed = forwarded(&direct, "https").await.unwrap();
    assert!(spoofed.headers().get("strict-transport-security").is_none(), "a client cannot claim HTTPS");
    let clients = ["198.51.100.1", "198.51.100.2", "198.51.100.3"];
    assert_eq!(decision_statuses(&direct, &clients).await, vec![201, 201, 429], "a client cannot dodge the limit");
}
