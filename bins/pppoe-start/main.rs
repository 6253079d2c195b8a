#![forbid(unsafe_code)]
//! pppoe-start [CONFIG] [-T DURATION] (doc/DESIGN.md, pppoe-connect, pppoe-stop, pppoe-start):
//! run pppoe-connect detached (own session, stdio to /dev/null or a log)
//! and wait until it runs pppd, or a time limit passes.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::unistd::{AccessFlags, Pid};
use upkeep::errors::{self, warn, Fatal};
use upkeep::event;
use upkeep::pidlock::{self, Probe};
use upkeep::pinned::Pinned;
use upkeep::pppoe::config::{Config, DEFAULT_CONFIG};
use upkeep::pppoe::loopfiles::{already_running, STATE_RUNNING};
use upkeep::runtimefile;
use upkeep::spawn::Spawn;

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
    let cli = upkeep::help::parse_clap::<Cli>().unwrap_or_else(|code| std::process::exit(code));
    match run(&cli) {
        Ok(pid) => println!("pppoe-connect running as pid {pid}"),
        Err(f) => errors::exit(PROG, &f),
    }
}

fn run(cli: &Cli) -> Result<Pid, Fatal> {
    let cfg = Config::load(&cli.config)?;
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
            .unwrap_or(Duration::from_secs(30)),
        log: cli.log.as_deref(),
        connect: &connect,
    };
    start(&cfg, &opts)
}

struct StartOptions<'a> {
    /// How long to wait for pppd; zero: only for the loop to hold its lock.
    timeout: Duration,
    /// Where the loop's stdout and stderr go (appended); /dev/null if None.
    log: Option<&'a Path>,
    /// The pppoe-connect program.
    connect: &'a Path,
}

fn open_out(log: Option<&Path>) -> std::io::Result<File> {
    match log {
        Some(p) => OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(p),
        None => OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open("/dev/null"),
    }
}

/// Start the loop for `cfg`; the loop's pid once pppd runs.
fn start(cfg: &Config, opts: &StartOptions) -> Result<Pid, Fatal> {
    // Catch what would make the loop fail at once, where it can be seen.
    cfg.check_link()?;
    if let Err(e) = nix::unistd::access(&cfg.pppd, AccessFlags::X_OK) {
        return Err(Fatal::sys(
            format!("unable to run {}", cfg.pppd.display()),
            e,
        ));
    }
    // The loop would refuse a directory others can write: say so here,
    // where it can be seen, not as "exited 111".
    runtimefile::Dir::open(runtimefile::parent_of(&cfg.pidfile))
        .map_err(|e| Fatal::io(format!("unable to lock {}", cfg.pidfile.display()), &e))?;
    if let Probe::Held = pidlock::probe(&cfg.pidfile, false)
        .map_err(|e| Fatal::io(format!("unable to lock {}", cfg.pidfile.display()), &e))?
    {
        return Err(already_running(&cfg.pidfile));
    }
    let devnull = File::open("/dev/null").map_err(|e| Fatal::io("unable to open /dev/null", &e))?;
    let out = open_out(opts.log).map_err(|e| {
        let name = opts
            .log
            .map(|p| p.display().to_string())
            .unwrap_or("/dev/null".into());
        Fatal::io(format!("unable to open {name}"), &e)
    })?;
    let dir = cfg
        .pidfile
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let ino = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
        .map_err(|e| Fatal::sys("unable to create inotify", e))?;
    ino.add_watch(
        &dir,
        AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_MODIFY,
    )
    .map_err(|e| Fatal::sys(format!("unable to watch {}", dir.display()), e))?;

    let child = Spawn::new(opts.connect)
        .arg(&cfg.path)
        .new_session()
        .fd(&devnull, 0)
        .fd(&out, 1)
        .fd(&out, 2)
        .spawn()
        .map_err(|e| Fatal::sys("unable to fork", e))?;
    let proc = Pinned::child(child.pid).map_err(|e| Fatal::sys("unable to open pidfd", e))?;
    if let Err(e) = child.exec {
        let _ = proc.reap();
        return Err(Fatal::sys(
            format!("unable to run {}", opts.connect.display()),
            e,
        ));
    }
    // A zero timeout (rp-pppoe's CONNECT_TIMEOUT=0): do not wait for pppd,
    // only for the loop to hold its lock.
    let wait_pppd = !opts.timeout.is_zero();
    let limit = if wait_pppd {
        opts.timeout
    } else {
        Duration::from_secs(30)
    };
    let now = Instant::now();
    let deadline = now
        .checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
    loop {
        let ours = pidlock::read_pid(&cfg.pidfile).ok().flatten() == Some(child.pid);
        let state = runtimefile::read_optional(&cfg.state_file()).ok().flatten();
        if ours && (!wait_pppd || state.as_deref().map(str::trim) == Some(STATE_RUNNING)) {
            return Ok(child.pid);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Fatal::temporary(format!(
                "timed out waiting for pppd (pppoe-connect runs as pid {})",
                child.pid
            )));
        }
        let ready = event::wait_readable(&[proc.pidfd.as_fd(), ino.as_fd()], Some(deadline - now))
            .map_err(|e| Fatal::sys("unable to poll", e))?;
        if ready[1] {
            let _ = ino.read_events();
        }
        if ready[0] {
            let code = proc.reap().unwrap_or(111);
            if let Ok(Probe::Held) = pidlock::probe(&cfg.pidfile, false) {
                return Err(already_running(&cfg.pidfile));
            }
            let hint = opts
                .log
                .map(|p| format!(" (see {})", p.display()))
                .unwrap_or_default();
            return Err(Fatal {
                code: if code == 100 { 100 } else { 111 },
                message: format!("pppoe-connect exited {code} before pppd ran{hint}"),
            });
        }
    }
}
