//! The shell subset rp-pppoe config files are written in: `KEY=value`
//! lines, with '...' and "..." quoting, backslash escapes and `$VAR` /
//! `${VAR}` expansion of keys set above. Anything else a shell would do
//! (run a command, substitute one, split on an unquoted space) is an error,
//! never a guess.

use std::collections::HashMap;

fn is_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(ch) if ch == '_' || ch.is_ascii_alphabetic())
        && c.all(|ch| ch == '_' || ch.is_ascii_alphanumeric())
}

/// One line: `None` for blank lines and comments, else `(KEY, value)`.
pub fn parse_line(
    line: &str,
    vars: &HashMap<String, String>,
) -> Result<Option<(String, String)>, String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return Ok(None);
    }
    let t = t.strip_prefix("export ").map(str::trim_start).unwrap_or(t);
    let Some((key, rest)) = t.split_once('=') else {
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
                        '`' => return Err("command substitution is not supported".into()),
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
            '`' => return Err("command substitution is not supported".into()),
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
        return Err("command substitution is not supported".into());
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
}
