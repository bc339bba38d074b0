//! Lambda (REST-JSON, `2015-03-31`): `Invoke`, `GetFunction`, `ListVersionsByFunction`,
//! `PublishVersion`, `UpdateFunctionCode`, `CreateAlias`/`UpdateAlias`/`GetAlias`.
//!
//! An alias is resolved here, per request, from the stored record: a weighted alias picks its
//! version at random with the alias's weights, and `X-Amz-Executed-Version` says which ran.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::Method;
use hyper::header::HeaderValue;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use slipway_deploy::lambda::{Alias, LambdaError, Snapshot};
use slipway_engine::providers::{FunctionRecord, Target, load_function, save_function};
use slipway_model::function::Version;
use slipway_model::invoke::{InvocationType, InvokeRequest};
use slipway_model::template::hash::sha256_hex;

use crate::wire::{
    self, AliasConfiguration, AliasRoutingConfiguration, AwsError, CreateAliasRequest,
    EnvironmentResponse, FunctionCodeLocation, FunctionConfiguration, GetFunctionResponse,
    HttpResponse, ListVersionsByFunctionResponse, PublishVersionRequest, UpdateAliasRequest,
    UpdateFunctionCodeRequest,
};
use crate::wiring::{CODE_BUCKET, spec_of};
use crate::{App, Req};
use slipway_engine::Hooks as _;

const JSON: &str = "application/json";

fn not_found(message: String) -> AwsError {
    AwsError::lambda(404, "ResourceNotFoundException", message)
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::lambda(400, "InvalidParameterValueException", message)
}

fn lambda_error(e: &LambdaError) -> AwsError {
    let message = match e {
        LambdaError::InvalidParameterValue(m)
        | LambdaError::ResourceConflict(m)
        | LambdaError::ResourceNotFound(m)
        | LambdaError::PreconditionFailed(m)
        | LambdaError::Validation(m) => m.clone(),
    };
    AwsError::lambda(e.status(), e.error_type(), message)
}

fn body<T: DeserializeOwned + Default>(req: &Req) -> Result<T, AwsError> {
    if req.body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        AwsError::lambda(
            400,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        )
    })
}

/// A function found from a `FunctionName` (name, `name:qualifier`, partial or full ARN).
struct Located {
    target_name: String,
    target: Target,
    rec: FunctionRecord,
    generation: u64,
    qualifier: Option<String>,
}

fn locate(app: &App, req: &Req, raw: &str) -> Result<Located, AwsError> {
    let name_or_arn = wire::percent_decode(raw, false);
    let parts: Vec<&str> = name_or_arn.split(':').collect();
    let (target_name, name, qualifier) = match parts.as_slice() {
        [
            "arn",
            _partition,
            "lambda",
            region,
            account,
            "function",
            name,
            rest @ ..,
        ] => (
            format!("{account}/{region}"),
            (*name).to_owned(),
            rest.first().map(|q| (*q).to_owned()),
        ),
        [account, "function", name, rest @ ..] => (
            format!(
                "{account}/{}",
                req.region.as_deref().unwrap_or(&app.default_region)
            ),
            (*name).to_owned(),
            rest.first().map(|q| (*q).to_owned()),
        ),
        [name] => (app.target(req.region.as_deref()), (*name).to_owned(), None),
        [name, q] => (
            app.target(req.region.as_deref()),
            (*name).to_owned(),
            Some((*q).to_owned()),
        ),
        _ => return Err(invalid(format!("Invalid function name: {name_or_arn}"))),
    };
    let target = Target::parse(&target_name)
        .ok_or_else(|| invalid(format!("Invalid function name: {name_or_arn}")))?;
    let qualifier = match (req.query("Qualifier"), qualifier) {
        (Some(q), Some(from_name)) if q != from_name => {
            return Err(invalid(
                "The derived qualifier from the function name does not match the specified qualifier.",
            ));
        }
        (Some(q), _) => Some(q.to_owned()),
        (None, q) => q,
    };
    let missing = || {
        let arn = target.arn("lambda", &format!("function:{name}"));
        not_found(format!("Function not found: {arn}"))
    };
    let (rec, generation) = load_function(app.store.as_ref(), &target_name, &name)
        .map_err(|e| AwsError::internal(wire::Service::Lambda, &e))?
        .ok_or_else(missing)?;
    Ok(Located {
        target_name,
        target,
        rec,
        generation,
        qualifier,
    })
}

impl Located {
    fn arn(&self) -> String {
        self.target
            .arn("lambda", &format!("function:{}", self.rec.name))
    }

    /// The version a qualifier names: `$LATEST`, a published number, or an alias's primary.
    fn version_of(&self, qualifier: Option<&str>) -> Result<Version, AwsError> {
        let missing = |q: &str| not_found(format!("Function not found: {}:{q}", self.arn()));
        match qualifier {
            None | Some("$LATEST") => Ok(Version::Latest),
            Some(q) => match Version::parse(q) {
                Some(Version::Published(n)) if self.rec.versions.versions.contains_key(&n) => {
                    Ok(Version::Published(n))
                }
                Some(_) => Err(missing(q)),
                None => self
                    .rec
                    .versions
                    .aliases
                    .get(q)
                    .map(|a| a.function_version.clone())
                    .ok_or_else(|| missing(q)),
            },
        }
    }

    fn configuration(&self, app: &App, version: &Version) -> FunctionConfiguration {
        let v = &self.rec.versions;
        let (snapshot, revision, arn): (&Snapshot, String, String) = match version {
            Version::Published(n) if v.versions.contains_key(n) => {
                let p = &v.versions[n];
                (
                    &p.snapshot,
                    p.revision_id.clone(),
                    format!("{}:{n}", self.arn()),
                )
            }
            _ => (&v.latest, v.latest_revision.clone(), self.arn()),
        };
        let c = &snapshot.configuration;
        let s = |k: &str| {
            c.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let n = |k: &str, d: u32| {
            c.get(k)
                .and_then(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()))
                .and_then(|x| u32::try_from(x).ok())
                .unwrap_or(d)
        };
        let environment = c
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_object)
            .map(|m| EnvironmentResponse {
                variables: m
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect(),
            });
        FunctionConfiguration {
            function_name: self.rec.name.clone(),
            function_arn: arn,
            runtime: s("Runtime"),
            role: s("Role"),
            handler: s("Handler"),
            code_size: 0,
            description: snapshot.description.clone(),
            timeout: n("Timeout", 3),
            memory_size: n("MemorySize", 128),
            last_modified: wire::lambda_time(app.clock.now_ms()),
            code_sha256: snapshot.code_sha256.clone(),
            version: version.to_string(),
            environment,
            revision_id: revision,
            state: "Active",
            last_update_status: "Successful",
            package_type: "Zip",
            architectures: c
                .get("Architectures")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_else(|| vec!["x86_64".to_owned()]),
        }
    }

    fn alias(&self, a: &Alias) -> AliasConfiguration {
        AliasConfiguration {
            alias_arn: format!("{}:{}", self.arn(), a.name),
            name: a.name.clone(),
            function_version: a.function_version.to_string(),
            description: a.description.clone(),
            routing_config: a.additional.map(|(v, w)| AliasRoutingConfiguration {
                additional_version_weights: [(v.to_string(), w)].into_iter().collect(),
            }),
            revision_id: a.revision_id.clone(),
        }
    }

    fn save(&mut self, app: &App) -> Result<(), AwsError> {
        save_function(
            app.store.as_ref(),
            &self.target_name,
            &self.rec,
            Some(self.generation),
        )
        .map_err(|e| {
            AwsError::lambda(
                409,
                "ResourceConflictException",
                format!(
                    "The function {} was changed concurrently: {e}",
                    self.rec.name
                ),
            )
        })
    }

    fn register(&self, app: &App, version: &Version) {
        if let Some(spec) = spec_of(&self.rec, &self.target, &app.data_dir, version) {
            app.hooks.function_changed(&spec);
        }
    }
}

/// `POST /2015-03-31/functions/{FunctionName}/invocations`: the one async operation; the
/// function name it names, if so.
pub(crate) fn invocation(req: &Req) -> Option<&str> {
    let rest = req
        .path
        .strip_prefix(wire::LAMBDA_FUNCTIONS)?
        .trim_start_matches('/');
    let (f, op) = rest.split_once('/')?;
    (req.method == Method::POST && op.trim_end_matches('/') == "invocations").then_some(f)
}

/// Every other operation: store reads and writes, run on a blocking thread.
pub(crate) fn handle(app: &App, req: &Req) -> Result<HttpResponse, AwsError> {
    let rest = req
        .path
        .strip_prefix(wire::LAMBDA_FUNCTIONS)
        .unwrap_or("")
        .trim_start_matches('/');
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (&req.method, segs.as_slice()) {
        (&Method::GET, [f]) => get_function(app, req, f),
        (&Method::GET, [f, "versions"]) => list_versions(app, req, f),
        (&Method::POST, [f, "versions"]) => publish_version(app, req, f),
        (&Method::PUT, [f, "code"]) => update_code(app, req, f),
        (&Method::POST, [f, "aliases"]) => create_alias(app, req, f),
        (&Method::GET, [f, "aliases", a]) => get_alias(app, req, f, a),
        (&Method::PUT, [f, "aliases", a]) => update_alias(app, req, f, a),
        _ => Err(AwsError::lambda(
            404,
            "UnknownOperationException",
            format!("Unknown operation {} {}", req.method, req.path),
        )),
    }
}

pub(crate) async fn invoke(app: &App, req: &Req, f: &str) -> Result<HttpResponse, AwsError> {
    let invocation_type = match req.header(wire::X_AMZ_INVOCATION_TYPE) {
        None => InvocationType::RequestResponse,
        Some(t) => InvocationType::parse(t).ok_or_else(|| {
            invalid(format!(
                "1 validation error detected: Value '{t}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]"
            ))
        })?,
    };
    // One keyed read of the store: short enough for an async thread.
    let loc = locate(app, req, f)?;
    let version =
        match loc.qualifier.as_deref() {
            Some(q) if Version::parse(q).is_none() && q != "$LATEST" => {
                let alias =
                    loc.rec.versions.aliases.get(q).ok_or_else(|| {
                        not_found(format!("Function not found: {}:{q}", loc.arn()))
                    })?;
                pick(&alias.routes())
            }
            q => loc.version_of(q)?,
        };
    // Lambda hands an empty payload to the function as `{}`.
    let payload = if req.body.is_empty() {
        bytes::Bytes::from_static(b"{}")
    } else {
        req.body.clone()
    };
    let mut ir = InvokeRequest::new(loc.rec.name.clone(), version, payload);
    ir.qualifier = loc.qualifier.clone();
    ir.location = Some(loc.target.location());
    ir.invocation_type = invocation_type;
    ir.log_tail = req.header(wire::X_AMZ_LOG_TYPE) == Some("Tail");
    ir.client_context = req.header(wire::X_AMZ_CLIENT_CONTEXT).map(str::to_owned);
    let out = slipway_model::invoke::Invoker::invoke(&app.runtime, ir)
        .await
        .map_err(|e| {
            let (code, status) = e.aws_error();
            AwsError::lambda(status, code, e.to_string())
        })?;
    let status = invocation_type.success_status();
    let mut r = wire::response(
        status,
        JSON,
        if invocation_type == InvocationType::RequestResponse {
            out.payload
        } else {
            bytes::Bytes::new()
        },
    );
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&out.executed_version.to_string()) {
        h.insert(wire::X_AMZ_EXECUTED_VERSION, v);
    }
    if let Some(fe) = out.function_error
        && let Ok(v) = HeaderValue::from_str(&fe.to_string())
    {
        h.insert(wire::X_AMZ_FUNCTION_ERROR, v);
    }
    if let Some(log) = out.log_result
        && let Ok(v) = HeaderValue::from_str(&log)
    {
        h.insert(wire::X_AMZ_LOG_RESULT, v);
    }
    Ok(r)
}

/// One version of a weighted alias, chosen at random with its weights.
pub(crate) fn pick(routes: &[(Version, f64)]) -> Version {
    let r = fastrand::f64();
    let mut acc = 0.0;
    for (v, w) in routes {
        acc += w;
        if r < acc {
            return v.clone();
        }
    }
    routes.first().map_or(Version::Latest, |(v, _)| v.clone())
}

fn get_function(app: &App, req: &Req, f: &str) -> Result<HttpResponse, AwsError> {
    let loc = locate(app, req, f)?;
    let version = loc.version_of(loc.qualifier.as_deref())?;
    let out = GetFunctionResponse {
        configuration: loc.configuration(app, &version),
        code: FunctionCodeLocation {
            repository_type: "S3",
            location: format!("file://{}", loc.rec.code_dir.display()),
        },
        tags: Default::default(),
    };
    Ok(wire::json(200, JSON, &out))
}

fn list_versions(app: &App, req: &Req, f: &str) -> Result<HttpResponse, AwsError> {
    let loc = locate(app, req, f)?;
    let versions = std::iter::once(Version::Latest)
        .chain(
            loc.rec
                .versions
                .versions
                .keys()
                .map(|n| Version::Published(*n)),
        )
        .map(|v| loc.configuration(app, &v))
        .collect();
    Ok(wire::json(
        200,
        JSON,
        &ListVersionsByFunctionResponse { versions },
    ))
}

fn publish_version(app: &App, req: &Req, f: &str) -> Result<HttpResponse, AwsError> {
    let input: PublishVersionRequest = body(req)?;
    let mut loc = locate(app, req, f)?;
    let number = publish(app, &mut loc, &input)?;
    Ok(wire::json(
        201,
        JSON,
        &loc.configuration(app, &Version::Published(number)),
    ))
}

fn publish(app: &App, loc: &mut Located, input: &PublishVersionRequest) -> Result<u32, AwsError> {
    let published = loc
        .rec
        .versions
        .publish(
            input.code_sha256.as_deref(),
            input.revision_id.as_deref(),
            input.description.as_deref(),
        )
        .map_err(|e| lambda_error(&e))?;
    if published.created {
        loc.rec
            .version_properties
            .insert(published.number, loc.rec.properties.clone());
        loc.rec
            .version_code_dirs
            .insert(published.number, loc.rec.code_dir.clone());
        loc.save(app)?;
        loc.register(app, &Version::Published(published.number));
    }
    Ok(published.number)
}

fn update_code(app: &App, req: &Req, f: &str) -> Result<HttpResponse, AwsError> {
    let input: UpdateFunctionCodeRequest = body(req)?;
    let mut loc = locate(app, req, f)?;
    let zip = match (&input.zip_file, &input.s3_bucket, &input.s3_key) {
        (Some(z), _, _) => BASE64
            .decode(z)
            .map_err(|e| invalid(format!("ZipFile is not valid base64: {e}")))?,
        (None, Some(b), Some(k)) => {
            let path = slipway_engine::providers::bucket_dir(&app.data_dir, b).join(k);
            std::fs::read(&path).map_err(|_| {
                invalid(format!(
                    "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist. (bucket {b}, key {k})"
                ))
            })?
        }
        _ => {
            return Err(invalid(
                "Please provide a source for function code (ZipFile or S3Bucket and S3Key).",
            ));
        }
    };
    if input.dry_run {
        return Ok(wire::json(
            200,
            JSON,
            &loc.configuration(app, &Version::Latest),
        ));
    }
    let blob = app
        .artefacts
        .put_bytes(&zip)
        .map_err(|e| AwsError::internal(wire::Service::Lambda, &e))?;
    let hex = blob.digest.hex();
    let key = format!("{}/{hex}", loc.rec.name);
    let dest = slipway_engine::providers::bucket_dir(&app.data_dir, CODE_BUCKET).join(&key);
    if !dest.is_dir() {
        app.artefacts
            .extract_zip(&blob.digest, &dest)
            .map_err(|e| {
                AwsError::lambda(
                    400,
                    "InvalidParameterValueException",
                    format!("Could not unzip uploaded file. Please check your file, then try to upload again. ({e})"),
                )
            })?;
    }
    let mut props = loc.rec.properties.clone();
    if let Some(m) = props.as_object_mut() {
        m.insert(
            "Code".to_owned(),
            json!({"S3Bucket": CODE_BUCKET, "S3Key": key}),
        );
    }
    let mut configuration = props.clone();
    if let Some(m) = configuration.as_object_mut() {
        m.remove("Code");
        m.remove("Description");
    }
    let snapshot = Snapshot {
        code_sha256: sha256_hex(
            props
                .get("Code")
                .unwrap_or(&Value::Null)
                .to_string()
                .as_bytes(),
        ),
        configuration,
        description: loc.rec.versions.latest.description.clone(),
    };
    loc.rec.versions.update_latest(snapshot);
    loc.rec.properties = props;
    loc.rec.code_dir = dest;
    loc.save(app)?;
    loc.register(app, &Version::Latest);
    let shown = if input.publish {
        loc = locate(app, req, f)?;
        Version::Published(publish(app, &mut loc, &PublishVersionRequest::default())?)
    } else {
        Version::Latest
    };
    Ok(wire::json(200, JSON, &loc.configuration(app, &shown)))
}

fn create_alias(app: &App, req: &Req, f: &str) -> Result<HttpResponse, AwsError> {
    let input: CreateAliasRequest = serde_json::from_slice(&req.body).map_err(|e| {
        AwsError::lambda(
            400,
            "InvalidRequestContentException",
            format!("Could not parse request body into json: {e}"),
        )
    })?;
    let mut loc = locate(app, req, f)?;
    let routing = input
        .routing_config
        .map(|r| r.additional_version_weights)
        .unwrap_or_default();
    let alias = loc
        .rec
        .versions
        .create_alias(
            &input.name,
            &input.function_version,
            &routing,
            input.description.as_deref().unwrap_or_default(),
        )
        .map_err(|e| lambda_error(&e))?
        .clone();
    loc.save(app)?;
    app.hooks
        .alias_changed(&loc.target_name, &loc.rec.name, &alias.name);
    Ok(wire::json(201, JSON, &loc.alias(&alias)))
}

fn get_alias(app: &App, req: &Req, f: &str, a: &str) -> Result<HttpResponse, AwsError> {
    let loc = locate(app, req, f)?;
    let a = wire::percent_decode(a, false);
    let alias = loc
        .rec
        .versions
        .aliases
        .get(&a)
        .ok_or_else(|| not_found(format!("Cannot find alias arn: {}:{a}", loc.arn())))?;
    Ok(wire::json(200, JSON, &loc.alias(alias)))
}

fn update_alias(app: &App, req: &Req, f: &str, a: &str) -> Result<HttpResponse, AwsError> {
    let input: UpdateAliasRequest = body(req)?;
    let mut loc = locate(app, req, f)?;
    let a = wire::percent_decode(a, false);
    if !loc.rec.versions.aliases.contains_key(&a) {
        return Err(not_found(format!(
            "Cannot find alias arn: {}:{a}",
            loc.arn()
        )));
    }
    let routing = input.routing_config.map(|r| r.additional_version_weights);
    let alias = loc
        .rec
        .versions
        .update_alias(
            &a,
            input.function_version.as_deref(),
            routing.as_ref(),
            input.revision_id.as_deref(),
        )
        .map_err(|e| lambda_error(&e))?
        .clone();
    loc.save(app)?;
    app.hooks.alias_changed(&loc.target_name, &loc.rec.name, &a);
    Ok(wire::json(200, JSON, &loc.alias(&alias)))
}
