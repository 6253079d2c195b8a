//! rp-pppoe's config file, the shell-style `KEY=value` subset upkeep reads
//! (doc/DESIGN.md, pppoe-connect, pppoe-stop, pppoe-start). Parsed strictly: anything a shell would do that we do not
//! (commands, command substitution, unquoted spaces) is an error naming the
//! file and line, never a silent guess.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::shellvars::{parse_line, split_words};
use crate::duration;
use crate::errors::Fatal;

pub const DEFAULT_CONFIG: &str = "/etc/ppp/pppoe.conf";
const DEFAULT_PIDFILE: &str = "/run/pppoe.pid";
const DEFAULT_PPPD: &str = "/usr/sbin/pppd";
pub(crate) const DEFAULT_PPPOE: &str = "/usr/sbin/pppoe";
const DEFAULT_HOOKS: [&str; 2] = ["/etc/ppp/adsl-lost", "/etc/ppp/pppoe-lost"];

/// upkeep's own keys.
const UPKEEP_KEYS: &[&str] = &[
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

/// rp-pppoe's keys (pppoe.conf(5) and its pppoe-connect script), all read.
/// Those that steer pppd or pppoe are mapped to their arguments; these
/// change nothing for the loop: the variables the stock file computes
/// (CF_BASE), pppoe-start's progress dots, DNS1/DNS2 (only for
/// DNSTYPE=SPECIFY, which gets a warning).
const RP_PPPOE_KEYS: &[&str] = &[
    "ACNAME",
    "SERVICENAME",
    "DEMAND",
    "DNSTYPE",
    "PEERDNS",
    "USEPEERDNS",
    "DNS1",
    "DNS2",
    "DEFAULTROUTE",
    "CONNECT_TIMEOUT",
    "CONNECT_POLL",
    "PING",
    "CF_BASE",
    "SYNCHRONOUS",
    "CLAMPMSS",
    "LCP_INTERVAL",
    "LCP_FAILURE",
    "PPPOE_TIMEOUT",
    "FIREWALL",
    "LINUX_PLUGIN",
    "OVERRIDE_PPPD_COMMAND",
    "RETRY_ON_FAILURE",
    "MTU",
    "MRU",
    "UNIT",
];

/// How pppd reaches the PPPoE server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// rp-pppoe's `pppoe` program as pppd's pty command.
    Pty {
        /// pppoe -T: inactivity timeout, seconds.
        timeout: u32,
        /// pppoe -m: clamp TCP MSS (None: CLAMPMSS=no).
        clamp_mss: Option<u32>,
        /// pppoe -s, pppd sync.
        synchronous: bool,
        extra: Vec<String>,
    },
    /// pppd's kernel-mode plugin (LINUX_PLUGIN, rp-pppoe.so).
    Plugin(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub eth: String,
    pub user: String,
    pub pidfile: PathBuf,
    pub pppd: PathBuf,
    pub pppd_extra: Vec<String>,
    pub transport: Transport,
    /// ACNAME, SERVICENAME (empty: any).
    pub ac_name: String,
    pub service_name: String,
    pub defaultroute: bool,
    pub usepeerdns: bool,
    pub lcp_interval: u32,
    pub lcp_failure: u32,
    pub mtu: u32,
    pub mru: u32,
    pub unit: Option<u32>,
    /// CONNECT_TIMEOUT: pppoe-start's default wait (None: not set).
    pub connect_timeout: Option<Duration>,
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
    /// Other things worth one warning line (settings read but not acted on).
    pub notes: Vec<String>,
}

/// An interface name as the kernel's dev_valid_name() takes it: 1 to 15
/// bytes, not `.` or `..`, no `/`, `:` or whitespace (nor NUL).
fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// The variables of a parsed file and the line each was last set on.
struct Vars<'a> {
    path: &'a Path,
    values: HashMap<String, String>,
    lines: HashMap<String, usize>,
}

impl Vars<'_> {
    fn get(&self, k: &str) -> Option<&str> {
        self.values.get(k).map(String::as_str)
    }

    /// The value, `None` when unset or empty (as rp-pppoe's `test -n`).
    fn set(&self, k: &str) -> Option<&str> {
        self.get(k).filter(|v| !v.is_empty())
    }

    /// A value that cannot be used: permanent, naming file and line.
    fn error(&self, k: &str, why: impl std::fmt::Display) -> Fatal {
        Fatal::permanent(format_args!(
            "unable to parse {} line {}: {why}",
            self.path.display(),
            self.lines.get(k).copied().unwrap_or(0)
        ))
    }

    /// A whole number in `range`, or `default` when unset or empty.
    fn number(
        &self,
        k: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, Fatal> {
        let Some(v) = self.set(k) else {
            return Ok(default);
        };
        match v.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(self.error(
                k,
                format_args!(
                    "{k}={v}: not a number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    fn duration(&self, k: &str, default: Duration) -> Result<Duration, Fatal> {
        match self.get(k) {
            None => Ok(default),
            Some(v) => duration::parse(v).map_err(|e| self.error(k, format_args!("{k}: {e}"))),
        }
    }

    fn words(&self, k: &str) -> Result<Vec<String>, Fatal> {
        split_words(self.get(k).unwrap_or("")).map_err(|e| self.error(k, format_args!("{k}: {e}")))
    }

    fn is(&self, k: &str, v: &str) -> bool {
        self.get(k) == Some(v)
    }
}

impl Config {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<Config, Fatal> {
        let text = std::fs::read(path)
            .map_err(|e| Fatal::io(format_args!("unable to read {}", path.display()), &e))?;
        let text = String::from_utf8_lossy(&text);
        Config::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<Config, Fatal> {
        let mut v = Vars {
            path,
            values: HashMap::new(),
            lines: HashMap::new(),
        };
        v.values
            .insert("CONFIG".into(), path.to_string_lossy().into_owned());
        let mut unknown = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let n = i + 1;
            let bad = |why: String| {
                Fatal::permanent(format_args!(
                    "unable to parse {} line {n}: {why}",
                    path.display()
                ))
            };
            let Some((key, value)) = parse_line(line, &v.values).map_err(bad)? else {
                continue;
            };
            let known =
                UPKEEP_KEYS.contains(&key.as_str()) || RP_PPPOE_KEYS.contains(&key.as_str());
            if !known && !unknown.contains(&key) {
                unknown.push(key.clone());
            }
            v.lines.insert(key.clone(), n);
            v.values.insert(key, value);
        }
        refuse_unsupported(&v)?;
        let bare_durations = ["RETRY_DELAY", "STOP_TIMEOUT"]
            .iter()
            .filter_map(|k| {
                let t = v.get(k)?.trim();
                (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).then(|| format!("{k}={t}"))
            })
            .collect();
        let pidfile = match v.set("PIDFILE") {
            None => PathBuf::from(DEFAULT_PIDFILE),
            Some(p) if Path::new(p).is_absolute() => PathBuf::from(p),
            Some(_) => return Err(v.error("PIDFILE", "PIDFILE must be an absolute path")),
        };
        let eth = v.get("ETH").unwrap_or_default().to_string();
        if !eth.is_empty() && !valid_ifname(&eth) {
            return Err(v.error(
                "ETH",
                format_args!(
                    "ETH={eth:?}: not an interface name (1-15 bytes, no '/', ':' or \
                     whitespace, not . or ..)"
                ),
            ));
        }
        let transport = match v.set("LINUX_PLUGIN") {
            Some(p) => Transport::Plugin(p.to_string()),
            None => Transport::Pty {
                timeout: v.number("PPPOE_TIMEOUT", 80, 0..=86_400)?,
                clamp_mss: if v.is("CLAMPMSS", "no") {
                    None
                } else {
                    Some(v.number("CLAMPMSS", 1412, 536..=1452)?)
                },
                synchronous: v.is("SYNCHRONOUS", "yes"),
                extra: v.words("PPPOE_EXTRA")?,
            },
        };
        let mut notes = Vec::new();
        if v.is("DNSTYPE", "SPECIFY") {
            notes.push("DNSTYPE=SPECIFY: /etc/resolv.conf is not rewritten (write DNS1 and DNS2 there yourself)".into());
        }
        // rp-pppoe ignores pppoe's settings with the plugin too; these two
        // are not in the stock file, so someone set them on purpose.
        if matches!(transport, Transport::Plugin(_)) {
            if v.set("PPPOE_EXTRA").is_some() {
                notes.push(
                    "PPPOE_EXTRA is not used with LINUX_PLUGIN (no pppoe program runs)".into(),
                );
            }
            if v.is("SYNCHRONOUS", "yes") {
                notes.push("SYNCHRONOUS=yes is not used with LINUX_PLUGIN".into());
            }
        }
        // rp-pppoe: DNSTYPE=SERVER means usepeerdns whatever else is said;
        // else PEERDNS=yes or USEPEERDNS=yes asks for it, USEPEERDNS=no wins.
        let usepeerdns = v.is("DNSTYPE", "SERVER")
            || (!v.is("USEPEERDNS", "no") && (v.is("PEERDNS", "yes") || v.is("USEPEERDNS", "yes")));
        let connect_timeout = match v.set("CONNECT_TIMEOUT") {
            None => None,
            // rp-pppoe's unit is seconds.
            Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => Some(Duration::from_secs(
                u64::from(v.number("CONNECT_TIMEOUT", 30, 0..=86_400)?),
            )),
            Some(_) => Some(v.duration("CONNECT_TIMEOUT", Duration::from_secs(30))?),
        };
        let nonempty_path = |k: &str, default: &str| PathBuf::from(v.set(k).unwrap_or(default));
        Ok(Config {
            path: path.to_path_buf(),
            eth,
            user: v.get("USER").unwrap_or_default().to_string(),
            pidfile,
            pppd: nonempty_path("PPPD", DEFAULT_PPPD),
            pppd_extra: v.words("PPPD_EXTRA")?,
            transport,
            ac_name: v.get("ACNAME").unwrap_or_default().to_string(),
            service_name: v.get("SERVICENAME").unwrap_or_default().to_string(),
            defaultroute: !v.is("DEFAULTROUTE", "no"),
            usepeerdns,
            lcp_interval: v.number("LCP_INTERVAL", 20, 0..=86_400)?,
            lcp_failure: v.number("LCP_FAILURE", 3, 0..=1000)?,
            mtu: v.number("MTU", 1492, 64..=1500)?,
            mru: v.number("MRU", 1492, 64..=1500)?,
            unit: match v.set("UNIT") {
                Some(_) => Some(v.number("UNIT", 0, 0..=65_535)?),
                None => None,
            },
            connect_timeout,
            retry_delay: v.duration("RETRY_DELAY", Duration::from_secs(5))?,
            lost_hook: v.get("LOST_HOOK").map(PathBuf::from),
            stop_timeout: v.duration("STOP_TIMEOUT", Duration::from_secs(10))?,
            service: v.set("SERVICE").map(PathBuf::from),
            unknown,
            bare_durations,
            notes,
        })
    }

    /// The warning for unknown keys, if any (one line for all of them).
    fn unknown_warning(&self) -> Option<String> {
        (!self.unknown.is_empty()).then(|| {
            format!(
                "{}: ignoring unknown keys: {}",
                self.path.display(),
                self.unknown.join(" ")
            )
        })
    }

    /// Every warning the config deserves: unknown keys (one line for all),
    /// durations that are bare numbers (milliseconds), settings not acted on.
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = self.unknown_warning().into_iter().collect();
        for d in &self.bare_durations {
            w.push(format!(
                "{}: {d} is in milliseconds (write a unit, e.g. 5s)",
                self.path.display()
            ));
        }
        for n in &self.notes {
            w.push(format!("{}: {n}", self.path.display()));
        }
        w
    }

    /// What pppoe-connect needs beyond what pppoe-stop needs.
    pub fn check_link(&self) -> Result<(), Fatal> {
        for (k, v) in [("ETH", &self.eth), ("USER", &self.user)] {
            if v.is_empty() {
                return Err(Fatal::permanent(format_args!(
                    "{}: no setting for {k}",
                    self.path.display()
                )));
            }
        }
        Ok(())
    }

    /// pppd's pid file: `PIDFILE.pppd`, as rp-pppoe names it.
    pub fn pppd_pidfile(&self) -> PathBuf {
        suffixed(&self.pidfile, ".pppd")
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
}

/// rp-pppoe settings that cannot work under the loop: one line each.
fn refuse_unsupported(v: &Vars) -> Result<(), Fatal> {
    if let Some(d) = v.set("DEMAND").filter(|d| *d != "no") {
        return Err(v.error(
            "DEMAND",
            format_args!("DEMAND={d}: dial on demand is not supported (pppoe-connect keeps the link up; set DEMAND=no)"),
        ));
    }
    if let Some(f) = v.set("FIREWALL").filter(|f| *f != "NONE") {
        return Err(v.error(
            "FIREWALL",
            format_args!("FIREWALL={f}: rp-pppoe's firewall scripts are not run (set FIREWALL=NONE and load your rules at boot)"),
        ));
    }
    if v.set("OVERRIDE_PPPD_COMMAND").is_some() {
        return Err(v.error(
            "OVERRIDE_PPPD_COMMAND",
            "OVERRIDE_PPPD_COMMAND is not supported (pppd must run as pppoe-connect starts it; use PPPD and PPPD_EXTRA)",
        ));
    }
    if v.is("RETRY_ON_FAILURE", "no") {
        return Err(v.error(
            "RETRY_ON_FAILURE",
            "RETRY_ON_FAILURE=no is not supported (pppoe-connect always redials; stop it with pppoe-stop)",
        ));
    }
    Ok(())
}

fn suffixed(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Fatal> {
        Config::parse(Path::new("/etc/ppp/pppoe.conf"), text)
    }

    #[test]
    fn shell_subset() {
        let c = parse(
            "# comment\n\nETH=eth1\nexport USER='b x@isp'\nPIDFILE=\"/run/$ETH-pppoe.pid\" # why\n\
             RETRY_DELAY=2s\nPPPD_EXTRA=\"debug  ipparam x\"\nFOO=no\nDNSTYPE=SERVER\nBAR=yes\n",
        )
        .unwrap();
        assert_eq!(c.eth, "eth1");
        assert_eq!(c.user, "b x@isp");
        assert_eq!(c.pidfile, PathBuf::from("/run/eth1-pppoe.pid"));
        assert_eq!(c.retry_delay, Duration::from_secs(2));
        assert_eq!(c.pppd_extra, vec!["debug", "ipparam", "x"]);
        assert_eq!(c.unknown, vec!["FOO", "BAR"]);
        assert_eq!(c.stop_timeout, Duration::from_secs(10));
        assert_eq!(c.pppd_pidfile(), PathBuf::from("/run/eth1-pppoe.pid.pppd"));
        assert!(c.pppd_args().contains(&"nodetach".to_string()));
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, why) in [
            ("ETH=eth0\nUSER=a b\n", "line 2: unquoted space"),
            ("ETH=eth0\n\nnonsense\n", "line 3: expected KEY=value"),
            ("X=\"abc\n", "line 1: unterminated double quote"),
            ("CF_BASE=`basename $ETH`\n", "line 1: command substitution"),
            (
                "PIDFILE=run/x.pid\n",
                "line 1: PIDFILE must be an absolute path",
            ),
            ("ETH=x\nDEMAND=300\n", "line 2: DEMAND=300: dial on demand"),
            ("FIREWALL=STANDALONE\n", "line 1: FIREWALL=STANDALONE: "),
            (
                "ETH=\"a b\"\n",
                "line 1: ETH=\"a b\": not an interface name",
            ),
            ("LCP_FAILURE=x\n", "line 1: LCP_FAILURE=x: not a number"),
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
            assert_eq!(e.code, crate::errors::EXIT_PERMANENT);
        }
    }

    #[test]
    fn interface_names_as_the_kernel_takes_them() {
        for ok in ["eth0", "a", "fifteen-bytesxy", "wan.7", "vlan@x"] {
            assert!(valid_ifname(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "a\tb",
            "sixteen-bytes-xx",
            "a\0",
        ] {
            assert!(!valid_ifname(bad), "{bad:?}");
        }
    }

    #[test]
    fn stock_defaults_are_rp_pppoes() {
        let c = parse("ETH=eth0\nUSER=u\n").unwrap();
        assert_eq!(
            c.pppd_args()[..2],
            [
                "pty".to_string(),
                "/usr/sbin/pppoe -I eth0 -T 80 -U -m 1412".to_string()
            ]
        );
        assert!(c.defaultroute && !c.usepeerdns);
        assert_eq!((c.lcp_interval, c.lcp_failure), (20, 3));
        let c = parse("USEPEERDNS=yes\nCONNECT_TIMEOUT=0\n").unwrap();
        assert!(c.usepeerdns);
        assert_eq!(c.connect_timeout, Some(Duration::ZERO));
        let c = parse("DNSTYPE=SERVER\nUSEPEERDNS=no\n").unwrap();
        assert!(c.usepeerdns);
        let c = parse("PEERDNS=yes\nUSEPEERDNS=no\n").unwrap();
        assert!(!c.usepeerdns);
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
