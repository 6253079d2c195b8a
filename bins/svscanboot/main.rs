//! svscanboot [DIR]: svscan DIR (default /service) with its output shown
//! by readproctitle; for starting upkeep at boot (see INSTALL). Errors
//! stay visible in `ps` on a machine without a logger yet.
//! Unlike daemontools' shell script it stays the parent of both: a TERM
//! (from init or systemd) is passed to svscan, which stops the services in
//! order, and svscanboot exits when svscan has.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};

use upkeep::errors::{Fatal, EXIT_TEMPORARY};
use upkeep::event;
use upkeep::spawn::{sibling, Spawn};

/// The PATH svscan and the services get after the directory svscanboot
/// was installed in: the environment is cleared, as daemontools'
/// svscanboot does with `env -`.
const BOOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// BOOT_PATH with the directory `exe` is in first, so that the programs
/// installed beside svscanboot (its multilog, svc, pppoe-stop) win over
/// daemontools' namesakes wherever upkeep was installed.
fn boot_path(exe: Option<&Path>) -> OsString {
    let mut path = OsString::new();
    let own = exe.and_then(Path::parent).filter(|d| d.is_absolute());
    if let Some(dir) = own {
        path.push(dir.as_os_str());
    }
    for d in BOOT_PATH.split(':') {
        if own.is_some_and(|o| o == Path::new(d)) {
            continue;
        }
        if !path.is_empty() {
            path.push(":");
        }
        path.push(d);
    }
    path
}

fn run(dir: &Path) -> i32 {
    match boot(dir) {
        Ok(code) => code,
        Err(fatal) => upkeep::errors::report("svscanboot", &fatal),
    }
}

fn boot(dir: &Path) -> Result<i32, Fatal> {
    let signals = event::signal_fd(&[
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ])
    .map_err(|e| Fatal::sys("unable to create signalfd", e))?;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/null")
        .map_err(|e| Fatal::io("unable to open /dev/null", &e))?;
    let (read, write) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Fatal::sys("unable to create pipe", e))?;
    let mut path = OsString::from("PATH=");
    path.push(boot_path(std::env::current_exe().ok().as_deref()));
    let env = vec![path];
    let dots = ".".repeat(400);
    let title = Spawn::new(sibling("readproctitle"))
        .args(["service", "errors:", dots.as_str()])
        .env(env.clone())
        .fd(&read, 0)
        .fd(&null, 1)
        .fd(&null, 2)
        .spawn()
        .map_err(|e| Fatal::sys("unable to start readproctitle", e))?;
    title
        .exec
        .map_err(|e| Fatal::sys("unable to start readproctitle", e))?;
    drop(read);
    // stderr stays ours until svscan is running (HANDOFF_ENV): a missing
    // dir is then said in the journal, not only in a title nobody reads.
    let mut scan_env = env;
    scan_env.push(OsString::from(format!(
        "{}=1",
        upkeep::handoff::HANDOFF_ENV
    )));
    let scan = Spawn::new(sibling("svscan"))
        .arg(dir)
        .env(scan_env)
        .fd(&null, 0)
        .fd(&write, 1)
        .inherit(2)
        .spawn()
        .map_err(|e| Fatal::sys("unable to start svscan", e))?;
    scan.exec
        .map_err(|e| Fatal::sys("unable to start svscan", e))?;
    // readproctitle ends at EOF, when svscan and every service that shared
    // its output are gone.
    drop(write);
    let mut scan_code = None;
    let mut title_done = false;
    while scan_code.is_none() || !title_done {
        let fds = [std::os::fd::AsFd::as_fd(&signals)];
        if event::wait_readable(&fds, None).is_err() {
            continue;
        }
        for sig in event::pending_signals(&signals) {
            if sig != libc::SIGCHLD && scan_code.is_none() {
                let _ = kill(scan.pid, Signal::try_from(sig).unwrap_or(Signal::SIGTERM));
            }
        }
        for (pid, ended) in event::reap_children() {
            let code = match ended {
                event::Ended::Exited(c) => c,
                event::Ended::Signaled(s) => 128 + s,
            };
            if pid == scan.pid {
                scan_code = Some(code);
            } else if pid == title.pid {
                title_done = true;
            }
        }
    }
    Ok(scan_code.unwrap_or(EXIT_TEMPORARY))
}

const HELP: &str = "usage: svscanboot [dir]
Run svscan dir (default /service) for boot, with a clean environment and
its error output shown by readproctitle in ps.  Passes TERM, INT and HUP
to svscan.
Exit: svscan's exit code; 111 on a system error.  See svscanboot(8).
";

fn main() {
    if upkeep::help::answered("svscanboot", HELP) {
        return;
    }
    let dir = std::env::args_os()
        .nth(1)
        .unwrap_or_else(|| "/service".into());
    std::process::exit(run(std::path::Path::new(&dir)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_directory_first_and_once() {
        assert_eq!(
            boot_path(Some(Path::new("/opt/upkeep/bin/svscanboot"))),
            OsString::from(
                "/opt/upkeep/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            )
        );
        assert_eq!(
            boot_path(Some(Path::new("/usr/bin/svscanboot"))),
            OsString::from("/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin")
        );
        assert_eq!(boot_path(None), OsString::from(BOOT_PATH));
    }
}
