//! The `bulwark` binary: see `bulwark --help`.

fn main() -> std::process::ExitCode {
    bulwark_server::cli::main()
}
