fn main() -> std::process::ExitCode {
    drover::main()
}
