use clap::Parser;

/// mimalloc: the request paths allocate many small, short-lived values on many threads, where
/// glibc's allocator spent a sixth of the CPU time in the load benchmark (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let code = pactum::run(pactum::Cli::parse()).await;
    std::process::exit(code);
}
