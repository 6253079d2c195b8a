//! rp-pppoe configs as admins have them: the stock file layout loads, each
//! key reaches pppd or pppoe as rp-pppoe passes it (checked on the stand-in
//! pppd's argv), what cannot work here is refused in one line, and nothing
//! from the config reaches a shell unquoted.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::fixture::{text, wait_child, Opts, World};

pub fn all() -> Vec<(&'static str, fn())> {
    tests![
        rp_pppoe_stock_config_loads,
        rp_pppoe_keys_reach_pppd,
        argv_matches_rp_pppoes_own_script,
        shipped_example_loads,
        demand_and_firewall_refused_in_one_line,
        relative_pidfile_refused,
        interface_names_checked_as_the_kernel_does,
        pty_command_is_quoted,
    ]
}

/// rp-pppoe 3.15's stock /etc/ppp/pppoe.conf, key for key and in its
/// order, with its shell constructs (CF_BASE from the file name, quoted
/// values, empty values, comments) — plus upkeep's own keys at the end, and
/// PIDFILE in the test's directory instead of /var/run.
fn stock_config(d: &Path, tweak: &str) -> String {
    format!(
        "#***********************************************************************\n\
         # pppoe.conf (rp-pppoe 3.15 layout)\n\
         #***********************************************************************\n\
         \n\
         # Ethernet card connected to DSL modem\n\
         ETH=eth1\n\
         \n\
         # PPPoE user name.\n\
         USER=acct\n\
         \n\
         DEMAND=no\n\
         #DEMAND=300\n\
         \n\
         DNSTYPE=SERVER\n\
         PEERDNS=yes\n\
         \n\
         DNS1=\n\
         DNS2=\n\
         \n\
         DEFAULTROUTE=yes\n\
         \n\
         ### ONLY TOUCH THE FOLLOWING SETTINGS IF YOU'RE AN EXPERT\n\
         CONNECT_TIMEOUT=30\n\
         CONNECT_POLL=2\n\
         ACNAME=\n\
         SERVICENAME=\n\
         PING=\".\"\n\
         \n\
         CF_BASE=`basename $CONFIG`\n\
         PIDFILE=\"{d}/$CF_BASE-pppoe.pid\"\n\
         \n\
         SYNCHRONOUS=no\n\
         CLAMPMSS=1412\n\
         #CLAMPMSS=no\n\
         LCP_INTERVAL=20\n\
         LCP_FAILURE=3\n\
         PPPOE_TIMEOUT=80\n\
         FIREWALL=NONE\n\
         LINUX_PLUGIN=\n\
         PPPOE_EXTRA=\"\"\n\
         # PPPOE_EXTRA=\"-f 3c12:3c13 -S ISP\"\n\
         PPPD_EXTRA=\"\"\n\
         \n\
         ########## DON'T CHANGE BELOW UNLESS YOU KNOW WHAT YOU ARE DOING\n\
         # OVERRIDE_PPPD_COMMAND=\"pppd call dsl\"\n\
         # RETRY_ON_FAILURE=no\n\
         export\tETH USER\n\
         # upkeep's keys\n\
         PPPD={d}/pppd\n\
         LOST_HOOK={d}/hook\n\
         RETRY_DELAY=50ms\n\
         STOP_TIMEOUT=2s\n\
         {tweak}",
        d = d.display()
    )
}

/// The stand-in pppd's arguments of the last run.
fn argv(w: &World) -> Vec<String> {
    let raw = fs::read(w.path("argv")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// What a shell makes of the pty command line pppd is given (`eval` of
/// the string, as `sh -c` does), one word per entry.
fn shell_words(line: &str) -> Vec<String> {
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg("eval \"set -- $1\"; printf '%s\\0' \"$@\"")
        .arg("sh")
        .arg(line)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    o.stdout
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// pppoe-connect on `conf` with a pppd that records its argv and exits 4
/// (no kernel PPP: permanent), so the loop ends by itself.
fn run_once(w: &World, conf: &str) -> Output {
    fs::write(w.conf(), conf).unwrap();
    let c = run_to_end(
        recording_pppd(w, &mut w.cmd("pppoe-connect")).current_dir(w.dir.path()),
        Stdio::piped,
    );
    c.wait_with_output().unwrap()
}

/// Spawn a loop, its stdout and stderr made by `out`, and give it 20 s to
/// end by itself; one that did not (a key it should have refused) is
/// killed, and the test then fails on its code.
fn run_to_end(cmd: &mut Command, out: fn() -> Stdio) -> Child {
    let mut c = cmd.stdout(out()).stderr(out()).spawn().unwrap();
    if wait_child(&mut c, Duration::from_secs(20)).is_none() {
        let _ = c.kill();
    }
    c
}

/// `loop_cmd` on the world's config, with the stand-in pppd recording its
/// argv (in `argv`, removed first) and exiting 4.
fn recording_pppd<'a>(w: &World, loop_cmd: &'a mut Command) -> &'a mut Command {
    let _ = fs::remove_file(w.path("argv"));
    loop_cmd
        .arg(w.conf())
        .env("PPPD_STANDIN_ARGV", w.path("argv"))
        .env("PPPD_STANDIN_EXIT", "4")
}

/// pppd's words after the pty or plugin ones: `defaultroute` and
/// `usepeerdns` when `route_and_dns` (DEFAULTROUTE=yes, PEERDNS=yes), then
/// MTU/MRU, the compression switches, USER and the LCP echo settings.
fn std_words(
    route_and_dns: bool,
    mtu: &str,
    user: &str,
    interval: &str,
    failure: &str,
) -> Vec<String> {
    let route = if route_and_dns { "defaultroute" } else { "" };
    let dns = if route_and_dns { "usepeerdns" } else { "" };
    [
        "noipdefault",
        "noauth",
        "default-asyncmap",
        route,
        "hide-password",
        "nodetach",
        dns,
        "mtu",
        mtu,
        "mru",
        mtu,
        "noaccomp",
        "nodeflate",
        "nopcomp",
        "novj",
        "novjccomp",
        "user",
        user,
        "lcp-echo-interval",
        interval,
        "lcp-echo-failure",
        failure,
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .map(|s| s.to_string())
    .collect()
}

/// The pty command for eth1: rp-pppoe's pppoe with discovery timeout
/// `timeout`, then `rest`.
fn pty_words(timeout: &str, rest: &[&str]) -> Vec<String> {
    let mut words = strings(&["/usr/sbin/pppoe", "-I", "eth1", "-T", timeout, "-U"]);
    words.extend(strings(rest));
    words
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The stock file runs a loop, dials, and pppoe-stop reads it too.
fn rp_pppoe_stock_config_loads() {
    let w = World::new(Opts::default());
    fs::write(w.conf(), stock_config(w.dir.path(), "")).unwrap();
    let mut c = w
        .cmd("pppoe-connect")
        .arg(w.conf())
        .env("PPPD_STANDIN_ARGV", w.path("argv"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(w.wait_session(), "no session");
    // PIDFILE from CF_BASE: the config's file name.
    let pidfile = w.path("pppoe.conf-pppoe.pid");
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        format!("{}\n", c.id())
    );
    let a = argv(&w);
    assert_eq!(a[0], "pty");
    assert_eq!(shell_words(&a[1]), pty_words("80", &["-m", "1412"]));
    assert_eq!(a[2..].to_vec(), std_words(true, "1492", "acct", "20", "3"));
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(wait_child(&mut c, Duration::from_secs(20)), Some(0));
    let out = c.wait_with_output().unwrap();
    // The stock file's keys are all known: no warning.
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(!pidfile.exists());
    assert!(w.sessions().is_empty());
}

/// Every key that changes pppd's behaviour, set away from its default.
fn rp_pppoe_keys_reach_pppd() {
    let w = World::new(Opts::default());
    let d = w.dir.path();
    let o = run_once(
        &w,
        &stock_config(
            d,
            "ACNAME=ac1\nSERVICENAME='my isp'\nCLAMPMSS=no\nDEFAULTROUTE=no\n\
             PEERDNS=no\nDNSTYPE=NOCHANGE\nLCP_INTERVAL=10\nLCP_FAILURE=5\n\
             PPPOE_TIMEOUT=40\nSYNCHRONOUS=yes\nPPPOE_EXTRA=\"-f 3c12:3c13\"\n\
             PPPD_EXTRA=\"ipparam 'my wan'\"\nUNIT=3\nMTU=1480\nMRU=1480\n",
        ),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let a = argv(&w);
    assert_eq!(a[0], "pty", "{a:?}");
    assert_eq!(
        shell_words(&a[1]),
        pty_words(
            "40",
            &["-s", "-C", "ac1", "-S", "my isp", "-f", "3c12:3c13"]
        )
    );
    let mut want = strings(&["unit", "3"]);
    want.extend(std_words(false, "1480", "acct", "10", "5"));
    want.extend(strings(&["ipparam", "my wan", "sync"]));
    assert_eq!(a[2..].to_vec(), want);
    // The kernel-mode plugin: no pty, pppoe's settings go to the plugin.
    let o = run_once(
        &w,
        &stock_config(
            d,
            "LINUX_PLUGIN=/etc/ppp/plugins/rp-pppoe.so\nSERVICENAME=svc1\nACNAME=ac1\n",
        ),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let mut want = strings(&[
        "plugin",
        "/etc/ppp/plugins/rp-pppoe.so",
        "nic-eth1",
        "rp_pppoe_service",
        "svc1",
        "rp_pppoe_ac",
        "ac1",
    ]);
    want.extend(std_words(true, "1492", "acct", "20", "3"));
    assert_eq!(argv(&w), want);
    // Values pppd or pppoe would reject are refused here, naming the key.
    for bad in ["LCP_INTERVAL=often", "CLAMPMSS=99999", "PPPOE_TIMEOUT=-1"] {
        let o = run_once(&w, &stock_config(d, &format!("{bad}\n")));
        let key = bad.split('=').next().unwrap();
        assert_eq!(o.status.code(), Some(100), "{bad}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(key),
            "{bad}: {}",
            text(&o)
        );
        assert!(!w.path("argv").exists(), "{bad}: pppd ran");
    }
}

/// The words of `argv` with pppoe's `-p FILE` (rp-pppoe's pid file for
/// the pppoe process, which upkeep does not use) taken out of the pty
/// command, and the pty command split as its shell splits it.
fn comparable(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < argv.len() {
        if argv[i] == "pty" && i + 1 < argv.len() {
            let words = shell_words(&argv[i + 1]);
            let mut j = 0;
            out.push("pty".to_string());
            while j < words.len() {
                if words[j] == "-p" {
                    j += 2;
                    continue;
                }
                out.push(words[j].clone());
                j += 1;
            }
            i += 2;
        } else {
            out.push(argv[i].clone());
            i += 1;
        }
    }
    out
}

/// Differential: Debian's rp-pppoe 3.15 pppoe-connect script and upkeep's
/// loop, on the same configs, give the stand-in pppd the same arguments.
fn argv_matches_rp_pppoes_own_script() {
    let script = Path::new("/usr/sbin/pppoe-connect");
    if !script.exists() {
        crate::common::skip("/usr/sbin/pppoe-connect (rp-pppoe) not installed");
        return;
    }
    let w = World::new(Opts::default());
    let d = w.dir.path();
    // DNSTYPE=NOCHANGE: rp-pppoe's SERVER would replace /etc/resolv.conf.
    for tweak in [
        "DNSTYPE=NOCHANGE\n",
        "DNSTYPE=NOCHANGE\nACNAME=ac1\nSERVICENAME=svc1\nCLAMPMSS=no\nDEFAULTROUTE=no\n\
         PEERDNS=no\nLCP_INTERVAL=10\nLCP_FAILURE=5\nPPPOE_TIMEOUT=40\nSYNCHRONOUS=yes\n\
         PPPOE_EXTRA=\"-f 3c12:3c13\"\nPPPD_EXTRA=\"ipparam wan\"\nUNIT=3\nMTU=1480\nMRU=1480\n",
        "DNSTYPE=NOCHANGE\nLINUX_PLUGIN=/etc/ppp/plugins/rp-pppoe.so\nSERVICENAME=svc1\n",
    ] {
        let o = run_once(&w, &stock_config(d, tweak));
        assert_eq!(o.status.code(), Some(100), "{tweak}: {}", text(&o));
        let ours = comparable(&argv(&w));
        // rp-pppoe's loop, told not to redial, with the same stand-in.
        fs::write(
            w.conf(),
            stock_config(d, &format!("{tweak}RETRY_ON_FAILURE=no\n")),
        )
        .unwrap();
        let mut c = run_to_end(recording_pppd(&w, w.env_cmd("sh").arg(script)), Stdio::null);
        let _ = c.wait();
        assert_eq!(ours, comparable(&argv(&w)), "{tweak}");
    }
}

/// service/ppp/pppoe.conf.example is rp-pppoe's stock layout: it loads,
/// and gives pppd rp-pppoe's arguments.
fn shipped_example_loads() {
    let w = World::new(Opts::default());
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("service/ppp/pppoe.conf.example");
    let example = fs::read_to_string(example).unwrap();
    let d = w.dir.path().display();
    let o = run_once(
        &w,
        &format!("{example}\nPIDFILE={d}/pppoe.pid\nPPPD={d}/pppd\nLOST_HOOK=\nDNSTYPE=NOCHANGE\n"),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("warning"), "{err}");
    let a = argv(&w);
    assert_eq!(a[0], "pty");
    assert!(shell_words(&a[1]).starts_with(&strings(&["/usr/sbin/pppoe", "-I"])));
    assert!(a.contains(&"defaultroute".to_string()), "{a:?}");
}

/// DEMAND (dial on demand) and a FIREWALL script cannot work under the
/// loop: one clear line, exit 100, before anything runs.
fn demand_and_firewall_refused_in_one_line() {
    let w = World::new(Opts::default());
    let d = w.dir.path();
    for (tweak, key) in [
        ("DEMAND=300\n", "DEMAND"),
        ("FIREWALL=MASQUERADE\n", "FIREWALL"),
        (
            "OVERRIDE_PPPD_COMMAND=\"pppd call dsl\"\n",
            "OVERRIDE_PPPD_COMMAND",
        ),
    ] {
        let o = run_once(&w, &stock_config(d, tweak));
        assert_eq!(o.status.code(), Some(100), "{tweak}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(err.lines().count(), 1, "{tweak}: {err}");
        assert!(
            err.starts_with(&format!(
                "pppoe-connect: fatal: unable to parse {} line ",
                w.conf().display()
            )) && err.contains(key),
            "{tweak}: {err}"
        );
        assert!(!w.path("argv").exists(), "{tweak}: pppd ran");
        // pppoe-stop (no --service) refuses it the same way.
        let o = w.stop(&[]);
        assert_eq!(o.status.code(), Some(100), "{tweak}: {}", text(&o));
    }
}

/// A relative PIDFILE would name different files for the loop (cwd: the
/// service dir) and the hook's stop (cwd: the hook dir): refused.
fn relative_pidfile_refused() {
    let w = World::new(Opts::default());
    let conf = format!("{}PIDFILE=pppoe.pid\n", w.read("pppoe.conf"));
    let line = conf.lines().count();
    let o = run_once(&w, &conf);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "pppoe-connect: fatal: unable to parse {} line {line}: PIDFILE must be an absolute path\n",
            w.conf().display()
        )
    );
    assert!(!w.path("pppoe.pid").exists());
    assert!(!w.path("argv").exists());
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(&format!("line {line}: PIDFILE")));
}

/// ETH as the kernel takes interface names: 1-15 bytes, no '/', ':' or
/// whitespace, not `.` or `..`.
fn interface_names_checked_as_the_kernel_does() {
    let w = World::new(Opts::default());
    let base = w.read("pppoe.conf").replace("ETH=eth0\n", "");
    for bad in [
        "'eth0;touch pwned'",
        "''",
        "a/b",
        "'eth 0'",
        ".",
        "..",
        "eth0:1",
        "sixteen-bytes-xx",
    ] {
        let o = run_once(&w, &format!("{base}ETH={bad}\n"));
        assert_eq!(o.status.code(), Some(100), "{bad}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(err.contains("ETH"), "{bad}: {err}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
        assert!(!w.path("argv").exists(), "{bad}: pppd ran");
    }
    assert!(!w.path("pwned").exists());
    // 15 bytes is the kernel's limit and fine.
    let o = run_once(&w, &format!("{base}ETH=fifteen-bytesxy\n"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("pppd exited 4"));
    assert_eq!(shell_words(&argv(&w)[1])[2], "fifteen-bytesxy");
}

/// Words from the config that go into the pty command line (a shell runs
/// it) arrive as the same words, whatever characters they hold; shell
/// syntax inside PPPOE_EXTRA's own words is refused, not guessed at.
fn pty_command_is_quoted() {
    let w = World::new(Opts::default());
    let d = w.dir.path().display().to_string();
    let base = w.read("pppoe.conf");
    let o = run_once(
        &w,
        &format!(
            "{base}ACNAME='x;touch {d}/pwned `id`'\nSERVICENAME=\"it's \\$HOME\"\n\
             PPPOE_EXTRA=\"-f 'a b' \\\"c\\\"\"\n"
        ),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let a = argv(&w);
    let words = shell_words(&a[1]);
    assert!(!w.path("pwned").exists(), "the shell ran {:?}", a[1]);
    assert_eq!(
        words[words.len() - 7..].to_vec(),
        vec![
            "-C".to_string(),
            format!("x;touch {d}/pwned `id`"),
            "-S".into(),
            "it's $HOME".into(),
            "-f".into(),
            "a b".into(),
            "c".into(),
        ],
        "{:?}",
        a[1]
    );
    for bad in [
        "PPPOE_EXTRA='-S a;b'",
        "PPPOE_EXTRA='-S $(id)'",
        "PPPD_EXTRA='a|b'",
    ] {
        let o = run_once(&w, &format!("{base}{bad}\n"));
        let key = bad.split('=').next().unwrap();
        assert_eq!(o.status.code(), Some(100), "{bad}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            err.contains(key) && err.lines().count() == 1,
            "{bad}: {err}"
        );
        assert!(!w.path("argv").exists(), "{bad}: pppd ran");
    }
}
