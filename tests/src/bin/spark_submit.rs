//! drover's local spark-submit, as a binary the tests can point client-mode
//! backends at (`CARGO_BIN_EXE_drover-spark-submit`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let code = runtime.block_on(drover_devcluster::spark_submit(args)).unwrap_or_else(|e| {
        eprintln!("spark-submit: {e:#}");
        1
    });
    std::process::exit(code);
}
