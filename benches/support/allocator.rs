//! The benches run on the allocator the `authproof` binary ships with (`src/main.rs`), so that
//! what runs in process is measured as it runs in production.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
