//! glibc's allocator gives threads that allocate at the same time arenas
//! of their own, up to eight per core, and keeps their freed memory. The
//! hub's threads come and go (bodies are decoded on tokio's blocking pool),
//! so under a sustained flood its memory grew in steps that were arenas,
//! not state: in the 30-minute flood (docs/reliability.md) two arenas
//! ended 50 MiB lower, without the 30 MiB step, at the same rate and lag.

/// Caps glibc's arenas at two for this process, unless `MALLOC_ARENA_MAX`
/// already says how many (the operator's word wins). Call it at start,
/// before threads are spawned. Does nothing on other allocators.
pub fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called at
    // start, and glibc serializes it against allocations anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
