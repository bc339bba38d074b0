//! Resource type schemas: the properties each supported CloudFormation type takes, which are
//! required, what `Fn::GetAtt` may ask of it, and what its `Ref` returns.
//!
//! (Stub — filled in by the schema work.)

use super::eval::AttributeCheck;
use super::path::Path;
use crate::diag::Diagnostics;
use crate::syntax::Map;

/// What one supported resource type accepts.
#[derive(Debug)]
pub struct TypeSchema {
    pub name: &'static str,
    pub properties: &'static [Prop],
    pub attributes: &'static [&'static str],
}

#[derive(Debug)]
pub struct Prop {
    pub name: &'static str,
    pub required: bool,
}

/// The schema of a supported (non-SAM) resource type.
pub fn lookup(type_: &str) -> Option<&'static TypeSchema> {
    let _ = type_;
    None
}

/// Every supported type name, for "did you mean" on an unsupported type.
pub fn type_names() -> impl Iterator<Item = &'static str> {
    std::iter::empty()
}

/// Checks a resource's (evaluated) properties against its type's schema: unknown properties
/// (with a "did you mean"), missing required ones, and values of the wrong shape.
pub fn check_properties(
    schema: &TypeSchema,
    props: &Map,
    path: &Path<'_>,
    diags: &mut Diagnostics,
) {
    let _ = (schema, props, path, diags);
}

/// For `Fn::GetAtt`: whether `type_` has `attr`.
pub fn attribute_check(type_: &str, attr: &str) -> AttributeCheck {
    match lookup(type_) {
        Some(s) if s.attributes.contains(&attr) => AttributeCheck::Yes,
        Some(s) => AttributeCheck::No(s.attributes.iter().map(|a| (*a).to_owned()).collect()),
        None => AttributeCheck::Unknown,
    }
}
