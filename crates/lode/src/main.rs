//! The `lode` binary: the CLI of [`lode::cli`], and the allocator it runs on.

/// With the emulators in the process (`lode up`, `lode emulator serve`, the local environment),
/// lode is a long-running server whose Delta and DataFusion work allocates large buffers for
/// moments (the Delta log reader alone takes about 3 MiB per commit file it decodes, several
/// times a second) from many threads. glibc's malloc gives each thread an arena and returns an
/// arena's memory to the system only from its top, so a `lode up` of ten minutes kept growing
/// by 12-17 MB a minute while its live heap stayed near 25 MB; jemalloc returns unused pages
/// after a few seconds wherever they are, so resident memory follows what is live
/// (docs/performance.md, "The live stack").
#[cfg(all(feature = "emulators", target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    lode::cli::main()
}
