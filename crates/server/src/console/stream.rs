//! The value-stream view (`/console/pipelines/{name}/stream[?execution=ID]`): one execution
//! followed from its commit through its builds and artefacts to the stacks it deployed, the
//! function versions those deploys published, and the traffic each version serves now in each
//! target (alias by alias, with its weight).
//!
//! How the links are made (`mod.rs`'s `value_stream` gathers them; this module only draws):
//! - a deploy action's result names the stack it deployed by its ARN (the CloudFormation
//!   runner's `external_execution_id`), which gives the target (account and region) and stack;
//! - the versions it published are the stack's `AWS::Lambda::Version` resources that reached
//!   `CREATE_COMPLETE` while that action ran (the stack's events, by the server's clock, which
//!   the executor's timestamps use too); a deploy that changed no code publishes none;
//! - the traffic is each alias of that function now: the share routed to the version.

use std::fmt::Write as _;

use super::html::{badge, esc, seg, time};

/// `(name, location)` of the artefacts an action produced.
pub(crate) type Artefacts = Vec<(String, String)>;

pub(crate) struct StreamView {
    pub(crate) pipeline: String,
    pub(crate) execution: String,
    pub(crate) status: String,
    pub(crate) started_ms: u64,
    /// `(source action, revision, summary)`.
    pub(crate) commits: Vec<(String, String, Option<String>)>,
    /// `(stage/action, status, artefacts produced as (name, location))`.
    pub(crate) builds: Vec<(String, String, Artefacts)>,
    pub(crate) deploys: Vec<DeployStep>,
}

pub(crate) struct DeployStep {
    /// `stage/action`.
    pub(crate) action: String,
    pub(crate) status: String,
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) stack: String,
    pub(crate) versions: Vec<VersionStep>,
}

pub(crate) struct VersionStep {
    pub(crate) function: String,
    pub(crate) version: u32,
    /// `(alias, the percent of its traffic on this version, the alias's routing in words)`.
    pub(crate) serving: Vec<(String, f64, String)>,
}

fn step(out: &mut String, title: &str, body: &str) {
    let _ = write!(
        out,
        "<li class=\"vs-step\"><h3>{}</h3>{body}</li>",
        esc(title)
    );
}

pub(crate) fn page(v: &StreamView) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        "<p class=\"summary\">Execution <a href=\"/console/pipelines/{}?execution={}\"><code>{}</code></a> {} <span class=\"meta\">started {}</span></p><ol class=\"stream\">",
        seg(&v.pipeline),
        seg(&v.execution),
        esc(&v.execution),
        badge(&v.status),
        esc(&time(v.started_ms))
    );
    let mut body = String::new();
    if v.commits.is_empty() {
        body.push_str(
            "<p class=\"meta\">No source revision (a manual start without a source).</p>",
        );
    }
    for (action, rev, summary) in &v.commits {
        let _ = write!(
            body,
            "<p><code>{}</code> {} <span class=\"meta\">from {}</span></p>",
            esc(rev),
            esc(summary.as_deref().unwrap_or("")),
            esc(action)
        );
    }
    step(&mut out, "Commit", &body);

    let mut body = String::new();
    if v.builds.is_empty() {
        body.push_str("<p class=\"meta\">No build actions.</p>");
    }
    for (action, status, artefacts) in &v.builds {
        let _ = write!(body, "<p>{} {}</p>", esc(action), badge(status));
        if !artefacts.is_empty() {
            body.push_str("<ul class=\"plain\">");
            for (name, location) in artefacts {
                let short: String = location.chars().take(16).collect();
                let _ = write!(
                    body,
                    "<li>artefact <code>{}</code> <span class=\"meta\" title=\"{}\">{}…</span></li>",
                    esc(name),
                    esc(location),
                    esc(&short)
                );
            }
            body.push_str("</ul>");
        }
    }
    step(&mut out, "Build and artefacts", &body);

    let mut body = String::new();
    if v.deploys.is_empty() {
        body.push_str("<p class=\"meta\">No stack deployed by this execution yet.</p>");
    } else {
        body.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">Target</th><th scope=\"col\">Stack</th><th scope=\"col\">Function version</th><th scope=\"col\">Traffic now</th></tr></thead><tbody>");
        for d in &v.deploys {
            let target = format!("{}/{}", d.account, d.region);
            let stack = format!(
                "<a href=\"/console/stacks/{}/{}/{}\">{}</a> {} <span class=\"meta\">{}</span>",
                seg(&d.account),
                seg(&d.region),
                seg(&d.stack),
                esc(&d.stack),
                badge(&d.status),
                esc(&d.action)
            );
            if d.versions.is_empty() {
                let _ = write!(
                    body,
                    "<tr><th scope=\"row\">{}</th><td>{stack}</td><td colspan=\"2\" class=\"meta\">no function version published by this deploy</td></tr>",
                    esc(&target)
                );
            }
            for vs in &d.versions {
                let serving = if vs.serving.is_empty() {
                    "<span class=\"meta\">no alias</span>".to_owned()
                } else {
                    vs.serving
                        .iter()
                        .map(|(alias, pct, routing)| {
                            format!(
                                "<div><code>{}</code> <strong>{}%</strong> <span class=\"meta\">{}</span></div>",
                                esc(alias),
                                esc(&format!("{pct:.0}")),
                                esc(routing)
                            )
                        })
                        .collect::<String>()
                };
                let _ = write!(
                    body,
                    "<tr><th scope=\"row\">{}</th><td>{stack}</td><td><a href=\"/console/functions/{}/{}/{}\">{}</a> version {}</td><td>{serving}</td></tr>",
                    esc(&target),
                    seg(&d.account),
                    seg(&d.region),
                    seg(&vs.function),
                    esc(&vs.function),
                    vs.version
                );
            }
        }
        body.push_str("</tbody></table></div>");
    }
    step(
        &mut out,
        "Stacks, versions and the traffic they serve",
        &body,
    );
    out.push_str("</ol>");
    out
}

/// `arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/ID` → `(account, region, name)`.
pub(crate) fn stack_of_arn(arn: &str) -> Option<(String, String, String)> {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    match p.as_slice() {
        ["arn", _, "cloudformation", region, account, rest] => {
            let name = rest.strip_prefix("stack/")?.split('/').next()?;
            Some(((*account).into(), (*region).into(), name.into()))
        }
        _ => None,
    }
}

/// `arn:aws:lambda:REGION:ACCOUNT:function:NAME:N` → `(name, N)`.
pub(crate) fn version_of_arn(arn: &str) -> Option<(String, u32)> {
    let p: Vec<&str> = arn.split(':').collect();
    match p.as_slice() {
        ["arn", _, "lambda", _, _, "function", name, n] => Some(((*name).into(), n.parse().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_stack_and_version() {
        assert_eq!(
            stack_of_arn("arn:aws:cloudformation:eu-west-1:111111111111:stack/app-prod/abc"),
            Some(("111111111111".into(), "eu-west-1".into(), "app-prod".into()))
        );
        assert_eq!(stack_of_arn("d-ABCDEFGHI"), None);
        assert_eq!(
            version_of_arn("arn:aws:lambda:us-east-1:123456789012:function:hello:3"),
            Some(("hello".into(), 3))
        );
        assert_eq!(
            version_of_arn("arn:aws:lambda:us-east-1:123456789012:function:hello:live"),
            None
        );
    }

    #[test]
    fn the_page_escapes_and_links() {
        let html = page(&StreamView {
            pipeline: "app".into(),
            execution: "e1".into(),
            status: "Succeeded".into(),
            started_ms: 0,
            commits: vec![("Source".into(), "abc123".into(), Some("<b>fix</b>".into()))],
            builds: vec![(
                "Build/Sam".into(),
                "Succeeded".into(),
                vec![("BuildOut".into(), "0123456789abcdef0123".into())],
            )],
            deploys: vec![DeployStep {
                action: "Prod/Deploy".into(),
                status: "Succeeded".into(),
                account: "111111111111".into(),
                region: "us-east-1".into(),
                stack: "app-prod".into(),
                versions: vec![VersionStep {
                    function: "hello".into(),
                    version: 2,
                    serving: vec![("live".into(), 10.0, "version 1 90 %, version 2 10 %".into())],
                }],
            }],
        });
        assert!(html.contains("&lt;b&gt;fix&lt;/b&gt;"));
        assert!(html.contains("href=\"/console/stacks/111111111111/us-east-1/app-prod\""));
        assert!(html.contains(
            "href=\"/console/functions/111111111111/us-east-1/hello\">hello</a> version 2"
        ));
        assert!(html.contains("<code>live</code> <strong>10%</strong>"));
    }
}
