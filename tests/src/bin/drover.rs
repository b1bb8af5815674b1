//! The `drover` command, built inside this package so its tests can run it
//! (`CARGO_BIN_EXE_drover-cli-under-test`).

fn main() -> std::process::ExitCode {
    drover::main()
}
