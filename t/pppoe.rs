//! pppoe-connect / pppoe-stop / pppoe-start against a stand-in pppd and an
//! ISP simulator (t/helpers/). This binary is also those two helpers: run
//! as `pppd` or `isp` (by argv[0], through symlinks the tests make) it
//! becomes them, so they are built with the tests and never installed.
//!
//! `harness = false`: main runs the tests below in order (a name filter as
//! first argument selects some); `--bench N` runs the race bench instead.

/// `tests![a, b]`: the named test functions, with their names.
macro_rules! tests {
    ($($f:ident),* $(,)?) => {
        vec![$((stringify!($f), $f as fn())),*]
    };
}

#[path = "pppoe/cases.rs"]
mod cases;
#[path = "common/mod.rs"]
mod common;
#[path = "pppoe/configs.rs"]
mod configs;
#[path = "helpers/conn.rs"]
mod conn;
#[path = "helpers/fixture.rs"]
mod fixture;
#[path = "helpers/isp.rs"]
mod isp;
#[path = "pppoe/leftovers.rs"]
mod leftovers;
#[path = "helpers/pppd.rs"]
mod pppd;
#[path = "pppoe/race.rs"]
mod race;
#[path = "pppoe/restarts.rs"]
mod restarts;
#[path = "helpers/rng.rs"]
mod rng;
#[path = "pppoe/supervised.rs"]
mod supervised;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let argv0 = std::path::Path::new(&args[0])
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match argv0.as_str() {
        "pppd" => std::process::exit(pppd::main(&args)),
        "isp" => std::process::exit(isp::main(&args)),
        _ => {}
    }
    if let Some(i) = args.iter().position(|a| a == "--bench-service") {
        let n = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(20);
        restarts::bench(n);
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--bench") {
        let n = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(1000);
        race::bench(n);
        return;
    }
    let filter: Vec<&String> = args[1..].iter().filter(|a| !a.starts_with('-')).collect();
    let tests: Vec<(&str, fn())> = cases::all()
        .into_iter()
        .chain(configs::all())
        .chain(leftovers::all())
        .chain(restarts::all())
        .chain(race::all())
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, f) in tests {
        if !filter.is_empty() && !filter.iter().any(|p| name.contains(p.as_str())) {
            continue;
        }
        ran += 1;
        let t = std::time::Instant::now();
        match std::panic::catch_unwind(f) {
            Ok(()) => println!("test {name} ... ok ({:.2}s)", t.elapsed().as_secs_f64()),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
}
