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
//! | `AWS::Serverless::Application` | `Location` (a string) | packaged template | `https://s3.REGION.amazonaws.com/bucket/key` |
//! | `AWS::CloudFormation::Stack` | `TemplateURL` | packaged template | `https://s3.REGION.amazonaws.com/bucket/key` |
//! | `AWS::Lambda::Function` | `Code` (a string) | zip | `{S3Bucket, S3Key}` |
//! | `AWS::Lambda::LayerVersion` | `Content` (a string) | zip | `{S3Bucket, S3Key}` |
//! | `AWS::ApiGateway::RestApi`, `AWS::ApiGatewayV2::Api` | `BodyS3Location` (a string) | file | `{Bucket, Key}` |
//! | `AWS::StepFunctions::StateMachine` | `DefinitionS3Location` (a string) | file | `{Bucket, Key}` |
//! | `AWS::AppSync::GraphQLSchema` | `DefinitionS3Location` | file | `s3://bucket/key` |
//! | `AWS::AppSync::Resolver`, `AWS::AppSync::FunctionConfiguration` | `RequestMappingTemplateS3Location`, `ResponseMappingTemplateS3Location` | file | `s3://bucket/key` |
//! | `AWS::ElasticBeanstalk::ApplicationVersion` | `SourceBundle` (a string) | a directory zipped, a file as it is | `{S3Bucket, S3Key}` |
//! | `AWS::CloudFormation::ModuleVersion` | `ModulePackage` | a directory zipped, a file as it is | `s3://bucket/key` |
//! | `AWS::CloudFormation::ResourceVersion` | `SchemaHandlerPackage` | a directory zipped, a file as it is | `s3://bucket/key` |
//! | `Fn::Transform` `AWS::Include`, anywhere | `Parameters.Location` | file | `s3://bucket/key` |
//!
//! This is SAM CLI's list (`samcli/lib/package/packageable_resources.py` and
//! `artifact_exporter.py`: `RESOURCES_EXPORT_LIST`, the two nested-stack resources and the
//! `AWS::Include` handler). A packaged template is the child template read (YAML or JSON),
//! packaged in its own turn relative to its own directory (so its functions' code goes up
//! too), and uploaded as JSON under its content's key; SAM CLI names it by the S3 client's
//! endpoint in path style, as here.
//!
//! A value that is already remote (`s3://…`, `https://…`, a map, an intrinsic) is left alone.
//! Not packaged (as yet): `AWS::Glue::Job`'s nested `Command.ScriptLocation`,
//! `AWS::Serverless::GraphQLApi`'s schema and resolver code, the `AWS::ServerlessRepo::Application`
//! metadata's licence and readme, `Globals.Function.CodeUri` (name the path on each
//! function), container images.

use serde_json::{Map, Value, json};

/// How a local path is uploaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upload {
    /// A directory zipped (or a `.zip`/`.jar` file uploaded as it is, or any other single
    /// file zipped on its own), as Lambda takes code.
    Zip,
    /// The file's bytes as they are (an OpenAPI document, a state machine definition).
    File,
    /// A directory zipped, a file as it is (SAM CLI's `ResourceZip` without `FORCE_ZIP`).
    ZipDir,
    /// A child template, packaged in its turn ([`crate::Aws::package`]) and uploaded as JSON.
    Template,
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
    /// `https://s3.REGION.amazonaws.com/bucket/key` (a nested stack's template).
    HttpsUrl,
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
    Rule {
        resource_type: "AWS::CloudFormation::Stack",
        property: "TemplateURL",
        upload: Upload::Template,
        form: Form::HttpsUrl,
    },
    Rule {
        resource_type: "AWS::Serverless::Application",
        property: "Location",
        upload: Upload::Template,
        form: Form::HttpsUrl,
    },
    Rule {
        resource_type: "AWS::AppSync::GraphQLSchema",
        property: "DefinitionS3Location",
        upload: Upload::File,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::AppSync::Resolver",
        property: "RequestMappingTemplateS3Location",
        upload: Upload::File,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::AppSync::Resolver",
        property: "ResponseMappingTemplateS3Location",
        upload: Upload::File,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::AppSync::FunctionConfiguration",
        property: "RequestMappingTemplateS3Location",
        upload: Upload::File,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::AppSync::FunctionConfiguration",
        property: "ResponseMappingTemplateS3Location",
        upload: Upload::File,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::ElasticBeanstalk::ApplicationVersion",
        property: "SourceBundle",
        upload: Upload::ZipDir,
        form: Form::S3BucketKey,
    },
    Rule {
        resource_type: "AWS::CloudFormation::ModuleVersion",
        property: "ModulePackage",
        upload: Upload::ZipDir,
        form: Form::S3Uri,
    },
    Rule {
        resource_type: "AWS::CloudFormation::ResourceVersion",
        property: "SchemaHandlerPackage",
        upload: Upload::ZipDir,
        form: Form::S3Uri,
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

/// The template with each artefact's property pointing at its S3 location (`region` names
/// the S3 endpoint of an [`Form::HttpsUrl`]).
pub fn rewrite(template: &Value, uploaded: &[(LocalArtefact, S3Location)], region: &str) -> Value {
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
            Form::HttpsUrl => Value::String(https_url(region, &loc.bucket, &loc.key)),
        };
        props.insert(a.property.to_owned(), value);
    }
    t
}

/// An object's path-style HTTPS URL, as SAM CLI writes a nested stack's `TemplateURL`.
pub fn https_url(region: &str, bucket: &str, key: &str) -> String {
    format!("https://s3.{region}.amazonaws.com/{bucket}/{key}")
}

/// Every local `Location` of an `AWS::Include` transform (`{"Fn::Transform": {"Name":
/// "AWS::Include", "Parameters": {"Location": PATH}}}`), wherever it stands, in document
/// order, each once.
pub fn include_locations(template: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(l) = include_location(m)
                    && !out.iter().any(|o| o == l)
                {
                    out.push(l.to_owned());
                }
                for v in m.values() {
                    walk(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(template, &mut out);
    out
}

/// The local `Location` of an `AWS::Include` transform at this map.
fn include_location(m: &Map<String, Value>) -> Option<&str> {
    let t = m.get("Fn::Transform")?;
    if t.get("Name").and_then(Value::as_str) != Some("AWS::Include") {
        return None;
    }
    let l = t.pointer("/Parameters/Location")?.as_str()?;
    (!is_remote(l)).then_some(l)
}

/// The template with each `AWS::Include` `Location` of `uploaded` (path → location) as
/// `s3://bucket/key`.
pub fn rewrite_includes(template: &mut Value, uploaded: &[(String, S3Location)]) {
    match template {
        Value::Object(m) => {
            if let Some(l) = include_location(m)
                && let Some((_, loc)) = uploaded.iter().find(|(p, _)| p == l)
            {
                let uri = Value::String(format!("s3://{}/{}", loc.bucket, loc.key));
                if let Some(slot) = m
                    .get_mut("Fn::Transform")
                    .and_then(|t| t.pointer_mut("/Parameters/Location"))
                {
                    *slot = uri;
                }
            }
            for v in m.values_mut() {
                rewrite_includes(v, uploaded);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| rewrite_includes(v, uploaded)),
        _ => {}
    }
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
                "Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "child/template.yaml"}},
                "RemoteChild": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "https://s3.amazonaws.com/b/t.yaml"}},
                "App": {"Type": "AWS::Serverless::Application", "Properties": {"Location": "app/template.yaml"}},
                "Repo": {"Type": "AWS::Serverless::Application", "Properties": {"Location": {"ApplicationId": "arn:x", "SemanticVersion": "1.0.0"}}},
                "Schema": {"Type": "AWS::AppSync::GraphQLSchema", "Properties": {"DefinitionS3Location": "schema.graphql"}},
                "Bundle": {"Type": "AWS::ElasticBeanstalk::ApplicationVersion", "Properties": {"SourceBundle": "app.war"}},
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
            ("Child", "TemplateURL", "child/template.yaml"),
            ("App", "Location", "app/template.yaml"),
            ("Schema", "DefinitionS3Location", "schema.graphql"),
            ("Bundle", "SourceBundle", "app.war"),
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
        let out = rewrite(&t, &uploaded, "eu-west-1");
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
        assert_eq!(
            p("Child", "TemplateURL"),
            json!("https://s3.eu-west-1.amazonaws.com/art/Child-key")
        );
        assert_eq!(
            p("App", "Location"),
            json!("https://s3.eu-west-1.amazonaws.com/art/App-key")
        );
        assert_eq!(
            p("Schema", "DefinitionS3Location"),
            json!("s3://art/Schema-key")
        );
        assert_eq!(
            p("Bundle", "SourceBundle"),
            json!({"S3Bucket": "art", "S3Key": "Bundle-key"})
        );
        assert_eq!(
            p("RemoteChild", "TemplateURL"),
            t["Resources"]["RemoteChild"]["Properties"]["TemplateURL"]
        );
        assert_eq!(
            p("Repo", "Location"),
            t["Resources"]["Repo"]["Properties"]["Location"]
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
    fn include_transforms_are_found_and_rewritten_anywhere() {
        let mut t = json!({
            "Resources": {
                "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Body": {
                    "Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "api.yaml"}}}}},
                "Again": {"Properties": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "api.yaml"}}}},
                "Remote": {"Properties": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}}},
                "Macro": {"Properties": {"Fn::Transform": {"Name": "Other", "Parameters": {"Location": "x"}}}}
            },
            "Fn::Transform": [{"Name": "AWS::Include", "Parameters": {"Location": "top.yaml"}}]
        });
        let found = include_locations(&t);
        assert_eq!(found, ["api.yaml"]);
        let loc = S3Location {
            bucket: "art".into(),
            key: "k1.yaml".into(),
        };
        rewrite_includes(&mut t, &[("api.yaml".into(), loc)]);
        let at = |p: &str| t.pointer(p).cloned().unwrap();
        assert_eq!(
            at("/Resources/Api/Properties/Body/Fn::Transform/Parameters/Location"),
            json!("s3://art/k1.yaml")
        );
        assert_eq!(
            at("/Resources/Again/Properties/Fn::Transform/Parameters/Location"),
            json!("s3://art/k1.yaml")
        );
        assert_eq!(
            at("/Resources/Remote/Properties/Fn::Transform/Parameters/Location"),
            json!("s3://b/k")
        );
        assert_eq!(
            at("/Resources/Macro/Properties/Fn::Transform/Parameters/Location"),
            json!("x")
        );
    }

    #[test]
    fn keys_are_content_addressed() {
        assert_eq!(object_key(None, "ab", None), "ab");
        assert_eq!(object_key(Some("/app/"), "ab", Some("yaml")), "app/ab.yaml");
        assert_eq!(object_key(Some(""), "ab", Some("")), "ab");
    }
}
