//! tai64n and tai64nlocal: labels that name the moment a line arrived,
//! conversion back to local time in daemontools' exact format (checked
//! against Debian's tai64nlocal in several time zones), and round trips.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

const TAI64N: &str = env!("CARGO_BIN_EXE_tai64n");
const TAI64NLOCAL: &str = env!("CARGO_BIN_EXE_tai64nlocal");

fn have(path: &str, package: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    common::skip(&format!("{path} missing (apt-get install {package})"))
}

/// Run `bin` with `input` on stdin and TZ set; (stdout, exit code).
fn filter(bin: &str, input: &[u8], tz: &str) -> (Vec<u8>, Option<i32>) {
    let mut child = Command::new(bin)
        .env("TZ", tz)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (out.stdout, out.status.code())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Labels this test knows the meaning of, and lines around them.
const FIXED: &str = "\
@400000003b9aca0a00000000 one billion seconds
@4000000060000000000000ff x
@400000006000000000000000
@400000007fffffff3b9ac9ff near 2038
@40000000000000000000000a 1970
@4000000065a1b2c3075bcd15\tTAB after
@4000000060000000000000ffX no space
not a label
 @4000000060000000000000ff leading space
a@4000000060000000000000ff

@400000005000000012345678 nanoseconds
@4000000060000000ffffffff too many nanoseconds
@4000000068e8a1f000000000 2025 summer
@4000000067800000000fffff 2025 winter
";

#[test]
fn tai64nlocal_matches_daemontools_in_several_zones() {
    if !have("/usr/bin/tai64nlocal", "daemontools") {
        return;
    }
    let mut zones = vec!["UTC", "XYZ-5:30", "EST5EDT,M3.2.0,M11.1.0"];
    if Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
        zones.push("Europe/Berlin");
    } else {
        common::skip("tzdata missing (apt-get install tzdata)");
    }
    if Path::new("/usr/share/zoneinfo/Australia/Lord_Howe").exists() {
        zones.push("Australia/Lord_Howe");
    }
    for tz in zones {
        let (theirs, a) = filter("/usr/bin/tai64nlocal", FIXED.as_bytes(), tz);
        let (ours, b) = filter(TAI64NLOCAL, FIXED.as_bytes(), tz);
        assert_eq!((a, b), (Some(0), Some(0)), "TZ={tz}");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "TZ={tz}"
        );
    }
}

#[test]
fn tai64nlocal_known_values() {
    let (out, code) = filter(
        TAI64NLOCAL,
        b"@400000003b9aca0a00000000 x\n@4000000060000000000000ff\n",
        "UTC",
    );
    assert_eq!(code, Some(0));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2001-09-09 01:46:40.000000000 x\n2021-01-14 08:25:26.000000255\n"
    );
    // India is +05:30 all year.
    let (out, _) = filter(TAI64NLOCAL, b"@400000003b9aca0a00000000\n", "IST-5:30");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2001-09-09 07:16:40.000000000\n"
    );
}

#[test]
fn tai64nlocal_survives_labels_daemontools_crashes_on() {
    // daemontools' tai64nlocal dies on these; ours leaves them as they are.
    let input = b"@0 tiny\n@ffffffffffffffffffffffff huge\n@ bare\n";
    let (out, code) = filter(TAI64NLOCAL, input, "UTC");
    assert_eq!(code, Some(0));
    assert_eq!(out, input);
    // A label cut off by the end of input is still converted.
    let (out, _) = filter(TAI64NLOCAL, b"@400000003b9aca0a00000000", "UTC");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "2001-09-09 01:46:40.000000000"
    );
}

/// Lines of tai64n output: (label, rest of line).
fn labelled(out: &[u8]) -> Vec<(String, String)> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .split_inclusive('\n')
        .map(|l| {
            assert!(
                l.starts_with('@') && l.as_bytes()[25] == b' ',
                "bad line {l:?}"
            );
            (l[1..25].to_string(), l[26..].to_string())
        })
        .collect()
}

#[test]
fn tai64n_labels_every_line_with_the_time_it_came() {
    let before = unix_now();
    let (out, code) = filter(TAI64N, b"a\n\nlast without newline", "UTC");
    let after = unix_now();
    assert_eq!(code, Some(0));
    let lines = labelled(&out);
    let rest: Vec<&str> = lines.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(rest, ["a\n", "\n", "last without newline"]);
    let mut previous = String::new();
    for (label, _) in &lines {
        assert!(label
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        let secs = u64::from_str_radix(&label[..16], 16).unwrap() - (1 << 62) - 10;
        let nanos = u32::from_str_radix(&label[16..], 16).unwrap();
        assert!((before..=after).contains(&secs), "label {label} not now");
        assert!(nanos < 1_000_000_000);
        assert!(*label >= previous, "labels go backwards");
        previous = label.clone();
    }
}

#[test]
fn tai64n_output_shape_matches_daemontools() {
    if !have("/usr/bin/tai64n", "daemontools") {
        return;
    }
    let mask = |out: Vec<u8>| -> Vec<String> {
        labelled(&out).into_iter().map(|(_, rest)| rest).collect()
    };
    let input = b"one\n\n  spaced  \n\tx\nno newline at end";
    let (theirs, a) = filter("/usr/bin/tai64n", input, "UTC");
    let (ours, b) = filter(TAI64N, input, "UTC");
    assert_eq!(a, b);
    assert_eq!(mask(ours), mask(theirs));
}

#[test]
fn round_trip_through_tai64nlocal_gives_the_local_clock() {
    let (stamped, _) = filter(TAI64N, b"hello\n", "UTC");
    for tz in ["UTC", "XYZ-5:30"] {
        let (local, code) = filter(TAI64NLOCAL, &stamped, tz);
        assert_eq!(code, Some(0));
        let text = String::from_utf8(local).unwrap();
        assert!(text.ends_with(" hello\n"), "{text:?}");
        // YYYY-MM-DD HH:MM:SS.NNNNNNNNN
        let stamp = &text[..29];
        let shape = stamp.bytes().enumerate().all(|(i, c)| match i {
            4 | 7 => c == b'-',
            10 => c == b' ',
            13 | 16 => c == b':',
            19 => c == b'.',
            _ => c.is_ascii_digit(),
        });
        assert!(shape, "{stamp:?}");
        // Against date(1) for the same instant, to the second.
        let label = String::from_utf8_lossy(&stamped[1..17]).into_owned();
        let secs = u64::from_str_radix(&label, 16).unwrap() - (1 << 62) - 10;
        let date = Command::new("date")
            .env("TZ", tz)
            .arg("-d")
            .arg(format!("@{secs}"))
            .arg("+%Y-%m-%d %H:%M:%S")
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&date.stdout).trim(), &stamp[..19]);
    }
}
