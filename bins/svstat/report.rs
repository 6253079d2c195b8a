//! What svstat says about a service dir: daemontools' exact line, upkeep's
//! long form and JSON. The `ok` FIFO is checked before the status file, so
//! a dead supervisor's stale status is never shown as up.

use std::fmt::Write as _;
use std::path::Path;

use upkeep::control;
use upkeep::errors::{io_phrase, phrase};
use upkeep::status::{self, Phase, State, Status, Want};
use upkeep::tai64::Tai64N;
use upkeep::trust::Trust;

/// A service dir as svstat sees it.
pub enum Report {
    Problem {
        /// The text daemontools prints after `DIR: ` when it cannot report.
        text: String,
        /// Why supervise will not use the dir, as far as svstat can tell.
        refused: Option<String>,
    },
    Known {
        status: Status,
        normally_up: bool,
        state: Option<State>,
        now: Tai64N,
    },
}

/// Why supervise refuses the dir itself, judged as supervise would: for
/// root, the user running svstat, and the owner of supervise/lock (the
/// user a supervise there ran as).
fn refusal(dir: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let mut trust = Trust::for_this_process();
    if let Ok(m) = std::fs::symlink_metadata(dir.join("supervise/lock")) {
        trust = trust.also(m.uid());
    }
    trust.judge_dir(dir)
}

pub fn inspect(dir: &Path) -> Report {
    let problem = |text: String| Report::Problem {
        text,
        refused: refusal(dir),
    };
    if let Err(e) = control::check_dir(dir) {
        return problem(format!("unable to chdir: {}", phrase(e)));
    }
    let normally_up = match upkeep::servicedir::normally_down(dir) {
        Ok(down) => !down,
        Err(e) => return problem(format!("unable to stat down: {}", io_phrase(&e))),
    };
    match control::supervise_running(dir) {
        Ok(true) => {}
        Ok(false) if dir.join("supervise/ok").exists() => {
            return problem("supervise not running".into())
        }
        Ok(false) => return problem("unable to open supervise/ok: file does not exist".into()),
        Err(e) => return problem(format!("unable to open supervise/ok: {}", phrase(e))),
    }
    let status = match status::read_status(dir) {
        Ok(Some(s)) => s,
        Ok(None) => return problem("unable to read supervise/status: bad format".into()),
        Err(e) => {
            return problem(format!(
                "unable to open supervise/status: {}",
                io_phrase(&e)
            ))
        }
    };
    // The state file is ours; one that names another pid is stale or
    // foreign and is not shown. supervise replaces status, then state: a
    // status read after a change and a state read before its rewrite
    // disagree for a moment, so a pair that disagrees is read again, state
    // first — the status read after a state is at least as new.
    let mut status = status;
    let mut state = status::read_state(dir).filter(|st| st.pid == status.pid);
    for _ in 0..3 {
        if state.is_some() {
            break;
        }
        let Some(newer_state) = status::read_state(dir) else {
            break;
        };
        let Ok(Some(newer_status)) = status::read_status(dir) else {
            break;
        };
        status = newer_status;
        state = Some(newer_state).filter(|st| st.pid == status.pid);
    }
    Report::Known {
        status,
        normally_up,
        state,
        now: Tai64N::now(),
    }
}

impl Report {
    /// daemontools' svstat text after `DIR: `.
    pub fn daemontools_text(&self) -> String {
        match self {
            Report::Problem { text, .. } => text.clone(),
            Report::Known {
                status,
                normally_up,
                now,
                ..
            } => {
                let mut s = String::new();
                let pid = status.pid;
                if pid != 0 {
                    let _ = write!(s, "up (pid {pid}) ");
                } else {
                    s.push_str("down ");
                }
                let _ = write!(s, "{} seconds", status.since.seconds_until(now));
                if pid != 0 && !normally_up {
                    s.push_str(", normally down");
                }
                if pid == 0 && *normally_up {
                    s.push_str(", normally up");
                }
                if pid != 0 && status.paused {
                    s.push_str(", paused");
                }
                if pid == 0 && status.want == Want::Up {
                    s.push_str(", want up");
                }
                if pid != 0 && status.want == Want::Down {
                    s.push_str(", want down");
                }
                s
            }
        }
    }

    /// The daemontools text followed by upkeep's extended fields.
    pub fn long_text(&self) -> String {
        let mut s = self.daemontools_text();
        if let Report::Problem {
            refused: Some(why), ..
        } = self
        {
            let _ = write!(s, "; refused: {why}");
        }
        if let Report::Known {
            state: Some(st),
            now,
            ..
        } = self
        {
            let _ = write!(s, "; state {}", st.phase.name());
            if !st.last_exit.is_empty() {
                let _ = write!(s, ", last exit {}", st.last_exit);
            }
            let _ = write!(s, ", restarts {}", st.restarts);
            if st.phase == Phase::Backoff {
                let wait = st.next_start.map(|t| now.seconds_until(&t)).unwrap_or(0);
                let _ = write!(
                    s,
                    ", backoff {} fast failures, next start in {wait} seconds",
                    st.fast_failures
                );
            }
            if st.check != "none" {
                let _ = write!(s, ", check {} ({} failures)", st.check, st.check_failures);
            }
            if !st.refused.is_empty() {
                let _ = write!(s, ", refused: {}", st.refused);
            }
        }
        s
    }

    pub fn json(&self, dir: &str) -> String {
        let mut s = String::from("{");
        let _ = write!(s, "\"dir\":{}", json_string(dir));
        match self {
            Report::Problem { text, refused } => {
                let never_ran = text == "supervise not running"
                    || text.ends_with("supervise/ok: file does not exist");
                let supervise = if never_ran { "false" } else { "null" };
                let _ = write!(
                    s,
                    ",\"supervise\":{supervise},\"error\":{}",
                    json_string(text)
                );
                if let Some(why) = refused {
                    let _ = write!(s, ",\"refused\":{}", json_string(why));
                }
            }
            Report::Known {
                status,
                normally_up,
                state,
                now,
            } => {
                let _ = write!(
                    s,
                    ",\"supervise\":true,\"up\":{},\"pid\":{},\"seconds\":{},\"normally_up\":{},\"paused\":{},\"want\":\"{}\"",
                    status.pid != 0,
                    status.pid,
                    status.since.seconds_until(now),
                    normally_up,
                    status.paused && status.pid != 0,
                    status.want.name()
                );
                if let Some(st) = state {
                    let _ = write!(
                        s,
                        ",\"state\":\"{}\",\"ready\":{},\"last_exit\":{},\"restarts\":{},\"fast_failures\":{},\"check\":{},\"check_failures\":{}",
                        st.phase.name(),
                        st.phase == Phase::Ready,
                        json_string(&st.last_exit),
                        st.restarts,
                        st.fast_failures,
                        json_string(&st.check),
                        st.check_failures
                    );
                    if let Some(next) = st.next_start {
                        let _ = write!(s, ",\"next_start_in\":{}", now.seconds_until(&next));
                    }
                    if !st.refused.is_empty() {
                        let _ = write!(s, ",\"refused\":{}", json_string(&st.refused));
                    }
                }
            }
        }
        s.push('}');
        s
    }
}

/// A JSON string literal.
pub fn json_string(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(pid: u32, want: Want, normally_up: bool, paused: bool) -> Report {
        let now = Tai64N::now();
        let since = Tai64N {
            secs: now.secs - 7,
            nanos: 0,
        };
        Report::Known {
            status: Status {
                since,
                pid,
                paused,
                want,
            },
            normally_up,
            state: None,
            now,
        }
    }

    #[test]
    fn daemontools_wording() {
        assert_eq!(
            known(42, Want::Up, true, false).daemontools_text(),
            "up (pid 42) 7 seconds"
        );
        assert_eq!(
            known(42, Want::Down, false, true).daemontools_text(),
            "up (pid 42) 7 seconds, normally down, paused, want down"
        );
        assert_eq!(
            known(0, Want::Up, true, false).daemontools_text(),
            "down 7 seconds, normally up, want up"
        );
        assert_eq!(
            known(0, Want::Down, false, false).daemontools_text(),
            "down 7 seconds"
        );
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_string("a\"b\\\n"), "\"a\\\"b\\\\\\n\"");
    }
}
