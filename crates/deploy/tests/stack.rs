//! The stack state machine: which operation each status allows, status sequences, change sets,
//! exports and `UsePreviousValue`.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde_json::json;
use slipway_deploy::plan::{Plan, PlanKind};
use slipway_deploy::stack::{
    ChangeSetRecord, ChangeSetType, ExecutionStatus, NoImports, ParameterInput, Progress,
    StackError, StackOperation, StackOutput, StackParameter, StackRecord, StackStatus,
    resolve_parameter_inputs,
};

fn stack(status: StackStatus) -> StackRecord {
    StackRecord::new("app", "123456789012/us-east-1", "arn:stack/app/1", status)
}

fn cs(name: &str) -> ChangeSetRecord {
    ChangeSetRecord {
        name: name.into(),
        id: format!("arn:changeSet/{name}"),
        change_set_type: ChangeSetType::Update,
        execution_status: ExecutionStatus::Available,
        created_ms: 0,
        plan: Plan {
            stack: "app".into(),
            kind: PlanKind::Update,
            changes: Vec::new(),
            steps: Vec::new(),
        },
        template: json!({}),
        parameters: IndexMap::new(),
        tags: BTreeMap::new(),
    }
}

fn ops() -> Vec<StackOperation> {
    vec![
        StackOperation::Create,
        StackOperation::Update,
        StackOperation::Delete,
        StackOperation::CreateChangeSet {
            name: "new".into(),
            change_set_type: ChangeSetType::Update,
        },
        StackOperation::CreateChangeSet {
            name: "new".into(),
            change_set_type: ChangeSetType::Create,
        },
        StackOperation::ExecuteChangeSet { name: "cs".into() },
        StackOperation::DeleteChangeSet { name: "cs".into() },
        StackOperation::ContinueUpdateRollback,
        StackOperation::CancelUpdateStack,
    ]
}

/// The allowed operations of each status, by name.
fn allowed(status: StackStatus) -> Vec<String> {
    let mut s = stack(status);
    s.change_sets.push(cs("cs"));
    ops()
        .iter()
        .filter(|op| StackRecord::check(Some(&s), "app", op, &NoImports).is_ok())
        .map(|op| match op {
            StackOperation::CreateChangeSet {
                change_set_type, ..
            } => format!("CreateChangeSet({change_set_type:?})"),
            other => other.name().to_owned(),
        })
        .collect()
}

#[test]
fn status_table() {
    use StackStatus as S;
    let stable = [
        "UpdateStack",
        "DeleteStack",
        "CreateChangeSet(Update)",
        "ExecuteChangeSet",
        "DeleteChangeSet",
    ];
    for st in [
        S::CreateComplete,
        S::UpdateComplete,
        S::UpdateRollbackComplete,
    ] {
        assert_eq!(allowed(st), stable, "{st}");
    }
    // ROLLBACK_COMPLETE only allows a delete (and tidying change sets).
    assert_eq!(
        allowed(S::RollbackComplete),
        ["DeleteStack", "DeleteChangeSet"]
    );
    assert_eq!(
        allowed(S::UpdateRollbackFailed),
        ["DeleteStack", "DeleteChangeSet", "ContinueUpdateRollback"]
    );
    assert_eq!(
        allowed(S::ReviewInProgress),
        [
            "DeleteStack",
            "CreateChangeSet(Create)",
            "ExecuteChangeSet",
            "DeleteChangeSet"
        ]
    );
    assert_eq!(allowed(S::UpdateInProgress), ["CancelUpdateStack"]);
    for st in StackStatus::ALL {
        if st.is_in_progress() && st != S::UpdateInProgress {
            assert!(allowed(st).is_empty(), "{st}: {:?}", allowed(st));
        }
        assert_eq!(StackStatus::parse(st.as_str()), Some(st));
        let json = serde_json::to_string(&st).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", st.as_str()));
    }
    let s = stack(S::RollbackComplete);
    assert_eq!(
        StackRecord::check(Some(&s), "app", &StackOperation::Update, &NoImports)
            .err()
            .map(|e| e.to_string()),
        Some("Stack:arn:stack/app/1 is in ROLLBACK_COMPLETE state and can not be updated.".into())
    );
}

#[test]
fn absent_or_deleted_stacks() {
    for current in [None, Some(stack(StackStatus::DeleteComplete))] {
        let c = current.as_ref();
        assert!(StackRecord::check(c, "app", &StackOperation::Create, &NoImports).is_ok());
        assert_eq!(
            StackRecord::check(c, "app", &StackOperation::Update, &NoImports),
            Err(StackError::DoesNotExist {
                stack: "app".into()
            })
        );
    }
    let live = stack(StackStatus::CreateComplete);
    assert_eq!(
        StackRecord::check(Some(&live), "app", &StackOperation::Create, &NoImports),
        Err(StackError::AlreadyExists {
            stack: "app".into()
        })
    );
}

#[test]
fn status_sequences() {
    use StackStatus as S;
    let run = |start: S, outcomes: &[Progress]| {
        let mut s = start;
        let mut seen = vec![s];
        for o in outcomes {
            s = s.advance(*o).unwrap_or_else(|e| panic!("{e}"));
            seen.push(s);
        }
        seen
    };
    let ok = Progress::Completed;
    let fail = Progress::Failed { rollback: true };
    assert_eq!(
        run(S::CreateInProgress, &[ok]),
        [S::CreateInProgress, S::CreateComplete]
    );
    assert_eq!(
        run(S::CreateInProgress, &[fail, ok]),
        [
            S::CreateInProgress,
            S::RollbackInProgress,
            S::RollbackComplete
        ]
    );
    assert_eq!(
        run(S::UpdateInProgress, &[ok, ok]),
        [
            S::UpdateInProgress,
            S::UpdateCompleteCleanupInProgress,
            S::UpdateComplete
        ]
    );
    assert_eq!(
        run(S::UpdateInProgress, &[fail, ok, ok]),
        [
            S::UpdateInProgress,
            S::UpdateRollbackInProgress,
            S::UpdateRollbackCompleteCleanupInProgress,
            S::UpdateRollbackComplete
        ]
    );
    assert_eq!(
        run(S::UpdateInProgress, &[fail, fail]),
        [
            S::UpdateInProgress,
            S::UpdateRollbackInProgress,
            S::UpdateRollbackFailed
        ]
    );
    assert_eq!(
        run(S::DeleteInProgress, &[fail]),
        [S::DeleteInProgress, S::DeleteFailed]
    );
    assert_eq!(
        S::CreateInProgress.advance(Progress::Failed { rollback: false }),
        Ok(S::CreateFailed)
    );
    assert_eq!(
        S::CreateComplete.advance(ok),
        Err(StackError::NothingInProgress {
            status: S::CreateComplete
        })
    );
}

#[test]
fn exports_in_use_block_delete() {
    let mut s = stack(StackStatus::CreateComplete);
    s.outputs.insert(
        "Url".into(),
        StackOutput {
            value: "https://x".into(),
            description: None,
            export_name: Some("app-url".into()),
        },
    );
    let mut imports: BTreeMap<String, Vec<String>> = BTreeMap::new();
    imports.insert("app-url".into(), vec!["web".into()]);
    assert_eq!(
        StackRecord::check(Some(&s), "app", &StackOperation::Delete, &imports),
        Err(StackError::ExportInUse {
            export: "app-url".into(),
            importers: vec!["web".into()]
        })
    );
    assert!(StackRecord::check(Some(&s), "app", &StackOperation::Delete, &NoImports).is_ok());
}

#[test]
fn change_sets() {
    let mut s = stack(StackStatus::UpdateComplete);
    s.change_sets.push(cs("a"));
    s.change_sets.push(cs("b"));
    let create_again = StackOperation::CreateChangeSet {
        name: "a".into(),
        change_set_type: ChangeSetType::Update,
    };
    assert_eq!(
        StackRecord::check(Some(&s), "app", &create_again, &NoImports),
        Err(StackError::ChangeSetExists {
            change_set: "a".into()
        })
    );
    let create_type = StackOperation::CreateChangeSet {
        name: "c".into(),
        change_set_type: ChangeSetType::Create,
    };
    assert!(matches!(
        StackRecord::check(Some(&s), "app", &create_type, &NoImports),
        Err(StackError::ChangeSetOnExistingStack { .. })
    ));
    let missing = StackOperation::ExecuteChangeSet { name: "zz".into() };
    assert!(matches!(
        StackRecord::check(Some(&s), "app", &missing, &NoImports),
        Err(StackError::ChangeSetNotFound { .. })
    ));
    // Executing one removes the others.
    let taken = s
        .take_change_set_for_execution("b")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taken.name, "b");
    assert_eq!(taken.execution_status, ExecutionStatus::ExecuteInProgress);
    assert!(s.change_sets.is_empty());
    // A direct update makes change sets obsolete; obsolete ones cannot run.
    s.change_sets.push(cs("d"));
    s.obsolete_change_sets();
    assert!(matches!(
        StackRecord::check(
            Some(&s),
            "app",
            &StackOperation::ExecuteChangeSet { name: "d".into() },
            &NoImports
        ),
        Err(StackError::ChangeSetNotExecutable {
            status: ExecutionStatus::Obsolete,
            ..
        })
    ));
}

#[test]
fn use_previous_value() {
    let mut s = stack(StackStatus::UpdateComplete);
    s.parameters.insert(
        "Secret".into(),
        StackParameter {
            value: "hunter2".into(),
            no_echo: true,
        },
    );
    s.parameters.insert(
        "Stage".into(),
        StackParameter {
            value: "prod".into(),
            no_echo: false,
        },
    );
    let prev = |k: &str| ParameterInput {
        key: k.into(),
        value: None,
        use_previous_value: true,
    };
    let got = resolve_parameter_inputs(
        Some(&s),
        &[
            prev("Secret"),
            ParameterInput {
                key: "Stage".into(),
                value: Some("dev".into()),
                use_previous_value: false,
            },
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.previous["Secret"], "hunter2");
    assert_eq!(got.overrides, [("Stage".to_owned(), "dev".to_owned())]);
    assert_eq!(
        resolve_parameter_inputs(Some(&s), &[prev("Nope")]),
        Err(StackError::NoPreviousValue { key: "Nope".into() })
    );
    assert_eq!(
        resolve_parameter_inputs(None, &[prev("Secret")]),
        Err(StackError::PreviousOnCreate {
            key: "Secret".into()
        })
    );
    let both = ParameterInput {
        key: "Stage".into(),
        value: Some("x".into()),
        use_previous_value: true,
    };
    assert_eq!(
        resolve_parameter_inputs(Some(&s), &[both]),
        Err(StackError::PreviousAndValue {
            key: "Stage".into()
        })
    );
    // NoEcho values are masked when described, kept for reuse.
    assert_eq!(s.described_parameters()["Secret"], "*****");
    assert_eq!(s.described_parameters()["Stage"], "prod");
    let back: StackRecord = serde_json::from_str(&serde_json::to_string(&s).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.parameters, s.parameters);
}
