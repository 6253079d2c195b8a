//! The one way upkeep starts a child: clone, reset the signal mask and every
//! disposition, own session, fds, cwd, exec (sys::fork_exec, and
//! sys::spawn_gated for a child held until its pid is recorded). Also the one
//! way a chain-loader replaces itself with its child (`chain_load`).

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::errors::Fatal;
use crate::sys;

/// A started child, and how its exec went: the start returns once the
/// child has exec'd or failed to (it then exits 127).
pub struct Child {
    pub pid: Pid,
    /// Ok once exec'd, or the errno of the step that failed.
    pub exec: Result<(), Errno>,
}

pub struct Spawn {
    argv: Vec<CString>,
    env: Option<Vec<CString>>,
    cwd: Option<CString>,
    fds: Vec<(RawFd, RawFd)>,
    new_session: bool,
    new_process_group: bool,
    keep_ignored: bool,
    parent_death_signal: Option<i32>,
    record_lock: Option<RawFd>,
}

/// Descriptors closed first thing in every child (see
/// [`close_first_in_children`]).
static CLOSE_FIRST: std::sync::Mutex<Vec<RawFd>> = std::sync::Mutex::new(Vec::new());

/// From now on, every child closes `fds` right after the fork, before
/// anything else: descriptors whose holder must be this process alone.
/// supervise's lock and FIFOs are close-on-exec, but a child that has not
/// exec'd yet would otherwise keep them: a new supervise could not take
/// the lock, and svok would see a reader, after this process died.
pub fn close_first_in_children(fds: &[RawFd]) {
    let mut list = CLOSE_FIRST.lock().unwrap_or_else(|e| e.into_inner());
    list.extend_from_slice(fds);
}

fn cstring(s: &OsStr) -> CString {
    // An argument with a NUL byte cannot be passed to exec; truncating at the
    // NUL is what a C caller would see.
    let bytes = s.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap_or_default()
}

impl Spawn {
    /// `program` is both the path (or name to look up in PATH) and argv[0].
    pub fn new(program: impl AsRef<OsStr>) -> Spawn {
        Spawn {
            argv: vec![cstring(program.as_ref())],
            env: None,
            cwd: None,
            fds: Vec::new(),
            new_session: false,
            new_process_group: false,
            keep_ignored: false,
            parent_death_signal: None,
            record_lock: None,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Spawn {
        self.argv.push(cstring(a.as_ref()));
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Spawn {
        self.argv
            .extend(args.into_iter().map(|a| cstring(a.as_ref())));
        self
    }

    /// Replace the environment (`KEY=VALUE` entries).
    pub fn env(mut self, env: Vec<OsString>) -> Spawn {
        self.env = Some(env.iter().map(|e| cstring(e)).collect());
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<OsStr>) -> Spawn {
        self.cwd = Some(cstring(dir.as_ref()));
        self
    }

    /// Give the child `src` as its fd number `dst`.
    pub fn fd(mut self, src: &impl AsFd, dst: RawFd) -> Spawn {
        self.fds.retain(|&(_, d)| d != dst);
        self.fds.push((src.as_fd().as_raw_fd(), dst));
        self
    }

    /// Keep the parent's fd `n` as the child's fd `n` (stdio pass-through).
    pub fn inherit(mut self, n: RawFd) -> Spawn {
        self.fds.retain(|&(_, d)| d != n);
        self.fds.push((n, n));
        self
    }

    /// setsid: own session and process group, so the whole group can be
    /// signalled and a terminal's Ctrl-C does not reach it.
    pub fn new_session(mut self) -> Spawn {
        self.new_session = true;
        self
    }

    /// setpgid(0, 0) without a new session.
    /// Signals this process ignores stay ignored in the child (SIGPIPE is
    /// reset all the same): for fghack, which daemontools' passes through.
    pub fn keep_ignored(mut self) -> Spawn {
        self.keep_ignored = true;
        self
    }

    pub fn new_process_group(mut self) -> Spawn {
        self.new_process_group = true;
        self
    }

    /// The child gets `sig` when its parent dies (PR_SET_PDEATHSIG).
    pub fn parent_death_signal(mut self, sig: i32) -> Spawn {
        self.parent_death_signal = Some(sig);
        self
    }

    /// The child takes a POSIX record lock on its fd `n` (kept with
    /// `inherit(n)`) before exec: the lock is the child's alone, never its
    /// descendants' (see sys::ChildPlan::record_lock).
    pub fn record_lock(mut self, n: RawFd) -> Spawn {
        self.record_lock = Some(n);
        self
    }

    /// Start the child (see [`sys::fork_exec`]); returns once it has
    /// exec'd or failed to.
    pub fn spawn(&self) -> Result<Child, Errno> {
        let (pid, exec) = self.with_plan(sys::fork_exec)?;
        Ok(Child { pid, exec })
    }

    /// Start the child held before its exec until `before_exec(pid)` has
    /// returned: the caller records the pid before the program can exist,
    /// and if this thread dies meanwhile the child is killed unexec'd (see
    /// [`sys::spawn_gated`]). Returns the pid and how the exec went.
    pub fn spawn_gated(
        &self,
        before_exec: impl FnOnce(Pid),
    ) -> Result<(Pid, Result<(), Errno>), Errno> {
        self.with_plan(|plan| sys::spawn_gated(plan, before_exec))
    }

    fn with_plan<R>(
        &self,
        start: impl FnOnce(&sys::ChildPlan) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let searched;
        let paths = if self.argv[0].as_bytes().contains(&b'/') {
            // The restart path: no search, no copy.
            std::slice::from_ref(&self.argv[0])
        } else {
            searched = search_path(&self.argv[0]);
            searched.as_slice()
        };
        let env = match &self.env {
            Some(env) => env.as_slice(),
            None => inherited_env(),
        };
        // A source fd that is also a target of another mapping would be
        // clobbered by the child's dup2 sequence: move it out of the way.
        let highest = self.fds.iter().map(|&(_, d)| d).max().unwrap_or(2);
        let mut moved: Vec<OwnedFd> = Vec::new();
        let clobbered = |&(src, dst): &(RawFd, RawFd)| src != dst && src <= highest;
        let fds: std::borrow::Cow<[(RawFd, RawFd)]> = if self.fds.iter().any(clobbered) {
            let mut fds = Vec::with_capacity(self.fds.len());
            for &(src, dst) in &self.fds {
                if clobbered(&(src, dst)) {
                    let high = sys::dup_above(src, highest + 1)?;
                    fds.push((high.as_raw_fd(), dst));
                    moved.push(high);
                } else {
                    fds.push((src, dst));
                }
            }
            fds.into()
        } else {
            // Nothing to move (stdio passed through): no copy.
            self.fds.as_slice().into()
        };
        // Held until the child has closed them (the child only reads the
        // list): no copy.
        let close_first = CLOSE_FIRST.lock().unwrap_or_else(|e| e.into_inner());
        let plan = sys::ChildPlan {
            paths,
            argv: &self.argv,
            envp: env,
            fds: &fds,
            cwd: self.cwd.as_deref(),
            new_session: self.new_session,
            new_process_group: self.new_process_group,
            keep_ignored: self.keep_ignored,
            parent_death_signal: self.parent_death_signal,
            record_lock: self.record_lock,
            close_first: &close_first,
        };
        let started = start(&plan);
        drop(moved);
        started
    }
}

/// The environment as it was at the first spawn, kept: supervise starts
/// run again and again with the same environment, and copying it each time
/// would be work on the restart path. upkeep's programs never change their
/// own environment after starting children.
fn inherited_env() -> &'static [CString] {
    static ENV: std::sync::OnceLock<Vec<CString>> = std::sync::OnceLock::new();
    ENV.get_or_init(current_env)
}

/// The environment of this process as `KEY=VALUE` C strings.
fn current_env() -> Vec<CString> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut e = k;
            e.push("=");
            e.push(v);
            cstring(&e)
        })
        .collect()
}

/// Candidate paths for a program name, as execvp and daemontools' pathexec
/// search: a name with a `/` is used as is, otherwise each PATH entry.
fn search_path(program: &CString) -> Vec<CString> {
    let bytes = program.as_bytes();
    if bytes.contains(&b'/') || bytes.is_empty() {
        return vec![program.clone()];
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/bin:/usr/bin"));
    path.as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let mut full = if dir.is_empty() {
                b".".to_vec()
            } else {
                dir.to_vec()
            };
            full.push(b'/');
            full.extend_from_slice(bytes);
            cstring(&OsString::from_vec(full))
        })
        .collect()
}

/// Replace this process with `argv` (PATH searched), with `env` or the
/// current environment. Returns only on failure, with the errno.
fn exec(argv: &[OsString], env: Option<Vec<OsString>>) -> Errno {
    if argv.is_empty() {
        return Errno::ENOENT;
    }
    let args: Vec<CString> = argv.iter().map(|a| cstring(a)).collect();
    let paths = search_path(&args[0]);
    // Rust's runtime ignores SIGPIPE and an ignored signal survives exec:
    // the child must get the default back, as a C chain-loader passes it.
    sys::default_signal(libc::SIGPIPE);
    let env: Vec<CString> = match env {
        Some(e) => e.iter().map(|x| cstring(x)).collect(),
        None => current_env(),
    };
    sys::exec_paths(&paths, &args, &env)
}

/// Chain-load `argv`. Returns only on failure, with what daemontools'
/// chain-loaders report then (`unable to run ARGV0: PHRASE`, exit 111).
pub fn chain_load(argv: &[OsString], env: Option<Vec<OsString>>) -> Fatal {
    let err = exec(argv, env);
    let name = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    Fatal::sys(format!("unable to run {name}"), err)
}

/// A program installed beside this one, else the bare name (PATH search).
pub fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|me| me.with_file_name(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};

    fn exit_code(pid: Pid) -> i32 {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => panic!("{other:?}"),
        }
    }

    /// Both ways of starting a child (vfork'd, and held at a gate) run the
    /// program and report a failed exec with its errno; a child killed at
    /// its gate is reported as never exec'd.
    #[test]
    fn exec_and_its_failure_either_way() {
        let ok = Spawn::new("/bin/sh")
            .args(["-c", "exit 7"])
            .spawn()
            .unwrap();
        assert_eq!(ok.exec, Ok(()));
        assert_eq!(exit_code(ok.pid), 7);
        let missing = Spawn::new("/nonexistent/program").spawn().unwrap();
        assert_eq!(missing.exec, Err(Errno::ENOENT));
        assert_eq!(exit_code(missing.pid), 127);
        let bad_dir = Spawn::new("/bin/true").cwd("/nonexistent").spawn().unwrap();
        assert_eq!(bad_dir.exec, Err(Errno::ENOENT));
        assert_eq!(exit_code(bad_dir.pid), 127);
        // Held: the child is still this program (not exec'd) while the
        // pid is recorded, however long that takes.
        let me = std::fs::read_link("/proc/self/exe").unwrap();
        let mut held = None;
        let (pid, exec) = Spawn::new("/bin/sh")
            .args(["-c", "exit 5"])
            .spawn_gated(|pid| {
                let exe = format!("/proc/{pid}/exe");
                let until = std::time::Instant::now() + std::time::Duration::from_millis(20);
                let mut same = true;
                while std::time::Instant::now() < until {
                    same &= std::fs::read_link(&exe).ok().as_ref() == Some(&me);
                }
                held = Some((pid, same));
            })
            .unwrap();
        assert_eq!(held, Some((pid, true)));
        assert_eq!(exec, Ok(()));
        assert_eq!(exit_code(pid), 5);
        let (pid, exec) = Spawn::new("/nonexistent/program")
            .spawn_gated(|_| {})
            .unwrap();
        assert_eq!(exec, Err(Errno::ENOENT));
        assert_eq!(exit_code(pid), 127);
        let (pid, exec) = Spawn::new("/bin/true")
            .new_session()
            .cwd("/nonexistent")
            .spawn_gated(|_| {})
            .unwrap();
        assert_eq!(exec, Err(Errno::ENOENT));
        assert_eq!(exit_code(pid), 127);
        let (pid, exec) = Spawn::new("/bin/true")
            .spawn_gated(|pid| {
                nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
            })
            .unwrap();
        assert_eq!(exec, Err(Errno::EINTR));
        assert!(matches!(
            waitpid(pid, None),
            Ok(WaitStatus::Signaled(
                _,
                nix::sys::signal::Signal::SIGKILL,
                _
            ))
        ));
    }
}
