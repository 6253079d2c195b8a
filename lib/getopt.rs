//! Classic getopt, as daemontools' programs parse their flags (clusters
//! like `-udx`, `-w u` or `-wu`, `--` ends the options), with daemontools'
//! complaint lines on stderr.

/// One parsed flag.
#[derive(Debug, PartialEq, Eq)]
pub enum Opt {
    Flag(char),
    WithArg(char, String),
    /// An unknown flag or a missing argument; the complaint is printed.
    Bad,
}

/// Parse `args` (without argv[0]) against `spec` (`"udw:T:"`: a colon after
/// a letter means it takes an argument). Returns the options in order and
/// the remaining operands.
pub fn getopt(prog: &str, args: &[String], spec: &str) -> (Vec<Opt>, Vec<String>) {
    let takes_arg = |c: char| -> Option<bool> {
        let i = spec.find(c)?;
        Some(spec[i + c.len_utf8()..].starts_with(':'))
    };
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let chars: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match takes_arg(c) {
                _ if c == ':' => {
                    eprintln!("{prog}: illegal option -- {c}");
                    opts.push(Opt::Bad);
                }
                None => {
                    eprintln!("{prog}: illegal option -- {c}");
                    opts.push(Opt::Bad);
                }
                Some(false) => opts.push(Opt::Flag(c)),
                Some(true) => {
                    let rest: String = chars[j + 1..].iter().collect();
                    if !rest.is_empty() {
                        opts.push(Opt::WithArg(c, rest));
                    } else if i + 1 < args.len() {
                        i += 1;
                        opts.push(Opt::WithArg(c, args[i].clone()));
                    } else {
                        eprintln!("{prog}: option requires an argument -- {c}");
                        opts.push(Opt::Bad);
                    }
                    break;
                }
            }
            j += 1;
        }
        i += 1;
    }
    (opts, args[i.min(args.len())..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn clusters_and_arguments() {
        let (o, rest) = getopt("svc", &s(&["-ud", "-wu", "-T", "5s", "dir"]), "udw:T:");
        assert_eq!(
            o,
            vec![
                Opt::Flag('u'),
                Opt::Flag('d'),
                Opt::WithArg('w', "u".into()),
                Opt::WithArg('T', "5s".into())
            ]
        );
        assert_eq!(rest, s(&["dir"]));
        let (o, rest) = getopt("svc", &s(&["-z", "--", "-u"]), "u");
        assert_eq!(o, vec![Opt::Bad]);
        assert_eq!(rest, s(&["-u"]));
        let (o, _) = getopt("svc", &s(&["-w"]), "w:");
        assert_eq!(o, vec![Opt::Bad]);
    }
}
