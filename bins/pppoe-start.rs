#![forbid(unsafe_code)]
//! pppoe-start [CONFIG] [-T DURATION] (doc/DESIGN.md, pppoe-connect, pppoe-stop, pppoe-start).

use std::path::PathBuf;

use clap::Parser;
use upkeep::errors::{die, warn};
use upkeep::pppoe::config::{Config, DEFAULT_CONFIG};
use upkeep::pppoe::start::{self, StartOptions};

const PROG: &str = "pppoe-start";

/// Start pppoe-connect CONFIG detached (own session, stdio to /dev/null or
/// --log) and wait until it runs pppd. Refuses (exit 111) when a loop
/// already runs for CONFIG.
#[derive(Parser)]
#[command(name = PROG, version)]
struct Cli {
    /// rp-pppoe style config (KEY=value lines)
    #[arg(default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// give up waiting for pppd after this long (the loop keeps running)
    /// (default: CONNECT_TIMEOUT in CONFIG, in seconds, else 30s; 0: wait
    /// only until the loop holds its lock)
    #[arg(short = 'T', value_name = "DURATION", value_parser = upkeep::duration::parse)]
    timeout: Option<std::time::Duration>,
    /// append the loop's output to FILE instead of discarding it
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
}

fn main() {
    let cli = upkeep::pppoe::parse_cli::<Cli>().unwrap_or_else(|code| std::process::exit(code));
    let cfg = Config::load(&cli.config).unwrap_or_else(|e| die(PROG, e.code, e));
    for w in cfg.warnings() {
        warn(PROG, w);
    }
    // The loop is the pppoe-connect installed beside us.
    let connect = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("pppoe-connect")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("pppoe-connect"));
    let opts = StartOptions {
        timeout: cli
            .timeout
            .or(cfg.connect_timeout)
            .unwrap_or(std::time::Duration::from_secs(30)),
        log: cli.log.as_deref(),
        connect: &connect,
    };
    match start::start(&cfg, &opts) {
        Ok(pid) => println!("pppoe-connect running as pid {pid}"),
        Err(e) => die(PROG, e.code, e),
    }
}
