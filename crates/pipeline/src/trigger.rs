//! What starts executions on its own: polling local branches, and GitHub-format webhooks.
//!
//! # Polling
//!
//! [`Poller::poll`] looks at the head of every git source's branch; a commit that no execution
//! started for yet (the pipeline document's `seen` bookmark, persisted with the execution it
//! starts) starts one, carrying that commit as its source revision. A pipeline seen for the
//! first time starts on its branch's current head, which is how `slipway up` runs the project
//! straight away. [`Poller::due`] says when the next poll is due by the injected clock, so the
//! loop that calls it (the server's) is the only thing that waits in real time.
//!
//! # Webhooks
//!
//! `POST /api/v1/pipelines/{name}/webhook` takes GitHub's `push` event. The body must carry a
//! valid `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>` under the configured
//! secret — compared in constant time; a missing or wrong signature (or no secret configured)
//! is a 401 and starts nothing. The pushed branch (`ref: refs/heads/<b>`) must be the source's
//! branch, and pass the pipeline's push trigger filters when it has some (excludes win over
//! includes, as CodePipeline's `GitConfiguration`); the execution then runs the pushed commit
//! (`after`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use slipway_model::pipeline::{GlobFilter, Pipeline};

use crate::exec::{ExecError, Executor};
use crate::git::{self, GitError, GitSource};

/// Polls the branches of git sources.
pub struct Poller {
    pub interval: Duration,
    last_ms: Mutex<Option<u64>>,
}

impl Poller {
    pub fn new(interval: Duration) -> Poller {
        Poller {
            interval,
            last_ms: Mutex::new(None),
        }
    }

    /// Whether a poll is due at `now_ms` (the first one always is); records it as done.
    pub fn due(&self, now_ms: u64) -> bool {
        let mut last = self.last_ms.lock().unwrap_or_else(|e| e.into_inner());
        let interval = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        match *last {
            Some(t) if now_ms < t.saturating_add(interval) => false,
            _ => {
                *last = Some(now_ms);
                true
            }
        }
    }

    /// One look at every branch; the IDs of the executions started.
    pub fn poll(&self, exec: &Arc<Executor>, source: &GitSource) -> Result<Vec<String>, PollError> {
        let mut started = Vec::new();
        for name in exec.list()? {
            let Some((doc, _)) = exec.load(&name)? else {
                continue;
            };
            for (action, repository, branch) in git::git_sources(&doc.state.pipeline) {
                let repo = source.repo_path(&repository);
                let Some(head) = git::source_head(&repo, &branch)? else {
                    continue;
                };
                if doc.seen.get(&action) == Some(&head) {
                    continue;
                }
                let summary = git::summary(&repo, &head);
                if let Some(id) = exec.trigger(&name, &action, &head, summary)? {
                    tracing::info!(pipeline = %name, commit = %head, execution = %id, "new commit");
                    started.push(id);
                }
            }
        }
        Ok(started)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Git(#[from] GitError),
}

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Equal without an early exit: the time taken does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks GitHub's `X-Hub-Signature-256` header (`sha256=<hex>`) of `body` under `secret`.
pub fn verify_signature(secret: &str, body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(given) = hex::decode(hex_sig) else {
        return false;
    };
    let want = hmac_sha256(secret.as_bytes(), body);
    constant_time_eq(&want, &given)
}

/// What a push event says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Push {
    pub branch: String,
    pub commit: String,
    pub message: Option<String>,
}

/// Reads a GitHub `push` event body. `None` for a push that is not to a branch (a tag) or that
/// deletes the branch.
pub fn parse_push(body: &[u8]) -> Result<Option<Push>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let r = v
        .get("ref")
        .and_then(Value::as_str)
        .ok_or("the push event has no 'ref'")?;
    let Some(branch) = r.strip_prefix("refs/heads/") else {
        return Ok(None);
    };
    let after = v
        .get("after")
        .and_then(Value::as_str)
        .ok_or("the push event has no 'after'")?;
    if v.get("deleted").and_then(Value::as_bool) == Some(true) || after.bytes().all(|b| b == b'0') {
        return Ok(None);
    }
    Ok(Some(Push {
        branch: branch.to_owned(),
        commit: after.to_owned(),
        message: v
            .pointer("/head_commit/message")
            .and_then(Value::as_str)
            .map(str::to_owned),
    }))
}

/// The source actions of `p` a push to `branch` starts: the git sources on that branch whose
/// push trigger filters (if the pipeline has any for them) accept it.
pub fn push_targets(p: &Pipeline, branch: &str) -> Vec<String> {
    git::git_sources(p)
        .into_iter()
        .filter(|(action, _, source_branch)| {
            let triggers: Vec<_> = p
                .triggers
                .iter()
                .filter(|t| &t.source_action_name == action)
                .collect();
            if triggers.is_empty() {
                return source_branch == branch;
            }
            triggers.iter().any(|t| {
                t.push
                    .iter()
                    .any(|f| f.branches.as_ref().is_none_or(|g| glob_filter(g, branch)))
            })
        })
        .map(|(a, _, _)| a)
        .collect()
}

/// Includes/excludes of glob patterns; excludes take priority; no includes means all.
pub fn glob_filter(f: &GlobFilter, s: &str) -> bool {
    if f.excludes.iter().any(|p| glob(p, s)) {
        return false;
    }
    f.includes.is_empty() || f.includes.iter().any(|p| glob(p, s))
}

/// `*` matches within one path segment, `**` across segments, `?` one character.
pub fn glob(pattern: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p {
            [] => s.is_empty(),
            [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| go(rest, &s[i..])),
            [b'*', rest @ ..] => (0..=s.len())
                .take_while(|&i| i == 0 || s[i - 1] != b'/')
                .any(|i| go(rest, &s[i..])),
            [b'?', rest @ ..] => !s.is_empty() && s[0] != b'/' && go(rest, &s[1..]),
            [c, rest @ ..] => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_due_by_the_injected_time() {
        let p = Poller::new(Duration::from_secs(2));
        assert!(p.due(10_000), "the first poll is always due");
        assert!(!p.due(10_000));
        assert!(!p.due(11_999));
        assert!(p.due(12_000));
        assert!(!p.due(13_000));
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_of_a_long_key_hashes_it_first() {
        // RFC 4231 case 6: a 131-byte key.
        let mac = hmac_sha256(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn signatures() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let good = format!("sha256={}", hex::encode(hmac_sha256(b"s3cret", body)));
        assert!(verify_signature("s3cret", body, Some(&good)));
        assert!(!verify_signature("other", body, Some(&good)));
        assert!(!verify_signature("s3cret", b"{}", Some(&good)));
        assert!(!verify_signature("s3cret", body, None));
        assert!(!verify_signature("s3cret", body, Some("sha1=abc")));
        assert!(!verify_signature("s3cret", body, Some("sha256=zz")));
    }

    #[test]
    fn globs() {
        assert!(glob("main", "main"));
        assert!(glob("release/*", "release/1.2"));
        assert!(!glob("release/*", "release/1/2"));
        assert!(glob("release/**", "release/1/2"));
        assert!(glob("feat-?", "feat-a"));
        let f = GlobFilter {
            includes: vec!["release/**".into()],
            excludes: vec!["release/old/**".into()],
        };
        assert!(glob_filter(&f, "release/new/x"));
        assert!(!glob_filter(&f, "release/old/x"));
        assert!(!glob_filter(&f, "main"));
    }

    #[test]
    fn push_events() {
        let p = parse_push(
            br#"{"ref":"refs/heads/main","after":"abc123","head_commit":{"message":"hi"}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.branch, "main");
        assert_eq!(p.commit, "abc123");
        assert_eq!(p.message.as_deref(), Some("hi"));
        assert_eq!(
            parse_push(br#"{"ref":"refs/tags/v1","after":"abc"}"#).unwrap(),
            None
        );
        assert!(parse_push(b"nope").is_err());
    }
}
