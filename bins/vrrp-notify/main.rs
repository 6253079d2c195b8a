//! vrrp-notify: keepalived's VRRP transitions, in order, as atomic state
//! files and per-state hooks (doc/DESIGN.md, "vrrp-notify").
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use upkeep::errors::{self, Fatal};
mod fifo;
mod hookmode;
mod hooks;
mod line;
mod order;
mod pipe;
mod statefiles;

use fifo::FifoOptions;
use hooks::HookConfig;
use statefiles::StateDir;

const PROG: &str = "vrrp-notify";

fn duration(text: &str) -> Result<Duration, String> {
    upkeep::duration::parse(text)
}

/// keepalived's VRRP transitions as state files and per-state hooks, its
/// last word always winning (vrrp-notify(8) says what holds in which mode).
///
/// For each event: STATEDIR/PREFIX.STATE (a TAI64N time and the event line),
/// STATEDIR/PREFIX.current (the state's name) and the journal
/// STATEDIR/PREFIX.event are written under temporary names, then renamed in,
/// the other PREFIX.{MASTER,BACKUP,FAULT,STOP} removed first (a reader never
/// sees two state files; a full disk leaves the old state and is retried
/// every second). Then HOOKDIR/STATE and HOOKDIR/any run, one after the
/// other, as `HOOK TYPE NAME STATE PRIORITY` (argv, no shell; cwd HOOKDIR;
/// stdin /dev/null; output copied to stderr as `vrrp-notify: HOOK[PID]:
/// LINE`). A hook past --hook-timeout gets TERM (its whole process group),
/// then KILL. Missing hooks are skipped. Hooks must be idempotent.
///
/// Fifo mode (recommended; keepalived `notify_fifo PATH` and this program as
/// a supervised service): reads lines such as `INSTANCE "VI_1" MASTER 150`;
/// a queued backlog is applied at once (state files of the newest event;
/// hooks of the newest event of each instance or group, one at a time, in
/// keepalived's order). The fifo is consumed only once its events are written, and hooks not finished are run again at the next
/// start, so a kill -9 at any moment loses nothing. The fifo is created if
/// missing and held open read-write, so keepalived's restarts are no EOF. On
/// TERM it keeps handling lines until keepalived closes the fifo or no line
/// came for --linger (keepalived writes its STOP events as it stops), then
/// exits 0. A failing hook is reported and never stops the reader.
///
/// Hook mode (keepalived `notify /path/to/vrrp-notify`): handles the one
/// event given as arguments; invocations take turns on STATEDIR/.lock in the
/// order keepalived started them, and one older than an event already
/// applied is dropped. Exits 111 when a state file or a hook failed, so
/// keepalived logs it.
#[derive(Parser)]
#[command(
    name = PROG,
    version,
    verbatim_doc_comment,
    override_usage = "vrrp-notify [OPTIONS] --fifo PATH\n       vrrp-notify [OPTIONS] INSTANCE|GROUP NAME STATE PRIORITY"
)]
struct Cli {
    /// Fifo mode: read keepalived's notify_fifo at PATH.
    #[arg(long, value_name = "PATH", conflicts_with = "event")]
    fifo: Option<PathBuf>,

    /// Hook mode: INSTANCE|GROUP NAME STATE PRIORITY, as keepalived's notify passes them.
    #[arg(
        num_args = 4,
        value_names = ["TYPE", "NAME", "STATE", "PRIORITY"],
        required_unless_present = "fifo"
    )]
    event: Vec<String>,

    /// Directory of the state files (created if missing).
    #[arg(long, value_name = "DIR", default_value = "/run/upkeep")]
    state_dir: PathBuf,

    /// State file name prefix; `{name}` is replaced by the instance or group name.
    #[arg(long, value_name = "PREFIX", default_value = "keepalived_vrrp")]
    prefix: String,

    /// Directory of the hooks MASTER, BACKUP, FAULT, STOP and any.
    #[arg(long, value_name = "DIR", default_value = "/etc/upkeep/vrrp-notify.d")]
    hooks: PathBuf,

    /// Time limit of each hook (humantime, or milliseconds): then TERM, then KILL.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    hook_timeout: Duration,

    /// Fifo mode: after TERM, stop once the fifo has been quiet this long.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    linger: Duration,
}

fn main() {
    let cli = upkeep::help::parse_clap::<Cli>().unwrap_or_else(|code| std::process::exit(code));
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(fatal) => errors::exit(PROG, &fatal),
    }
}

fn run(cli: Cli) -> Result<i32, Fatal> {
    StateDir::check_prefix(&cli.prefix).map_err(Fatal::permanent)?;
    if cli.hook_timeout.is_zero() {
        return Err(Fatal::permanent("--hook-timeout must be more than 0"));
    }
    let states = StateDir::new(cli.state_dir, cli.prefix);
    let hooks = HookConfig {
        dir: cli.hooks,
        timeout: cli.hook_timeout,
        prog: PROG,
    };
    match cli.fifo {
        Some(fifo) => fifo::run(&FifoOptions {
            fifo,
            states,
            hooks,
            linger: cli.linger,
        }),
        None => {
            let [kind, name, state, prio] = &cli.event[..] else {
                errors::usage(PROG, "vrrp-notify INSTANCE|GROUP NAME STATE PRIORITY");
            };
            let event = line::parse_args(kind, name, state, prio).map_err(Fatal::permanent)?;
            hookmode::run(&states, &hooks, &event)
        }
    }
}
