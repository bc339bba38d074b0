//! Lambda versions and aliases, with Lambda's rules and error shapes.
//!
//! Sources: Lambda Developer Guide `configuration-versions`, `configuration-aliases`; API
//! reference `PublishVersion`, `CreateAlias`, `UpdateAlias`, `AliasRoutingConfiguration`.
//!
//! - `$LATEST` is the only mutable version. `PublishVersion` snapshots code and configuration
//!   into version `n+1` — unless neither changed since the last published version, in which case
//!   Lambda returns that version and creates nothing. `CodeSha256` and `RevisionId` are
//!   optional preconditions.
//! - An alias points at one version (`$LATEST` allowed) or at two published versions with a
//!   weight in [0, 1] on the additional one (`RoutingConfig.AdditionalVersionWeights`, one entry
//!   at most). Alias names match `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, at most 128 characters.
//! - A version an alias routes to cannot be deleted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use slipway_model::function::Version;
use slipway_model::template::hash::sha256_hex;

/// Lambda's error shapes (`x-amzn-ErrorType` / `__type`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LambdaError {
    #[error("InvalidParameterValueException: {0}")]
    InvalidParameterValue(String),
    #[error("ResourceConflictException: {0}")]
    ResourceConflict(String),
    #[error("ResourceNotFoundException: {0}")]
    ResourceNotFound(String),
    #[error("PreconditionFailedException: {0}")]
    PreconditionFailed(String),
    #[error("ValidationException: {0}")]
    Validation(String),
}

impl LambdaError {
    /// The `__type` AWS clients dispatch on.
    pub fn error_type(&self) -> &'static str {
        match self {
            LambdaError::InvalidParameterValue(_) => "InvalidParameterValueException",
            LambdaError::ResourceConflict(_) => "ResourceConflictException",
            LambdaError::ResourceNotFound(_) => "ResourceNotFoundException",
            LambdaError::PreconditionFailed(_) => "PreconditionFailedException",
            LambdaError::Validation(_) => "ValidationException",
        }
    }

    /// The HTTP status Lambda answers with.
    pub fn status(&self) -> u16 {
        match self {
            LambdaError::InvalidParameterValue(_) | LambdaError::Validation(_) => 400,
            LambdaError::ResourceConflict(_) => 409,
            LambdaError::ResourceNotFound(_) => 404,
            LambdaError::PreconditionFailed(_) => 412,
        }
    }
}

/// Code and configuration of one version: what `PublishVersion` snapshots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub code_sha256: String,
    /// Everything else that makes a version (runtime, handler, memory, environment, …) as
    /// JSON; compared as a whole.
    pub configuration: Value,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedVersion {
    pub number: u32,
    pub snapshot: Snapshot,
    pub revision_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub function_version: Version,
    /// The additional version and its weight (0.0–1.0).
    pub additional: Option<(u32, f64)>,
    pub description: String,
    pub revision_id: String,
}

impl Alias {
    /// `(version, weight)` pairs, primary first; weights sum to 1.
    pub fn routes(&self) -> Vec<(Version, f64)> {
        match self.additional {
            None => vec![(self.function_version.clone(), 1.0)],
            Some((v, w)) => vec![
                (self.function_version.clone(), 1.0 - w),
                (Version::Published(v), w),
            ],
        }
    }
}

/// One function's `$LATEST`, versions and aliases.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionVersions {
    /// The function's ARN without qualifier, for messages.
    pub arn: String,
    pub latest: Snapshot,
    pub latest_revision: String,
    pub versions: BTreeMap<u32, PublishedVersion>,
    /// Numbers are never reused, even after a version is deleted.
    pub last_number: u32,
    pub aliases: BTreeMap<String, Alias>,
}

fn revision(seed: &str) -> String {
    let h = sha256_hex(seed.as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// What `PublishVersion` did.
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub number: u32,
    /// False when nothing changed and the last version was returned.
    pub created: bool,
}

/// `RoutingConfig` as given: version → weight.
pub type RoutingConfig = BTreeMap<String, f64>;

impl FunctionVersions {
    pub fn new(arn: &str, latest: Snapshot) -> FunctionVersions {
        let latest_revision = revision(&format!("{arn}$LATEST0"));
        FunctionVersions {
            arn: arn.to_owned(),
            latest,
            latest_revision,
            versions: BTreeMap::new(),
            last_number: 0,
            aliases: BTreeMap::new(),
        }
    }

    /// `UpdateFunctionCode` / `UpdateFunctionConfiguration` on `$LATEST`.
    pub fn update_latest(&mut self, latest: Snapshot) {
        self.latest_revision = revision(&format!(
            "{}{}{}",
            self.latest_revision, latest.code_sha256, latest.configuration
        ));
        self.latest = latest;
    }

    /// `PublishVersion`.
    pub fn publish(
        &mut self,
        code_sha256: Option<&str>,
        revision_id: Option<&str>,
        description: Option<&str>,
    ) -> Result<Published, LambdaError> {
        if let Some(sha) = code_sha256
            && sha != self.latest.code_sha256
        {
            return Err(LambdaError::InvalidParameterValue(format!(
                "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again",
                self.latest.code_sha256
            )));
        }
        if let Some(rev) = revision_id
            && rev != self.latest_revision
        {
            return Err(LambdaError::PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
            ));
        }
        if let Some(last) = self.versions.values().next_back()
            && last.snapshot.code_sha256 == self.latest.code_sha256
            && last.snapshot.configuration == self.latest.configuration
        {
            return Ok(Published {
                number: last.number,
                created: false,
            });
        }
        self.last_number += 1;
        let number = self.last_number;
        let mut snapshot = self.latest.clone();
        if let Some(d) = description {
            snapshot.description = d.to_owned();
        }
        self.versions.insert(
            number,
            PublishedVersion {
                number,
                snapshot,
                revision_id: revision(&format!("{}:{number}", self.arn)),
            },
        );
        Ok(Published {
            number,
            created: true,
        })
    }

    fn check_version(&self, v: &Version) -> Result<(), LambdaError> {
        match v {
            Version::Latest => Ok(()),
            Version::Published(n) if self.versions.contains_key(n) => Ok(()),
            Version::Published(n) => Err(LambdaError::ResourceNotFound(format!(
                "Function not found: {}:{n}",
                self.arn
            ))),
        }
    }

    fn parse_routing(
        &self,
        primary: &Version,
        routing: &RoutingConfig,
    ) -> Result<Option<(u32, f64)>, LambdaError> {
        if routing.len() > 1 {
            return Err(LambdaError::InvalidParameterValue(
                "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
            ));
        }
        let Some((k, w)) = routing.iter().next() else {
            return Ok(None);
        };
        let Some(Version::Published(n)) = Version::parse(k) else {
            return Err(LambdaError::Validation(format!(
                "1 validation error detected: Value '{k}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [0-9]+]"
            )));
        };
        if !(0.0..=1.0).contains(w) || w.is_nan() {
            return Err(LambdaError::Validation(format!(
                "1 validation error detected: Value '{w}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]"
            )));
        }
        if *primary == Version::Latest {
            return Err(LambdaError::InvalidParameterValue(
                "$LATEST is not supported for an alias pointing to more than 1 version".into(),
            ));
        }
        if *primary == Version::Published(n) {
            return Err(LambdaError::InvalidParameterValue(format!(
                "Additional version {n} cannot be the same as the primary version {primary}"
            )));
        }
        self.check_version(&Version::Published(n))?;
        // Both versions must share the execution role and the dead-letter queue.
        if let Version::Published(p) = primary
            && let (Some(a), Some(b)) = (self.versions.get(p), self.versions.get(&n))
        {
            for key in ["Role", "DeadLetterConfig"] {
                let (x, y) = (
                    a.snapshot.configuration.get(key),
                    b.snapshot.configuration.get(key),
                );
                if x != y {
                    return Err(LambdaError::InvalidParameterValue(format!(
                        "Version {n} and version {p} must have the same {key} to be routed by one alias"
                    )));
                }
            }
        }
        Ok(Some((n, *w)))
    }

    /// `CreateAlias`.
    pub fn create_alias(
        &mut self,
        name: &str,
        function_version: &str,
        routing: &RoutingConfig,
        description: &str,
    ) -> Result<&Alias, LambdaError> {
        check_alias_name(name)?;
        let version = parse_version(function_version)?;
        if self.aliases.contains_key(name) {
            return Err(LambdaError::ResourceConflict(format!(
                "Alias already exists: {}:{name}",
                self.arn
            )));
        }
        self.check_version(&version)?;
        let additional = self.parse_routing(&version, routing)?;
        let alias = Alias {
            name: name.to_owned(),
            function_version: version,
            additional,
            description: description.to_owned(),
            revision_id: revision(&format!("{}:{name}:0", self.arn)),
        };
        Ok(self.aliases.entry(name.to_owned()).or_insert(alias))
    }

    /// `UpdateAlias`: `None` leaves a field as it is; an empty routing map clears routing.
    pub fn update_alias(
        &mut self,
        name: &str,
        function_version: Option<&str>,
        routing: Option<&RoutingConfig>,
        revision_id: Option<&str>,
    ) -> Result<&Alias, LambdaError> {
        let Some(current) = self.aliases.get(name).cloned() else {
            return Err(LambdaError::ResourceNotFound(format!(
                "Alias not found: {}:{name}",
                self.arn
            )));
        };
        if let Some(rev) = revision_id
            && rev != current.revision_id
        {
            return Err(LambdaError::PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
            ));
        }
        let version = match function_version {
            Some(v) => parse_version(v)?,
            None => current.function_version.clone(),
        };
        self.check_version(&version)?;
        let additional = match routing {
            Some(r) => self.parse_routing(&version, r)?,
            None => match current.additional {
                Some((n, w)) => {
                    let mut r = RoutingConfig::new();
                    r.insert(n.to_string(), w);
                    self.parse_routing(&version, &r)?
                }
                None => None,
            },
        };
        let revision_id = revision(&format!("{}{version}{additional:?}", current.revision_id));
        let alias = Alias {
            function_version: version,
            additional,
            revision_id,
            ..current
        };
        self.aliases.insert(name.to_owned(), alias);
        self.aliases
            .get(name)
            .ok_or_else(|| LambdaError::ResourceNotFound(name.to_owned()))
    }

    /// `DeleteFunction` with a version qualifier.
    pub fn delete_version(&mut self, number: u32) -> Result<(), LambdaError> {
        if let Some(a) = self.aliases.values().find(|a| {
            a.function_version == Version::Published(number)
                || a.additional.is_some_and(|(n, _)| n == number)
        }) {
            return Err(LambdaError::ResourceConflict(format!(
                "Unable to delete version because the following aliases reference it: [{}]",
                a.name
            )));
        }
        self.versions.remove(&number).map(|_| ()).ok_or_else(|| {
            LambdaError::ResourceNotFound(format!("Function not found: {}:{number}", self.arn))
        })
    }
}

fn parse_version(s: &str) -> Result<Version, LambdaError> {
    Version::parse(s).ok_or_else(|| {
        LambdaError::Validation(format!(
            "1 validation error detected: Value '{s}' at 'functionVersion' failed to satisfy constraint: Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)"
        ))
    })
}

/// Alias names: `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`, 1–128 characters.
pub fn check_alias_name(name: &str) -> Result<(), LambdaError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !name.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn snap(sha: &str, mem: u32) -> Snapshot {
        Snapshot {
            code_sha256: sha.into(),
            configuration: json!({"MemorySize": mem}),
            description: String::new(),
        }
    }

    fn fv() -> FunctionVersions {
        FunctionVersions::new(
            "arn:aws:lambda:us-east-1:123456789012:function:f",
            snap("a", 128),
        )
    }

    fn routing(v: &str, w: f64) -> RoutingConfig {
        let mut r = RoutingConfig::new();
        r.insert(v.into(), w);
        r
    }

    #[test]
    fn publish_returns_the_last_version_when_nothing_changed() {
        let mut f = fv();
        let p = |f: &mut FunctionVersions| {
            f.publish(None, None, None)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(
            p(&mut f),
            Published {
                number: 1,
                created: true
            }
        );
        assert_eq!(
            p(&mut f),
            Published {
                number: 1,
                created: false
            }
        );
        f.update_latest(snap("a", 256));
        assert_eq!(
            p(&mut f),
            Published {
                number: 2,
                created: true
            }
        );
        f.update_latest(snap("b", 256));
        assert_eq!(
            p(&mut f),
            Published {
                number: 3,
                created: true
            }
        );
        // Back to an older snapshot: still a new version (compared with the last one only).
        f.update_latest(snap("a", 128));
        assert_eq!(
            p(&mut f),
            Published {
                number: 4,
                created: true
            }
        );
        // Numbers are not reused after a delete.
        assert_eq!(f.delete_version(4), Ok(()));
        f.update_latest(snap("c", 1));
        assert_eq!(
            p(&mut f),
            Published {
                number: 5,
                created: true
            }
        );
    }

    #[test]
    fn publish_preconditions() {
        let mut f = fv();
        let e = f.publish(Some("zzz"), None, None).err();
        assert!(
            matches!(e, Some(LambdaError::InvalidParameterValue(_))),
            "{e:?}"
        );
        let e = f.publish(None, Some("nope"), None).err();
        assert_eq!(
            e.map(|e| e.error_type()),
            Some("PreconditionFailedException")
        );
        let rev = f.latest_revision.clone();
        assert!(f.publish(Some("a"), Some(&rev), Some("first")).is_ok());
        assert_eq!(f.versions[&1].snapshot.description, "first");
    }

    #[test]
    fn aliases_follow_lambda_rules() {
        let mut f = fv();
        let none = RoutingConfig::new();
        assert!(f.publish(None, None, None).is_ok());
        f.update_latest(snap("b", 128));
        assert!(f.publish(None, None, None).is_ok());
        assert!(f.create_alias("live", "1", &none, "").is_ok());
        assert_eq!(
            f.create_alias("live", "1", &none, "")
                .err()
                .map(|e| e.error_type()),
            Some("ResourceConflictException")
        );
        assert_eq!(
            f.create_alias("123", "1", &none, "")
                .err()
                .map(|e| e.error_type()),
            Some("ValidationException")
        );
        assert_eq!(
            f.create_alias("x", "9", &none, "")
                .err()
                .map(|e| e.status()),
            Some(404)
        );
        assert!(f.create_alias("dev", "$LATEST", &none, "").is_ok());
        // Two versions with a weight.
        let a = f
            .update_alias("live", None, Some(&routing("2", 0.1)), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .clone();
        let routes = a.routes();
        assert_eq!(routes[0].0, Version::Published(1));
        assert!((routes[0].1 - 0.9).abs() < 1e-9);
        assert_eq!(routes[1], (Version::Published(2), 0.1));
        // Rules: weight in [0, 1], one additional version, both published, not the primary.
        let err = |f: &mut FunctionVersions, v: Option<&str>, r: RoutingConfig| {
            f.update_alias("live", v, Some(&r), None)
                .err()
                .map(|e| e.error_type())
        };
        assert_eq!(
            err(&mut f, None, routing("2", 1.5)),
            Some("ValidationException")
        );
        assert_eq!(
            err(&mut f, None, routing("2", -0.1)),
            Some("ValidationException")
        );
        let mut two = routing("2", 0.1);
        two.insert("3".into(), 0.1);
        assert_eq!(
            err(&mut f, None, two),
            Some("InvalidParameterValueException")
        );
        assert_eq!(
            err(&mut f, Some("$LATEST"), routing("2", 0.5)),
            Some("InvalidParameterValueException")
        );
        assert_eq!(
            err(&mut f, None, routing("$LATEST", 0.5)),
            Some("ValidationException")
        );
        assert_eq!(
            err(&mut f, None, routing("1", 0.5)),
            Some("InvalidParameterValueException")
        );
        assert_eq!(
            err(&mut f, None, routing("7", 0.5)),
            Some("ResourceNotFoundException")
        );
        // A routed-to version cannot be deleted; full cut-over clears routing.
        assert_eq!(
            f.delete_version(2).err().map(|e| e.error_type()),
            Some("ResourceConflictException")
        );
        let a = f
            .update_alias("live", Some("2"), Some(&RoutingConfig::new()), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .clone();
        assert_eq!(a.routes(), [(Version::Published(2), 1.0)]);
        assert!(f.delete_version(1).is_ok());
        // Versions with different roles cannot share an alias.
        f.update_latest(Snapshot {
            code_sha256: "c".into(),
            configuration: json!({"MemorySize": 128, "Role": "arn:aws:iam::1:role/other"}),
            description: String::new(),
        });
        assert_eq!(f.publish(None, None, None).map(|p| p.number), Ok(3));
        assert_eq!(
            err(&mut f, None, routing("3", 0.5)),
            Some("InvalidParameterValueException")
        );
        let stale = f
            .update_alias("live", None, None, Some("stale"))
            .err()
            .map(|e| e.status());
        assert_eq!(stale, Some(412));
    }
}
