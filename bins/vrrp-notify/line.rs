//! keepalived's VRRP events as text: the notify_fifo line
//! `INSTANCE "VI_1" MASTER 150` and the notify hook's argv
//! `INSTANCE VI_1 MASTER 150` (keepalived's notify_fifo format).

use std::fmt;

/// The four states that have a state file and hooks (doc/DESIGN.md, "vrrp-notify").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Master,
    Backup,
    Fault,
    Stop,
}

pub const STATES: [State; 4] = [State::Master, State::Backup, State::Fault, State::Stop];

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Master => "MASTER",
            State::Backup => "BACKUP",
            State::Fault => "FAULT",
            State::Stop => "STOP",
        }
    }

    pub fn parse(word: &str) -> Option<State> {
        STATES.into_iter().find(|s| s.name() == word)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Instance,
    Group,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Instance => "INSTANCE",
            Kind::Group => "GROUP",
        }
    }

    pub fn parse(word: &str) -> Option<Kind> {
        match word {
            "INSTANCE" => Some(Kind::Instance),
            "GROUP" => Some(Kind::Group),
            _ => None,
        }
    }
}

/// One VRRP transition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    pub name: String,
    pub state: State,
    pub priority: u32,
}

impl fmt::Display for Event {
    /// The notify_fifo form, which is also what the state file records.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{}\" {} {}",
            self.kind.name(),
            self.name,
            self.state.name(),
            self.priority
        )
    }
}

/// What one fifo line turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Event(Event),
    /// A well-formed line of a kind vrrp-notify does not act on (keepalived's
    /// checker lines `VS`/`RS`, or states such as `DELETED`).
    Ignored,
    /// Not keepalived's grammar; the reason is for the warning.
    Malformed(&'static str),
}

/// Longest line accepted; keepalived's lines are far shorter.
pub const MAX_LINE: usize = 1024;

/// A name becomes part of a file name when `--prefix` has `{name}`: it must
/// not be able to leave the state directory.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| !c.is_control() && c != '/' && c != '"' && c != ' ')
}

/// A keyword as keepalived writes them: upper-case letters, digits, `_`.
fn keyword(word: &str) -> bool {
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn priority(word: Option<&str>) -> Result<u32, &'static str> {
    match word {
        // keepalived always writes one; tolerate its absence (older lines).
        None => Ok(0),
        Some(w) if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => w
            .parse::<u32>()
            .ok()
            .filter(|p| *p <= 255)
            .ok_or("priority out of range"),
        Some(_) => Err("priority is not a number"),
    }
}

/// Parse one notify_fifo line (without its newline).
pub fn parse_fifo_line(line: &str) -> Parsed {
    let line = line.trim_end_matches(['\r', ' ', '\t']);
    if line.len() > MAX_LINE {
        return Parsed::Malformed("line too long");
    }
    let Some((first, rest)) = line.split_once(' ') else {
        return Parsed::Malformed("expected TYPE \"NAME\" STATE PRIORITY");
    };
    let Some(kind) = Kind::parse(first) else {
        return if keyword(first) {
            Parsed::Ignored
        } else {
            Parsed::Malformed("unknown line kind")
        };
    };
    let Some(rest) = rest.strip_prefix('"') else {
        return Parsed::Malformed("name is not quoted");
    };
    let Some((name, rest)) = rest.split_once('"') else {
        return Parsed::Malformed("name is not quoted");
    };
    if !valid_name(name) {
        return Parsed::Malformed("invalid name");
    }
    let Some(rest) = rest.strip_prefix(' ') else {
        return Parsed::Malformed("no state");
    };
    let mut words = rest.split(' ');
    let state_word = words.next().unwrap_or("");
    let prio = words.next();
    if words.next().is_some() {
        return Parsed::Malformed("trailing words");
    }
    let Some(state) = State::parse(state_word) else {
        return if keyword(state_word) {
            Parsed::Ignored
        } else {
            Parsed::Malformed("invalid state")
        };
    };
    match priority(prio) {
        Ok(priority) => Parsed::Event(Event {
            kind,
            name: name.to_string(),
            state,
            priority,
        }),
        Err(why) => Parsed::Malformed(why),
    }
}

/// The notify hook's arguments: TYPE NAME STATE PRIORITY.
pub fn parse_args(kind: &str, name: &str, state: &str, prio: &str) -> Result<Event, String> {
    let kind = Kind::parse(kind)
        .ok_or_else(|| format!("unknown type {kind}: expected INSTANCE or GROUP"))?;
    if !valid_name(name) {
        return Err(format!("invalid name {name:?}"));
    }
    let state = State::parse(state)
        .ok_or_else(|| format!("unknown state {state}: expected MASTER, BACKUP, FAULT or STOP"))?;
    let priority = priority(Some(prio)).map_err(|why| format!("{prio}: {why}"))?;
    Ok(Event {
        kind,
        name: name.to_string(),
        state,
        priority,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, name: &str, state: State, priority: u32) -> Parsed {
        Parsed::Event(Event {
            kind,
            name: name.into(),
            state,
            priority,
        })
    }

    #[test]
    fn keepalived_lines() {
        assert_eq!(
            parse_fifo_line("INSTANCE \"VI_1\" MASTER 150"),
            ev(Kind::Instance, "VI_1", State::Master, 150)
        );
        assert_eq!(
            parse_fifo_line("GROUP \"G\" BACKUP 0\r"),
            ev(Kind::Group, "G", State::Backup, 0)
        );
        assert_eq!(
            parse_fifo_line("GROUP \"G\" FAULT"),
            ev(Kind::Group, "G", State::Fault, 0)
        );
        assert_eq!(parse_fifo_line("RS \"1.2.3.4:80\" UP"), Parsed::Ignored);
        assert_eq!(
            parse_fifo_line("INSTANCE \"VI_1\" DELETED 0"),
            Parsed::Ignored
        );
    }

    #[test]
    fn malformed_lines() {
        for l in [
            "",
            "garbage",
            "INSTANCE VI_1 MASTER 150",
            "INSTANCE \"VI_1 MASTER 150",
            "INSTANCE \"VI_1\" master 150",
            "INSTANCE \"VI_1\" MASTER high",
            "INSTANCE \"VI_1\" MASTER 300",
            "INSTANCE \"../x\" MASTER 1",
            "INSTANCE \"VI_1\" MASTER 1 2",
            "instance \"VI_1\" MASTER 1",
        ] {
            assert!(matches!(parse_fifo_line(l), Parsed::Malformed(_)), "{l:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        let e = parse_args("INSTANCE", "VI_1", "STOP", "100").unwrap();
        assert_eq!(e.to_string(), "INSTANCE \"VI_1\" STOP 100");
        assert_eq!(parse_fifo_line(&e.to_string()), Parsed::Event(e));
        assert!(parse_args("VS", "x", "MASTER", "1").is_err());
        assert!(parse_args("GROUP", "x", "UP", "1").is_err());
    }
}
