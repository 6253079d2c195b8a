#![forbid(unsafe_code)]
//! pppoe-connect [CONFIG]: the redial loop around pppd (DESIGN §10).

use std::path::PathBuf;

use clap::Parser;
use upkeep::errors::{die, warn};
use upkeep::pppoe::{config::Config, config::DEFAULT_CONFIG, connect};

const PROG: &str = "pppoe-connect";

/// Keep a PPPoE link up: run pppd (nodetach) under a lifetime lock on
/// PIDFILE, run the lost hook `HOOK CONFIG CODE` when pppd dies, redial
/// after RETRY_DELAY. SIGTERM/SIGINT stop pppd and the loop in any state
/// (exit 0); SIGHUP hangs up and redials at once; pppd exit codes 2, 3, 4
/// end the loop with exit 100.
#[derive(Parser)]
#[command(name = PROG, version)]
struct Cli {
    /// rp-pppoe style config (KEY=value lines)
    #[arg(default_value = DEFAULT_CONFIG)]
    config: PathBuf,
}

fn main() {
    let cli = upkeep::pppoe::parse_cli::<Cli>();
    let cfg = Config::load(&cli.config).unwrap_or_else(|e| die(PROG, e.code, e));
    if let Some(w) = cfg.unknown_warning() {
        warn(PROG, w);
    }
    if let Err(e) = connect::run(&cfg) {
        die(PROG, e.code, e);
    }
}
