//! The hand-off between svscanboot and the svscan it starts.

/// Set by svscanboot, whose svscan starts with stdout the readproctitle
/// pipe and stderr still svscanboot's own (the journal): once svscan runs,
/// its errors (and its services') follow stdout; a fatal error before that
/// is seen where svscanboot's are.
pub const HANDOFF_ENV: &str = "SVSCANBOOT_HANDOFF";
