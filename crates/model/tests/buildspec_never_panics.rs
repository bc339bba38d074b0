//! Property tests: the buildspec parser never panics, on random text or on random
//! recombinations of real buildspec fragments, and every error it reports has a position.

use proptest::prelude::*;
use slipway_model::buildspec::parse;

const PIECES: &[&str] = &[
    "version: 0.2\n",
    "version: 0.1\n",
    "version: 1.10\n",
    "env:\n",
    "  shell: bash\n",
    "  variables:\n",
    "  parameter-store:\n",
    "  secrets-manager:\n",
    "    A: arn:aws:secretsmanager:r:1:secret:x-AbCdEf:k::v\n",
    "    B: a:b:c:d:e\n",
    "    CODEBUILD_X: y\n",
    "  exported-variables: [A, AWS_X]\n",
    "phases:\n",
    "  install:\n",
    "  pre_build:\n",
    "  build:\n",
    "  post_build:\n",
    "    runtime-versions: {python: 3.12}\n",
    "    on-failure: ABORT\n",
    "    commands:\n",
    "    finally:\n",
    "      - echo \"a: b\"\n",
    "      - make\n",
    "reports:\n",
    "  r:\n",
    "    file-format: JUNITXML\n",
    "artifacts:\n",
    "  files: ['**/*']\n",
    "  secondary-artifacts:\n",
    "    s: {files: [x], discard-paths: yes}\n",
    "cache:\n",
    "  paths: [/root/x]\n",
    "run-as: x\n",
    "batch: {}\n",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "  ",
    "\t",
    "!Ref x\n",
    "&a ",
    "*a\n",
    "\n",
];

fn check(text: &str) {
    let out = parse(text, "buildspec.yml");
    if out.buildspec.is_none() {
        assert!(
            out.diagnostics.iter().any(|d| d.is_error()),
            "no buildspec and no error for {text:?}"
        );
    }
    for d in &out.diagnostics {
        assert!(
            d.line.is_some(),
            "diagnostic without a position: {d} for {text:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn fragments_never_panic(idx in proptest::collection::vec(0..PIECES.len(), 0..40)) {
        let text: String = idx.iter().map(|&i| PIECES[i]).collect();
        check(&text);
    }
}
