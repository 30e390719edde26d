fn main() -> std::process::ExitCode {
    drbook::cli::main()
}
