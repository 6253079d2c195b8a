//! A service's name in the scan dir, kept in the service itself when it
//! is short, as most are: no allocation of its own (32 bytes of heap) for
//! each of thousands of services.

use std::ffi::OsStr;
use std::ops::Deref;
use std::os::unix::ffi::OsStrExt;

/// Names up to this long are held inline (the enum stays 24 bytes).
const INLINE: usize = 22;

#[derive(Clone)]
pub(super) enum Name {
    Short(u8, [u8; INLINE]),
    Long(Box<OsStr>),
}

impl From<&OsStr> for Name {
    fn from(s: &OsStr) -> Name {
        let b = s.as_bytes();
        if b.len() > INLINE {
            return Name::Long(s.into());
        }
        let mut buf = [0; INLINE];
        buf[..b.len()].copy_from_slice(b);
        Name::Short(b.len() as u8, buf)
    }
}

impl Deref for Name {
    type Target = OsStr;

    fn deref(&self) -> &OsStr {
        match self {
            Name::Short(len, buf) => OsStr::from_bytes(&buf[..usize::from(*len)]),
            Name::Long(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_the_name_it_was_made_from() {
        for s in [
            "",
            "a",
            "exactly-22-bytes-long!",
            "twenty-three bytes long",
            "\u{e9}t\u{e9}",
        ] {
            let name = Name::from(OsStr::new(s));
            assert_eq!(&*name, OsStr::new(s));
            assert_eq!(matches!(name, Name::Short(..)), s.len() <= INLINE);
        }
        assert_eq!(std::mem::size_of::<Name>(), 24);
    }
}
