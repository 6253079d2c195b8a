//! What /proc says about a process: enough to tell the same process from a
//! later one that reused its pid (the start time), and whether it is alive.

use nix::unistd::Pid;

/// Fields of /proc/PID/stat after the command name (which may contain
/// spaces and parentheses, so split at the last ')').
fn stat_fields(pid: Pid) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = text.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The process's start time in clock ticks since boot (field 22), which
/// with the pid identifies one process for the machine's uptime.
pub fn start_time(pid: Pid) -> Option<u64> {
    // Field 3 (state) is the first after ')': field 22 is index 19.
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// Alive and not a zombie.
pub fn is_running(pid: Pid) -> bool {
    stat_fields(pid)
        .and_then(|f| f.first().cloned())
        .is_some_and(|state| state != "Z" && state != "X")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process() {
        let me = nix::unistd::getpid();
        assert!(is_running(me));
        assert!(start_time(me).is_some_and(|t| t > 0));
    }
}
