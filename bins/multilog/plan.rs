//! What a log directory still has to do: the steps of rotation and
//! recovery (run by steps.rs), queued in a LogDir. On their own so that a
//! LogDir can hold them without the two modules importing each other.

use std::os::fd::OwnedFd;

use nix::unistd::Pid;

/// A processor that is running.
#[derive(Debug)]
pub struct Running {
    pub pid: Pid,
    /// None if pidfds are unavailable: then the retry timer polls.
    pub pidfd: Option<OwnedFd>,
}

#[derive(Debug)]
pub enum Step {
    Fsync,
    RenameCurrent,
    OpenCurrent,
    ChmodPrevious,
    RunProcessor,
    WaitProcessor(Running),
    SyncProcessed,
    SyncNewstate,
    UnlinkPrevious,
    RenameNewstate,
    /// Turn a file into an old log file `@TAI64N.code`, then prune.
    Finish(&'static str, char),
    Link(&'static str, char),
    Unlink(&'static str),
    Prune,
    CreateState,
    CreateCurrent,
    CloseSync,
    CloseChmod,
}
