//! The template as written: sections split out and their shapes checked, nothing evaluated yet.
//!
//! This is the first of the three forms of a template (written → resolved → deployed). Every
//! node still carries its position, intrinsic functions are untouched, SAM resources are still
//! SAM resources. Structural problems (unknown sections or attributes, wrong section types,
//! bad logical IDs, missing `Type`) are reported here, all at once.

use indexmap::IndexMap;

use super::path::Path;
use crate::diag::{Code, Diagnostic, Diagnostics, Pos, did_you_mean};
use crate::syntax::{Kind, Map, Node};

pub(crate) const SECTIONS: &[&str] = &[
    "AWSTemplateFormatVersion",
    "Description",
    "Metadata",
    "Parameters",
    "Rules",
    "Mappings",
    "Conditions",
    "Transform",
    "Globals",
    "Resources",
    "Outputs",
];

const RESOURCE_ATTRIBUTES: &[&str] = &[
    "Type",
    "Properties",
    "DependsOn",
    "Condition",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
    "Metadata",
    "IgnoreGlobals",
];

pub const SAM_TRANSFORM: &str = "AWS::Serverless-2016-10-31";
pub const LANGUAGE_EXTENSIONS: &str = "AWS::LanguageExtensions";

#[derive(Clone, Debug)]
pub struct RawTemplate {
    pub format_version: Option<String>,
    pub description: Option<String>,
    pub metadata: Option<Node>,
    pub transforms: Vec<(String, Pos)>,
    pub parameters: IndexMap<String, (Pos, Node)>,
    pub mappings: Option<Node>,
    pub conditions: IndexMap<String, (Pos, Node)>,
    pub resources: IndexMap<String, RawResource>,
    pub outputs: IndexMap<String, RawOutput>,
    pub globals: Option<Node>,
    pub rules: Option<Node>,
}

#[derive(Clone, Debug)]
pub struct RawResource {
    /// Where the logical ID is written.
    pub pos: Pos,
    pub type_: String,
    pub type_pos: Pos,
    /// Always a mapping (empty when the template has no `Properties`).
    pub properties: Node,
    pub condition: Option<(String, Pos)>,
    pub depends_on: Vec<(String, Pos)>,
    pub deletion_policy: Option<Node>,
    pub update_replace_policy: Option<Node>,
    pub update_policy: Option<Node>,
    pub creation_policy: Option<Node>,
    pub metadata: Option<Node>,
    pub ignore_globals: Option<Node>,
    /// For resources the SAM transform generated: the SAM resource they came from.
    pub generated_by: Option<String>,
}

impl RawResource {
    pub fn new(pos: Pos, type_: impl Into<String>, properties: Map) -> Self {
        Self {
            pos,
            type_: type_.into(),
            type_pos: pos,
            properties: Node::map(pos, properties),
            condition: None,
            depends_on: Vec::new(),
            deletion_policy: None,
            update_replace_policy: None,
            update_policy: None,
            creation_policy: None,
            metadata: None,
            ignore_globals: None,
            generated_by: None,
        }
    }

    pub fn props(&self) -> &Map {
        // `parse_resource` guarantees a mapping; an empty static map stands in otherwise.
        static EMPTY: std::sync::OnceLock<Map> = std::sync::OnceLock::new();
        self.properties
            .as_map()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    pub fn props_mut(&mut self) -> &mut Map {
        if self.properties.as_map().is_none() {
            self.properties = Node::map(self.pos, Map::new());
        }
        match &mut self.properties.kind {
            Kind::Map(m) => m,
            Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::String(_) | Kind::Seq(_) => {
                unreachable!("properties were just made a mapping")
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct RawOutput {
    pub pos: Pos,
    pub description: Option<Node>,
    pub value: Option<Node>,
    pub export_name: Option<Node>,
    pub condition: Option<(String, Pos)>,
}

pub fn is_valid_logical_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub(crate) fn expect_map<'n>(
    node: &'n Node,
    path: &Path<'_>,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<&'n Map> {
    match &node.kind {
        Kind::Map(m) => Some(m),
        Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::String(_) | Kind::Seq(_) => {
            diags.push(
                Diagnostic::error(
                    Code::WrongType,
                    format!("{what} must be a mapping, not a {}", node.type_name()),
                )
                .at(node.pos)
                .path(path.to_string()),
            );
            None
        }
    }
}

pub(crate) fn expect_string(
    node: &Node,
    path: &Path<'_>,
    what: &str,
    diags: &mut Diagnostics,
) -> Option<String> {
    match &node.kind {
        Kind::String(s) => Some(s.clone()),
        Kind::Number(_) | Kind::Bool(_) => node.scalar_text(),
        Kind::Null | Kind::Seq(_) | Kind::Map(_) => {
            diags.push(
                Diagnostic::error(
                    Code::WrongType,
                    format!("{what} must be a string, not a {}", node.type_name()),
                )
                .at(node.pos)
                .path(path.to_string()),
            );
            None
        }
    }
}

pub fn parse(root: &Node, diags: &mut Diagnostics) -> Option<RawTemplate> {
    let top = Path::root("");
    let map = expect_map(root, &top, "a template", diags)?;
    let mut t = RawTemplate {
        format_version: None,
        description: None,
        metadata: None,
        transforms: Vec::new(),
        parameters: IndexMap::new(),
        mappings: None,
        conditions: IndexMap::new(),
        resources: IndexMap::new(),
        outputs: IndexMap::new(),
        globals: None,
        rules: None,
    };
    for (key, entry) in map.iter_entries() {
        let node = &entry.value;
        let path = top.key(key);
        match key {
            "AWSTemplateFormatVersion" => {
                t.format_version = expect_string(node, &path, "AWSTemplateFormatVersion", diags);
                if let Some(v) = &t.format_version
                    && v != "2010-09-09"
                {
                    diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            format!("AWSTemplateFormatVersion must be '2010-09-09', not '{v}'"),
                        )
                        .at(node.pos)
                        .path(path.to_string()),
                    );
                }
            }
            "Description" => {
                t.description = expect_string(node, &path, "Description", diags);
                if t.description.as_ref().is_some_and(|d| d.len() > 1024) {
                    diags.push(
                        Diagnostic::error(
                            Code::LimitExceeded,
                            "Description is longer than 1024 bytes",
                        )
                        .at(node.pos)
                        .path(path.to_string()),
                    );
                }
            }
            "Metadata" => t.metadata = Some(node.clone()),
            "Rules" => {
                if expect_map(node, &path, "Rules", diags).is_some() {
                    t.rules = Some(node.clone());
                }
            }
            "Transform" => t.transforms = parse_transforms(node, &path, diags),
            "Globals" => t.globals = Some(node.clone()),
            "Mappings" => {
                if let Some(m) = expect_map(node, &path, "Mappings", diags) {
                    check_mappings(m, &path, diags);
                    t.mappings = Some(node.clone());
                }
            }
            "Parameters" => {
                if let Some(m) = expect_map(node, &path, "Parameters", diags) {
                    for (name, e) in m.iter_entries() {
                        check_logical_id(name, e.key_pos, &path.key(name), "parameter", diags);
                        t.parameters
                            .insert(name.to_owned(), (e.key_pos, e.value.clone()));
                    }
                    if m.len() > 200 {
                        diags.push(
                            Diagnostic::error(
                                Code::LimitExceeded,
                                format!("{} parameters; CloudFormation allows 200", m.len()),
                            )
                            .at(node.pos)
                            .path("Parameters"),
                        );
                    }
                }
            }
            "Conditions" => {
                if let Some(m) = expect_map(node, &path, "Conditions", diags) {
                    for (name, e) in m.iter_entries() {
                        t.conditions
                            .insert(name.to_owned(), (e.key_pos, e.value.clone()));
                    }
                }
            }
            "Resources" => {
                if let Some(m) = expect_map(node, &path, "Resources", diags) {
                    for (id, e) in m.iter_entries() {
                        let rpath = path.key(id);
                        check_logical_id(id, e.key_pos, &rpath, "resource", diags);
                        if let Some(r) = parse_resource(e.key_pos, &e.value, &rpath, diags) {
                            t.resources.insert(id.to_owned(), r);
                        }
                    }
                    if m.is_empty() {
                        diags.push(
                            Diagnostic::error(
                                Code::MissingRequired,
                                "the Resources section must declare at least one resource",
                            )
                            .at(node.pos)
                            .path("Resources"),
                        );
                    }
                }
            }
            "Outputs" => {
                if let Some(m) = expect_map(node, &path, "Outputs", diags) {
                    for (id, e) in m.iter_entries() {
                        let opath = path.key(id);
                        check_logical_id(id, e.key_pos, &opath, "output", diags);
                        if let Some(o) = parse_output(e.key_pos, &e.value, &opath, diags) {
                            t.outputs.insert(id.to_owned(), o);
                        }
                    }
                    if m.len() > 200 {
                        diags.push(
                            Diagnostic::error(
                                Code::LimitExceeded,
                                format!("{} outputs; CloudFormation allows 200", m.len()),
                            )
                            .at(node.pos)
                            .path("Outputs"),
                        );
                    }
                }
            }
            other => {
                let mut d = Diagnostic::error(
                    Code::UnknownSection,
                    format!("unknown top-level section '{other}'"),
                )
                .at(entry.key_pos)
                .path(other);
                if let Some(s) = did_you_mean(other, SECTIONS.iter().copied()) {
                    d = d.help(format!("did you mean '{s}'?"));
                }
                diags.push(d);
            }
        }
    }
    if !map.contains_key("Resources") {
        diags.push(
            Diagnostic::error(
                Code::MissingRequired,
                "a template needs a Resources section",
            )
            .at(root.pos),
        );
    }
    if t.globals.is_some() && !t.transforms.iter().any(|(n, _)| n == SAM_TRANSFORM) {
        let pos = map.key_pos("Globals").unwrap_or(root.pos);
        diags.push(
            Diagnostic::error(
                Code::GlobalsInvalid,
                "the Globals section is only allowed with Transform: AWS::Serverless-2016-10-31",
            )
            .at(pos)
            .path("Globals"),
        );
    }
    Some(t)
}

fn parse_transforms(node: &Node, path: &Path<'_>, diags: &mut Diagnostics) -> Vec<(String, Pos)> {
    let items: Vec<&Node> = match &node.kind {
        Kind::Seq(items) => items.iter().collect(),
        Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::String(_) | Kind::Map(_) => vec![node],
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let ipath = path.index(i);
        match &item.kind {
            Kind::String(s) if s == SAM_TRANSFORM || s == LANGUAGE_EXTENSIONS => out.push((s.clone(), item.pos)),
            Kind::String(s) => diags.push(
                Diagnostic::error(
                    Code::UnsupportedTransform,
                    format!("transform '{s}' is not supported; Slipway runs {SAM_TRANSFORM} and {LANGUAGE_EXTENSIONS}"),
                )
                .at(item.pos)
                .path(ipath.to_string()),
            ),
            Kind::Map(m) if m.contains_key("Name") => diags.push(
                Diagnostic::error(
                    Code::UnsupportedTransform,
                    "macro transforms (Name/Parameters, e.g. AWS::Include) are not supported",
                )
                .at(item.pos)
                .path(ipath.to_string()),
            ),
            Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::Seq(_) | Kind::Map(_) => diags.push(
                Diagnostic::error(Code::WrongType, "Transform must be a transform name or a list of them")
                    .at(item.pos)
                    .path(ipath.to_string()),
            ),
        }
    }
    out
}

fn check_logical_id(id: &str, pos: Pos, path: &Path<'_>, what: &str, diags: &mut Diagnostics) {
    if !is_valid_logical_id(id) {
        diags.push(
            Diagnostic::error(
                Code::InvalidLogicalId,
                format!("{what} logical ID '{id}' must be alphanumeric (A-Za-z0-9) and at most 255 characters"),
            )
            .at(pos)
            .path(path.to_string()),
        );
    }
}

fn check_mappings(m: &Map, path: &Path<'_>, diags: &mut Diagnostics) {
    for (name, map) in m.iter() {
        let mpath = path.key(name);
        let Some(top) = expect_map(map, &mpath, "a mapping", diags) else {
            continue;
        };
        for (key, second) in top.iter() {
            let kpath = mpath.key(key);
            let Some(second) = expect_map(second, &kpath, "a mapping's top-level key", diags)
            else {
                continue;
            };
            for (k2, v) in second.iter() {
                if v.intrinsic().is_some() {
                    diags.push(
                        Diagnostic::error(
                            Code::IntrinsicNotAllowed,
                            "Mappings values cannot use intrinsic functions",
                        )
                        .at(v.pos)
                        .path(kpath.key(k2).to_string()),
                    );
                }
            }
        }
    }
}

fn parse_string_attr(
    m: &Map,
    key: &str,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) -> Option<(String, Pos)> {
    let n = m.get(key)?;
    let s = expect_string(n, &path.key(key), key, diags)?;
    Some((s, n.pos))
}

fn parse_resource(
    pos: Pos,
    node: &Node,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) -> Option<RawResource> {
    let m = expect_map(node, path, "a resource", diags)?;
    for (key, e) in m.iter_entries() {
        if !RESOURCE_ATTRIBUTES.contains(&key) {
            let mut d = Diagnostic::error(
                Code::UnknownProperty,
                format!("unknown resource attribute '{key}'"),
            )
            .at(e.key_pos)
            .path(path.key(key).to_string());
            if let Some(s) = did_you_mean(key, RESOURCE_ATTRIBUTES.iter().copied()) {
                d = d.help(format!("did you mean '{s}'?"));
            }
            diags.push(d);
        }
    }
    let Some((type_, type_pos)) = parse_string_attr(m, "Type", path, diags) else {
        if !m.contains_key("Type") {
            diags.push(
                Diagnostic::error(Code::MissingRequired, "the resource has no Type")
                    .at(pos)
                    .path(path.to_string()),
            );
        }
        return None;
    };
    let properties = match m.get("Properties") {
        None => Node::map(pos, Map::new()),
        Some(n) if n.is_null() => Node::map(n.pos, Map::new()),
        Some(n) => {
            expect_map(n, &path.key("Properties"), "Properties", diags)?;
            n.clone()
        }
    };
    let depends_on = match m.get("DependsOn") {
        None => Vec::new(),
        Some(n) => {
            let dpath = path.key("DependsOn");
            match &n.kind {
                Kind::Seq(items) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        expect_string(item, &dpath.index(i), "DependsOn", diags)
                            .map(|s| (s, item.pos))
                    })
                    .collect(),
                Kind::String(s) => vec![(s.clone(), n.pos)],
                Kind::Null | Kind::Bool(_) | Kind::Number(_) | Kind::Map(_) => {
                    diags.push(
                        Diagnostic::error(
                            Code::WrongType,
                            "DependsOn must be a logical ID or a list of them",
                        )
                        .at(n.pos)
                        .path(dpath.to_string()),
                    );
                    Vec::new()
                }
            }
        }
    };
    Some(RawResource {
        pos,
        type_,
        type_pos,
        properties,
        condition: parse_string_attr(m, "Condition", path, diags),
        depends_on,
        deletion_policy: m.get("DeletionPolicy").cloned(),
        update_replace_policy: m.get("UpdateReplacePolicy").cloned(),
        update_policy: m.get("UpdatePolicy").cloned(),
        creation_policy: m.get("CreationPolicy").cloned(),
        metadata: m.get("Metadata").cloned(),
        ignore_globals: m.get("IgnoreGlobals").cloned(),
        generated_by: None,
    })
}

fn parse_output(
    pos: Pos,
    node: &Node,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) -> Option<RawOutput> {
    const KEYS: &[&str] = &["Description", "Value", "Export", "Condition"];
    let m = expect_map(node, path, "an output", diags)?;
    for (key, e) in m.iter_entries() {
        if !KEYS.contains(&key) {
            let mut d = Diagnostic::error(
                Code::UnknownProperty,
                format!("unknown output property '{key}'"),
            )
            .at(e.key_pos)
            .path(path.key(key).to_string());
            if let Some(s) = did_you_mean(key, KEYS.iter().copied()) {
                d = d.help(format!("did you mean '{s}'?"));
            }
            diags.push(d);
        }
    }
    if !m.contains_key("Value") {
        diags.push(
            Diagnostic::error(Code::MissingRequired, "the output has no Value")
                .at(pos)
                .path(path.to_string()),
        );
    }
    let export_name = match m.get("Export") {
        None => None,
        Some(e) => {
            let epath = path.key("Export");
            let em = expect_map(e, &epath, "Export", diags)?;
            for (key, entry) in em.iter_entries() {
                if key != "Name" {
                    diags.push(
                        Diagnostic::error(
                            Code::UnknownProperty,
                            format!("unknown Export property '{key}'"),
                        )
                        .at(entry.key_pos)
                        .path(epath.key(key).to_string()),
                    );
                }
            }
            match em.get("Name") {
                Some(n) => Some(n.clone()),
                None => {
                    diags.push(
                        Diagnostic::error(Code::MissingRequired, "Export needs a Name")
                            .at(e.pos)
                            .path(epath.to_string()),
                    );
                    None
                }
            }
        }
    };
    Some(RawOutput {
        pos,
        description: m.get("Description").cloned(),
        value: m.get("Value").cloned(),
        export_name,
        condition: parse_string_attr(m, "Condition", path, diags),
    })
}
