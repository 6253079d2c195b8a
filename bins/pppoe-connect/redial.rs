//! pppoe-connect: the redial loop. One poll loop over a signalfd, pidfds of
//! pppd and the lost hook, and timers; the lock on PIDFILE is held from the
//! first moment to the last, so "lock free" means "no loop".

use std::os::fd::AsFd;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{getpid, AccessFlags};

use upkeep::errors::{phrase, Fatal};
use upkeep::event::{self, Timer};
use upkeep::pidlock::{self, PidLock, Probe};
use upkeep::pppoe::config::Config;
use upkeep::pppoe::loopfiles::{
    already_running, STATE_HOOK, STATE_RUNNING, STATE_STOPPING, STATE_WAITING,
};
use upkeep::runtimefile;

use crate::hook::LostHook;
use crate::pppd::{self, describe, is_permanent, DialError, Pppd, PPPD_SIGNALLED};
use crate::PROG;

fn note(msg: impl std::fmt::Display) {
    upkeep::errors::say(format_args!("{PROG}: {msg}"));
}

fn warn(msg: impl std::fmt::Display) {
    upkeep::errors::warn(PROG, msg);
}

struct Loop<'a> {
    cfg: &'a Config,
    lock: Option<PidLock>,
    sigfd: nix::sys::signalfd::SignalFd,
    /// Retry delay, or the stop time limit while stopping.
    timer: Timer,
    pppd: Option<Pppd>,
    hook: LostHook,
    stopping: bool,
    /// SIGHUP: the next redial happens without the retry delay.
    redial_now: bool,
    /// pppd gave a permanent exit code: end after the hook.
    permanent: Option<i32>,
    exit: Option<Result<(), Fatal>>,
}

/// Run the loop for `cfg` until a stop signal (Ok) or a permanent failure.
pub fn run(cfg: &Config) -> Result<(), Fatal> {
    cfg.check_link()?;
    // Block the stop signals before taking the lock: from then on a stop
    // is an event, never a default-action death with files left behind.
    let sigfd = event::daemon_signals(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])
        .map_err(|e| Fatal::sys("unable to create signalfd", e))?;
    if let Err(e) = nix::unistd::access(&cfg.pppd, AccessFlags::X_OK) {
        return Err(Fatal::sys(
            format!("unable to run {}", cfg.pppd.display()),
            e,
        ));
    }
    let lock = loop {
        match pidlock::probe(&cfg.pidfile, true)
            .map_err(|e| Fatal::io(format!("unable to lock {}", cfg.pidfile.display()), &e))?
        {
            Probe::Free(l) => break l,
            Probe::Held => return Err(already_running(&cfg.pidfile)),
            Probe::Absent => continue,
        }
    };
    lock.write_pid(getpid())
        .map_err(|e| Fatal::io(format!("unable to write {}", cfg.pidfile.display()), &e))?;
    // A state file left by a loop that was killed speaks for a dead loop:
    // gone the moment the lock is ours.
    if let Err(e) = runtimefile::remove_if_exists(&cfg.state_file()) {
        warn(format_args!(
            "unable to remove {}: {}",
            cfg.state_file().display(),
            upkeep::errors::io_phrase(&e)
        ));
    }
    let mut lp = Loop {
        cfg,
        lock: Some(lock),
        sigfd,
        timer: Timer::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?,
        pppd: None,
        hook: LostHook::new().map_err(|e| Fatal::sys("unable to create timerfd", e))?,
        stopping: false,
        redial_now: false,
        permanent: None,
        exit: None,
    };
    lp.run()
}

impl Loop<'_> {
    fn run(&mut self) -> Result<(), Fatal> {
        // A stop that came while we took the lock: do not dial at all.
        self.handle_signals();
        if self.exit.is_none() {
            self.dial();
        }
        loop {
            if let Some(result) = self.exit.take() {
                return result;
            }
            let (sig, timer, hook_timer, pppd, hook) = {
                let mut fds = vec![self.sigfd.as_fd(), self.timer.as_fd(), self.hook.limit_fd()];
                let pppd_i = self.pppd.as_ref().map(|p| {
                    fds.push(p.proc.pidfd.as_fd());
                    fds.len() - 1
                });
                let hook_i = self.hook.pidfd().map(|fd| {
                    fds.push(fd);
                    fds.len() - 1
                });
                let ready = match event::wait_readable(&fds, None) {
                    Ok(r) => r,
                    Err(e) => {
                        drop(fds);
                        self.fail(Fatal::sys("unable to poll", e));
                        continue;
                    }
                };
                (
                    ready[0],
                    ready[1],
                    ready[2],
                    pppd_i.is_some_and(|i| ready[i]),
                    hook_i.is_some_and(|i| ready[i]),
                )
            };
            // Signals first: a stop that arrives with pppd's exit is a
            // stop, and the lost hook is not run for it.
            if sig {
                self.handle_signals();
            }
            if self.exit.is_some() {
                continue;
            }
            if pppd {
                self.pppd_exited();
            }
            if self.exit.is_some() {
                continue;
            }
            if hook {
                self.hook_exited();
            }
            if self.exit.is_some() {
                continue;
            }
            if timer && self.timer.take_expiry() {
                self.timer_fired();
            }
            if hook_timer {
                self.hook.check_limit();
            }
        }
    }

    fn handle_signals(&mut self) {
        for s in event::pending_signals(&self.sigfd) {
            match s {
                libc::SIGTERM | libc::SIGINT => self.begin_stop(),
                libc::SIGHUP => self.hangup(),
                _ => {}
            }
        }
    }

    fn set_state(&self, state: &str) {
        if let Err(e) =
            runtimefile::write_atomic(&self.cfg.state_file(), format!("{state}\n").as_bytes())
        {
            warn(format_args!(
                "unable to write {}: {}",
                self.cfg.state_file().display(),
                upkeep::errors::io_phrase(&e)
            ));
        }
    }

    /// Start pppd (after ending any pppd an earlier, killed loop left).
    fn dial(&mut self) {
        match pppd::start_pppd(self.cfg) {
            Ok(p) => {
                self.pppd = Some(p);
                self.set_state(STATE_RUNNING);
            }
            Err(DialError::Retry(why)) => {
                warn(why);
                self.wait_retry();
            }
            Err(DialError::Fatal(f)) => self.fail(f),
        }
    }

    fn wait_retry(&mut self) {
        self.set_state(STATE_WAITING);
        self.timer.arm(self.cfg.retry_delay);
    }

    fn begin_stop(&mut self) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.set_state(STATE_STOPPING);
        self.timer.cancel();
        self.hook.abandon();
        match &self.pppd {
            Some(p) => {
                let _ = p.proc.signal(libc::SIGTERM);
                self.timer.arm(self.cfg.stop_timeout);
            }
            None => self.finish(Ok(())),
        }
    }

    fn hangup(&mut self) {
        if self.stopping {
            return;
        }
        if let Some(p) = &self.pppd {
            note(format_args!(
                "SIGHUP: hanging up pppd {} to redial",
                p.proc.pid
            ));
            self.redial_now = true;
            let _ = p.proc.signal(libc::SIGTERM);
        } else if self.hook.is_running() {
            self.redial_now = true;
        } else if self.timer.is_armed() {
            self.timer.cancel();
            self.dial();
        }
    }

    fn timer_fired(&mut self) {
        if self.stopping {
            if let Some(p) = &self.pppd {
                warn(format_args!(
                    "pppd {} still running after {:?}: killing it",
                    p.proc.pid, self.cfg.stop_timeout
                ));
                // pppd leads its own session and is not reaped yet, so its
                // group id cannot have been reused.
                let _ = killpg(p.proc.pid, Signal::SIGKILL);
                let _ = p.proc.signal(libc::SIGKILL);
            }
        } else if self.pppd.is_none() && !self.hook.is_running() {
            self.dial();
        }
    }

    fn pppd_exited(&mut self) {
        let Some(p) = self.pppd.take() else { return };
        let code = p.proc.reap().unwrap_or(1);
        p.remove_file();
        if self.stopping {
            return self.finish(Ok(()));
        }
        note(format_args!(
            "pppd {} exited {code} ({})",
            p.proc.pid,
            describe(code)
        ));
        if self.redial_now {
            self.redial_now = false;
            return self.dial();
        }
        if code == PPPD_SIGNALLED {
            // Someone else stopped pppd: not a loss of the link we hold.
            return self.wait_retry();
        }
        if is_permanent(code) {
            self.permanent = Some(code);
        }
        self.run_hook(code);
    }

    fn run_hook(&mut self, code: i32) {
        let Some(hook) = self.cfg.hook() else {
            return self.after_hook();
        };
        match self.hook.start(&hook, self.cfg, code) {
            Ok(()) => self.set_state(STATE_HOOK),
            Err(e) => {
                warn(format_args!(
                    "unable to run {}: {}",
                    hook.display(),
                    phrase(e)
                ));
                self.after_hook();
            }
        }
    }

    fn hook_exited(&mut self) {
        if self.hook.is_running() {
            self.hook.exited();
            self.after_hook();
        }
    }

    fn after_hook(&mut self) {
        if let Some(code) = self.permanent {
            return self.finish(Err(Fatal::permanent(format_args!(
                "pppd exited {code}: {}",
                describe(code)
            ))));
        }
        if self.redial_now {
            self.redial_now = false;
            return self.dial();
        }
        self.wait_retry();
    }

    fn fail(&mut self, f: Fatal) {
        if let Some(p) = self.pppd.take() {
            let _ = p.proc.signal(libc::SIGTERM);
            let _ = event::wait_readable(&[p.proc.pidfd.as_fd()], Some(self.cfg.stop_timeout));
            let _ = p.proc.signal(libc::SIGKILL);
            let _ = p.proc.reap();
            p.remove_file();
        }
        self.finish(Err(f));
    }

    /// Remove the state file, then the pid file while still holding its
    /// lock, and release it: the last thing the loop does.
    fn finish(&mut self, result: Result<(), Fatal>) {
        self.timer.cancel();
        let _ = runtimefile::remove_if_exists(&self.cfg.state_file());
        if let Some(l) = self.lock.take() {
            let _ = l.remove();
        }
        self.exit = Some(result);
    }
}
