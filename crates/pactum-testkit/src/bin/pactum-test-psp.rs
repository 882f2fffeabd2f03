//! The test payment service provider as a process of its own, for the browser tests: prints its
//! address on the first line, then serves until killed.
//!
//! `pactum-test-psp [--listen ADDR] [--secret-key KEY] [--webhook-secret SECRET]`

use pactum_testkit::psp::TestPsp;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut listen = "127.0.0.1:0".to_string();
    let mut secret_key = "sk_test_pactum".to_string();
    let mut webhook_secret = "whsec_pactum".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--listen" => listen = value,
            "--secret-key" => secret_key = value,
            "--webhook-secret" => webhook_secret = value,
            other => {
                eprintln!("unknown option {other}; use --listen, --secret-key or --webhook-secret");
                std::process::exit(2);
            }
        }
    }
    let psp = TestPsp::start_on(&listen, &secret_key, &webhook_secret).await?;
    println!("test payment provider on {}", psp.base);
    std::future::pending::<()>().await;
    Ok(())
}
