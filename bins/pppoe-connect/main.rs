#![forbid(unsafe_code)]
//! pppoe-connect [CONFIG]: the redial loop around pppd (doc/DESIGN.md, pppoe-connect, pppoe-stop, pppoe-start).

use std::path::PathBuf;

mod hook;
mod pppd;
mod redial;

use clap::Parser;
use upkeep::errors::{self, warn, Fatal};
use upkeep::pppoe::{config::Config, config::DEFAULT_CONFIG};

const PROG: &str = "pppoe-connect";

/// Keep a PPPoE link up: run pppd (nodetach) under a lifetime lock on
/// PIDFILE, run the lost hook when pppd dies, redial after RETRY_DELAY.
///
/// CONFIG is rp-pppoe 3.15's pppoe.conf, read without a shell (comments,
/// quoting, export, $VAR, CF_BASE=`basename $CONFIG`); a line it cannot
/// parse is fatal, naming file and line; unknown keys get one warning.
/// upkeep's keys: ETH, USER (required); PIDFILE (/run/pppoe.pid, absolute;
/// pppd's pid goes to PIDFILE.pppd, the loop's state — running, waiting,
/// hook, stopping — to PIDFILE.state); PPPD (/usr/sbin/pppd); PPPD_EXTRA,
/// PPPOE_EXTRA (extra words for pppd / the pppoe pty command); RETRY_DELAY
/// (5s); LOST_HOOK (/etc/ppp/adsl-lost, else /etc/ppp/pppoe-lost; empty:
/// none); STOP_TIMEOUT (10s); SERVICE (for pppoe-stop). rp-pppoe's keys go
/// to pppd and pppoe as rp-pppoe passes them (ACNAME, SERVICENAME,
/// CLAMPMSS, PPPOE_TIMEOUT, SYNCHRONOUS, DEFAULTROUTE, PEERDNS, DNSTYPE,
/// LCP_INTERVAL, LCP_FAILURE, MTU, MRU, UNIT, LINUX_PLUGIN); DEMAND,
/// FIREWALL, OVERRIDE_PPPD_COMMAND and RETRY_ON_FAILURE=no are refused.
/// Durations: 5s, 500ms, 1m; a bare number is milliseconds.
///
/// When pppd exits while the link is wanted, the lost hook runs as
/// `HOOK CONFIG CODE` (CODE: pppd's exit code, 128+N if killed by signal N;
/// 30 s limit); never for a deliberate stop, nor for code 5 (pppd was told
/// to stop by someone else). Codes 2, 3, 4 are permanent: the loop ends
/// with exit 100. SIGTERM/SIGINT in any state: TERM pppd, KILL it after
/// STOP_TIMEOUT, remove the pid files, exit 0 (a running hook is left to
/// finish). SIGHUP: hang up and redial at once. A second loop on the same
/// PIDFILE exits 111: "already running as pid N".
#[derive(Parser)]
#[command(name = PROG, version)]
struct Cli {
    /// rp-pppoe style config (KEY=value lines)
    #[arg(default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

fn main() {
    let cli = upkeep::help::parse_clap::<Cli>().unwrap_or_else(|code| std::process::exit(code));
    if let Err(f) = run(&cli) {
        errors::exit(PROG, &f);
    }
}

fn run(cli: &Cli) -> Result<(), Fatal> {
    let cfg = Config::load(&cli.config)?;
    for w in cfg.warnings() {
        warn(PROG, w);
    }
    redial::run(&cfg)
}
