//! How long resolving a large template takes. Run: `cargo bench -p slipway-model --bench resolve`.
//!
//! Prints, for a generated 500-resource CloudFormation template and a SAM template that expands
//! to more than 500 resources, the median and p90 of full resolution (parse → parameters →
//! conditions → SAM → evaluation → graph), next to the median of parsing alone measured in
//! the same run (the baseline: what reading the text costs), and the target (< 50 ms).

#![allow(clippy::print_stdout)] // a benchmark prints its figures

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use slipway_model::syntax::{TagMode, parse_document};
use slipway_model::template::{Options, resolve};

const TARGET: Duration = Duration::from_millis(50);

fn cfn_template(n: usize) -> String {
    let mut t = String::from(
        "AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  Stage:\n    Type: String\n    Default: dev\n    AllowedValues: [dev, prod]\nConditions:\n  IsProd: !Equals [!Ref Stage, prod]\nMappings:\n  Sizes:\n    dev: {Memory: 128}\n    prod: {Memory: 1024}\nResources:\n",
    );
    // Groups of five: role, function, version, alias, queue — with references between them.
    for i in 0..n / 5 {
        let _ = write!(
            t,
            "  Role{i}:\n    Type: AWS::IAM::Role\n    Properties:\n      AssumeRolePolicyDocument: {{Version: '2012-10-17', Statement: []}}\n\
\x20 Fn{i}:\n    Type: AWS::Lambda::Function\n    Properties:\n      FunctionName: !Sub '${{AWS::StackName}}-fn{i}-${{Stage}}'\n      Runtime: python3.12\n      Handler: app.handler\n      Role: !GetAtt Role{i}.Arn\n      MemorySize: !FindInMap [Sizes, !Ref Stage, Memory]\n      Timeout: !If [IsProd, 30, 3]\n      Code: {{S3Bucket: b, S3Key: !Join ['/', [code, !Ref Stage, fn{i}.zip]]}}\n      Environment:\n        Variables:\n          QUEUE: !Ref Queue{i}\n          PREV: {prev}\n\
\x20 Version{i}:\n    Type: AWS::Lambda::Version\n    Properties:\n      FunctionName: !Ref Fn{i}\n\
\x20 Alias{i}:\n    Type: AWS::Lambda::Alias\n    Properties:\n      FunctionName: !Ref Fn{i}\n      FunctionVersion: !GetAtt Version{i}.Version\n      Name: live\n\
\x20 Queue{i}:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Sub ['q-${{N}}-{i}', {{N: !Ref Stage}}]\n      Tags:\n        - !If [IsProd, {{Key: prod, Value: 'yes'}}, !Ref AWS::NoValue]\n",
            prev = if i == 0 {
                "none".to_owned()
            } else {
                format!("!Ref Fn{}", i - 1)
            },
        );
    }
    t.push_str("Outputs:\n");
    for i in 0..n / 5 {
        let _ = writeln!(t, "  Out{i}:\n    Value: !GetAtt Fn{i}.Arn");
    }
    t
}

fn sam_template(functions: usize) -> String {
    let mut t = String::from(
        "Transform: AWS::Serverless-2016-10-31\nParameters:\n  Stage:\n    Type: String\n    Default: dev\nGlobals:\n  Function:\n    Runtime: python3.12\n    Timeout: 10\n    Environment:\n      Variables:\n        STAGE: !Ref Stage\nResources:\n",
    );
    for i in 0..functions {
        let _ = write!(
            t,
            "  Fn{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src/fn{i}/\n      Handler: app.handler\n      AutoPublishAlias: live\n      Events:\n        Get:\n          Type: Api\n          Properties: {{Path: /fn{i}, Method: get}}\n"
        );
    }
    t
}

fn measure(text: &str, f: impl Fn(&str)) -> (Duration, Duration) {
    for _ in 0..3 {
        f(text);
    }
    let mut times: Vec<Duration> = (0..25)
        .map(|_| {
            let start = Instant::now();
            f(text);
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[times.len() * 9 / 10])
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo test --all-targets` runs benchmarks unoptimised as a smoke check; figures are
    // only meaningful from `cargo bench`, which passes `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benchmark skipped: run `cargo bench` for figures");
        return;
    }
    for (name, text) in [
        ("cloudformation", cfn_template(500)),
        ("sam", sam_template(130)),
    ] {
        let outcome = resolve(&text, &Options::default());
        let resources = outcome.template.as_ref().map_or(0, |t| t.resources.len());
        let errors = outcome.diagnostics.iter().filter(|d| d.is_error()).count();
        if let Some(d) = outcome
            .diagnostics
            .iter()
            .find(|d| d.is_error() && d.code.as_str() != "T005")
        {
            println!("  first error: {d}");
        }
        let (parse_p50, _) = measure(&text, |t| {
            let _ = parse_document(t, TagMode::CloudFormation);
        });
        let (p50, p90) = measure(&text, |t| {
            let _ = resolve(t, &Options::default());
        });
        println!(
            "resolve {name}: {resources} resources ({} KiB, {errors} errors): p50 {} p90 {} | parse-only baseline p50 {} (resolve/parse = {:.1}x) | target < {} → {}",
            text.len() / 1024,
            ms(p50),
            ms(p90),
            ms(parse_p50),
            p50.as_secs_f64() / parse_p50.as_secs_f64(),
            ms(TARGET),
            if p50 < TARGET { "met" } else { "MISSED" },
        );
    }
}
