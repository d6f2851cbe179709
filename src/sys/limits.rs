//! The open-file limit (`RLIMIT_NOFILE`): every connection is a
//! descriptor, so a server, the load generator and a scenario each raise
//! their soft limit toward the hard one before they open many.
//!
//! Raising the soft limit up to the hard limit needs no privilege; the
//! hard limit itself is the administrator's (`ulimit -Hn` as root,
//! `LimitNOFILE=` in a systemd unit).

use std::io;

/// This process's open-file limits, soft and hard.
pub fn descriptor_limits() -> io::Result<(u64, u64)> {
    ::rlimit::Resource::NOFILE.get()
}

/// Raise the soft open-file limit to `wanted`, or to the hard limit if
/// that is lower (`u64::MAX`: as high as it goes); never lowers it.
/// Returns the soft limit now.
pub fn raise_descriptor_limit(wanted: u64) -> io::Result<u64> {
    ::rlimit::increase_nofile_limit(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asking for the most leaves the soft limit at the hard one; asking
    /// for less than there is lowers nothing.
    #[test]
    fn raising_reaches_the_hard_limit_and_never_lowers() {
        let (_, hard) = descriptor_limits().unwrap();
        assert_eq!(raise_descriptor_limit(u64::MAX).unwrap(), hard);
        assert_eq!(raise_descriptor_limit(1).unwrap(), hard);
        assert_eq!(descriptor_limits().unwrap().0, hard);
    }
}
