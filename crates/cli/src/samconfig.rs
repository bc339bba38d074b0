//! samconfig.toml, read as SAM CLI reads it.
//!
//! ```toml
//! version = 0.1
//! [default.global.parameters]      # every command of the `default` environment
//! stack_name = "sam-app"
//! [default.validate.parameters]    # `slipway validate` (wins over global)
//! parameter_overrides = "Env=dev Size=2"
//! ```
//!
//! Tables are `[<env>.<command>.parameters]`; commands with subcommands join them with `_`
//! and hyphens become `_` (`local_start_api`). Keys are long option names with `-` → `_`.
//! Values: strings, bare booleans, numbers, and arrays for repeatable options; a list may also
//! be one space-separated string, as SAM writes `parameter_overrides = "K=V K2=V2"`.
//! Every problem is a [`Diagnostic`] naming the file, line and column.

use std::collections::BTreeMap;

use slipway_model::diag::{Code, Diagnostic, Pos};
use toml::de::{DeTable, DeValue};

/// A value as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) pos: Pos,
    /// The table it came from (`default.validate.parameters`).
    pub(crate) table: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    String(String),
    /// Integers and floats, as written.
    Number(String),
    Bool(bool),
    List(Vec<String>),
    /// Tables, datetimes: never a valid option value.
    Other(&'static str),
}

/// The parameters one command sees: `[<env>.global.parameters]` overlaid with
/// `[<env>.<command>.parameters]`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layer {
    /// Keys of the global table.
    pub(crate) global: BTreeMap<String, Entry>,
    /// Keys of the command's own table.
    pub(crate) command: BTreeMap<String, Entry>,
}

impl Layer {
    /// The value for `key`, the command table winning over the global one.
    pub(crate) fn get(&self, key: &str) -> Option<&Entry> {
        self.command.get(key).or_else(|| self.global.get(key))
    }
}

/// Parses `text` (the contents of `file`) and picks the tables for `env` and `command`.
/// Returns the layer and every diagnostic found (errors make the layer unusable).
pub(crate) fn load(text: &str, file: &str, env: &str, command: &str) -> (Layer, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut layer = Layer::default();
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let mut d = Diagnostic::error(
                Code::ConfigInvalid,
                format!("invalid TOML: {}", e.message().trim()),
            )
            .file(file);
            if let Some(span) = e.span() {
                d = d.at(pos_of_offset(text, span.start));
            }
            diags.push(d);
            return (layer, diags);
        }
    };
    let root_pos = Pos::new(1, 1);
    let version = root
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref() == "version");
    match version {
        None => diags.push(
            Diagnostic::error(Code::ConfigInvalid, "samconfig has no `version = 0.1`")
                .file(file)
                .at(root_pos),
        ),
        Some((_, v)) => {
            let ok = matches!(v.get_ref(), DeValue::Float(f) if f.as_str() == "0.1");
            if !ok {
                diags.push(
                    Diagnostic::error(
                        Code::ConfigInvalid,
                        "unsupported samconfig version: only `version = 0.1` exists",
                    )
                    .file(file)
                    .at(pos_of_offset(text, v.span().start)),
                );
            }
        }
    }
    let env_table = root
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref() == env)
        .map(|(_, v)| v);
    if let Some(env_value) = env_table {
        match env_value.get_ref() {
            DeValue::Table(t) => {
                for (cmd, target) in [("global", &mut layer.global), (command, &mut layer.command)]
                {
                    if let Some(params) = parameters(t, cmd, env, file, text, &mut diags) {
                        *target = params;
                    }
                }
            }
            other => diags.push(
                Diagnostic::error(
                    Code::ConfigInvalid,
                    format!("`{env}` must be a table, found a {}", other.type_str()),
                )
                .file(file)
                .at(pos_of_offset(text, env_value.span().start)),
            ),
        }
    }
    (layer, diags)
}

/// `[<env>.<cmd>.parameters]` as entries.
fn parameters(
    env_table: &DeTable<'_>,
    cmd: &str,
    env: &str,
    file: &str,
    text: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<BTreeMap<String, Entry>> {
    let table_name = format!("{env}.{cmd}.parameters");
    let (_, cmd_value) = env_table.iter().find(|(k, _)| k.get_ref() == cmd)?;
    let not_table = |what: &str, found: &DeValue<'_>, at: usize| {
        Diagnostic::error(
            Code::ConfigInvalid,
            format!("`{what}` must be a table, found a {}", found.type_str()),
        )
        .file(file)
        .at(pos_of_offset(text, at))
    };
    let DeValue::Table(cmd_table) = cmd_value.get_ref() else {
        diags.push(not_table(
            &format!("{env}.{cmd}"),
            cmd_value.get_ref(),
            cmd_value.span().start,
        ));
        return None;
    };
    let (_, params) = cmd_table
        .iter()
        .find(|(k, _)| k.get_ref() == "parameters")?;
    let DeValue::Table(params_table) = params.get_ref() else {
        diags.push(not_table(
            &table_name,
            params.get_ref(),
            params.span().start,
        ));
        return None;
    };
    let mut out = BTreeMap::new();
    for (k, v) in params_table {
        let value = match v.get_ref() {
            DeValue::String(s) => Value::String(s.to_string()),
            DeValue::Integer(i) => Value::Number(i.as_str().to_owned()),
            DeValue::Float(f) => Value::Number(f.as_str().to_owned()),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Array(items) => {
                let mut list = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => list.push(s.to_string()),
                        DeValue::Integer(i) => list.push(i.as_str().to_owned()),
                        DeValue::Float(f) => list.push(f.as_str().to_owned()),
                        DeValue::Boolean(b) => list.push(b.to_string()),
                        other => diags.push(
                            Diagnostic::error(
                                Code::ConfigInvalid,
                                format!(
                                    "`{}` items must be strings, found a {}",
                                    k.get_ref(),
                                    other.type_str()
                                ),
                            )
                            .file(file)
                            .at(pos_of_offset(text, item.span().start))
                            .path(format!("{table_name}.{}", k.get_ref())),
                        ),
                    }
                }
                Value::List(list)
            }
            other => Value::Other(other.type_str()),
        };
        out.insert(
            k.get_ref().to_string(),
            Entry {
                value,
                pos: pos_of_offset(text, v.span().start),
                table: table_name.clone(),
            },
        );
    }
    Some(out)
}

/// 1-based line and character column of a byte offset (clamped to the text).
pub(crate) fn pos_of_offset(text: &str, offset: usize) -> Pos {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[start..].chars().count() + 1;
    Pos::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_global_and_command_tables() {
        let text = "version = 0.1\n[default.global.parameters]\nstack_name = \"app\"\nregion = \"eu-west-1\"\n[default.validate.parameters]\nregion = \"eu-north-1\"\naccept_type = [\"AWS::X::Y\"]\n[prod.validate.parameters]\nregion = \"us-west-2\"\n";
        let (layer, diags) = load(text, "samconfig.toml", "default", "validate");
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(
            layer.get("region").map(|e| &e.value),
            Some(&Value::String("eu-north-1".into()))
        );
        assert_eq!(layer.get("region").map(|e| e.pos), Some(Pos::new(6, 10)));
        assert_eq!(
            layer.get("stack_name").map(|e| e.table.as_str()),
            Some("default.global.parameters")
        );
        assert_eq!(
            layer.get("accept_type").map(|e| &e.value),
            Some(&Value::List(vec!["AWS::X::Y".into()]))
        );
        let (prod, _) = load(text, "samconfig.toml", "prod", "validate");
        assert_eq!(
            prod.get("region").map(|e| &e.value),
            Some(&Value::String("us-west-2".into()))
        );
        assert!(prod.get("stack_name").is_none());
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let (_, diags) = load("version = 0.1\n[default\n", "s.toml", "default", "validate");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].file.as_deref(), Some("s.toml"));
        assert_eq!(diags[0].line, Some(2));
    }

    #[test]
    fn version_is_required() {
        let (_, diags) = load(
            "[default.validate.parameters]\n",
            "s.toml",
            "default",
            "validate",
        );
        assert_eq!(diags.len(), 1);
        let (_, diags) = load("version = 2\n", "s.toml", "default", "validate");
        assert_eq!(diags[0].line, Some(1));
        assert_eq!(diags[0].col, Some(11));
    }
}
