//! The `bulwark` binary: see `bulwark --help`.

/// mimalloc instead of glibc's allocator: the token path allocates many small, short-lived
/// objects (form, claims, JSON, TLS records), where glibc's malloc/free/consolidate cost
/// about 12% of server CPU under load (perf, December 2026).
/// (`--no-default-features` leaves the system allocator, for heap profilers.)
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    bulwark_server::cli::main()
}
