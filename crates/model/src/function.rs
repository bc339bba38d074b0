//! What it takes to run one version of one function: the resolved configuration that the
//! template engine produces from `AWS::Lambda::Function` (or SAM's `AWS::Serverless::Function`)
//! and that the runtime, the gateway and the deploy engine share.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `$LATEST` or a published version number.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Version {
    Latest,
    Published(u32),
}

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        if s == "$LATEST" {
            return Some(Version::Latest);
        }
        if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok().map(Version::Published)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("$LATEST"),
            Version::Published(n) => write!(f, "{n}"),
        }
    }
}

/// Where the function lives: an account and a region, as in an ARN.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Location {
    pub partition: String,
    pub account: String,
    pub region: String,
}

impl Default for Location {
    fn default() -> Self {
        Self {
            partition: "aws".into(),
            account: "123456789012".into(),
            region: "us-east-1".into(),
        }
    }
}

/// The configuration of one function version, ready to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionSpec {
    /// The physical function name (`FunctionName`, or the generated one).
    pub name: String,
    pub version: Version,
    pub location: Location,
    /// `python3.12`, `provided.al2023`, …
    pub runtime: String,
    /// `app.handler`; ignored by `provided*` runtimes except as `_HANDLER`.
    pub handler: String,
    /// The unpacked code directory (`LAMBDA_TASK_ROOT`).
    pub code_dir: PathBuf,
    /// Unpacked layer directories, in the order the function lists them (later ones win).
    pub layers: Vec<PathBuf>,
    pub memory_mb: u32,
    pub timeout_secs: u32,
    pub environment: BTreeMap<String, String>,
    pub reserved_concurrency: Option<u32>,
    pub architectures: Vec<String>,
    pub description: String,
}

impl FunctionSpec {
    pub const DEFAULT_MEMORY_MB: u32 = 128;
    pub const DEFAULT_TIMEOUT_SECS: u32 = 3;

    pub fn arn(&self) -> String {
        let Location {
            partition,
            account,
            region,
        } = &self.location;
        format!(
            "arn:{partition}:lambda:{region}:{account}:function:{}",
            self.name
        )
    }

    pub fn qualified_arn(&self, qualifier: &str) -> String {
        format!("{}:{qualifier}", self.arn())
    }

    pub fn log_group(&self) -> String {
        format!("/aws/lambda/{}", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(Version::parse("$LATEST"), Some(Version::Latest));
        assert_eq!(Version::parse("12"), Some(Version::Published(12)));
        assert_eq!(Version::parse("012"), None);
        assert_eq!(Version::parse("live"), None);
        assert_eq!(Version::Published(3).to_string(), "3");
    }
}
