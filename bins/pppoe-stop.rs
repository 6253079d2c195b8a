#![forbid(unsafe_code)]
//! pppoe-stop [CONFIG] [--service DIR] [-T DURATION] (DESIGN §10).

use std::path::PathBuf;

use clap::Parser;
use upkeep::errors::{die, warn};
use upkeep::pppoe::config::{Config, DEFAULT_CONFIG};
use upkeep::pppoe::stop::{self, StopOptions};

const PROG: &str = "pppoe-stop";

/// Stop the pppoe-connect loop of CONFIG and its pppd, whatever the loop is
/// doing. Exits 0 only when neither remains; 111 with a reason otherwise.
#[derive(Parser)]
#[command(name = PROG, version)]
struct Cli {
    /// rp-pppoe style config (KEY=value lines)
    #[arg(default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// first tell this service dir's supervise to keep the loop down
    /// (default: SERVICE= in CONFIG)
    #[arg(long, value_name = "DIR")]
    service: Option<PathBuf>,
    /// SIGKILL loop and pppd if still running after this long
    /// (default: STOP_TIMEOUT in CONFIG, 10s)
    #[arg(short = 'T', value_name = "DURATION", value_parser = upkeep::duration::parse)]
    timeout: Option<std::time::Duration>,
}

fn main() {
    let cli = upkeep::pppoe::parse_cli::<Cli>();
    let cfg = Config::load(&cli.config).unwrap_or_else(|e| die(PROG, e.code, e));
    let opts = StopOptions {
        service: cli.service.as_deref(),
        kill_after: cli.timeout.unwrap_or(cfg.stop_timeout),
    };
    if let Err(e) = stop::stop(&cfg, &opts, &mut |w| warn(PROG, w)) {
        die(PROG, e.code, e);
    }
}
