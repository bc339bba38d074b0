//! JUnit XML test reports (`file-format: JUNITXML`), as pytest, Maven Surefire and most test
//! runners write them: a `<testsuites>` root holding `<testsuite>`s (or a single `<testsuite>`
//! root; suites may nest), each holding `<testcase name= classname= time=>` elements whose child
//! `<failure>`, `<error>` or `<skipped>` gives the status (none: succeeded).

use crate::record::{TestCase, TestStatus};

pub fn parse(xml: &str) -> Result<Vec<TestCase>, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML: {e}"))?;
    let root = doc.root_element();
    let mut cases = Vec::new();
    match root.tag_name().name() {
        "testsuites" | "testsuite" => suite(root, "", &mut cases),
        other => {
            return Err(format!(
                "the root element is <{other}>, not <testsuites> or <testsuite>"
            ));
        }
    }
    Ok(cases)
}

fn suite(node: roxmltree::Node<'_, '_>, parent: &str, out: &mut Vec<TestCase>) {
    let name = match (node.tag_name().name(), node.attribute("name")) {
        ("testsuite", Some(n)) => n.to_owned(),
        _ => parent.to_owned(),
    };
    for child in node.children().filter(roxmltree::Node::is_element) {
        match child.tag_name().name() {
            "testsuite" => suite(child, &name, out),
            "testcase" => out.push(case(child, &name)),
            _ => {}
        }
    }
}

fn case(node: roxmltree::Node<'_, '_>, suite: &str) -> TestCase {
    let mut status = TestStatus::Succeeded;
    let mut message = None;
    for child in node.children().filter(roxmltree::Node::is_element) {
        let s = match child.tag_name().name() {
            "failure" => TestStatus::Failed,
            "error" => TestStatus::Error,
            "skipped" => TestStatus::Skipped,
            _ => continue,
        };
        status = s;
        message = child
            .attribute("message")
            .map(str::to_owned)
            .or_else(|| child.text().map(|t| t.trim().to_owned()))
            .filter(|m| !m.is_empty());
        if s != TestStatus::Skipped {
            break;
        }
    }
    let secs: f64 = node
        .attribute("time")
        .and_then(|t| t.replace(',', "").parse().ok())
        .unwrap_or(0.0);
    TestCase {
        suite: suite.to_owned(),
        name: node.attribute("name").unwrap_or("").to_owned(),
        classname: node.attribute("classname").unwrap_or("").to_owned(),
        status,
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        duration_ms: (secs * 1000.0).round().max(0.0) as u64,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TestSummary;

    #[test]
    fn pytest_report() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="0.05">
<testcase classname="tests.test_app" name="test_ok" time="0.001" />
<testcase classname="tests.test_app" name="test_bad" time="0.012"><failure message="assert 1 == 2">def test_bad():
&gt;       assert 1 == 2</failure></testcase>
<testcase classname="tests.test_app" name="test_skip" time="0.000"><skipped type="pytest.skip" message="not today">skip</skipped></testcase>
<testcase classname="tests.test_app" name="test_err" time="0.002"><error message="fixture 'db' not found" /></testcase>
</testsuite></testsuites>"#;
        let cases = parse(xml).unwrap();
        assert_eq!(
            TestSummary::of(&cases),
            TestSummary {
                total: 4,
                succeeded: 1,
                failed: 1,
                error: 1,
                skipped: 1
            }
        );
        assert_eq!(cases[1].name, "test_bad");
        assert_eq!(cases[1].suite, "pytest");
        assert_eq!(cases[1].message.as_deref(), Some("assert 1 == 2"));
        assert_eq!(cases[1].duration_ms, 12);
    }

    #[test]
    fn single_suite_root_and_nesting() {
        let xml = r#"<testsuite name="outer"><testsuite name="inner"><testcase name="a"/></testsuite><testcase name="b"><failure>boom</failure></testcase></testsuite>"#;
        let cases = parse(xml).unwrap();
        assert_eq!(cases[0].suite, "inner");
        assert_eq!(cases[1].suite, "outer");
        assert_eq!(cases[1].message.as_deref(), Some("boom"));
        assert!(parse("<html/>").is_err());
        assert!(parse("not xml").is_err());
    }
}
