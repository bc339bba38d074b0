//! Which capabilities CloudFormation makes a caller acknowledge before it touches a stack
//! built from a template (the `Capabilities` of `CreateStack`, `UpdateStack`,
//! `CreateChangeSet`; `InsufficientCapabilitiesException: Requires capabilities : [X]`
//! otherwise). From the `Capabilities` member of CloudFormation's API reference:
//!
//! - `CAPABILITY_IAM` for a template with any of `AWS::IAM::AccessKey`, `Group`,
//!   `InstanceProfile`, `ManagedPolicy`, `Policy`, `Role`, `User`, `UserToGroupAddition`;
//!   `CAPABILITY_NAMED_IAM` instead when one of them has a custom name (`RoleName`,
//!   `UserName`, `GroupName`, `ManagedPolicyName`, `InstanceProfileName`).
//! - `CAPABILITY_AUTO_EXPAND` for a template with macros — a `Transform` (this includes the
//!   `AWS::Serverless` and `AWS::Include` transforms) — when the stack is created or updated
//!   *directly* from it. A change set needs no such acknowledgement: "you can create a change
//!   set … without acknowledging this capability, review the changes, then execute it" (the
//!   review is the acknowledgement).
//!
//! IAM resources are those of the template after its transform: a SAM
//! `AWS::Serverless::Function` or `AWS::Serverless::StateMachine` without a `Role` (its own or
//! from `Globals`) gets a generated `AWS::IAM::Role`, and an `AWS::Serverless::Connector`
//! generates an `AWS::IAM::ManagedPolicy`; both need `CAPABILITY_IAM`, as `sam deploy` users
//! know. Neither counts as named.

use serde_json::Value;

pub const CAPABILITY_IAM: &str = "CAPABILITY_IAM";
pub const CAPABILITY_NAMED_IAM: &str = "CAPABILITY_NAMED_IAM";
pub const CAPABILITY_AUTO_EXPAND: &str = "CAPABILITY_AUTO_EXPAND";

const IAM_TYPES: [(&str, Option<&str>); 8] = [
    ("AWS::IAM::AccessKey", None),
    ("AWS::IAM::Group", Some("GroupName")),
    ("AWS::IAM::InstanceProfile", Some("InstanceProfileName")),
    ("AWS::IAM::ManagedPolicy", Some("ManagedPolicyName")),
    ("AWS::IAM::Policy", None),
    ("AWS::IAM::Role", Some("RoleName")),
    ("AWS::IAM::User", Some("UserName")),
    ("AWS::IAM::UserToGroupAddition", None),
];

/// How the stack is touched: directly, or through a change set that is reviewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `CreateStack` / `UpdateStack`.
    Direct,
    /// `CreateChangeSet`.
    ChangeSet,
}

/// The capabilities `template` (as JSON) requires for `op`, in the order CloudFormation asks
/// for them.
pub fn required(template: &Value, op: Operation) -> Vec<&'static str> {
    let mut out = Vec::new();
    let transform = template
        .get("Transform")
        .is_some_and(|t| !t.is_null() && t.as_array().is_none_or(|a| !a.is_empty()));
    if transform && op == Operation::Direct {
        out.push(CAPABILITY_AUTO_EXPAND);
    }
    let global_role = template
        .pointer("/Globals/Function/Role")
        .is_some_and(|r| !r.is_null());
    let (mut iam, mut named) = (false, false);
    if let Some(resources) = template.get("Resources").and_then(Value::as_object) {
        for r in resources.values() {
            let ty = r.get("Type").and_then(Value::as_str).unwrap_or("");
            let props = r.get("Properties");
            let has = |k: &str| props.and_then(|p| p.get(k)).is_some_and(|v| !v.is_null());
            if let Some((_, name)) = IAM_TYPES.iter().find(|(t, _)| *t == ty) {
                iam = true;
                named |= name.is_some_and(has);
                continue;
            }
            match ty {
                "AWS::Serverless::Function" => iam |= !has("Role") && !global_role,
                "AWS::Serverless::StateMachine" => iam |= !has("Role"),
                "AWS::Serverless::Connector" => iam = true,
                _ => {}
            }
        }
    }
    if named {
        out.push(CAPABILITY_NAMED_IAM);
    } else if iam {
        out.push(CAPABILITY_IAM);
    }
    out
}

/// What is missing from `given`; CAPABILITY_NAMED_IAM covers CAPABILITY_IAM. The first
/// missing one is what CloudFormation names in its message.
pub fn missing<'a>(required: &[&'a str], given: &[String]) -> Vec<&'a str> {
    let has = |c: &str| given.iter().any(|g| g == c);
    required
        .iter()
        .copied()
        .filter(|&c| !(has(c) || (c == CAPABILITY_IAM && has(CAPABILITY_NAMED_IAM))))
        .collect()
}

/// CloudFormation's message for an `InsufficientCapabilitiesException`.
pub fn message(missing: &[&str]) -> String {
    format!(
        "Requires capabilities : [{}]",
        missing.first().copied().unwrap_or("")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iam_resources_named_ones_and_transforms() {
        let role = json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {}}}});
        assert_eq!(required(&role, Operation::Direct), [CAPABILITY_IAM]);
        let named = json!({"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "x"}}}});
        assert_eq!(
            required(&named, Operation::ChangeSet),
            [CAPABILITY_NAMED_IAM]
        );
        let sam = json!({"Transform": "AWS::Serverless-2016-10-31", "Resources": {
            "F": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "a.b"}}}});
        assert_eq!(
            required(&sam, Operation::Direct),
            [CAPABILITY_AUTO_EXPAND, CAPABILITY_IAM]
        );
        assert_eq!(required(&sam, Operation::ChangeSet), [CAPABILITY_IAM]);
        let with_role = json!({"Transform": ["AWS::Serverless-2016-10-31"], "Resources": {
            "F": {"Type": "AWS::Serverless::Function", "Properties": {"Role": "arn:aws:iam::1:role/r"}}}});
        assert_eq!(
            required(&with_role, Operation::ChangeSet),
            Vec::<&str>::new()
        );
        let plain = json!({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}});
        assert!(required(&plain, Operation::Direct).is_empty());
    }

    #[test]
    fn named_iam_covers_iam_and_the_message_names_the_first_missing() {
        let given = vec![CAPABILITY_NAMED_IAM.to_owned()];
        assert!(missing(&[CAPABILITY_IAM], &given).is_empty());
        let m = missing(&[CAPABILITY_AUTO_EXPAND, CAPABILITY_IAM], &[]);
        assert_eq!(
            message(&m),
            "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"
        );
        let m = missing(&[CAPABILITY_NAMED_IAM], &["CAPABILITY_IAM".to_owned()]);
        assert_eq!(
            message(&m),
            "Requires capabilities : [CAPABILITY_NAMED_IAM]"
        );
    }
}
