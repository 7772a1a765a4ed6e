//! `--config FILE`: a TOML file whose keys are the long flags' names as written on
//! the command line (`publish = "tcp://127.0.0.1:6001"`, `stats-interval = 10`,
//! `debug = true`). The file is turned into command-line arguments placed *before*
//! the real ones, so every flag a [`clap::Command`] knows works in the file without a
//! second list of names, and flags given on the command line override the file (the
//! command must use `args_override_self`).
//!
//! Errors name the file and line: a TOML syntax error, an unknown key, a value of
//! the wrong shape, or a value the flag rejects (checked by the flag's own parser).

use clap::ArgAction;
use std::ffi::OsString;

/// Line (1-based) of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The arguments `text` (the contents of the TOML file `path`) stands for, in file
/// order, for the command `cmd`. Keys are long flag names (`--help`, `--version` and
/// `--config` itself excepted); `true`/`false` turn a switch on/off; strings and
/// numbers become the flag's value; an array repeats a flag that takes several
/// values. Each resulting flag is parsed by `cmd` on its own, so a bad value is
/// reported with its line.
pub fn args_from_toml(
    cmd: &clap::Command,
    path: &str,
    text: &str,
) -> Result<Vec<OsString>, String> {
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
        format!("{path}:{line}: {}", e.message().trim_end())
    })?;
    let values: toml::Table =
        toml::from_str(text).map_err(|e| format!("{path}: {}", e.message().trim_end()))?;
    let mut keys: Vec<_> = doc.get_ref().iter().collect();
    keys.sort_by_key(|(k, _)| k.span().start);

    let mut out = Vec::new();
    for (key, _) in keys {
        let name: &str = key.get_ref();
        let line = line_of(text, key.span().start);
        let at = |msg: String| format!("{path}:{line}: {msg}");
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(name) && a.get_id() != "config")
            .filter(|a| !matches!(a.get_action(), ArgAction::Help | ArgAction::Version))
            .ok_or_else(|| {
                at(format!(
                    "unknown key '{name}' (keys are the long flags of --help, e.g. publish, stats-interval)"
                ))
            })?;
        let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
        let repeatable = matches!(arg.get_action(), ArgAction::Append);
        let scalar = |v: &toml::Value| -> Result<String, String> {
            match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(i) => Ok(i.to_string()),
                toml::Value::Float(f) => Ok(f.to_string()),
                toml::Value::Boolean(b) => Ok(b.to_string()),
                other => Err(at(format!(
                    "'{name}': a value of type {} is not accepted by --{name}",
                    other.type_str()
                ))),
            }
        };
        let mut flag_args = Vec::new();
        match &values[name] {
            toml::Value::Boolean(b) if switch => {
                let on = matches!(arg.get_action(), ArgAction::SetTrue) == *b;
                if on {
                    flag_args.push(format!("--{name}"));
                }
            }
            _ if switch => {
                return Err(at(format!(
                    "'{name}' is a switch: use {name} = true or false"
                )))
            }
            toml::Value::Array(items) if repeatable => {
                for v in items {
                    flag_args.push(format!("--{name}={}", scalar(v)?));
                }
            }
            v => flag_args.push(format!("--{name}={}", scalar(v)?)),
        }
        if !flag_args.is_empty() {
            let probe = std::iter::once(cmd.get_name().to_string()).chain(flag_args.clone());
            if let Err(e) = cmd.clone().try_get_matches_from(probe) {
                let msg = e.render().to_string();
                let first = msg.lines().next().unwrap_or("invalid value");
                return Err(at(first.trim_start_matches("error: ").to_string()));
            }
        }
        out.extend(flag_args.into_iter().map(OsString::from));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, Command};

    fn cmd() -> Command {
        Command::new("t")
            .args_override_self(true)
            .arg(Arg::new("publish").long("publish"))
            .arg(
                Arg::new("stats-interval")
                    .long("stats-interval")
                    .value_parser(clap::value_parser!(f64)),
            )
            .arg(Arg::new("debug").long("debug").action(ArgAction::SetTrue))
            .arg(Arg::new("tag").long("tag").action(ArgAction::Append))
            .arg(Arg::new("config").long("config"))
    }

    #[test]
    fn good_file_becomes_flags_in_file_order() {
        let text = "# comment\nstats-interval = 2.5\npublish = \"tcp://127.0.0.1:7\"\ndebug = true\ntag = [\"a\", \"b\"]\n";
        let args = args_from_toml(&cmd(), "f.toml", text).unwrap();
        assert_eq!(
            args,
            [
                "--stats-interval=2.5",
                "--publish=tcp://127.0.0.1:7",
                "--debug",
                "--tag=a",
                "--tag=b"
            ]
            .map(OsString::from)
        );
        assert!(args_from_toml(&cmd(), "f", "debug = false\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn unknown_key_names_its_line() {
        let e = args_from_toml(&cmd(), "f.toml", "publish = \"x\"\n\nbogus = 1\n").unwrap_err();
        assert!(e.starts_with("f.toml:3: unknown key 'bogus'"), "{e}");
        let e = args_from_toml(&cmd(), "f.toml", "config = \"other\"\n").unwrap_err();
        assert!(e.starts_with("f.toml:1: unknown key 'config'"), "{e}");
        let e = args_from_toml(&cmd(), "f.toml", "[section]\npublish = 1\n").unwrap_err();
        assert!(e.starts_with("f.toml:1: unknown key 'section'"), "{e}");
    }

    #[test]
    fn bad_values_name_their_line() {
        let e = args_from_toml(&cmd(), "f", "publish = \"x\"\nstats-interval = \"soon\"\n")
            .unwrap_err();
        assert!(
            e.starts_with("f:2: invalid value 'soon' for '--stats-interval"),
            "{e}"
        );
        let e = args_from_toml(&cmd(), "f", "debug = 1\n").unwrap_err();
        assert!(e.starts_with("f:1: 'debug' is a switch"), "{e}");
        let e = args_from_toml(&cmd(), "f", "\npublish = [\"a\"]\n").unwrap_err();
        assert!(
            e.starts_with("f:2: 'publish': a value of type array"),
            "{e}"
        );
        let e = args_from_toml(&cmd(), "f", "publish = \"a\"\npublish = \"b\"\n").unwrap_err();
        assert!(e.starts_with("f:2: "), "duplicate key: {e}");
        let e = args_from_toml(&cmd(), "f", "publish = \n").unwrap_err();
        assert!(e.starts_with("f:1: "), "syntax error: {e}");
    }
}
