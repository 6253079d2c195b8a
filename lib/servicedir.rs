//! A service directory's optional configuration files (doc/DESIGN.md, A service directory). They are
//! read at every start of `run`, so editing them needs no restart of
//! supervise. A bad value is reported once and the default is used: a typo
//! never stops a service.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{duration, signals};

const DEFAULT_TIMEOUT_FINISH: Duration = Duration::from_secs(5);
const DEFAULT_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_CHECK_FAILURES: u32 = 3;

/// The programs supervise runs from a service dir.
pub const PROGRAMS: [&str; 3] = ["run", "finish", "check"];

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
    /// KILL after the down signal; `None` (no file, or 0 as in s6): never.
    pub timeout_kill: Option<Duration>,
    /// Restart a service that is not ready this long after its start.
    pub timeout_ready: Option<Duration>,
    /// finish's time limit; `None` (0 as in s6): no limit.
    pub timeout_finish: Option<Duration>,
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
            timeout_finish: Some(DEFAULT_TIMEOUT_FINISH),
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
    /// Which of [`CONFIG_FILES`] (bit i for the i-th) were in the dir at
    /// this load: one listing instead of a failed open per absent file.
    present: u32,
    reported: Vec<(&'static str, String)>,
}

/// Every file of [`CONFIG_FILES`] present.
const ALL_PRESENT: u32 = (1 << CONFIG_FILES.len()) - 1;

impl ConfigReader {
    pub fn new(dir: &Path) -> ConfigReader {
        ConfigReader {
            dir: dir.to_path_buf(),
            present: 0,
            reported: Vec::new(),
        }
    }

    pub fn load(&mut self) -> Config {
        // Unlistable: fall back to trying every file.
        self.present = config_files_in(&self.dir).unwrap_or(ALL_PRESENT);
        let d = Config::default();
        Config {
            timeout_ready: self.value(
                "timeout-ready",
                |t| parse_positive(t).map(Some),
                d.timeout_ready,
            ),
            timeout_kill: self.value("timeout-kill", parse_limit, d.timeout_kill),
            timeout_finish: self.value("timeout-finish", parse_limit, d.timeout_finish),
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
        if listed_missing(self.present, file) {
            self.reported.retain(|(f, _)| *f != file);
            return default;
        }
        let text = match read_config(&self.dir.join(file)) {
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

/// Was `file` missing from the dir at the last listing? Only a name of
/// [`CONFIG_FILES`] can be known missing; another is always tried.
fn listed_missing(present: u32, file: &str) -> bool {
    CONFIG_FILES
        .iter()
        .position(|f| *f == file)
        .is_some_and(|i| present & (1 << i) == 0)
}

/// Which of [`CONFIG_FILES`] are in `dir`, listed without the heap (on
/// supervise's restart path).
fn config_files_in(dir: &Path) -> Result<u32, nix::errno::Errno> {
    use nix::fcntl::{open, OFlag};
    let fd = open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        nix::sys::stat::Mode::empty(),
    )?;
    let mut present = 0;
    crate::dirlist::for_each_name(&fd, |name| {
        if let Some(i) = CONFIG_FILES.iter().position(|f| f.as_bytes() == name) {
            present |= 1 << i;
        }
    })?;
    Ok(present)
}

/// A configuration file's first line, as s6-supervise reads it; `Ok(None)`
/// when it does not exist. Only a regular file is read, without blocking: a
/// FIFO there (by mistake) must not hang supervise.
fn read_config(path: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // A value is a line; more than this is no value of ours.
    let mut bytes = Vec::new();
    file.by_ref().take(4096).read_to_end(&mut bytes)?;
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(Some(String::from_utf8_lossy(line).into_owned()))
}

fn parse_signal(text: &str) -> Result<i32, String> {
    // 0, as in s6: `d` sends no signal (only CONT; timeout-kill still KILLs).
    if text.trim() == "0" {
        return Ok(0);
    }
    signals::parse(text).ok_or_else(|| format!("{}: not a signal name", text.trim()))
}

fn parse_notification_fd(text: &str) -> Result<Option<i32>, String> {
    match text.trim().parse::<i32>() {
        // As in s6, 0, 1 and 2 are allowed: the pipe then replaces that
        // stdio descriptor of run (a daemon that says it is ready on its
        // stdout), and is closed once it said so.
        Ok(n) if (0..1024).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "{}: not a file descriptor number from 0 to 1023",
            text.trim()
        )),
    }
}

/// A time limit where 0 means none, as s6 reads `timeout-kill` and
/// `timeout-finish`.
fn parse_limit(text: &str) -> Result<Option<Duration>, String> {
    duration::parse(text).map(|d| (!d.is_zero()).then_some(d))
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
    fn only_a_listed_name_is_known_missing() {
        assert!(listed_missing(0, "backoff"));
        assert!(!listed_missing(ALL_PRESENT, "backoff"));
        assert!(!listed_missing(0, "not-a-config-file"));
    }

    #[test]
    fn reads_values_and_falls_back_on_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("timeout-kill"), "250ms\n").unwrap();
        std::fs::write(dir.path().join("down-signal"), "HUP\n").unwrap();
        std::fs::write(dir.path().join("backoff"), "nonsense").unwrap();
        std::fs::write(dir.path().join("notification-fd"), "1024").unwrap();
        let c = ConfigReader::new(dir.path()).load();
        assert_eq!(c.timeout_kill, Some(Duration::from_millis(250)));
        assert_eq!(c.down_signal, libc::SIGHUP);
        assert_eq!(c.backoff, DEFAULT_BACKOFF);
        assert_eq!(c.notification_fd, None);
        assert_eq!(c.timeout_finish, Some(DEFAULT_TIMEOUT_FINISH));
    }

    #[test]
    fn a_fifo_is_no_config_file_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        nix::unistd::mkfifo(
            &dir.path().join("timeout-kill"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let c = ConfigReader::new(dir.path()).load();
        assert_eq!(c.timeout_kill, None);
    }

    #[test]
    fn only_the_first_line_counts_as_in_s6() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("timeout-finish"), "0\nno limit, as in s6\n").unwrap();
        std::fs::write(dir.path().join("down-signal"), "HUP\n# not TERM\n").unwrap();
        let c = ConfigReader::new(dir.path()).load();
        assert_eq!(c.timeout_finish, None);
        assert_eq!(c.down_signal, libc::SIGHUP);
    }

    #[test]
    fn s6_edge_values() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("down-signal"), "0\n").unwrap();
        std::fs::write(dir.path().join("notification-fd"), "1\n").unwrap();
        let c = ConfigReader::new(dir.path()).load();
        assert_eq!(c.down_signal, 0);
        assert_eq!(c.notification_fd, Some(1));
        std::fs::write(dir.path().join("down-signal"), "65\n").unwrap();
        std::fs::write(dir.path().join("notification-fd"), "-1\n").unwrap();
        let c = ConfigReader::new(dir.path()).load();
        assert_eq!(c.down_signal, libc::SIGTERM);
        assert_eq!(c.notification_fd, None);
    }

    #[test]
    fn zero_limits_mean_none_as_in_s6() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("timeout-kill"), "0\n").unwrap();
        std::fs::write(dir.path().join("timeout-finish"), "0").unwrap();
        let c = ConfigReader::new(dir.path()).load();
        assert_eq!(c.timeout_kill, None);
        assert_eq!(c.timeout_finish, None);
    }

    #[test]
    fn out_of_range_durations_fall_back_to_defaults() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "timeout-kill",
            "timeout-finish",
            "timeout-ready",
            "check-interval",
            "check-timeout",
        ] {
            std::fs::write(dir.path().join(f), "300000000000y").unwrap();
        }
        std::fs::write(dir.path().join("backoff"), "1s 300000000000y").unwrap();
        assert_eq!(ConfigReader::new(dir.path()).load(), Config::default());
    }
}
