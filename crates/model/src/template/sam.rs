//! The SAM transform (`AWS::Serverless-2016-10-31`): Globals, then every `AWS::Serverless::*`
//! resource expanded into the CloudFormation resources SAM generates, with SAM's logical IDs.
//!
//! (Stub — filled in by the SAM work.)

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::FileSource;
use super::eval::Pseudo;
use super::params::ResolvedParam;
use super::raw::{RawResource, RawTemplate};
use crate::diag::{Code, Diagnostic, Diagnostics};

/// What the transform may consult.
// Read once the SAM transform is filled in; until then the stub leaves them unused.
#[allow(dead_code)]
pub(crate) struct SamEnv<'a> {
    pub pseudo: &'a Pseudo,
    pub params: &'a BTreeMap<String, ResolvedParam>,
    pub conditions: &'a BTreeMap<String, bool>,
    /// Reads `DefinitionUri` and other local files relative to the template.
    pub files: &'a dyn FileSource,
}

/// The transform's result.
pub(crate) struct Expanded {
    /// Every resource of the template after the transform, plain CloudFormation only, in a
    /// stable order (each SAM resource replaced, in place, by what it generates).
    pub resources: IndexMap<String, RawResource>,
    /// SAM's reference shorthands and what they become: `Fn.Version` → `FnVersion1a2b3c4d5e`,
    /// `Fn.Alias` → `FnAliaslive`.
    pub refs: BTreeMap<String, String>,
}

/// Merges the `Globals` section into the SAM resources it applies to, as SAM does (scalars
/// replaced by the resource's value, maps merged, lists with the globals first), and reports
/// problems in the section itself.
pub(crate) fn merge_globals(t: &mut RawTemplate, diags: &mut Diagnostics) {
    let _ = (t, diags);
}

/// Expands SAM resources. `resources` have their properties evaluated already (parameters,
/// conditions and `Fn::If` done; references to resources left symbolic).
pub(crate) fn transform(
    resources: IndexMap<String, RawResource>,
    env: &SamEnv<'_>,
    diags: &mut Diagnostics,
) -> Expanded {
    let _ = env;
    for (id, r) in &resources {
        if r.type_.starts_with("AWS::Serverless::") {
            diags.push(
                Diagnostic::error(
                    Code::SamUnsupported,
                    format!("{} is not expanded yet", r.type_),
                )
                .at(r.type_pos)
                .path(format!("Resources.{id}.Type")),
            );
        }
    }
    Expanded {
        resources,
        refs: BTreeMap::new(),
    }
}
