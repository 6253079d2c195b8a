//! Listing a directory without the heap: getdents64 into a buffer on the
//! stack, names handed out one at a time. Used on supervise's restart and
//! status paths, where `std::fs::read_dir` would allocate a 32 kB buffer
//! (glibc's opendir) and an entry per name.

use std::os::fd::AsRawFd;

use nix::errno::Errno;

/// Call `f` with each name in `dir`, "." and ".." included, listing it
/// from its start (the same open dir can be listed again). An error ends
/// the listing: `f` has then seen only some of the names.
pub fn for_each_name(dir: &impl AsRawFd, mut f: impl FnMut(&[u8])) -> Result<(), Errno> {
    crate::sys::rewind(dir)?;
    let mut buf = Records([0; 1024]);
    loop {
        let n = crate::sys::getdents(dir, &mut buf.0)?;
        if n == 0 {
            return Ok(());
        }
        for name in dirent_names(&buf.0[..n.min(buf.0.len())]) {
            f(name);
        }
    }
}

/// Where the kernel writes getdents64 records: aligned for their 8-byte
/// fields (a CPU without unaligned access would otherwise need the kernel
/// to fix up each store).
#[repr(align(8))]
struct Records([u8; 1024]);

/// The names in getdents64 records: each is d_ino (8 bytes), d_off (8),
/// d_reclen (2), d_type (1), then the name, NUL-terminated, padded to
/// d_reclen. A record that does not fit ends the walk.
fn dirent_names(records: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        let reclen = usize::from(u16::from_ne_bytes([*rest.get(16)?, *rest.get(17)?]));
        if reclen < 20 || reclen > rest.len() {
            return None;
        }
        let (record, next) = rest.split_at(reclen);
        rest = next;
        let name = &record[19..];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(&name[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirent_records_are_walked_and_a_torn_one_ends_the_walk() {
        let record = |name: &[u8]| {
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            let mut r = vec![0u8; reclen];
            r[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
            r[19..19 + name.len()].copy_from_slice(name);
            r
        };
        let mut buf = record(b".");
        buf.extend(record(b"w.0123456789abcdef"));
        let whole = buf.len();
        buf.extend(record(b"torn"));
        buf.truncate(buf.len() - 3);
        let names: Vec<&[u8]> = dirent_names(&buf).collect();
        assert_eq!(names, vec![&b"."[..], &b"w.0123456789abcdef"[..]]);
        assert_eq!(dirent_names(&buf[..whole]).count(), 2);
        assert_eq!(dirent_names(&[0u8; 10]).count(), 0);
    }

    #[test]
    fn every_name_of_a_big_dir_is_seen_and_a_second_listing_sees_them_again() {
        let tmp = tempfile::tempdir().unwrap();
        // More than one buffer's worth of records.
        for i in 0..300 {
            std::fs::write(
                tmp.path().join(format!("file-with-a-longish-name-{i}")),
                b"",
            )
            .unwrap();
        }
        let dir = std::fs::File::open(tmp.path()).unwrap();
        for _ in 0..2 {
            let mut names = Vec::new();
            for_each_name(&dir, |n| names.push(n.to_vec())).unwrap();
            names.sort();
            assert_eq!(names.len(), 302);
            assert_eq!(names[0], b".");
            assert_eq!(names[1], b"..");
        }
    }

    #[test]
    fn a_file_is_no_dir_to_list() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let err = for_each_name(tmp.as_file(), |_| panic!("no names")).unwrap_err();
        assert_eq!(err, Errno::ENOTDIR);
    }
}
