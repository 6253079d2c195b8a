#![forbid(unsafe_code)]
//! pppoe-stop [CONFIG] [--service DIR] [-T DURATION] (doc/DESIGN.md, pppoe-connect, pppoe-stop, pppoe-start).

use std::path::PathBuf;
use std::time::Duration;

mod servicestop;
mod stop;
mod telldown;

use clap::Parser;
use stop::StopOptions;
use upkeep::errors::{self, warn, Fatal};
use upkeep::pppoe::config::{Config, DEFAULT_CONFIG};

const PROG: &str = "pppoe-stop";

/// Stop the pppoe-connect loop of CONFIG and its pppd, whatever the loop is
/// doing. Exits 0 only when neither remains; 111 with a reason otherwise.
/// With --service, a CONFIG that cannot be read or parsed does not keep the
/// loop up: the service is taken down and waited for, then the problem is
/// reported as a warning (exit 0 when the stop worked).
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
    timeout: Option<Duration>,
}

fn main() {
    let cli = upkeep::help::parse_clap::<Cli>().unwrap_or_else(|code| std::process::exit(code));
    if let Err(f) = run(&cli) {
        errors::exit(PROG, &f);
    }
}

fn run(cli: &Cli) -> Result<(), Fatal> {
    let cfg = match Config::load(&cli.config) {
        Ok(cfg) => cfg,
        Err(e) => {
            // Without the config there is no lock to act on; the service
            // still knows its loop.
            let Some(dir) = &cli.service else {
                return Err(e);
            };
            let kill_after = cli.timeout.unwrap_or(Duration::from_secs(10));
            return match servicestop::stop(dir, kill_after) {
                Ok(()) => {
                    warn(PROG, format_args!("{} is down, but {e}", dir.display()));
                    Ok(())
                }
                Err(f) => Err(Fatal {
                    code: f.code,
                    message: format!("{f}; and {e}"),
                }),
            };
        }
    };
    let opts = StopOptions {
        service: cli.service.as_deref(),
        kill_after: cli.timeout.unwrap_or(cfg.stop_timeout),
    };
    stop::stop(&cfg, &opts, &mut |w| warn(PROG, w))
}
