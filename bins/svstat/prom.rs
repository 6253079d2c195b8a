//! `svstat --prom`: the services' status as Prometheus text (exposition
//! format 0.0.4, what node_exporter's textfile collector reads), one metric
//! family at a time, each sample labelled with the service dir.

use std::fmt::Write as _;

use crate::report::Report;
use upkeep::status::Phase;

const PHASES: [Phase; 7] = [
    Phase::Down,
    Phase::Starting,
    Phase::Up,
    Phase::Ready,
    Phase::Stopping,
    Phase::Finishing,
    Phase::Backoff,
];

/// A label value, escaped as the format asks (backslash, quote, newline).
fn label(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// The exit code and the signal number in a state file's `last_exit`
/// (`CODE`, `signal:NAME`); `None` before the first exit or when unknown.
fn last_exit(text: &str) -> Option<(i64, i64)> {
    if let Some(name) = text.strip_prefix("signal:") {
        let sig: nix::sys::signal::Signal = format!("SIG{name}").parse().ok()?;
        return Some((-1, sig as i64));
    }
    text.parse::<i64>().ok().map(|code| (code, 0))
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

struct Family {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// (extra labels, value) per service
    samples: Vec<(String, String, i64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind,
            help,
            samples: Vec::new(),
        }
    }
    fn add(&mut self, service: &str, extra: &str, value: i64) {
        self.samples
            .push((label(service), extra.to_string(), value));
    }
}

/// The whole text for `(dir, report)` pairs.
pub fn render(reports: &[(String, Report)]) -> String {
    let mut supervised = Family::new(
        "upkeep_service_supervised",
        "gauge",
        "1 when a supervise runs on the service dir.",
    );
    let mut up = Family::new("upkeep_service_up", "gauge", "1 when run is alive.");
    let mut ready = Family::new(
        "upkeep_service_ready",
        "gauge",
        "1 when the service is up and ready (notification-fd or first passing check).",
    );
    let mut want_up = Family::new(
        "upkeep_service_want_up",
        "gauge",
        "1 when supervise wants the service up.",
    );
    let mut normally_up = Family::new(
        "upkeep_service_normally_up",
        "gauge",
        "1 when the service dir has no down file.",
    );
    let mut seconds = Family::new(
        "upkeep_service_state_seconds",
        "gauge",
        "Seconds since run last started or exited.",
    );
    let mut state = Family::new(
        "upkeep_service_state",
        "gauge",
        "1 for supervise's current phase of the service, 0 for the others.",
    );
    let mut restarts = Family::new(
        "upkeep_service_restarts_total",
        "counter",
        "Starts of run after the first, since supervise started.",
    );
    let mut exit_code = Family::new(
        "upkeep_service_last_exit_code",
        "gauge",
        "Exit code of run's last exit (-1 when a signal ended it).",
    );
    let mut exit_signal = Family::new(
        "upkeep_service_last_exit_signal",
        "gauge",
        "Signal number that ended run last (0 when it exited).",
    );
    let mut check_ok = Family::new(
        "upkeep_service_check_ok",
        "gauge",
        "1 when the last health check passed (services with a check only).",
    );
    let mut check_failures = Family::new(
        "upkeep_service_check_failures",
        "gauge",
        "Health checks failed in a row.",
    );
    let mut backoff = Family::new(
        "upkeep_service_backoff_failures",
        "gauge",
        "Fast failures in a row (a crash loop is held back by backoff).",
    );
    let mut next_start = Family::new(
        "upkeep_service_backoff_next_start_seconds",
        "gauge",
        "Seconds until the next start while the service is held back.",
    );

    for (dir, report) in reports {
        let Report::Known {
            status,
            normally_up: normal,
            state: st,
            now,
        } = report
        else {
            supervised.add(dir, "", 0);
            continue;
        };
        supervised.add(dir, "", 1);
        up.add(dir, "", i64::from(status.pid != 0));
        want_up.add(dir, "", i64::from(status.want == upkeep::status::Want::Up));
        normally_up.add(dir, "", i64::from(*normal));
        seconds.add(dir, "", clamp(status.since.seconds_until(now)));
        let Some(st) = st else { continue };
        ready.add(dir, "", i64::from(st.phase == Phase::Ready));
        for phase in PHASES {
            state.add(
                dir,
                &format!(",state=\"{}\"", phase.name()),
                i64::from(st.phase == phase),
            );
        }
        restarts.add(dir, "", clamp(st.restarts));
        if let Some((code, sig)) = last_exit(&st.last_exit) {
            exit_code.add(dir, "", code);
            exit_signal.add(dir, "", sig);
        }
        if st.check != "none" {
            check_ok.add(dir, "", i64::from(st.check == "ok"));
            check_failures.add(dir, "", i64::from(st.check_failures));
        }
        backoff.add(dir, "", i64::from(st.fast_failures));
        if let (Phase::Backoff, Some(next)) = (st.phase, st.next_start) {
            next_start.add(dir, "", clamp(now.seconds_until(&next)));
        }
    }

    let mut out = String::new();
    for f in [
        supervised,
        up,
        ready,
        want_up,
        normally_up,
        seconds,
        state,
        restarts,
        exit_code,
        exit_signal,
        check_ok,
        check_failures,
        backoff,
        next_start,
    ] {
        if f.samples.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind);
        for (service, extra, value) in &f.samples {
            let _ = writeln!(out, "{}{{service=\"{service}\"{extra}}} {value}", f.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn exits_are_split() {
        assert_eq!(last_exit("3"), Some((3, 0)));
        assert_eq!(last_exit("signal:KILL"), Some((-1, 9)));
        assert_eq!(last_exit("unknown"), None);
        assert_eq!(last_exit(""), None);
    }
}
