//! What `sam package` does to a template, as pure functions on its JSON form.
//!
//! [`local_artefacts`] finds every property that names a local path (a file or a directory
//! relative to the template's directory) in the resource types SAM CLI packages; the caller
//! zips or reads each one, uploads it under a content-addressed key and hands the locations
//! to [`rewrite`], which writes them back in the form each property takes:
//!
//! | resource type | property | uploaded as | rewritten to |
//! | --- | --- | --- | --- |
//! | `AWS::Serverless::Function` | `CodeUri` (`.` when absent and there is no `InlineCode`/`ImageUri`) | zip | `s3://bucket/key` |
//! | `AWS::Serverless::LayerVersion` | `ContentUri` | zip | `s3://bucket/key` |
//! | `AWS::Serverless::Api`, `AWS::Serverless::HttpApi` | `DefinitionUri` | file | `s3://bucket/key` |
//! | `AWS::Serverless::StateMachine` | `DefinitionUri` | file | `{Bucket, Key}` |
//! | `AWS::Lambda::Function` | `Code` (a string) | zip | `{S3Bucket, S3Key}` |
//! | `AWS::Lambda::LayerVersion` | `Content` (a string) | zip | `{S3Bucket, S3Key}` |
//! | `AWS::ApiGateway::RestApi`, `AWS::ApiGatewayV2::Api` | `BodyS3Location` (a string) | file | `{Bucket, Key}` |
//! | `AWS::StepFunctions::StateMachine` | `DefinitionS3Location` (a string) | file | `{Bucket, Key}` |
//!
//! A value that is already remote (`s3://…`, `https://…`, a map, an intrinsic) is left alone.
//! Not packaged (as yet): nested stacks' `TemplateURL`, `AWS::Serverless::Application`
//! `Location`, AppSync schemas, `Globals.Function.CodeUri` (name the path on each function),
//! container images.

use serde_json::{Map, Value, json};

/// How a local path is uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upload {
    /// A directory zipped (or a `.zip`/`.jar` file uploaded as it is, or any other single
    /// file zipped on its own), as Lambda takes code.
    Zip,
    /// The file's bytes as they are (an OpenAPI document, a state machine definition).
    File,
}

/// How the property names the uploaded object afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `s3://bucket/key`.
    S3Uri,
    /// `{S3Bucket, S3Key}` (Lambda's `Code` and `Content`).
    S3BucketKey,
    /// `{Bucket, Key}` (API Gateway's and Step Functions' `…S3Location`).
    BucketKey,
}

/// One local path of the template, to upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalArtefact {
    pub logical_id: String,
    pub property: &'static str,
    /// As written in the template (relative to the template's directory, or absolute).
    pub path: String,
    pub upload: Upload,
    pub form: Form,
}

/// Where an artefact went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

struct Rule {
    resource_type: &'static str,
    property: &'static str,
    upload: Upload,
    form: Form,
}

const RULES: &[Rule] = &[
    Rule {
        resource_type: "AWS::Serverless::Function",
        property: "CodeUri",
        upload: Upload::Zip,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::Serverless::LayerVersion",
        property: "ContentUri",
        upload: Upload::Zip,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::Serverless::Api",
        property: "DefinitionUri",
        upload: Upload::File,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::Serverless::HttpApi",
        property: "DefinitionUri",
        upload: Upload::File,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::Serverless::StateMachine",
        property: "DefinitionUri",
        upload: Upload::File,
        form: Form::BucketKey,
    },
    Rule {
        resource_type: "AWS::Lambda::Function",
        property: "Code",
        upload: Upload::Zip,
        form: Form::S3BucketKey,
    },
    Rule {
        resource_type: "AWS::Lambda::LayerVersion",
        property: "Content",
        upload: Upload::Zip,
        form: Form::S3BucketKey,
    },
    Rule {
        resource_type: "AWS::ApiGateway::RestApi",
        property: "BodyS3Location",
        upload: Upload::File,
        form: Form::BucketKey,
    },
    Rule {
        resource_type: "AWS::ApiGatewayV2::Api",
        property: "BodyS3Location",
        upload: Upload::File,
        form: Form::BucketKey,
    },
    Rule {
        resource_type: "AWS::StepFunctions::StateMachine",
        property: "DefinitionS3Location",
        upload: Upload::File,
        form: Form::BucketKey,
    },
];

/// A string that names something already remote.
fn is_remote(s: &str) -> bool {
    s.starts_with("s3://") || s.starts_with("https://") || s.starts_with("http://")
}

/// Every local path to upload, in the template's resource order.
pub fn local_artefacts(template: &Value) -> Vec<LocalArtefact> {
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (id, r) in resources {
        let Some(ty) = r.get("Type").and_then(Value::as_str) else {
            continue;
        };
        let props = r.get("Properties").and_then(Value::as_object);
        for rule in RULES.iter().filter(|rule| rule.resource_type == ty) {
            let path = match props.and_then(|p| p.get(rule.property)) {
                Some(Value::String(s)) if !is_remote(s) => s.clone(),
                Some(_) => continue,
                // SAM CLI packages the template's directory for a function that names no
                // code at all.
                None if rule.property == "CodeUri"
                    && !props.is_some_and(|p| {
                        p.contains_key("InlineCode") || p.contains_key("ImageUri")
                    })
                    && props
                        .and_then(|p| p.get("PackageType"))
                        .and_then(Value::as_str)
                        != Some("Image") =>
                {
                    ".".to_owned()
                }
                None => continue,
            };
            out.push(LocalArtefact {
                logical_id: id.clone(),
                property: rule.property,
                path,
                upload: rule.upload,
                form: rule.form,
            });
        }
    }
    out
}

/// The template with each artefact's property pointing at its S3 location.
pub fn rewrite(template: &Value, uploaded: &[(LocalArtefact, S3Location)]) -> Value {
    let mut t = template.clone();
    for (a, loc) in uploaded {
        let Some(r) = t
            .get_mut("Resources")
            .and_then(|r| r.get_mut(&a.logical_id))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let props = r
            .entry("Properties")
            .or_insert_with(|| Value::Object(Map::new()));
        let Some(props) = props.as_object_mut() else {
            continue;
        };
        let value = match a.form {
            Form::S3Uri => Value::String(format!("s3://{}/{}", loc.bucket, loc.key)),
            Form::S3BucketKey => json!({"S3Bucket": loc.bucket, "S3Key": loc.key}),
            Form::BucketKey => json!({"Bucket": loc.bucket, "Key": loc.key}),
        };
        props.insert(a.property.to_owned(), value);
    }
    t
}

/// The content-addressed key of an object: `PREFIX/sha256` (and the extension for files,
/// so a definition keeps its media type's hint).
pub fn object_key(prefix: Option<&str>, sha256_hex: &str, extension: Option<&str>) -> String {
    let mut k = String::new();
    if let Some(p) = prefix
        .map(|p| p.trim_matches('/'))
        .filter(|p| !p.is_empty())
    {
        k.push_str(p);
        k.push('/');
    }
    k.push_str(sha256_hex);
    if let Some(e) = extension.filter(|e| !e.is_empty()) {
        k.push('.');
        k.push_str(e);
    }
    k
}

/// Whether the template declares a transform (SAM's, or a macro): CloudFormation then needs
/// `CAPABILITY_AUTO_EXPAND` to create a change set from it.
pub fn has_transform(template: &Value) -> bool {
    template.get("Transform").is_some_and(|t| !t.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        json!({
            "Transform": "AWS::Serverless-2016-10-31",
            "Resources": {
                "Fn": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "src/", "Handler": "app.h"}},
                "Bare": {"Type": "AWS::Serverless::Function", "Properties": {"Handler": "app.h"}},
                "Inline": {"Type": "AWS::Serverless::Function", "Properties": {"InlineCode": "x"}},
                "Remote": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "s3://b/k"}},
                "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "layer"}},
                "Raw": {"Type": "AWS::Lambda::Function", "Properties": {"Code": "raw", "Handler": "a.b"}},
                "RawS3": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Bucket": "b", "S3Key": "k"}}},
                "Rest": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"BodyS3Location": "api.yaml"}},
                "Bucket": {"Type": "AWS::S3::Bucket"}
            }
        })
    }

    #[test]
    fn finds_local_paths_only() {
        let found: Vec<(String, &str, String)> = local_artefacts(&template())
            .into_iter()
            .map(|a| (a.logical_id, a.property, a.path))
            .collect();
        let want = [
            ("Fn", "CodeUri", "src/"),
            ("Bare", "CodeUri", "."),
            ("Layer", "ContentUri", "layer"),
            ("Raw", "Code", "raw"),
            ("Rest", "BodyS3Location", "api.yaml"),
        ];
        let mut want: Vec<(String, &str, String)> = want
            .iter()
            .map(|(a, b, c)| ((*a).to_owned(), *b, (*c).to_owned()))
            .collect();
        // serde_json's map is ordered by key.
        want.sort();
        let mut found = found;
        found.sort();
        assert_eq!(found, want);
    }

    #[test]
    fn rewrites_each_form_as_sam_package_does() {
        let t = template();
        let loc = |k: &str| S3Location {
            bucket: "art".into(),
            key: k.into(),
        };
        let uploaded: Vec<_> = local_artefacts(&t)
            .into_iter()
            .map(|a| {
                let l = loc(&format!("{}-key", a.logical_id));
                (a, l)
            })
            .collect();
        let out = rewrite(&t, &uploaded);
        let p = |id: &str, prop: &str| out["Resources"][id]["Properties"][prop].clone();
        assert_eq!(p("Fn", "CodeUri"), json!("s3://art/Fn-key"));
        assert_eq!(p("Bare", "CodeUri"), json!("s3://art/Bare-key"));
        assert_eq!(p("Layer", "ContentUri"), json!("s3://art/Layer-key"));
        assert_eq!(
            p("Raw", "Code"),
            json!({"S3Bucket": "art", "S3Key": "Raw-key"})
        );
        assert_eq!(
            p("Rest", "BodyS3Location"),
            json!({"Bucket": "art", "Key": "Rest-key"})
        );
        // Untouched: remote code, inline code, other properties, the transform.
        assert_eq!(p("Remote", "CodeUri"), json!("s3://b/k"));
        assert_eq!(
            p("RawS3", "Code"),
            t["Resources"]["RawS3"]["Properties"]["Code"]
        );
        assert_eq!(p("Fn", "Handler"), json!("app.h"));
        assert_eq!(out["Transform"], t["Transform"]);
        assert!(has_transform(&out));
    }

    #[test]
    fn keys_are_content_addressed() {
        assert_eq!(object_key(None, "ab", None), "ab");
        assert_eq!(object_key(Some("/app/"), "ab", Some("yaml")), "app/ab.yaml");
        assert_eq!(object_key(Some(""), "ab", Some("")), "ab");
    }
}
