//! Runtime files (status, state, pid and lock files, state files of
//! vrrp-notify) are written one way for the whole project, because root
//! writes them into directories that other users can sometimes reach:
//!
//! - the directory is checked first: it must belong to us or to root and be
//!   writable by nobody else, unless it is sticky (as /tmp or /run/lock),
//!   and then a file in it is used only when it is ours; a symlink to the
//!   directory is followed only when root or we made it;
//! - a file is replaced by writing a temporary file with an unpredictable
//!   name, created exclusively and never through a symlink, then renaming
//!   it over the old one: a reader sees the old content or the new, never a
//!   mix, and a planted `name.new` symlink is never followed;
//! - a lock file is opened without following a symlink, and used only when
//!   it is a plain file of ours with one link;
//! - a FIFO is opened without following a symlink, and used only when it
//!   is a FIFO of ours (a regular file in its place is replaced).
//!
//! No fsync: this is runtime state rewritten at every change.

use std::collections::hash_map::RandomState;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::{Uid, UnlinkatFlags};

mod fifos;
pub use fifos::Poke;

/// A directory checked for runtime files, held open so that every later
/// operation acts on the directory that was checked, whatever happens to
/// its path meanwhile.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
    /// Sticky and writable by others: files in it must be ours.
    shared: bool,
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("refusing {}: {why}", path.display()),
    )
}

fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == Uid::effective().as_raw()
}

fn is_type(st: &FileStat, kind: SFlag) -> bool {
    (st.st_mode & SFlag::S_IFMT.bits()) == kind.bits()
}

/// A regular file of ours or root's, else refused saying which it is not.
fn check_plain_file(path: &Path, st: &FileStat) -> io::Result<()> {
    if !is_type(st, SFlag::S_IFREG) {
        return Err(refused(path, "not a regular file"));
    }
    if !trusted_owner(st.st_uid) {
        return Err(refused(path, "a file owned by another user"));
    }
    Ok(())
}

/// The directory `path` is in (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn file_name_of(path: &Path) -> io::Result<&OsStr> {
    path.file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))
}

impl Dir {
    /// Open and check `path` (see the module's rules).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let link = nix::sys::stat::lstat(path)?;
        if is_type(&link, SFlag::S_IFLNK) && !trusted_owner(link.st_uid) {
            return Err(refused(path, "a symbolic link made by another user"));
        }
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let st = nix::sys::stat::fstat(&fd)?;
        let shared = Self::judge(path, &st)?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
            shared,
        })
    }

    /// Check an already opened directory's owner and mode: `Ok(true)` when
    /// it is sticky and shared with others.
    fn judge(path: &Path, st: &FileStat) -> io::Result<bool> {
        if !trusted_owner(st.st_uid) {
            return Err(refused(path, "a directory owned by another user"));
        }
        let others_write = crate::account::others_can_write(st.st_uid, st.st_gid, st.st_mode);
        let sticky = st.st_mode & 0o1000 != 0;
        if others_write && !sticky {
            return Err(refused(path, "a directory writable by others"));
        }
        Ok(others_write)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sticky and writable by others (as /tmp): usable, files of others in
    /// it refused, but not private.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Check the file `name` where the directory is shared: an existing one
    /// must be ours.
    fn check_shared_entry(&self, name: &ShortName) -> io::Result<()> {
        if !self.shared {
            return Ok(());
        }
        match nix::sys::stat::fstatat(&self.fd, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_uid != Uid::effective().as_raw() => Err(refused(
                &self.path.join(name.as_os_str()),
                "a file of another user in a shared directory",
            )),
            Ok(_) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Open `name` in this directory, close-on-exec and never through a
    /// symlink: one planted there is refused, saying so.
    fn open_nofollow(&self, name: &ShortName, flags: OFlag, mode: u32) -> io::Result<OwnedFd> {
        nix::fcntl::openat(
            &self.fd,
            name.as_c_str(),
            flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(mode),
        )
        .map_err(|e| match e {
            Errno::ELOOP => refused(&self.path.join(name.as_os_str()), "a symbolic link"),
            e => e.into(),
        })
    }

    /// Replace `name` with `data` atomically (mode `mode`). On any failure
    /// the old file stays as it was and no temporary file is left.
    pub fn replace(&self, name: &OsStr, data: &[u8], mode: u32) -> io::Result<()> {
        self.prepare(name, data, mode)?.commit()
    }

    /// Write `data` to a new temporary file for `name` without touching
    /// `name` itself: several files can be prepared (so that a full disk
    /// fails before anything visible changed) and then committed. A
    /// preparation dropped uncommitted removes its temporary file.
    pub fn prepare(&self, name: &OsStr, data: &[u8], mode: u32) -> io::Result<Prepared<'_>> {
        let name = ShortName::new(name)?;
        self.check_shared_entry(&name)?;
        let tmp = ShortName::temp_for(name.as_os_str())?;
        let fd =
            self.open_nofollow(&tmp, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL, mode)?;
        let prepared = Prepared {
            dir: self,
            tmp,
            name,
            committed: false,
        };
        File::from(fd).write_all(data)?;
        Ok(prepared)
    }

    /// Open (creating it, never truncating) the lock file `name`, close-on-
    /// exec. A symlink, a FIFO, a file of another user or one with more than
    /// one link is refused.
    pub fn open_lock(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        // A file its holder removed between our open and our look has no
        // link left: open again, which creates a fresh one.
        for _ in 0..3 {
            if let Some(file) = self.open_lock_once(name, mode)? {
                return Ok(file);
            }
        }
        Err(refused(
            &self.path.join(name),
            "removed again and again while being opened",
        ))
    }

    fn open_lock_once(&self, name: &OsStr, mode: u32) -> io::Result<Option<File>> {
        let short = ShortName::new(name)?;
        self.check_shared_entry(&short)?;
        // O_NONBLOCK: a FIFO planted at the name must not block the open.
        let fd = self.open_nofollow(
            &short,
            OFlag::O_RDWR | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_NONBLOCK,
            mode,
        )?;
        let st = nix::sys::stat::fstat(&fd)?;
        let path = self.path.join(name);
        check_plain_file(&path, &st)?;
        if st.st_nlink == 0 {
            return Ok(None);
        }
        if st.st_nlink != 1 {
            return Err(refused(&path, "a file with other hard links"));
        }
        let mut flags =
            OFlag::from_bits_truncate(nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL)?);
        flags.remove(OFlag::O_NONBLOCK);
        nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        Ok(Some(File::from(fd)))
    }

    /// Open the FIFO `name` read-write, non-blocking and close-on-exec,
    /// making it (mode `mode`) if missing: its owner is then always both a
    /// reader (writers can open it) and a writer (it never reads EOF). A
    /// regular file in its place (`echo d > supervise/control` while the
    /// FIFO was missing) would poll readable for ever: it is replaced by a
    /// FIFO, and `true` returned to say so. A symlink, anything else, or a
    /// FIFO of another user is refused.
    pub fn open_fifo(&self, name: &OsStr, mode: u32) -> io::Result<(File, bool)> {
        let short = ShortName::new(name)?;
        self.check_shared_entry(&short)?;
        let path = self.path.join(name);
        let mut replaced = false;
        loop {
            match nix::unistd::mkfifoat(&self.fd, short.as_c_str(), Mode::from_bits_truncate(mode))
            {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e.into()),
            }
            let fd = self.open_nofollow(&short, OFlag::O_RDWR | OFlag::O_NONBLOCK, 0)?;
            let st = nix::sys::stat::fstat(&fd)?;
            if !trusted_owner(st.st_uid) {
                return Err(refused(&path, "a file owned by another user"));
            }
            if is_type(&st, SFlag::S_IFIFO) {
                return Ok((File::from(fd), replaced));
            }
            if replaced || !is_type(&st, SFlag::S_IFREG) {
                return Err(refused(&path, "not a FIFO"));
            }
            drop(fd);
            nix::unistd::unlinkat(&self.fd, short.as_c_str(), UnlinkatFlags::NoRemoveDir)?;
            replaced = true;
        }
    }

    /// Read the small file `name`: `Ok(None)` when it does not exist. Never
    /// through a symlink, never a FIFO, only a plain file of ours or root's.
    pub fn read_optional(&self, name: &OsStr) -> io::Result<Option<Vec<u8>>> {
        let fd = match self.open_nofollow(
            &ShortName::new(name)?,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK,
            0,
        ) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let st = nix::sys::stat::fstat(&fd)?;
        let path = self.path.join(name);
        check_plain_file(&path, &st)?;
        let mut data = Vec::new();
        io::Read::read_to_end(&mut File::from(fd), &mut data)?;
        Ok(Some(data))
    }

    /// Remove `name`; a missing file is not an error.
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        let short = ShortName::new(name)?;
        self.check_shared_entry(&short)?;
        match nix::unistd::unlinkat(&self.fd, short.as_c_str(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A file written under a temporary name, waiting for [`Prepared::commit`].
#[derive(Debug)]
pub struct Prepared<'a> {
    dir: &'a Dir,
    tmp: ShortName,
    name: ShortName,
    committed: bool,
}

/// A file name, NUL-terminated, kept on the stack when short (every
/// runtime file's is): supervise replaces its status files on every
/// restart without allocating, and the system calls take it as it is (no
/// copy into a path buffer of the callee's: less stack at the deepest
/// point of a restart).
enum ShortName {
    /// `bytes[len]` is the NUL.
    Stack {
        bytes: [u8; 96],
        len: usize,
    },
    Heap(CString),
}

impl ShortName {
    /// EINVAL for a name with a NUL in it, as the system call would say.
    fn new(name: &OsStr) -> io::Result<ShortName> {
        let b = name.as_bytes();
        if b.contains(&0) {
            return Err(Errno::EINVAL.into());
        }
        let mut bytes = [0u8; 96];
        // Room for the NUL after it.
        Ok(match bytes.get_mut(..b.len() + 1) {
            Some(dst) => {
                dst[..b.len()].copy_from_slice(b);
                ShortName::Stack {
                    bytes,
                    len: b.len(),
                }
            }
            None => ShortName::Heap(CString::new(b).map_err(|_| Errno::EINVAL)?),
        })
    }

    /// [`temp_name`] for `name` (which has no NUL), on the stack when it
    /// fits.
    fn temp_for(name: &OsStr) -> io::Result<ShortName> {
        let mut bytes = [0u8; 96];
        // The last byte stays the NUL.
        let mut rest = &mut bytes[..95];
        let fits = rest.write_all(b".").is_ok()
            && rest.write_all(name.as_bytes()).is_ok()
            && write!(rest, ".{:016x}.tmp", unpredictable()).is_ok();
        if fits {
            let len = 95 - rest.len();
            Ok(ShortName::Stack { bytes, len })
        } else {
            ShortName::new(&temp_name(name))
        }
    }

    fn as_os_str(&self) -> &OsStr {
        match self {
            ShortName::Stack { bytes, len } => OsStr::from_bytes(&bytes[..*len]),
            ShortName::Heap(name) => OsStr::from_bytes(name.as_bytes()),
        }
    }

    fn as_c_str(&self) -> &CStr {
        match self {
            // The NUL at `len` was checked for or left there: never fails.
            ShortName::Stack { bytes, len } => {
                CStr::from_bytes_with_nul(&bytes[..=*len]).unwrap_or(c"")
            }
            ShortName::Heap(name) => name,
        }
    }
}

impl std::fmt::Debug for ShortName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_os_str().fmt(f)
    }
}

impl Prepared<'_> {
    /// Rename the temporary file over the real name (no space needed).
    pub fn commit(mut self) -> io::Result<()> {
        nix::fcntl::renameat(
            &self.dir.fd,
            self.tmp.as_c_str(),
            &self.dir.fd,
            self.name.as_c_str(),
        )?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Prepared<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = nix::unistd::unlinkat(
                &self.dir.fd,
                self.tmp.as_c_str(),
                UnlinkatFlags::NoRemoveDir,
            );
        }
    }
}

/// An unpredictable temporary name for `name`: hidden, so that readers
/// listing the directory pass over it, and different on every call.
pub fn temp_name(name: &OsStr) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{:016x}.tmp", unpredictable()));
    tmp
}

/// A number nobody can predict, different on every call.
fn unpredictable() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is keyed from the kernel's random source once per thread;
    // hashing a counter with it gives numbers nobody can predict.
    let mut h = RandomState::new().build_hasher();
    // The keys are random per process: no pid needed (a getpid(2) on every
    // status write of supervise).
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// Is `name` one of ours temporary names?
pub fn is_temp_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.len() > 22
        && b[0] == b'.'
        && b.ends_with(b".tmp")
        && b[b.len() - 21] == b'.'
        && b[b.len() - 20..b.len() - 4]
            .iter()
            .all(u8::is_ascii_hexdigit)
}

/// Replace `path` with `data` atomically, mode 0644 (see [`Dir::replace`]).
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, data, 0o644)
}

pub fn write_atomic_mode(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    Dir::open(parent_of(path))?.replace(file_name_of(path)?, data, mode)
}

/// Open (creating, never truncating) the lock file at `path` (see
/// [`Dir::open_lock`]), mode 0644.
pub fn open_lock_file(path: &Path) -> io::Result<File> {
    Dir::open(parent_of(path))?.open_lock(file_name_of(path)?, 0o644)
}

/// Read a small text file; `Ok(None)` when it does not exist.
pub fn read_optional(path: &Path) -> io::Result<Option<String>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove a file, treating "already gone" as success.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Parse `key=value` lines into pairs; lines without `=` are skipped so new
/// writers can add things old readers ignore.
pub fn parse_key_values(text: &str) -> Vec<(&str, &str)> {
    text.lines().filter_map(|l| l.split_once('=')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn no_temps(dir: &Path) -> bool {
        fs::read_dir(dir)
            .unwrap()
            .all(|e| !is_temp_name(&e.unwrap().file_name()))
    }

    #[test]
    fn replaces_atomically_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert!(no_temps(dir.path()));
    }

    #[test]
    fn short_and_long_names_alike() {
        let short = ShortName::temp_for(OsStr::new("status")).unwrap();
        assert!(matches!(short, ShortName::Stack { .. }));
        assert!(is_temp_name(short.as_os_str()));
        assert!(short.as_os_str().as_bytes().starts_with(b".status."));
        assert_eq!(short.as_c_str().to_bytes(), short.as_os_str().as_bytes());
        let long = "x".repeat(200);
        let tmp = ShortName::temp_for(OsStr::new(&long)).unwrap();
        assert!(matches!(tmp, ShortName::Heap(_)));
        assert!(is_temp_name(tmp.as_os_str()));
        assert_eq!(
            ShortName::new(OsStr::new(&long)).unwrap().as_os_str(),
            OsStr::new(&long)
        );
        // 95 bytes and the NUL fill the stack buffer; 96 go to the heap.
        for (len, on_stack) in [(95, true), (96, false), (97, false)] {
            let name = "y".repeat(len);
            let short = ShortName::new(OsStr::new(&name)).unwrap();
            assert_eq!(matches!(short, ShortName::Stack { .. }), on_stack, "{len}");
            assert_eq!(short.as_c_str().to_bytes(), name.as_bytes());
        }
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        d.replace(OsStr::new(&long), b"L", 0o644).unwrap();
        d.replace(OsStr::new("s"), b"S", 0o644).unwrap();
        let edge = "z".repeat(96);
        d.replace(OsStr::new(&edge), b"E", 0o644).unwrap();
        assert_eq!(fs::read(dir.path().join(&long)).unwrap(), b"L");
        assert_eq!(fs::read(dir.path().join("s")).unwrap(), b"S");
        assert_eq!(fs::read(dir.path().join(&edge)).unwrap(), b"E");
        assert!(no_temps(dir.path()));
    }

    #[test]
    fn a_name_with_a_nul_is_refused_not_cut_short() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        let err = d
            .replace(OsStr::from_bytes(b"st\0atus"), b"x", 0o644)
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        assert!(fs::read_dir(dir.path()).unwrap().next().is_none());
        assert!(d.open_fifo(OsStr::from_bytes(b"c\0"), 0o600).is_err());
        assert!(d.remove(OsStr::from_bytes(b"c\0")).is_err());
    }

    #[test]
    fn temp_names_differ_and_are_recognised() {
        let a = temp_name(OsStr::new("state"));
        let b = temp_name(OsStr::new("state"));
        assert_ne!(a, b);
        assert!(is_temp_name(&a), "{a:?}");
        assert!(!is_temp_name(OsStr::new("state")));
        assert!(!is_temp_name(OsStr::new(".state.new")));
    }

    #[test]
    fn planted_symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        symlink(&victim, sub.join("state.new")).unwrap();
        symlink(&victim, sub.join("lock")).unwrap();
        write_atomic(&sub.join("state"), b"x").unwrap();
        assert!(open_lock_file(&sub.join("lock")).is_err());
        // Replacing a symlink replaces the link, not its target.
        write_atomic(&sub.join("lock"), b"y").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_directory_writable_by_others_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        fs::create_dir(&open).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let e = write_atomic(&open.join("f"), b"x").unwrap_err();
        assert!(e.to_string().contains("writable by others"), "{e}");
        assert!(!open.join("f").exists());
        fs::set_permissions(&open, fs::Permissions::from_mode(0o1777)).unwrap();
        write_atomic(&open.join("f"), b"x").unwrap();
        open_lock_file(&open.join("l")).unwrap();
    }

    #[test]
    fn lock_files_must_be_plain_and_single_linked() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        fs::write(&a, b"").unwrap();
        fs::hard_link(&a, dir.path().join("b")).unwrap();
        assert!(open_lock_file(&dir.path().join("b")).is_err());
        nix::unistd::mkfifo(&dir.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(open_lock_file(&dir.path().join("fifo")).is_err());
        open_lock_file(&dir.path().join("fresh")).unwrap();
    }

    #[test]
    fn prepared_files_appear_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        let a = d.prepare(OsStr::new("a"), b"A", 0o644).unwrap();
        let b = d.prepare(OsStr::new("b"), b"B", 0o644).unwrap();
        assert!(!dir.path().join("a").exists());
        a.commit().unwrap();
        drop(b);
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"A");
        assert!(!dir.path().join("b").exists());
        assert!(no_temps(dir.path()));
    }

    #[test]
    fn reads_never_follow_a_symlink_nor_open_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        fs::write(dir.path().join("victim"), b"precious").unwrap();
        symlink(dir.path().join("victim"), dir.path().join("link")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        assert!(d.read_optional(OsStr::new("link")).is_err());
        assert!(d.read_optional(OsStr::new("fifo")).is_err());
        assert_eq!(d.read_optional(OsStr::new("missing")).unwrap(), None);
        assert_eq!(
            d.read_optional(OsStr::new("victim")).unwrap().as_deref(),
            Some(&b"precious"[..])
        );
    }

    #[test]
    fn fifos_are_made_kept_and_put_in_place_of_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir::open(dir.path()).unwrap();
        let (_, replaced) = d.open_fifo(OsStr::new("control"), 0o600).unwrap();
        assert!(!replaced);
        let (_, replaced) = d.open_fifo(OsStr::new("control"), 0o600).unwrap();
        assert!(!replaced);
        fs::write(dir.path().join("ok"), b"d").unwrap();
        let (_, replaced) = d.open_fifo(OsStr::new("ok"), 0o600).unwrap();
        assert!(replaced);
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata(dir.path().join("ok"))
            .unwrap()
            .file_type()
            .is_fifo());
        symlink("/dev/null", dir.path().join("link")).unwrap();
        assert!(d.open_fifo(OsStr::new("link"), 0o600).is_err());
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(d.open_fifo(OsStr::new("sub"), 0o600).is_err());
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        write_atomic(&p, b"old").unwrap();
        // A directory in the way makes the rename fail.
        let d = Dir::open(dir.path()).unwrap();
        fs::remove_file(&p).unwrap();
        fs::create_dir(&p).unwrap();
        fs::write(p.join("x"), b"").unwrap();
        assert!(d.replace(OsStr::new("state"), b"new", 0o644).is_err());
        assert!(no_temps(dir.path()));
    }
}
