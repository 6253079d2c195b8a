//! The shell subset rp-pppoe config files are written in: `KEY=value`
//! lines (`export` before them or alone is allowed), with '...' and "..."
//! quoting, backslash escapes, `$VAR` / `${VAR}` expansion of keys set
//! above, and the one command rp-pppoe's stock file runs:
//! ``CF_BASE=`basename $CONFIG` ``. Anything else a shell would do (run a
//! command, substitute one, split on an unquoted space) is an error, never
//! a guess.

use std::collections::HashMap;

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

/// One line: `None` for blank lines and comments, else `(KEY, value)`.
pub(crate) fn parse_line(
    line: &str,
    vars: &HashMap<String, String>,
) -> Result<Option<(String, String)>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let t = match t.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => t,
    };
    let Some((key, rest)) = t.split_once('=') else {
        // `export NAME...`: marks names for the environment, sets nothing.
        if line.trim_start().starts_with("export") && t.split_whitespace().all(is_name) {
            return Ok(None);
        }
        return Err(format!("expected KEY=value, found {t:?}"));
    };
    if !is_name(key) {
        return Err(format!("not a variable name: {key:?}"));
    }
    Ok(Some((key.to_string(), parse_value(rest, vars)?)))
}

/// A shell word: unquoted text, '...', "..." with $VAR expansion; a space
/// ends it and may only be followed by a comment.
fn parse_value(s: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                let rest: String = chars[i..].iter().collect();
                let rest = rest.trim_start();
                if rest.is_empty() || rest.starts_with('#') {
                    break;
                }
                return Err(format!("unquoted space before {rest:?} (quote the value)"));
            }
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&ch| ch == '\'')
                    .ok_or("unterminated single quote")?;
                out.extend(&chars[i + 1..i + 1 + end]);
                i += end + 2;
            }
            '"' => {
                i += 1;
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err("unterminated double quote".into());
                    };
                    match ch {
                        '"' => {
                            i += 1;
                            break;
                        }
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`')) => {
                            out.push(chars[i + 1]);
                            i += 2;
                        }
                        '$' => i = expand(&chars, i, vars, &mut out)?,
                        '`' => i = backtick(&chars, i, vars, &mut out)?,
                        _ => {
                            out.push(ch);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                let Some(&next) = chars.get(i + 1) else {
                    return Err("backslash at end of line".into());
                };
                out.push(next);
                i += 2;
            }
            '$' => i = expand(&chars, i, vars, &mut out)?,
            '`' => i = backtick(&chars, i, vars, &mut out)?,
            ';' | '&' | '|' | '<' | '>' | '(' | ')' => {
                return Err(format!("shell syntax {c:?} is not supported"));
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// `$NAME` or `${NAME}` at chars[i]; returns the index after it.
fn expand(
    chars: &[char],
    i: usize,
    vars: &HashMap<String, String>,
    out: &mut String,
) -> Result<usize, String> {
    let (name, next) = if chars.get(i + 1) == Some(&'{') {
        let end = chars[i + 2..]
            .iter()
            .position(|&c| c == '}')
            .ok_or("unterminated ${")?;
        (
            chars[i + 2..i + 2 + end].iter().collect::<String>(),
            i + 3 + end,
        )
    } else if chars.get(i + 1) == Some(&'(') {
        let end = chars[i + 2..]
            .iter()
            .position(|&c| c == ')')
            .ok_or("command substitution is not supported")?;
        let command: String = chars[i + 2..i + 2 + end].iter().collect();
        out.push_str(&substitute(&command, vars)?);
        return Ok(i + 3 + end);
    } else {
        let len = chars[i + 1..]
            .iter()
            .take_while(|c| **c == '_' || c.is_ascii_alphanumeric())
            .count();
        (
            chars[i + 1..i + 1 + len].iter().collect::<String>(),
            i + 1 + len,
        )
    };
    if !is_name(&name) {
        return Err(format!("unsupported expansion ${name}"));
    }
    match vars.get(&name) {
        Some(v) => out.push_str(v),
        None => return Err(format!("${name} is not set above")),
    }
    Ok(next)
}

/// `` `COMMAND` `` at chars[i]; returns the index after it.
fn backtick(
    chars: &[char],
    i: usize,
    vars: &HashMap<String, String>,
    out: &mut String,
) -> Result<usize, String> {
    let end = chars[i + 1..]
        .iter()
        .position(|&c| c == '`')
        .ok_or("command substitution is not supported")?;
    let command: String = chars[i + 1..i + 1 + end].iter().collect();
    out.push_str(&substitute(&command, vars)?);
    Ok(i + 2 + end)
}

/// The only command substitution rp-pppoe's stock config has:
/// `basename $CONFIG` (CF_BASE, the config's file name), done here without
/// a shell. Any other command is refused.
fn substitute(command: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let words: Vec<&str> = command.split_whitespace().collect();
    match words.as_slice() {
        ["basename", "$CONFIG" | "${CONFIG}" | "\"$CONFIG\"" | "\"${CONFIG}\""] => {
            let config = vars.get("CONFIG").map(String::as_str).unwrap_or("");
            Ok(basename(config).to_string())
        }
        _ => Err(format!(
            "command substitution is not supported (only `basename $CONFIG`), found {command:?}"
        )),
    }
}

/// basename(1) of a path: the last component, trailing slashes ignored.
fn basename(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        return if path.is_empty() { "" } else { "/" };
    }
    t.rsplit('/').next().unwrap_or(t)
}

/// A value holding several words (PPPD_EXTRA, PPPOE_EXTRA), split as a
/// shell splits them: on unquoted blanks, with '...', "..." and backslash
/// quoting. Anything that would make a shell do more than split (a
/// variable, a command, `;`, `|`, redirections) is refused, so the words
/// are exactly what the admin wrote whether they go to a shell or not.
pub(crate) fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => w.push(ch),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\')) => w.push(ch),
                            Some(ch @ ('$' | '`')) => {
                                return Err(format!("shell syntax {ch:?} is not supported"))
                            }
                            Some(ch) => {
                                w.push('\\');
                                w.push(ch);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(ch @ ('$' | '`')) => {
                            return Err(format!("shell syntax {ch:?} is not supported"))
                        }
                        Some(ch) => w.push(ch),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(ch) => word.get_or_insert_with(String::new).push(ch),
                None => return Err("backslash at end of value".into()),
            },
            '$' | '`' | ';' | '&' | '|' | '<' | '>' | '(' | ')' | '*' | '?' | '[' | '#' | '~' => {
                return Err(format!("shell syntax {c:?} is not supported (quote it)"))
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// `word` as one shell word: as is when it holds only characters no shell
/// treats specially, else in single quotes.
pub(crate) fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_expansion() {
        let mut vars = HashMap::new();
        vars.insert("A".to_string(), "x y".to_string());
        let p = |l: &str| parse_line(l, &vars);
        assert_eq!(p("  # c"), Ok(None));
        assert_eq!(
            p("K=a'b c'\\ d\"$A\"${A}"),
            Ok(Some(("K".into(), "ab c dx yx y".into())))
        );
        assert_eq!(
            p("export K='$A' # note"),
            Ok(Some(("K".into(), "$A".into())))
        );
        assert!(p("K=a;b").is_err());
        assert!(p("1K=a").is_err());
    }

    #[test]
    fn export_forms_and_cf_base() {
        let mut vars = HashMap::new();
        vars.insert("CONFIG".to_string(), "/etc/ppp//pppoe.conf".to_string());
        let p = |l: &str| parse_line(l, &vars);
        assert_eq!(p("export\tK=v"), Ok(Some(("K".into(), "v".into()))));
        assert_eq!(p("export\tETH USER"), Ok(None));
        assert_eq!(p("exportK=v"), Ok(Some(("exportK".into(), "v".into()))));
        for l in [
            "CF_BASE=`basename $CONFIG`",
            "CF_BASE=\"`basename \"$CONFIG\"`\"",
            "CF_BASE=$(basename ${CONFIG})",
        ] {
            assert_eq!(
                p(l),
                Ok(Some(("CF_BASE".into(), "pppoe.conf".into()))),
                "{l}"
            );
        }
        assert!(p("X=`id`").unwrap_err().contains("only `basename $CONFIG`"));
        assert!(p("X=$(rm -rf /)").is_err());
    }

    #[test]
    fn words_split_as_a_shell_would_without_running_anything() {
        assert_eq!(
            split_words(" -f 'a b'  \"c\\\"d\" e\\ f "),
            Ok(vec!["-f".into(), "a b".into(), "c\"d".into(), "e f".into()])
        );
        assert_eq!(split_words(""), Ok(vec![]));
        for bad in ["a;b", "$(x)", "a|b", "\"$HOME\"", "`id`", "a>b", "'open"] {
            assert!(split_words(bad).is_err(), "{bad}");
        }
        assert_eq!(
            split_words("'a;b' \"$\"x"),
            Err("shell syntax '$' is not supported".into())
        );
    }

    #[test]
    fn quoting_round_trips_through_a_shell() {
        assert_eq!(shell_quote("eth0"), "eth0");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b;c"), "'a b;c'");
    }
}
