//! The console's view of AWS targets (the `aws` feature): the stacks page lists, under the
//! local targets' stacks, the stacks of every configured AWS target ([`crate::Config::aws_targets`],
//! which `slipway server` and `slipway up` fill from `.slipway/targets.toml`, and each
//! `aws:ACCOUNT/REGION` a pipeline's deploy action names), read through the SDK
//! (`ListStacks`; `DescribeStacks` and `DescribeStackEvents` for one stack's page at
//! `/console/aws/{target}/{stack}`), each answer kept for [`CACHE_FOR`] so that a page's live
//! re-renders do not call AWS each time. A target that cannot be read (no credentials, no
//! network, access denied) shows its error in place of its stacks; the rest of the page is
//! drawn as ever. Everything here is marked as AWS and read-only: the console changes nothing
//! on AWS.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::html::{badge, esc, seg, time};

/// How long an answer from AWS is shown before it is asked again.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(15);
/// How long one call may take before the page shows it as an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One stack's page: its status and outputs, and its events (newest last).
#[derive(Clone)]
struct StackView {
    info: slipway_aws::StackInfo,
    events: Vec<slipway_aws::Event>,
}

type Cached<T> = (Instant, Result<T, String>);

/// The configured AWS targets and what was last read from them.
pub(crate) struct AwsStacks {
    targets: Vec<(String, slipway_aws::Target)>,
    lists: Mutex<BTreeMap<String, Cached<Vec<slipway_aws::StackSummary>>>>,
    stacks: Mutex<BTreeMap<(String, String), Cached<StackView>>>,
}

impl AwsStacks {
    pub(crate) fn new(targets: Vec<(String, slipway_aws::Target)>) -> AwsStacks {
        AwsStacks {
            targets,
            lists: Mutex::new(BTreeMap::new()),
            stacks: Mutex::new(BTreeMap::new()),
        }
    }

    /// The configured targets, and those of pipelines' deploy actions (`aws:ACCOUNT/REGION`,
    /// named so), each once.
    fn all_targets(&self, pipelines: &[String]) -> Vec<(String, slipway_aws::Target)> {
        let mut all = self.targets.clone();
        for p in pipelines {
            let name = format!("aws:{p}");
            if all.iter().any(|(n, _)| *n == name) {
                continue;
            }
            if let Some((account, region)) = p.split_once('/') {
                all.push((
                    name,
                    slipway_aws::Target {
                        account: account.to_owned(),
                        region: region.to_owned(),
                        ..slipway_aws::Target::default()
                    },
                ));
            }
        }
        all
    }
}

/// Runs one SDK call from the console's blocking render thread, within [`CALL_TIMEOUT`].
fn call<T>(
    target: &slipway_aws::Target,
    f: impl AsyncFnOnce(&slipway_aws::Aws) -> Result<T, slipway_aws::Error>,
) -> Result<T, String> {
    let handle = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
    handle.block_on(async {
        let work = async {
            let aws = slipway_aws::Aws::connect(target).await?;
            f(&aws).await
        };
        match tokio::time::timeout(CALL_TIMEOUT, work).await {
            Ok(r) => r.map_err(|e| error_chain(&e)),
            Err(_) => Err(format!("no answer within {} s", CALL_TIMEOUT.as_secs())),
        }
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let _ = write!(s, ": {c}");
        cause = c.source();
    }
    s
}

fn cached<K: Ord + Clone, T: Clone>(
    cache: &Mutex<BTreeMap<K, Cached<T>>>,
    key: &K,
    fetch: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    if let Some((at, r)) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(key)
        && at.elapsed() < CACHE_FOR
    {
        return r.clone();
    }
    let r = fetch();
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.clone(), (Instant::now(), r.clone()));
    r
}

fn aws_href(target: &str, stack: &str) -> String {
    format!("/console/aws/{}/{}", seg(target), seg(stack))
}

/// The stacks page's AWS section (blocking: may call AWS). Empty without AWS targets.
pub(crate) fn stack_section(a: &AwsStacks, pipelines: &[String]) -> String {
    let targets = a.all_targets(pipelines);
    if targets.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section aria-labelledby=\"aws-h\"><h2 id=\"aws-h\">On AWS</h2><p class=\"meta\">Read from CloudFormation through the AWS SDK (kept for a few seconds); read-only.</p>",
    );
    for (name, t) in &targets {
        let list = cached(&a.lists, name, || {
            call(t, async |aws| aws.list_stacks().await)
        });
        let _ = write!(
            out,
            "<h3>{} <span class=\"meta\">AWS {}/{}</span></h3>",
            esc(name),
            esc(&t.account),
            esc(&t.region)
        );
        match list {
            Err(e) => {
                let _ = write!(
                    out,
                    "<p class=\"error\" role=\"alert\">Cannot read the stacks of {}: {}</p>",
                    esc(name),
                    esc(&e)
                );
            }
            Ok(stacks) if stacks.is_empty() => {
                out.push_str("<p class=\"empty\">No stacks.</p>");
            }
            Ok(stacks) => {
                let _ = write!(
                    out,
                    "<div class=\"scroll\"><table><caption>AWS stacks of {}</caption><thead><tr><th scope=\"col\">Stack</th><th scope=\"col\">Status</th><th scope=\"col\">Updated</th></tr></thead><tbody>",
                    esc(name)
                );
                for s in &stacks {
                    let _ = write!(
                        out,
                        "<tr><th scope=\"row\"><a href=\"{}\">{}</a></th><td>{}{}</td><td>{}</td></tr>",
                        aws_href(name, &s.name),
                        esc(&s.name),
                        badge(&s.status),
                        s.reason
                            .as_deref()
                            .map(|r| format!(" <span class=\"meta\">{}</span>", esc(r)))
                            .unwrap_or_default(),
                        esc(&time(s.updated_ms))
                    );
                }
                out.push_str("</tbody></table></div>");
            }
        }
    }
    out.push_str("</section>");
    out
}

/// `/console/aws/{target}/{stack}`: status, outputs and events of one AWS stack (blocking).
/// `Err` is (status, message) for a target that is not configured.
pub(crate) fn stack_page(
    a: &AwsStacks,
    pipelines: &[String],
    target: &str,
    stack: &str,
) -> Result<String, (u16, String)> {
    let targets = a.all_targets(pipelines);
    let Some((_, t)) = targets.iter().find(|(n, _)| n == target) else {
        return Err((404, format!("no AWS target named {target}")));
    };
    let key = (target.to_owned(), stack.to_owned());
    let view = cached(&a.stacks, &key, || {
        call(t, async |aws| {
            let info = aws.describe(stack).await?;
            let events = aws.events_since(stack, None).await?;
            Ok(StackView { info, events })
        })
    });
    let mut out = format!(
        "<p class=\"meta\">AWS {}/{} ({}), read through the AWS SDK; read-only.</p>",
        esc(&t.account),
        esc(&t.region),
        esc(target)
    );
    let v = match view {
        Ok(v) => v,
        Err(e) => {
            let _ = write!(
                out,
                "<p class=\"error\" role=\"alert\">Cannot read stack {} of {}: {}</p>",
                esc(stack),
                esc(target),
                esc(&e)
            );
            return Ok(out);
        }
    };
    let _ = write!(
        out,
        "<p class=\"summary\">{}{}</p>",
        badge(&v.info.status),
        v.info
            .reason
            .as_deref()
            .map(|r| format!(" {}", esc(r)))
            .unwrap_or_default()
    );
    out.push_str("<section aria-labelledby=\"out-h\"><h2 id=\"out-h\">Outputs</h2>");
    if v.info.outputs.is_empty() {
        out.push_str("<p class=\"meta\">No outputs.</p>");
    } else {
        out.push_str("<dl class=\"facts\">");
        for (k, value, d) in &v.info.outputs {
            let _ = write!(
                out,
                "<dt>{}</dt><dd><code>{}</code>{}</dd>",
                esc(k),
                esc(value),
                d.as_deref()
                    .map(|d| format!(" <span class=\"meta\">{}</span>", esc(d)))
                    .unwrap_or_default()
            );
        }
        out.push_str("</dl>");
    }
    out.push_str("</section>");
    let _ = write!(
        out,
        "<section aria-labelledby=\"ev-h\"><h2 id=\"ev-h\">Events</h2><p class=\"meta\">{} event(s), newest first</p><div class=\"scroll\"><table><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Logical ID</th><th scope=\"col\">Status</th><th scope=\"col\">Reason</th></tr></thead><tbody>",
        v.events.len()
    );
    for e in v.events.iter().rev().take(200) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} <span class=\"meta\">{}</span></td><td>{}</td><td>{}</td></tr>",
            esc(&time(e.timestamp_ms)),
            esc(&e.logical_id),
            esc(&e.resource_type),
            badge(&e.status),
            esc(e.reason.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</tbody></table></div></section>");
    Ok(out)
}
