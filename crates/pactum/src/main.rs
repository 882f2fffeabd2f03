use clap::Parser;

#[tokio::main]
async fn main() {
    let code = pactum::run(pactum::Cli::parse()).await;
    std::process::exit(code);
}
