//! The classic wiring (doc/DESIGN.md, "The gateway pair"), for the bench's comparison (bench/gateway-soak): the
//! same gateway, but the VRRP hooks start and stop PPPoE with Debian's
//! rp-pppoe scripts, as classic notify scripts do with adsl-start and
//! adsl-stop. rp-pppoe's stop does `kill $PPPD_PID || exit 1` before it
//! kills the connect loop: a stop that lands in the loop's sleep (no pppd)
//! leaves the loop redialling on the BACKUP gateway.

use std::fs;
use std::path::Path;

use super::common::write_exec;

/// Install into the gateway's upper dir (its /): hooks, the rp-pppoe
/// config, and the lost hook rp-pppoe runs.
pub fn install(upper: &Path, hooks: &Path) {
    let orig = fs::read_to_string("/usr/sbin/pppoe-connect").expect("Debian's pppoe package");
    // The loop's `sleep 5` becomes upkeep's RETRY_DELAY (1 s), so both
    // wirings spend the same time between dials.
    assert!(
        orig.contains("\n    sleep 5\n"),
        "rp-pppoe's pppoe-connect changed"
    );
    fs::create_dir_all(upper.join("usr/sbin")).unwrap();
    write_exec(
        &upper.join("usr/sbin/pppoe-connect"),
        &orig.replace("\n    sleep 5\n", "\n    sleep 1\n"),
    );
    fs::write(
        upper.join("etc/ppp/pppoe.conf"),
        "# rp-pppoe's configuration (the classic wiring).\n\
         ETH=wan0\nUSER=gateway@isp.example\nPIDFILE=/run/pppoe.pid\n\
         PPPD=/usr/local/sbin/pppd\nDEMAND=no\nDEFAULTROUTE=yes\nCONNECT_TIMEOUT=0\n\
         LCP_INTERVAL=20\nLCP_FAILURE=3\nPPPOE_TIMEOUT=80\nCLAMPMSS=1412\n",
    )
    .unwrap();
    // rp-pppoe runs /etc/ppp/pppoe-lost without arguments; the classic
    // adsl-lost wants the config as $1.
    write_exec(
        &upper.join("etc/ppp/pppoe-lost"),
        "#!/bin/sh\nexec /etc/ppp/adsl-lost /etc/ppp/pppoe.conf \"$@\"\n",
    );
    write_exec(
        &hooks.join("MASTER"),
        "#!/bin/sh\nexec /usr/sbin/pppoe-start /etc/ppp/pppoe.conf >/dev/null 2>&1\n",
    );
    for state in ["BACKUP", "FAULT", "STOP"] {
        write_exec(
            &hooks.join(state),
            "#!/bin/sh\nexec /usr/sbin/pppoe-stop /etc/ppp/pppoe.conf\n",
        );
    }
}

/// The seed's lost hook: the MASTER file removed, `2` appended to the
/// ERROR file, keepalived restarted.
pub fn install_seed_rule(upper: &Path) {
    write_exec(
        &upper.join("etc/ppp/adsl-lost"),
        "#!/bin/sh\n\
         [ \"$1\" = /etc/ppp/pppoe.conf ] || exit 0\n\
         [ -f /run/upkeep/keepalived_vrrp.MASTER ] || exit 0\n\
         rm -f /run/upkeep/keepalived_vrrp.MASTER\n\
         echo 2 >> /run/upkeep/keepalived_vrrp.ERROR\n\
         exec svc -t /service/keepalived\n",
    );
}

/// keepalived.conf read the classic way: any nonzero ERROR is FAULT
/// (track_file weight 0), the file starts missing (the first append makes
/// it "2": with upkeep's init_file 0 an append would read as 0), and the
/// higher priority preempts.
pub fn seed_rule(conf: &str) -> String {
    let out = conf
        .replace("    weight -60\n", "    weight 0\n")
        .replace("    init_file 0\n", "")
        .replace("    nopreempt\n", "");
    assert!(out != conf, "keepalived.conf.example changed");
    out
}
