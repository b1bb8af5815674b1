use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = drover::Cli::parse();
    match drover::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
