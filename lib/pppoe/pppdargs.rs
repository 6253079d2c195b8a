//! pppd's arguments for a config, as rp-pppoe 3.15's pppoe-connect builds
//! them (same words, same order), with every word of the pty command line
//! quoted for the shell pppd hands it to.

use super::config::{Config, Transport, DEFAULT_PPPOE};
use super::shellvars::shell_quote;

impl Config {
    /// The pty command pppd hands to a shell: every word quoted.
    fn pty_command(
        &self,
        timeout: u32,
        clamp: Option<u32>,
        sync: bool,
        extra: &[String],
    ) -> String {
        let mut w: Vec<String> = vec![
            DEFAULT_PPPOE.into(),
            "-I".into(),
            self.eth.clone(),
            "-T".into(),
            timeout.to_string(),
            "-U".into(),
        ];
        if sync {
            w.push("-s".into());
        }
        if let Some(m) = clamp {
            w.extend(["-m".into(), m.to_string()]);
        }
        if !self.ac_name.is_empty() {
            w.extend(["-C".into(), self.ac_name.clone()]);
        }
        if !self.service_name.is_empty() {
            w.extend(["-S".into(), self.service_name.clone()]);
        }
        w.extend(extra.iter().cloned());
        w.iter()
            .map(|x| shell_quote(x))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// pppd's arguments, as rp-pppoe's pppoe-connect builds them
    /// (`nodetach` among them), in its order.
    pub fn pppd_args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut sync = false;
        match &self.transport {
            Transport::Pty {
                timeout,
                clamp_mss,
                synchronous,
                extra,
            } => {
                a.push("pty".into());
                a.push(self.pty_command(*timeout, *clamp_mss, *synchronous, extra));
                sync = *synchronous;
            }
            Transport::Plugin(plugin) => {
                a.extend(["plugin".into(), plugin.clone(), format!("nic-{}", self.eth)]);
                if !self.service_name.is_empty() {
                    a.extend(["rp_pppoe_service".into(), self.service_name.clone()]);
                }
                if !self.ac_name.is_empty() {
                    a.extend(["rp_pppoe_ac".into(), self.ac_name.clone()]);
                }
            }
        }
        if let Some(u) = self.unit {
            a.extend(["unit".into(), u.to_string()]);
        }
        a.extend(["noipdefault", "noauth", "default-asyncmap"].map(String::from));
        if self.defaultroute {
            a.push("defaultroute".into());
        }
        a.extend(["hide-password", "nodetach"].map(String::from));
        if self.usepeerdns {
            a.push("usepeerdns".into());
        }
        a.extend([
            "mtu".into(),
            self.mtu.to_string(),
            "mru".into(),
            self.mru.to_string(),
        ]);
        a.extend(
            [
                "noaccomp",
                "nodeflate",
                "nopcomp",
                "novj",
                "novjccomp",
                "user",
            ]
            .map(String::from),
        );
        a.push(self.user.clone());
        a.extend([
            "lcp-echo-interval".into(),
            self.lcp_interval.to_string(),
            "lcp-echo-failure".into(),
            self.lcp_failure.to_string(),
        ]);
        a.extend(self.pppd_extra.iter().cloned());
        if sync {
            a.push("sync".into());
        }
        a
    }
}
