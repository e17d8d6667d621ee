fn main() -> std::process::ExitCode {
    lode::cli::main()
}
