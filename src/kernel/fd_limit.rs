//! Raises this process's soft limit on open descriptors to its hard limit, once.
//!
//! Many guests share one OS process here, each capped by `limits.max_open_files`; the
//! soft limit (often 1024) would otherwise be hit long before any guest's own cap. Go's
//! runtime does the same at start-up, for the same reason.

pub fn raise_to_hard_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(unix)]
        unsafe {
            // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
            let mut limit: libc::rlimit = std::mem::zeroed();
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0
                && limit.rlim_cur < limit.rlim_max
            {
                limit.rlim_cur = limit.rlim_max;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    tracing::debug!("could not raise the open-file limit");
                }
            }
        }
    });
}
