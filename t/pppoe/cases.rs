//! Behaviour of pppoe-connect, pppoe-stop and pppoe-start, one case each.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{eventually, write_exec};
use crate::fixture::{alive, bin, text, wait_child, Opts, World};

pub fn all() -> Vec<(&'static str, fn())> {
    tests![
        config_bad_line_names_file_and_line,
        config_missing_file_and_pppd,
        unknown_keys_one_warning,
        second_loop_refused_with_pid,
        permanent_pppd_codes_exit_100,
        lost_hook_on_loss_never_on_stop,
        maintenance_refusals_redial_until_back,
        sighup_redials_without_hook,
        stop_with_nothing_running,
        kill9_loop_takes_pppd_along,
        stale_pid_files_never_signal_others,
        pppd_ignoring_term_is_killed,
        stop_time_limit_kills_stuck_loop,
        start_detaches_and_refuses_second,
        stop_service_keeps_supervise_down,
        adsl_lost_hook_gives_up_mastership,
        standin_runs_ip_up_and_down,
        orphan_pppd_is_found_by_its_lock,
    ]
}

fn run_connect(w: &World) -> std::process::Output {
    w.cmd("pppoe-connect").arg(w.conf()).output().unwrap()
}

fn config_bad_line_names_file_and_line() {
    let w = World::new(Opts {
        extra_conf: "USER=two words\n",
        ..Opts::default()
    });
    let o = run_connect(&w);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let want = format!(
        "pppoe-connect: fatal: unable to parse {} line 9: unquoted space",
        w.conf().display()
    );
    assert!(err.starts_with(&want), "{err}");
    // pppoe-stop reads the same file the same way.
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 9"));
}

fn config_missing_file_and_pppd() {
    let w = World::new(Opts::default());
    let o = w
        .cmd("pppoe-connect")
        .arg(w.path("nope.conf"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(111), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "pppoe-connect: fatal: unable to read {}: file does not exist\n",
            w.path("nope.conf").display()
        )
    );
    // PPPD that cannot be run: said at once, no lock left.
    fs::write(w.path("noexec"), "not a program").unwrap();
    let conf = w.read("pppoe.conf").replace("/pppd\n", "/noexec\n");
    fs::write(w.conf(), conf).unwrap();
    let o = run_connect(&w);
    assert_eq!(o.status.code(), Some(111), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "pppoe-connect: fatal: unable to run {}: access denied\n",
            w.path("noexec").display()
        )
    );
    let o = w.cmd("pppoe-start").arg(w.conf()).output().unwrap();
    assert_eq!(o.status.code(), Some(111), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unable to run"));
    w.assert_all_gone("after refusals");
    // No USER: permanent.
    fs::write(
        w.conf(),
        format!("ETH=eth0\nPIDFILE={}\n", w.path("pppoe.pid").display()),
    )
    .unwrap();
    let o = run_connect(&w);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).ends_with("no setting for USER\n"));
}

fn unknown_keys_one_warning() {
    let w = World::new(Opts {
        extra_conf: "DEMAND=no\nNO_SUCH_KEY=1\nDNSTYPE=SERVER\nCLAMP_MSS=1412\n",
        ..Opts::default()
    });
    let mut c = w.connect();
    assert!(w.wait_session());
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    let err = w.read("connect.err");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        vec![format!(
            "pppoe-connect: warning: {}: ignoring unknown keys: NO_SUCH_KEY CLAMP_MSS",
            w.conf().display()
        )]
    );
    w.assert_all_gone("after stop");
}

fn second_loop_refused_with_pid() {
    let w = World::new(Opts::default());
    let mut c = w.connect();
    assert!(w.wait_session());
    let o = run_connect(&w);
    assert_eq!(o.status.code(), Some(111), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("pppoe-connect: fatal: already running as pid {}\n", c.id())
    );
    // The refusal touched nothing.
    assert!(alive(c.id() as i32));
    assert_eq!(w.sessions().len(), 1);
    assert_eq!(w.read("pppoe.pid"), format!("{}\n", c.id()));
    assert_eq!(w.stop(&[]).status.code(), Some(0));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    w.assert_all_gone("after stop");
}

fn permanent_pppd_codes_exit_100() {
    for (code, words) in [
        (2, "options error"),
        (3, "not root"),
        (4, "no kernel PPP support"),
    ] {
        let mut w = World::new(Opts::default());
        w.extra_env
            .push(("PPPD_STANDIN_EXIT".into(), code.to_string()));
        let o = run_connect(&w);
        assert_eq!(o.status.code(), Some(100), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).ends_with(&format!(
                "pppoe-connect: fatal: pppd exited {code}: {words}\n"
            )),
            "{}",
            text(&o)
        );
        // The link is gone for good: the hook hears of it, once.
        assert_eq!(
            w.hook_lines(),
            vec![format!("{} {code}", w.conf().display())]
        );
        w.assert_all_gone("after a permanent failure");
    }
    // An unknown pppd option is pppd's exit 2.
    let w = World::new(Opts {
        extra_conf: "PPPD_EXTRA=\"no-such-option\"\n",
        ..Opts::default()
    });
    assert_eq!(run_connect(&w).status.code(), Some(100));
}

fn lost_hook_on_loss_never_on_stop() {
    let w = World::new(Opts::default());
    let mut c = w.connect();
    assert!(w.wait_session());
    let first = w.sessions();
    assert_eq!(w.isp("DROP acct"), "OK");
    // Loss: the hook runs with CONFIG and pppd's code, then it redials.
    let want = vec![format!("{} 16", w.conf().display())];
    assert!(
        eventually(Duration::from_secs(20), || w.hook_lines() == want),
        "{:?}",
        w.hook_lines()
    );
    assert!(eventually(Duration::from_secs(20), || {
        let s = w.sessions();
        !s.is_empty() && s != first
    }));
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    w.assert_all_gone("after stop");
    // The stop's own pppd exit (5) never reached the hook.
    assert_eq!(w.hook_lines(), want);
    let isp = w.read("isp.log");
    assert_eq!(isp.matches(" GRANT ").count(), 2, "{isp}");
    assert!(isp.lines().last().unwrap().contains(" HANGUP "), "{isp}");
}

fn maintenance_refusals_redial_until_back() {
    let w = World::new(Opts {
        retry_delay: "20ms",
        ..Opts::default()
    });
    let mut c = w.connect();
    assert!(w.wait_session());
    assert_eq!(w.isp("MAINT on"), "OK");
    // Dropped (16), then refused (19) while maintenance lasts.
    let conf = w.conf().display().to_string();
    assert!(eventually(Duration::from_secs(20), || {
        let h = w.hook_lines();
        h.first() == Some(&format!("{conf} 16")) && h.contains(&format!("{conf} 19"))
    }));
    assert_eq!(w.isp("MAINT off"), "OK");
    assert!(w.wait_session());
    assert_eq!(w.stop(&[]).status.code(), Some(0));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    w.assert_all_gone("after stop");
}

fn sighup_redials_without_hook() {
    let w = World::new(Opts {
        retry_delay: "1h",
        ..Opts::default()
    });
    let mut c = w.connect();
    assert!(w.wait_session());
    let first = w.sessions();
    let pid = nix::unistd::Pid::from_raw(c.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    // A new session at once (the retry delay is an hour), no hook.
    assert!(eventually(Duration::from_secs(20), || {
        let s = w.sessions();
        !s.is_empty() && s != first
    }));
    assert!(w.read("isp.log").contains(" HANGUP "));
    assert_eq!(w.hook_lines(), Vec::<String>::new());
    // SIGHUP during the retry delay dials now too.
    assert_eq!(w.isp("DROP acct"), "OK");
    assert!(eventually(Duration::from_secs(20), || w.state() == "waiting"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(w.wait_session());
    assert_eq!(w.stop(&[]).status.code(), Some(0));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    w.assert_all_gone("after stop");
}

fn stop_with_nothing_running() {
    let w = World::new(Opts::default());
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(o.stderr, b"");
    w.assert_all_gone("nothing ran");
}

fn kill9_loop_takes_pppd_along() {
    let w = World::new(Opts::default());
    let mut c = w.connect();
    assert!(w.wait_session());
    let pppd: i32 = w.pppd_pid();
    c.kill().unwrap();
    c.wait().unwrap();
    // PR_SET_PDEATHSIG: pppd hangs up and goes too.
    assert!(eventually(Duration::from_secs(20), || !alive(pppd)));
    assert!(eventually(Duration::from_secs(20), || w
        .sessions()
        .is_empty()));
    // Stale pid files stay; pppoe-stop cleans up and says all is well.
    assert!(w.path("pppoe.pid").exists());
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    w.assert_all_gone("after stop");
    // And a new loop starts fine.
    let mut c = w.connect();
    assert!(w.wait_session());
    assert_eq!(w.stop(&[]).status.code(), Some(0));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
}

/// An unrelated process that must survive.
fn bystander() -> std::process::Child {
    Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

fn stale_pid_files_never_signal_others() {
    let w = World::new(Opts::default());
    let mut other = bystander();
    let pid = other.id();
    // Pid files left by a dead loop whose pids now belong to others.
    fs::write(w.path("pppoe.pid"), format!("{pid}\n")).unwrap();
    fs::write(w.path("pppoe.pid.pppd"), format!("{pid}\n")).unwrap();
    fs::write(w.path("pppoe.pid.state"), "running\n").unwrap();
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(alive(pid as i32));
    w.assert_all_gone("stale files");
    // A live loop while its pid file still names the bystander (as if the
    // loop had not written its pid yet): the bystander is never signalled,
    // and the loop is stopped once its pid is there.
    let mut c = w.connect();
    assert!(w.wait_session());
    let real = fs::read_to_string(w.path("pppoe.pid")).unwrap();
    fs::write(w.path("pppoe.pid"), format!("{pid}\n")).unwrap();
    let mut stopper = w
        .cmd("pppoe-stop")
        .arg(w.conf())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(alive(pid as i32), "bystander signalled");
    assert!(alive(c.id() as i32));
    assert_eq!(
        stopper.try_wait().unwrap(),
        None,
        "stop returned while the loop runs"
    );
    fs::write(w.path("pppoe.pid"), real).unwrap();
    assert_eq!(wait_child(&mut stopper, Duration::from_secs(20)), Some(0));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    assert!(alive(pid as i32));
    w.assert_all_gone("after stop");
    other.kill().unwrap();
    other.wait().unwrap();
}

fn pppd_ignoring_term_is_killed() {
    let w = World::with_pppd_deaf_to_term("200ms");
    let mut c = w.connect();
    assert!(w.wait_session());
    let t = Instant::now();
    let o = w.stop(&["-T", "5s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    assert!(w.read("connect.err").contains("killing it"));
    // SIGKILLed pppd sends no PADT: the ISP sees the line vanish.
    assert!(w.read("isp.log").contains(" LOST "));
    w.assert_all_gone("after stop");
}

fn stop_time_limit_kills_stuck_loop() {
    // The loop would wait a minute for pppd; the stop's own -T is shorter.
    let w = World::with_pppd_deaf_to_term("60s");
    let mut c = w.connect();
    assert!(w.wait_session());
    let t = Instant::now();
    let o = w.stop(&["-T", "300ms"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(t.elapsed() < Duration::from_secs(20));
    // SIGKILLed: no exit code.
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(-1));
    // SIGKILLed loop leaves its files; the stop removed them.
    w.assert_all_gone("after stop");
}

fn start_detaches_and_refuses_second() {
    let w = World::new(Opts::default());
    let o = w
        .cmd("pppoe-start")
        .arg(w.conf())
        .arg("--log")
        .arg(w.path("loop.log"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let pid: i32 = w.read("pppoe.pid").trim().parse().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("pppoe-connect running as pid {pid}\n")
    );
    assert_eq!(w.state(), "running");
    assert!(w.wait_session());
    // Own session: not in our process group.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let sid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sid, pid);
    let o = w.cmd("pppoe-start").arg(w.conf()).output().unwrap();
    assert_eq!(o.status.code(), Some(111), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("pppoe-start: fatal: already running as pid {pid}\n")
    );
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!alive(pid));
    w.assert_all_gone("after stop");
}

fn stop_service_keeps_supervise_down() {
    let w = World::new(Opts::default());
    let svc = w.path("service");
    fs::create_dir(&svc).unwrap();
    write_exec(
        &svc.join("run"),
        &format!(
            "#!/bin/sh\nexec {} {}\n",
            bin("pppoe-connect").display(),
            w.conf().display()
        ),
    );
    let mut sup = w
        .cmd("supervise")
        .arg(&svc)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(w.wait_session());
    let o = w.stop(&["--service", svc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    w.assert_all_gone("after stop --service");
    let st = upkeep::status::read_status(&svc).unwrap().unwrap();
    assert_eq!((st.pid, st.want), (0, upkeep::status::Want::Down));
    // It stays down...
    std::thread::sleep(Duration::from_millis(1200));
    assert!(w.sessions().is_empty());
    // ...until someone says up (svc -u).
    upkeep::control::send(&svc, b"u").unwrap();
    assert!(w.wait_session());
    // SERVICE= in the config works the same.
    let conf = format!("{}SERVICE={}\n", w.read("pppoe.conf"), svc.display());
    fs::write(w.conf(), conf).unwrap();
    let o = w.stop(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    w.assert_all_gone("after stop with SERVICE=");
    upkeep::control::send(&svc, b"x").unwrap();
    assert_eq!(wait_child(&mut sup, Duration::from_secs(20)), Some(0));
}

/// service/ppp/adsl-lost: acts only for our config while MASTER: removes
/// the marker, marks the failure (1) in keepalived_vrrp.ERROR, svc -t.
fn adsl_lost_hook_gives_up_mastership() {
    let svc_bin = std::path::Path::new("/usr/bin/svc");
    if !svc_bin.exists() {
        crate::common::skip("/usr/bin/svc (daemontools) not installed");
        return;
    }
    let w = World::new(Opts::default());
    let state = w.path("state");
    fs::create_dir(&state).unwrap();
    let ka = w.path("keepalived");
    fs::create_dir(&ka).unwrap();
    write_exec(&ka.join("run"), "#!/bin/sh\nexec sleep 1000\n");
    let mut sup = w
        .cmd("supervise")
        .arg(&ka)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_of = || {
        upkeep::status::read_status(&ka)
            .ok()
            .flatten()
            .map(|s| s.pid)
            .unwrap_or(0)
    };
    assert!(eventually(Duration::from_secs(20), || pid_of() != 0));
    let first = pid_of();
    let hook = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("service/ppp/adsl-lost");
    let run = |args: &[&str]| {
        Command::new(&hook)
            .args(args)
            .env("PPPOE_CONFIG", "/etc/ppp/pppoe.conf")
            .env("STATEDIR", &state)
            .env("KEEPALIVED_SERVICE", &ka)
            .output()
            .unwrap()
    };
    let master = state.join("keepalived_vrrp.MASTER");
    let error = state.join("keepalived_vrrp.ERROR");
    // Not MASTER, or not our config: nothing happens.
    assert!(run(&["/etc/ppp/pppoe.conf", "16"]).status.success());
    fs::write(&master, "").unwrap();
    assert!(run(&["/etc/ppp/other.conf", "16"]).status.success());
    assert!(master.exists() && !error.exists());
    assert_eq!(pid_of(), first);
    // MASTER and ours: give it up.
    let o = run(&["/etc/ppp/pppoe.conf", "16"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!master.exists());
    assert_eq!(fs::read_to_string(&error).unwrap(), "1\n");
    assert!(eventually(Duration::from_secs(20), || pid_of() != 0
        && pid_of() != first));
    // Once per mastership: a second loss while no longer MASTER is a no-op.
    assert!(run(&["/etc/ppp/pppoe.conf", "19"]).status.success());
    assert_eq!(fs::read_to_string(&error).unwrap(), "1\n");
    // A flag, not a count (keepalived_vrrp.ERROR's rule): still 1.
    fs::write(&master, "").unwrap();
    assert!(run(&["/etc/ppp/pppoe.conf", "16"]).status.success());
    assert!(!master.exists());
    assert_eq!(fs::read_to_string(&error).unwrap(), "1\n");
    upkeep::control::send(&ka, b"dx").unwrap();
    assert_eq!(wait_child(&mut sup, Duration::from_secs(20)), Some(0));
}

/// The stand-in pppd runs ip-up / ip-down as pppd would, when asked.
fn standin_runs_ip_up_and_down() {
    let mut w = World::new(Opts {
        extra_conf: "PPPD_EXTRA=\"ipparam wan\"\n",
        ..Opts::default()
    });
    for s in ["up", "down"] {
        let p = w.path(&format!("ip-{s}"));
        write_exec(
            &p,
            &format!(
                "#!/bin/sh\necho {s} \"$@\" >> {}/ip.log\n",
                w.dir.path().display()
            ),
        );
        w.extra_env.push((
            format!("PPPD_STANDIN_IP_{}", s.to_uppercase()),
            p.display().to_string(),
        ));
    }
    let mut c = w.connect();
    assert!(eventually(Duration::from_secs(20), || w
        .read("ip.log")
        .starts_with("up ")));
    assert_eq!(w.stop(&[]).status.code(), Some(0));
    assert_eq!(wait_child(&mut c, Duration::ZERO), Some(0));
    assert_eq!(
        w.read("ip.log"),
        "up ppp0 /dev/pts/0 0 198.18.0.2 198.18.0.1 wan\ndown ppp0 /dev/pts/0 0 198.18.0.2 198.18.0.1 wan\n"
    );
    w.assert_all_gone("after stop");
}

/// A pppd that outlived its SIGKILLed loop (it ignores the PDEATHSIG TERM)
/// still holds PIDFILE.pppd's lock: pppoe-stop finds and kills it, and so
/// does a new loop before it dials.
fn orphan_pppd_is_found_by_its_lock() {
    let w = World::with_pppd_deaf_to_term("200ms");
    for new_loop in [false, true] {
        let mut c = w.connect();
        assert!(w.wait_session());
        let pppd: i32 = w.pppd_pid();
        c.kill().unwrap();
        c.wait().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(alive(pppd), "the orphan should still be there");
        assert_eq!(w.sessions(), vec![format!("acct={pppd}")]);
        if new_loop {
            let mut c = w.connect();
            // The new loop ends the orphan, then gets the session itself.
            assert!(eventually(Duration::from_secs(20), || {
                let s = w.sessions();
                !s.is_empty() && s != vec![format!("acct={pppd}")]
            }));
            assert!(!alive(pppd));
            assert!(w
                .read("connect.err")
                .contains("pppd of an earlier loop still holds"));
            assert_eq!(w.stop(&["-T", "200ms"]).status.code(), Some(0));
            let _ = wait_child(&mut c, Duration::from_secs(1));
        } else {
            let o = w.stop(&["-T", "200ms"]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            assert!(!alive(pppd));
        }
        w.assert_all_gone("after stop");
        assert!(!w.read("isp.log").contains("REFUSE"));
    }
}
