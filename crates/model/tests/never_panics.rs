//! Property tests: the reader and the resolver never panic, whatever they are given — random
//! text, and (more usefully) random recombinations of real template fragments, which reach deep
//! into the evaluator and the SAM transform.

use proptest::prelude::*;
use slipway_model::syntax::{TagMode, parse_document};
use slipway_model::template::{Options, resolve};

/// Fragments that mean something to the engine, glued together at random.
const PIECES: &[&str] = &[
    "Resources:\n",
    "Parameters:\n",
    "Conditions:\n",
    "Outputs:\n",
    "Globals:\n",
    "Mappings:\n",
    "Transform: AWS::Serverless-2016-10-31\n",
    "  A:\n",
    "  B:\n",
    "    Type: AWS::SQS::Queue\n",
    "    Type: AWS::Serverless::Function\n",
    "    Type: AWS::Lambda::Function\n",
    "    Type: String\n",
    "    Default: x\n",
    "    Properties:\n",
    "      QueueName: ",
    "      Handler: app.h\n",
    "      Runtime: python3.12\n",
    "      CodeUri: src/\n",
    "      AutoPublishAlias: live\n",
    "      Events:\n",
    "        E:\n",
    "          Type: Api\n",
    "          Properties: {Path: /x, Method: get}\n",
    "      DeploymentPreference: {Type: AllAtOnce}\n",
    "!Ref A\n",
    "!Ref B\n",
    "!GetAtt A.Arn\n",
    "!Sub '${A}-${B.Arn}-${!x}'\n",
    "!Join ['-', [a, !Ref A]]\n",
    "!Select [9, [a]]\n",
    "!If [C, a, !Ref AWS::NoValue]\n",
    "!Split [',', !Ref A]\n",
    "!FindInMap [M, a, b]\n",
    "!ImportValue x\n",
    "!Base64 abc\n",
    "!Cidr [10.0.0.0/16, 3, 8]\n",
    "!GetAZs ''\n",
    "  C: !Equals [a, !Ref A]\n",
    "  D: !Not [!Condition C]\n",
    "  E: !And [!Condition D, !Condition E]\n",
    "    Value: !Ref A\n",
    "    Condition: C\n",
    "    DependsOn: [A, B]\n",
    "{{resolve:ssm:/x}}\n",
    "  Function:\n",
    "    Timeout: 5\n",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ":",
    "&a ",
    "*a ",
    "!!str ",
    "\t",
    "'",
    "\"",
    "\n",
    "  ",
    "#",
    "---\n",
    "? ",
    ",",
    "\u{feff}",
    "é",
    "${",
    "}}",
];

fn glued() -> impl Strategy<Value = String> {
    proptest::collection::vec(0..PIECES.len(), 0..60)
        .prop_map(|ix| ix.into_iter().map(|i| PIECES[i]).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn resolver_never_panics_on_fragments(text in glued()) {
        let _ = resolve(&text, &Options::default());
    }

    #[test]
    fn reader_never_panics_on_any_text(text in "\\PC{0,200}") {
        let _ = parse_document(&text, TagMode::CloudFormation);
        let _ = resolve(&text, &Options::default());
    }

    #[test]
    fn json_reader_never_panics(text in "[{}\\[\\]\":,0-9a-z \\\\ntrue]{0,120}") {
        let doc = format!("{{{text}");
        let _ = parse_document(&doc, TagMode::CloudFormation);
    }
}

/// Deep nesting is refused with a diagnostic, not a stack overflow.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let p = parse_document(&deep, TagMode::CloudFormation);
    assert!(p.root.is_none());
    let deep_json = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let p = parse_document(&deep_json, TagMode::CloudFormation);
    assert!(p.root.is_none());
}
