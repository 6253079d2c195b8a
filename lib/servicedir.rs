//! A service directory's optional configuration files (DESIGN §3). They are
//! read at every start of `run`, so editing them needs no restart of
//! supervise. A bad value is reported once and the default is used: a typo
//! never stops a service.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{duration, runtimefile, signals};

pub const DEFAULT_TIMEOUT_FINISH: Duration = Duration::from_secs(5);
pub const DEFAULT_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CHECK_FAILURES: u32 = 3;

/// Every configuration file a service dir may hold.
pub const CONFIG_FILES: &[&str] = &[
    "timeout-ready",
    "timeout-kill",
    "timeout-finish",
    "down-signal",
    "backoff",
    "notification-fd",
    "check-interval",
    "check-timeout",
    "check-failures",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub timeout_kill: Option<Duration>,
    /// Restart a service that is not ready this long after its start.
    pub timeout_ready: Option<Duration>,
    pub timeout_finish: Duration,
    pub down_signal: i32,
    pub backoff: (Duration, Duration),
    pub notification_fd: Option<i32>,
    pub check_interval: Duration,
    pub check_timeout: Duration,
    pub check_failures: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout_kill: None,
            timeout_ready: None,
            timeout_finish: DEFAULT_TIMEOUT_FINISH,
            down_signal: libc::SIGTERM,
            backoff: DEFAULT_BACKOFF,
            notification_fd: None,
            check_interval: DEFAULT_CHECK_INTERVAL,
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            check_failures: DEFAULT_CHECK_FAILURES,
        }
    }
}

/// Reads a service dir's config, remembering which bad values it already
/// reported so each is reported once, not at every restart.
pub struct ConfigReader {
    dir: PathBuf,
    /// Names in the dir at this load: one readdir instead of a failed open
    /// per absent file, on the restart path.
    present: Vec<std::ffi::OsString>,
    reported: Vec<(&'static str, String)>,
}

impl ConfigReader {
    pub fn new(dir: &Path) -> ConfigReader {
        ConfigReader {
            dir: dir.to_path_buf(),
            present: Vec::new(),
            reported: Vec::new(),
        }
    }

    pub fn load(&mut self) -> Config {
        self.present = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect(),
            // Unlistable: fall back to trying every file.
            Err(_) => CONFIG_FILES.iter().map(std::ffi::OsString::from).collect(),
        };
        let d = Config::default();
        Config {
            timeout_ready: self.value(
                "timeout-ready",
                |t| parse_positive(t).map(Some),
                d.timeout_ready,
            ),
            timeout_kill: self.value(
                "timeout-kill",
                |t| duration::parse(t).map(Some),
                d.timeout_kill,
            ),
            timeout_finish: self.value("timeout-finish", duration::parse, d.timeout_finish),
            down_signal: self.value("down-signal", parse_signal, d.down_signal),
            backoff: self.value("backoff", duration::parse_pair, d.backoff),
            notification_fd: self.value(
                "notification-fd",
                parse_notification_fd,
                d.notification_fd,
            ),
            check_interval: self.value("check-interval", parse_positive, d.check_interval),
            check_timeout: self.value("check-timeout", parse_positive, d.check_timeout),
            check_failures: self.value("check-failures", parse_count, d.check_failures),
        }
    }

    fn value<T>(
        &mut self,
        file: &'static str,
        parse: impl Fn(&str) -> Result<T, String>,
        default: T,
    ) -> T {
        if !self.present.iter().any(|n| n == file) {
            self.reported.retain(|(f, _)| *f != file);
            return default;
        }
        let text = match runtimefile::read_optional(&self.dir.join(file)) {
            Ok(Some(t)) => t,
            Ok(None) => return default,
            Err(e) => {
                self.report(
                    file,
                    format!("unable to read: {}", crate::errors::io_phrase(&e)),
                );
                return default;
            }
        };
        match parse(&text) {
            Ok(v) => {
                self.reported.retain(|(f, _)| *f != file);
                v
            }
            Err(why) => {
                self.report(file, why);
                default
            }
        }
    }

    fn report(&mut self, file: &'static str, why: String) {
        if self.reported.iter().any(|(f, w)| *f == file && *w == why) {
            return;
        }
        crate::errors::warn(
            "supervise",
            format_args!("{}/{file}: {why}; using the default", self.dir.display()),
        );
        self.reported.retain(|(f, _)| *f != file);
        self.reported.push((file, why));
    }
}

fn parse_signal(text: &str) -> Result<i32, String> {
    signals::parse(text).ok_or_else(|| format!("{}: not a signal name", text.trim()))
}

fn parse_notification_fd(text: &str) -> Result<Option<i32>, String> {
    match text.trim().parse::<i32>() {
        // 0, 1 and 2 are run's stdio; a readiness pipe there would break it.
        Ok(n) if (3..1024).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{}: not a file descriptor number from 3 to 1023",
            text.trim()
        )),
    }
}

fn parse_positive(text: &str) -> Result<Duration, String> {
    match duration::parse(text)? {
        d if d.is_zero() => Err(format!("{}: must be more than zero", text.trim())),
        d => Ok(d),
    }
}

fn parse_count(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{}: not a count of at least 1", text.trim())),
    }
}

/// Does DIR/down exist (service normally down)?
pub fn normally_down(dir: &Path) -> std::io::Result<bool> {
    match std::fs::symlink_metadata(dir.join("down")) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_and_falls_back_on_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("timeout-kill"), "250ms\n").unwrap();
        std::fs::write(dir.path().join("down-signal"), "HUP\n").unwrap();
        std::fs::write(dir.path().join("backoff"), "nonsense").unwrap();
        std::fs::write(dir.path().join("notification-fd"), "1").unwrap();
        let c = ConfigReader::new(dir.path()).load();
        assert_eq!(c.timeout_kill, Some(Duration::from_millis(250)));
        assert_eq!(c.down_signal, libc::SIGHUP);
        assert_eq!(c.backoff, DEFAULT_BACKOFF);
        assert_eq!(c.notification_fd, None);
        assert_eq!(c.timeout_finish, DEFAULT_TIMEOUT_FINISH);
    }
}
