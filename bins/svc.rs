//! svc: send control letters to supervise; `-w STATE` waits for a state,
//! `-T DURATION` limits the wait.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Instant;

use upkeep::control;
use upkeep::errors::{self, EXIT_PERMANENT, EXIT_TEMPORARY};
use upkeep::getopt::{self, GetOpt, Next};
use upkeep::svwait::{self, Goal, Outcome, Watch};

const USAGE: &str =
    "svc options: u up, d down, o once, x exit, p pause, c continue, h hup, a alarm, i interrupt, t term, k kill";
/// Exit code when `-T` runs out (s6-svc's).
const EXIT_TIMEOUT: i32 = 99;

fn usage() -> ! {
    errors::say(USAGE);
    std::process::exit(EXIT_PERMANENT)
}

const HELP: &str = "usage: svc [-udopchaitkxq12K] [-w u|U|d|D|r|R] [-T duration] dir ...
Control supervised services.
  -u up  -d down  -o once  -p pause  -c continue  -h HUP  -a ALRM
  -i INT  -t TERM  -k KILL  -q QUIT  -1 USR1  -2 USR2  -K KILL the group
  -x exit supervise when the service is down
  -w u|U|d|D|r|R  wait until up, up and ready, down, down with finish
                  done, restarted, restarted and ready
  -T duration     limit the wait (e.g. 5s, 1m)
Exit: 0; with -w, 0 when every dir reached the state, 99 on timeout,
111 when a dir has no supervise or cannot be watched; 100 on usage.  See svc(8).
";

fn main() {
    if upkeep::help::answered("svc", HELP) {
        return;
    }
    upkeep::sys::ignore_sigpipe();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut opts = GetOpt::new(&args, "udopchaitkxq12Kw:T:");
    let mut letters: Vec<u8> = Vec::new();
    let mut goal = None;
    let mut limit = None;
    loop {
        match opts.next_opt() {
            Next::Opt(b'w', Some(v)) => {
                let s = String::from_utf8_lossy(&v).into_owned();
                match Goal::parse(&s) {
                    Some(g) => goal = Some(g),
                    None => errors::die(
                        "svc",
                        EXIT_PERMANENT,
                        format_args!("unknown state to wait for: {s} (one of u U d D r R)"),
                    ),
                }
            }
            Next::Opt(b'T', Some(v)) => match upkeep::duration::parse(&String::from_utf8_lossy(&v))
            {
                Ok(d) => limit = Some(d),
                Err(why) => errors::die(
                    "svc",
                    EXIT_PERMANENT,
                    format_args!("bad -T duration: {why}"),
                ),
            },
            Next::Opt(letter, _) => {
                if !letters.contains(&letter) {
                    letters.push(letter);
                }
            }
            Next::Done => break,
            other => {
                getopt::complain("svc", &other);
                usage();
            }
        }
    }
    // Paths as given, bytes and all; shown lossily in messages only.
    let dirs = &args[opts.index()..];
    // duration::parse keeps -T within range; None here would mean no limit.
    let deadline = limit.and_then(|d| Instant::now().checked_add(d));

    // Caught before the first FIFO is made, to remove them all on the way.
    let interrupts = goal.and_then(|_| svwait::Interrupts::catch());
    if goal.is_some() {
        // Three descriptors per dir waited on.
        upkeep::event::raise_fd_limit();
    }
    let mut watches = Vec::new();
    let mut failed = false;
    for dir in dirs {
        let path = Path::new(dir);
        // The watch comes first, so the effect of the command cannot be missed.
        let mut watch = match goal {
            Some(_) if control::check_dir(path).is_ok() => Some(Watch::new(path)),
            _ => None,
        };
        // The goal is reached only once supervise has taken the command.
        if let Some(Ok(w)) = watch.as_mut() {
            w.expect_want_of(&letters);
        }
        match control::send(path, &letters) {
            Ok(()) => match watch {
                Some(Ok(w)) => watches.push(w),
                // Not waited for: never counted as reached.
                Some(Err(e)) => {
                    errors::warn(
                        "svc",
                        format_args!(
                            "unable to wait for {}: {}",
                            path.display(),
                            errors::phrase(e)
                        ),
                    );
                    failed = true;
                }
                None => {}
            },
            Err(e) => {
                errors::warn("svc", e.warning(&path.display().to_string()));
                failed = true;
            }
        }
    }
    let Some(goal) = goal else {
        std::process::exit(0)
    };

    let mut code = if failed { EXIT_TEMPORARY } else { 0 };
    let Some(outcomes) = svwait::wait_all_or(&watches, goal, deadline, interrupts.as_ref()) else {
        drop(watches);
        if let Some(int) = interrupts {
            int.die()
        }
        std::process::exit(EXIT_TEMPORARY)
    };
    for (w, outcome) in watches.iter().zip(outcomes) {
        let shown = w.dir().display();
        match outcome {
            Outcome::Reached => {}
            Outcome::TimedOut => {
                errors::say(format_args!("svc: fatal: timed out waiting for {shown}"));
                if code == 0 {
                    code = EXIT_TIMEOUT;
                }
            }
            Outcome::SuperviseGone => {
                errors::warn(
                    "svc",
                    format_args!("unable to wait for {shown}: supervise not running"),
                );
                code = EXIT_TEMPORARY;
            }
        }
    }
    // Each waiter's FIFO in supervise/event/ goes with it (exit runs no
    // destructors).
    drop(watches);
    std::process::exit(code)
}
