//! rp-pppoe's config file, the shell-style `KEY=value` subset upkeep reads
//! (DESIGN §10). Parsed strictly: anything a shell would do that we do not
//! (commands, command substitution, unquoted spaces) is an error naming the
//! file and line, never a silent guess.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::shellvars::parse_line;
use crate::duration;
use crate::errors::{io_phrase, EXIT_PERMANENT, EXIT_TEMPORARY};

pub const DEFAULT_CONFIG: &str = "/etc/ppp/pppoe.conf";
pub const DEFAULT_PIDFILE: &str = "/run/pppoe.pid";
pub const DEFAULT_PPPD: &str = "/usr/sbin/pppd";
pub const DEFAULT_PPPOE: &str = "/usr/sbin/pppoe";
pub const DEFAULT_HOOKS: [&str; 2] = ["/etc/ppp/adsl-lost", "/etc/ppp/pppoe-lost"];

const KNOWN: &[&str] = &[
    "ETH",
    "USER",
    "PIDFILE",
    "PPPD",
    "PPPD_EXTRA",
    "PPPOE_EXTRA",
    "RETRY_DELAY",
    "LOST_HOOK",
    "STOP_TIMEOUT",
    "SERVICE",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub eth: String,
    pub user: String,
    pub pidfile: PathBuf,
    pub pppd: PathBuf,
    pub pppd_extra: Vec<String>,
    pub pppoe_extra: Vec<String>,
    pub retry_delay: Duration,
    /// `None`: the default hooks; `Some("")`: no hook.
    pub lost_hook: Option<PathBuf>,
    pub stop_timeout: Duration,
    pub service: Option<PathBuf>,
    /// Keys we do not know, in file order (warned about once).
    pub unknown: Vec<String>,
    /// Durations written as bare numbers (milliseconds, which an rp-pppoe
    /// user may not expect).
    pub bare_durations: Vec<String>,
}

/// A config that cannot be used, with the exit code it deserves.
#[derive(Debug)]
pub struct ConfigError {
    pub message: String,
    pub code: i32,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl Config {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read(path).map_err(|e| ConfigError {
            message: format!("unable to read {}: {}", path.display(), io_phrase(&e)),
            code: EXIT_TEMPORARY,
        })?;
        let text = String::from_utf8_lossy(&text);
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("CONFIG".into(), path.to_string_lossy().into_owned());
        let mut lines_of: HashMap<String, usize> = HashMap::new();
        let mut unknown = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let bad = |why: String| ConfigError {
                message: format!("unable to parse {} line {n}: {why}", path.display()),
                code: EXIT_PERMANENT,
            };
            let Some((key, value)) = parse_line(line, &vars).map_err(bad)? else {
                continue;
            };
            if !KNOWN.contains(&key.as_str()) && !unknown.contains(&key) {
                unknown.push(key.clone());
            }
            lines_of.insert(key.clone(), n);
            vars.insert(key, value);
        }
        let get = |k: &str| vars.get(k).cloned();
        let bare_durations = ["RETRY_DELAY", "STOP_TIMEOUT"]
            .iter()
            .filter(|k| {
                vars.get(**k).is_some_and(|v| {
                    !v.trim().is_empty() && v.trim().bytes().all(|b| b.is_ascii_digit())
                })
            })
            .map(|k| format!("{k}={}", vars[*k].trim()))
            .collect();
        let dur = |k: &str, default: Duration| -> Result<Duration, ConfigError> {
            match vars.get(k) {
                None => Ok(default),
                Some(v) => duration::parse(v).map_err(|e| ConfigError {
                    message: format!(
                        "unable to parse {} line {}: {k}: {e}",
                        path.display(),
                        lines_of.get(k).copied().unwrap_or(0)
                    ),
                    code: EXIT_PERMANENT,
                }),
            }
        };
        let words = |k: &str| -> Vec<String> {
            vars.get(k)
                .map(|v| v.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        let nonempty_path = |k: &str, default: &str| -> PathBuf {
            match vars.get(k) {
                Some(v) if !v.is_empty() => PathBuf::from(v),
                _ => PathBuf::from(default),
            }
        };
        Ok(Config {
            path: path.to_path_buf(),
            eth: get("ETH").unwrap_or_default(),
            user: get("USER").unwrap_or_default(),
            pidfile: nonempty_path("PIDFILE", DEFAULT_PIDFILE),
            pppd: nonempty_path("PPPD", DEFAULT_PPPD),
            pppd_extra: words("PPPD_EXTRA"),
            pppoe_extra: words("PPPOE_EXTRA"),
            retry_delay: dur("RETRY_DELAY", Duration::from_secs(5))?,
            lost_hook: get("LOST_HOOK").map(PathBuf::from),
            stop_timeout: dur("STOP_TIMEOUT", Duration::from_secs(10))?,
            service: get("SERVICE").filter(|s| !s.is_empty()).map(PathBuf::from),
            unknown,
            bare_durations,
        })
    }

    /// The warning for unknown keys, if any (one line for all of them).
    pub fn unknown_warning(&self) -> Option<String> {
        (!self.unknown.is_empty()).then(|| {
            format!(
                "{}: ignoring unknown keys: {}",
                self.path.display(),
                self.unknown.join(" ")
            )
        })
    }

    /// Every warning the config deserves: unknown keys (one line for all)
    /// and durations that are bare numbers (milliseconds).
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = self.unknown_warning().into_iter().collect();
        for d in &self.bare_durations {
            w.push(format!(
                "{}: {d} is in milliseconds (write a unit, e.g. 5s)",
                self.path.display()
            ));
        }
        w
    }

    /// What pppoe-connect needs beyond what pppoe-stop needs.
    pub fn check_link(&self) -> Result<(), ConfigError> {
        for (k, v) in [("ETH", &self.eth), ("USER", &self.user)] {
            if v.is_empty() {
                return Err(ConfigError {
                    message: format!("{}: no setting for {k}", self.path.display()),
                    code: EXIT_PERMANENT,
                });
            }
        }
        Ok(())
    }

    /// pppd's pid file: `PIDFILE.pppd`, as rp-pppoe names it.
    pub fn pppd_pidfile(&self) -> PathBuf {
        suffixed(&self.pidfile, ".pppd")
    }

    /// pppd's process name as /proc/PID/comm shows it (15 bytes at most).
    pub fn pppd_comm(&self) -> String {
        let name = self
            .pppd
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.chars()
            .scan(0, |len, c| {
                *len += c.len_utf8();
                (*len <= 15).then_some(c)
            })
            .collect()
    }

    /// The loop's state: `PIDFILE.state`.
    pub fn state_file(&self) -> PathBuf {
        suffixed(&self.pidfile, ".state")
    }

    /// The lost hook to run now: the configured one, or the first default
    /// that exists. `None`: no hook.
    pub fn hook(&self) -> Option<PathBuf> {
        match &self.lost_hook {
            Some(p) if p.as_os_str().is_empty() => None,
            Some(p) => Some(p.clone()),
            None => DEFAULT_HOOKS.iter().map(PathBuf::from).find(|p| p.exists()),
        }
    }

    /// pppd's arguments, rp-pppoe's standard set (`nodetach` among them).
    pub fn pppd_args(&self) -> Vec<String> {
        let mut pty = format!("{DEFAULT_PPPOE} -I {} -T 80 -U -m 1412", self.eth);
        for w in &self.pppoe_extra {
            pty.push(' ');
            pty.push_str(w);
        }
        let mut a: Vec<String> = vec!["pty".into(), pty];
        for w in [
            "noipdefault",
            "noauth",
            "default-asyncmap",
            "defaultroute",
            "hide-password",
            "nodetach",
            "mtu",
            "1492",
            "mru",
            "1492",
            "noaccomp",
            "nodeflate",
            "nopcomp",
            "novj",
            "novjccomp",
            "user",
        ] {
            a.push(w.into());
        }
        a.push(self.user.clone());
        for w in ["lcp-echo-interval", "20", "lcp-echo-failure", "3"] {
            a.push(w.into());
        }
        a.extend(self.pppd_extra.iter().cloned());
        a
    }
}

fn suffixed(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/ppp/pppoe.conf"), text)
    }

    #[test]
    fn shell_subset() {
        let c = parse(
            "# comment\n\nETH=eth1\nexport USER='b x@isp'\nPIDFILE=\"/run/$ETH-pppoe.pid\" # why\n\
             RETRY_DELAY=2s\nPPPD_EXTRA=\"debug  ipparam x\"\nDEMAND=no\nDNSTYPE=SERVER\nDEMAND=yes\n",
        )
        .unwrap();
        assert_eq!(c.eth, "eth1");
        assert_eq!(c.user, "b x@isp");
        assert_eq!(c.pidfile, PathBuf::from("/run/eth1-pppoe.pid"));
        assert_eq!(c.retry_delay, Duration::from_secs(2));
        assert_eq!(c.pppd_extra, vec!["debug", "ipparam", "x"]);
        assert_eq!(c.unknown, vec!["DEMAND", "DNSTYPE"]);
        assert_eq!(c.stop_timeout, Duration::from_secs(10));
        assert_eq!(c.pppd_pidfile(), PathBuf::from("/run/eth1-pppoe.pid.pppd"));
        assert!(c.pppd_args().contains(&"nodetach".to_string()));
        assert_eq!(c.pppd_comm(), "pppd");
        let long = parse("PPPD=/opt/a-very-long-pppd-name\n").unwrap();
        assert_eq!(long.pppd_comm(), "a-very-long-ppp");
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, why) in [
            ("ETH=eth0\nUSER=a b\n", "line 2: unquoted space"),
            ("ETH=eth0\n\nnonsense\n", "line 3: expected KEY=value"),
            ("X=\"abc\n", "line 1: unterminated double quote"),
            (
                "CF_BASE=`basename $CONFIG`\n",
                "line 1: command substitution",
            ),
            ("A=$(ls)\n", "line 1: command substitution"),
            ("PIDFILE=/run/$NOPE.pid\n", "line 1: $NOPE is not set above"),
            ("ETH=x\nRETRY_DELAY=soon\n", "line 2: RETRY_DELAY"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(
                e.message
                    .starts_with("unable to parse /etc/ppp/pppoe.conf ")
                    && e.message.contains(why),
                "{text:?}: {}",
                e.message
            );
            assert_eq!(e.code, EXIT_PERMANENT);
        }
    }

    #[test]
    fn bare_numbers_are_milliseconds_with_a_warning() {
        let c = parse("RETRY_DELAY=5\nSTOP_TIMEOUT=10s\n").unwrap();
        assert_eq!(c.retry_delay, Duration::from_millis(5));
        assert_eq!(
            c.warnings(),
            vec!["/etc/ppp/pppoe.conf: RETRY_DELAY=5 is in milliseconds (write a unit, e.g. 5s)"]
        );
    }

    #[test]
    fn link_settings_required() {
        let e = parse("ETH=eth0\n").unwrap().check_link().unwrap_err();
        assert_eq!(e.message, "/etc/ppp/pppoe.conf: no setting for USER");
    }
}
