//! doc/: one man page per program, each with the usual sections, naming
//! every option the program accepts, and rendering without a warning by
//! groff and mandoc's linter.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const GROFF: &str = "/usr/bin/groff";
const MANDOC: &str = "/usr/bin/mandoc";

const SECTIONS: [&str; 7] = [
    ".SH NAME",
    ".SH SYNOPSIS",
    ".SH DESCRIPTION",
    ".SH OPTIONS",
    ".SH FILES",
    ".SH \"EXIT STATUS\"",
    ".SH \"SEE ALSO\"",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn programs() -> BTreeSet<String> {
    // bins/PROG.rs, or bins/PROG/main.rs for a program with modules.
    let names: BTreeSet<String> = fs::read_dir(repo().join("bins"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let is_program =
                p.extension().is_some_and(|x| x == "rs") || p.join("main.rs").is_file();
            is_program.then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names
}

fn page(name: &str) -> Option<PathBuf> {
    ["8", "1"]
        .iter()
        .map(|s| repo().join("doc").join(format!("{name}.{s}")))
        .find(|p| p.exists())
}

fn pages() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(repo().join("doc"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("1" | "8")))
        .collect();
    v.sort();
    v
}

#[test]
fn every_program_has_a_page_and_every_page_a_program() {
    let progs = programs();
    let missing: Vec<&String> = progs.iter().filter(|p| page(p).is_none()).collect();
    assert!(missing.is_empty(), "no doc/NAME.8 for {missing:?}");
    for p in pages() {
        let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            progs.contains(&stem),
            "{} documents no program",
            p.display()
        );
    }
}

#[test]
fn pages_have_the_sections_and_their_own_name() {
    for p in pages() {
        let text = fs::read_to_string(&p).unwrap();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        let section = p.extension().unwrap().to_string_lossy().into_owned();
        let th = format!(".TH {} {section} ", name.to_uppercase());
        assert!(text.contains(&th), "{}: no `{th}`", p.display());
        let mut last = 0;
        for s in SECTIONS {
            let at = text
                .find(&format!("{s}\n"))
                .unwrap_or_else(|| panic!("{}: no {s}", p.display()));
            assert!(at >= last, "{}: {s} out of order", p.display());
            last = at;
        }
        // NAME line: "name \- what it does".
        let roff_name = name.replace('-', "\\-");
        assert!(
            text.contains(&format!(".SH NAME\n{name} \\- "))
                || text.contains(&format!(".SH NAME\n{roff_name} \\- ")),
            "{}: NAME line",
            p.display()
        );
    }
}

/// The option letters a program's source gives its getopt.
fn option_letters(src: &str) -> Option<String> {
    let at = src.find("GetOpt::new(&args, ")? + "GetOpt::new(&args, ".len();
    let rest = &src[at..];
    let spec = if let Some(lit) = rest.strip_prefix('"') {
        lit[..lit.find('"')?].to_string()
    } else {
        // A constant of a module, e.g. softlimit's limits::SOFTLIMIT_OPTIONS:
        // in lib/ or in a program's own directory.
        let name = rest[..rest.find(')')?].rsplit("::").next()?.to_string();
        let dirs = fs::read_dir(repo().join("bins"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .chain([repo().join("lib")]);
        let lib = dirs
            .flat_map(|d| fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
            .map(|p| fs::read_to_string(p).unwrap_or_default())
            .find(|t| t.contains(&format!("const {name}: &str")))?;
        let def = &lib[lib.find(&format!("const {name}: &str"))?..];
        let q = def.find('"')? + 1;
        def[q..q + def[q..].find('"')?].to_string()
    };
    Some(spec.chars().filter(|c| *c != ':').collect())
}

#[test]
fn pages_name_every_option() {
    let mut checked = 0;
    for prog in programs() {
        let single = repo().join(format!("bins/{prog}.rs"));
        let main = repo().join(format!("bins/{prog}/main.rs"));
        let Ok(src) = fs::read_to_string(single).or_else(|_| fs::read_to_string(main)) else {
            continue;
        };
        let Some(letters) = option_letters(&src) else {
            continue;
        };
        let text = fs::read_to_string(page(&prog).unwrap()).unwrap();
        let options = &text[text.find(".SH OPTIONS").unwrap()..];
        let synopsis =
            &text[text.find(".SH SYNOPSIS").unwrap()..text.find(".SH DESCRIPTION").unwrap()];
        for c in letters.chars() {
            assert!(
                options.contains(&format!("\\-{c}")),
                "doc/{prog}.8: OPTIONS does not describe -{c}"
            );
            // In the synopsis, alone or in a group of letters.
            assert!(
                synopsis.split("\\-").skip(1).any(|w| w
                    .chars()
                    .take_while(|x| x.is_ascii_alphanumeric())
                    .any(|x| x == c)),
                "doc/{prog}.8: SYNOPSIS lacks -{c}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "svc, setlock and softlimit take options");
}

/// Run a renderer; it must succeed and say nothing on stderr (or stdout,
/// for a linter).
fn quiet(cmd: &mut Command, page: &Path, stdout_too: bool) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stderr.is_empty() && (!stdout_too || stdout.is_empty()),
        "{cmd:?} on {}: {stdout}{stderr}",
        page.display()
    );
}

#[test]
fn groff_renders_every_page_without_warnings() {
    if !common::have(GROFF) {
        return;
    }
    for p in pages() {
        quiet(
            Command::new(GROFF)
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&p),
            &p,
            false,
        );
        // And the rendered page has a NAME and an EXIT STATUS heading.
        let out = Command::new(GROFF)
            .args(["-man", "-Tutf8", "-P-cbou"])
            .arg(&p)
            .env("GROFF_NO_SGR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("NAME") && text.contains("EXIT STATUS"),
            "{}",
            p.display()
        );
    }
}

#[test]
fn mandoc_lint_finds_nothing() {
    if !common::have(MANDOC) {
        return;
    }
    for p in pages() {
        quiet(
            Command::new(MANDOC)
                .args(["-T", "lint", "-W", "warning"])
                .arg(&p),
            &p,
            true,
        );
    }
}

#[test]
fn the_lint_can_fail() {
    // A page with a misspelt macro draws a warning from both tools.
    if !common::have(GROFF) || !common::have(MANDOC) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.8");
    fs::write(
        &bad,
        ".TH BAD 8\n.SH NAME\nbad \\- x\n.SHH DESCRIPTION\n.Bz y\n",
    )
    .unwrap();
    let groff = Command::new(GROFF)
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!groff.stderr.is_empty(), "groff did not warn");
    let mandoc = Command::new(MANDOC)
        .args(["-T", "lint", "-W", "warning"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(
        !mandoc.status.success() || !mandoc.stdout.is_empty(),
        "mandoc did not warn"
    );
}
