//! The execution rules, one test per rule, on data: a pipeline read from `slipway.yaml`, a
//! sequence of events, and the state and commands each step gives.

use std::collections::BTreeMap;

use slipway_model::pipeline::{Pipeline, parse_file};
use slipway_pipeline::{
    ActionResult, ActionStatus, ApprovalDecision, Artifact, Command, Event, ExecutionStatus,
    ExecutionType, PipelineState, Position, RetryMode, StageStatus, StepError, StopMode, Timestamp,
    step,
};

const DELIVERY: &str = r##"
name: app
source: {git: {branch: main}}
stages:
  - name: Build
    build: buildspec.yml
  - name: Staging
    deploy: {stack: app-staging, parameters: {Commit: "#{SourceVariables.CommitId}", Run: "#{codepipeline.PipelineExecutionId}"}}
  - name: Approve
    approval: Promote?
  - name: Prod
    deploy: {stack: app-prod, targets: [111111111111/us-east-1, 111111111111/eu-west-1]}
"##;

const CHECKS: &str = r##"
name: checks
source: {git: {branch: main}}
stages:
  - name: Checks
    actions:
      - {name: Unit, test: {buildspec: unit.yml, input: SourceOutput}}
      - {name: Lint, test: {buildspec: lint.yml, input: SourceOutput}}
      - {name: Report, invoke: {function: report}, run-order: 2}
"##;

fn pipeline(yaml: &str) -> Pipeline {
    let mut o = parse_file(yaml, "slipway.yaml", "p");
    assert!(!o.has_errors(), "{:#?}", o.diagnostics);
    o.pipelines.remove(0)
}

fn with_mode(yaml: &str, mode: &str) -> String {
    yaml.replacen("source:", &format!("mode: {mode}\nsource:"), 1)
}

struct H {
    st: PipelineState,
    now: u64,
}

impl H {
    fn new(yaml: &str) -> H {
        H {
            st: PipelineState::new(pipeline(yaml)),
            now: 1_000_000,
        }
    }

    // Events are written inline at every call; taking them by value reads better.
    #[allow(clippy::needless_pass_by_value)]
    fn try_ev(&mut self, e: Event) -> Result<Vec<Command>, StepError> {
        let (st, cmds) = step(&self.st, &e, Timestamp(self.now))?;
        // Every state survives a crash: it serialises and reads back the same.
        let json = serde_json::to_string(&st).unwrap();
        let back: PipelineState = serde_json::from_str(&json).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&st).unwrap()
        );
        self.st = st;
        Ok(cmds)
    }

    fn ev(&mut self, e: Event) -> Vec<Command> {
        self.try_ev(e).unwrap()
    }

    fn start(&mut self, id: &str) -> Vec<Command> {
        self.ev(Event::Start {
            execution_id: id.into(),
            source_revisions: Vec::new(),
            variables: BTreeMap::new(),
            execution_type: ExecutionType::Standard,
        })
    }

    /// Succeeds an action; a source reports a commit ID.
    fn succeed(&mut self, id: &str, stage: &str, action: &str) -> Vec<Command> {
        let v = if stage == "Source" {
            vars(&[("CommitId", "c0ffee")])
        } else {
            BTreeMap::new()
        };
        self.try_succeed(id, stage, action, v).unwrap()
    }

    fn try_succeed(
        &mut self,
        id: &str,
        stage: &str,
        action: &str,
        variables: BTreeMap<String, String>,
    ) -> Result<Vec<Command>, StepError> {
        let outputs = self
            .st
            .pipeline
            .stage(stage)
            .and_then(|(_, s)| s.actions.iter().find(|a| a.name == action))
            .map(|a| {
                a.output_artifacts
                    .iter()
                    .map(|n| Artifact {
                        name: n.clone(),
                        location: format!("{id}/{n}"),
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.try_ev(Event::ActionSucceeded {
            execution_id: id.into(),
            stage: stage.into(),
            action: action.into(),
            result: ActionResult {
                outputs,
                variables,
                ..ActionResult::default()
            },
        })
    }

    fn fail(&mut self, id: &str, stage: &str, action: &str) -> Vec<Command> {
        self.ev(Event::ActionFailed {
            execution_id: id.into(),
            stage: stage.into(),
            action: action.into(),
            message: "exit status 1".into(),
        })
    }

    /// Source then Build succeed for `id`.
    fn through_build(&mut self, id: &str) {
        self.succeed(id, "Source", "Source");
        self.succeed(id, "Build", "Build");
    }

    fn status(&self, id: &str) -> ExecutionStatus {
        self.st.execution(id).unwrap().status
    }

    fn action(&self, id: &str, stage: &str, action: &str) -> ActionStatus {
        self.st
            .execution(id)
            .unwrap()
            .action(stage, action)
            .unwrap()
            .status
    }

    fn position(&self, id: &str) -> Position {
        self.st.execution(id).unwrap().position
    }

    fn token(&self, id: &str, stage: &str, action: &str) -> String {
        self.st
            .execution(id)
            .unwrap()
            .action(stage, action)
            .unwrap()
            .token
            .clone()
            .unwrap()
    }
}

fn started(cmds: &[Command]) -> Vec<String> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::StartAction(s) => Some(format!("{}.{}", s.stage, s.action)),
            _ => None,
        })
        .collect()
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn commit_to_prod_with_resolved_configuration_and_a_parallel_matrix() {
    let mut h = H::new(DELIVERY);
    let cmds = h.start("e1");
    assert_eq!(started(&cmds), ["Source.Source"]);
    assert!(cmds.contains(&Command::LockStage {
        stage: "Source".into(),
        execution_id: "e1".into()
    }));
    let cmds = h
        .try_succeed("e1", "Source", "Source", vars(&[("CommitId", "abc123")]))
        .unwrap();
    assert!(cmds.contains(&Command::UnlockStage {
        stage: "Source".into(),
        execution_id: "e1".into()
    }));
    assert_eq!(started(&cmds), ["Build.Build"]);
    let cmds = h.succeed("e1", "Build", "Build");
    let Some(Command::StartAction(deploy)) =
        cmds.iter().find(|c| matches!(c, Command::StartAction(_)))
    else {
        panic!("no deploy started: {cmds:?}")
    };
    assert_eq!(deploy.action, "Deploy");
    assert_eq!(
        deploy.configuration["ParameterOverrides"],
        r#"{"Commit":"abc123","Run":"e1"}"#
    );
    assert_eq!(deploy.inputs[0].location, "e1/BuildOutput");
    assert_eq!(deploy.target.as_deref(), Some("dev"));
    let cmds = h.succeed("e1", "Staging", "Deploy");
    assert_eq!(started(&cmds), ["Approve.Approval"]);
    let token = h.token("e1", "Approve", "Approval");
    h.now += 60_000;
    let cmds = h.ev(Event::ApprovalResult {
        execution_id: "e1".into(),
        stage: "Approve".into(),
        action: "Approval".into(),
        token,
        decision: ApprovalDecision {
            approved: true,
            by: "alice".into(),
            comment: Some("ship it".into()),
        },
    });
    // The matrix: both targets start in the same step.
    assert_eq!(
        started(&cmds),
        [
            "Prod.Deploy-111111111111-us-east-1",
            "Prod.Deploy-111111111111-eu-west-1"
        ]
    );
    let regions: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::StartAction(s) => s.region.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(regions, ["us-east-1", "eu-west-1"]);
    h.succeed("e1", "Prod", "Deploy-111111111111-eu-west-1");
    assert_eq!(h.status("e1"), ExecutionStatus::InProgress);
    let cmds = h.succeed("e1", "Prod", "Deploy-111111111111-us-east-1");
    assert!(cmds.contains(&Command::ExecutionEnded {
        execution_id: "e1".into(),
        status: ExecutionStatus::Succeeded
    }));
    let x = h.st.execution("e1").unwrap();
    assert_eq!(x.status, ExecutionStatus::Succeeded);
    assert_eq!(x.position, Position::Finished);
    let approval = x
        .action("Approve", "Approval")
        .unwrap()
        .approval
        .clone()
        .unwrap();
    assert_eq!(approval.by, "alice");
    assert_eq!(approval.at, Timestamp(1_060_000));
    assert!(h.st.locks.iter().all(Option::is_none));
}

#[test]
fn higher_run_orders_start_after_every_lower_one_succeeded() {
    let mut h = H::new(CHECKS);
    h.start("e1");
    let cmds = h.succeed("e1", "Source", "Source");
    assert_eq!(started(&cmds), ["Checks.Unit", "Checks.Lint"]);
    let cmds = h.succeed("e1", "Checks", "Unit");
    assert!(started(&cmds).is_empty());
    let cmds = h.succeed("e1", "Checks", "Lint");
    assert_eq!(started(&cmds), ["Checks.Report"]);
}

#[test]
fn a_failure_lets_its_group_finish_then_fails_the_stage_and_unlocks_it() {
    let mut h = H::new(CHECKS);
    h.start("e1");
    h.succeed("e1", "Source", "Source");
    h.fail("e1", "Checks", "Unit");
    assert_eq!(h.status("e1"), ExecutionStatus::InProgress);
    assert_eq!(h.action("e1", "Checks", "Lint"), ActionStatus::InProgress);
    let cmds = h.succeed("e1", "Checks", "Lint");
    assert!(started(&cmds).is_empty(), "Report must not start");
    assert_eq!(h.status("e1"), ExecutionStatus::Failed);
    assert_eq!(h.position("e1"), Position::Halted { stage: 1 });
    assert_eq!(
        h.st.execution("e1").unwrap().stages[1].status,
        StageStatus::Failed
    );
    assert_eq!(h.action("e1", "Checks", "Report"), ActionStatus::NotStarted);
    assert!(cmds.contains(&Command::UnlockStage {
        stage: "Checks".into(),
        execution_id: "e1".into()
    }));
}

#[test]
fn superseded_a_newer_execution_overtakes_the_one_waiting_between_stages() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.succeed("a", "Source", "Source");
    // a holds Build; b and then c finish Source and wait in front of it.
    h.start("b");
    h.succeed("b", "Source", "Source");
    assert_eq!(h.position("b"), Position::Waiting { stage: 1 });
    h.start("c");
    let cmds = h.succeed("c", "Source", "Source");
    assert!(cmds.contains(&Command::ExecutionEnded {
        execution_id: "b".into(),
        status: ExecutionStatus::Superseded
    }));
    assert_eq!(h.status("b"), ExecutionStatus::Superseded);
    assert_eq!(
        h.st.execution("b").unwrap().superseded_by.as_deref(),
        Some("c")
    );
    // Only between stages: a, in progress, is not overtaken.
    assert_eq!(h.status("a"), ExecutionStatus::InProgress);
    let cmds = h.succeed("a", "Build", "Build");
    assert_eq!(started(&cmds), ["Staging.Deploy", "Build.Build"]);
    assert_eq!(h.st.lock_holder("Build"), Some("c"));
    // A superseded execution cannot be retried.
    assert_eq!(
        h.try_ev(Event::Retry {
            execution_id: "b".into(),
            stage: "Build".into(),
            mode: RetryMode::FailedActions
        }),
        Err(StepError::NotRetryable {
            execution_id: "b".into(),
            status: ExecutionStatus::Superseded
        })
    );
}

#[test]
fn an_execution_entering_a_failed_stage_supersedes_the_failed_one() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.succeed("a", "Source", "Source");
    h.fail("a", "Build", "Build");
    assert_eq!(h.status("a"), ExecutionStatus::Failed);
    h.start("b");
    h.succeed("b", "Source", "Source");
    assert_eq!(h.st.lock_holder("Build"), Some("b"));
    let a = h.st.execution("a").unwrap();
    assert_eq!(a.status, ExecutionStatus::Failed);
    assert_eq!(a.superseded_by.as_deref(), Some("b"));
    assert_eq!(
        h.try_ev(Event::Retry {
            execution_id: "a".into(),
            stage: "Build".into(),
            mode: RetryMode::FailedActions
        }),
        Err(StepError::Superseded {
            execution_id: "a".into(),
            by: "b".into()
        })
    );
}

#[test]
fn retry_failed_actions_reruns_only_what_did_not_succeed() {
    let mut h = H::new(CHECKS);
    h.start("e1");
    h.succeed("e1", "Source", "Source");
    h.fail("e1", "Checks", "Unit");
    h.succeed("e1", "Checks", "Lint");
    let cmds = h.ev(Event::Retry {
        execution_id: "e1".into(),
        stage: "Checks".into(),
        mode: RetryMode::FailedActions,
    });
    assert_eq!(started(&cmds), ["Checks.Unit"]);
    assert!(cmds.contains(&Command::LockStage {
        stage: "Checks".into(),
        execution_id: "e1".into()
    }));
    let x = h.st.execution("e1").unwrap();
    assert_eq!(x.status, ExecutionStatus::InProgress);
    assert_eq!(x.action("Checks", "Unit").unwrap().attempt, 2);
    assert_eq!(x.action("Checks", "Lint").unwrap().attempt, 1);
    let cmds = h.succeed("e1", "Checks", "Unit");
    assert_eq!(started(&cmds), ["Checks.Report"]);
}

#[test]
fn retry_all_actions_restarts_the_stage_from_its_first_run_order() {
    let mut h = H::new(CHECKS);
    h.start("e1");
    h.succeed("e1", "Source", "Source");
    h.succeed("e1", "Checks", "Unit");
    h.succeed("e1", "Checks", "Lint");
    h.fail("e1", "Checks", "Report");
    let cmds = h.ev(Event::Retry {
        execution_id: "e1".into(),
        stage: "Checks".into(),
        mode: RetryMode::AllActions,
    });
    assert_eq!(started(&cmds), ["Checks.Unit", "Checks.Lint"]);
}

#[test]
fn retry_is_refused_while_running_for_another_stage_or_after_a_structure_change() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.succeed("a", "Source", "Source");
    let retry = |stage: &str| Event::Retry {
        execution_id: "a".into(),
        stage: stage.into(),
        mode: RetryMode::FailedActions,
    };
    assert_eq!(
        h.try_ev(retry("Build")),
        Err(StepError::NotRetryable {
            execution_id: "a".into(),
            status: ExecutionStatus::InProgress
        })
    );
    h.fail("a", "Build", "Build");
    assert_eq!(
        h.try_ev(retry("Staging")),
        Err(StepError::StageNotFailed {
            execution_id: "a".into(),
            stage: "Staging".into()
        })
    );
    assert_eq!(
        h.try_ev(retry("Nowhere")),
        Err(StepError::UnknownStage("Nowhere".into()))
    );
    h.st.pipeline.version = 2;
    assert_eq!(
        h.try_ev(retry("Build")),
        Err(StepError::PipelineChanged {
            execution_id: "a".into(),
            version: 1,
            current: 2
        })
    );
}

#[test]
fn queued_executions_enter_in_arrival_order_and_none_is_superseded() {
    let mut h = H::new(&with_mode(DELIVERY, "queued"));
    h.start("a");
    h.succeed("a", "Source", "Source");
    h.start("b");
    h.succeed("b", "Source", "Source");
    h.start("c");
    h.succeed("c", "Source", "Source");
    assert_eq!(h.position("b"), Position::Waiting { stage: 1 });
    assert_eq!(h.position("c"), Position::Waiting { stage: 1 });
    h.succeed("a", "Build", "Build");
    assert_eq!(h.st.lock_holder("Build"), Some("b"));
    h.succeed("b", "Build", "Build");
    assert_eq!(h.st.lock_holder("Build"), Some("c"));
    assert!(
        h.st.executions
            .iter()
            .all(|x| x.status == ExecutionStatus::InProgress)
    );
}

#[test]
fn parallel_executions_run_independently_without_locks() {
    let mut h = H::new(&with_mode(DELIVERY, "parallel"));
    let mut cmds = h.start("a");
    cmds.extend(h.succeed("a", "Source", "Source"));
    cmds.extend(h.start("b"));
    cmds.extend(h.succeed("b", "Source", "Source"));
    assert_eq!(h.position("a"), Position::Running { stage: 1 });
    assert_eq!(h.position("b"), Position::Running { stage: 1 });
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, Command::LockStage { .. } | Command::UnlockStage { .. }))
    );
}

#[test]
fn stop_and_wait_lets_in_progress_actions_finish_then_stops() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.succeed("a", "Source", "Source");
    h.ev(Event::Stop {
        execution_id: "a".into(),
        mode: StopMode::Wait,
        reason: Some("wrong commit".into()),
    });
    assert_eq!(h.status("a"), ExecutionStatus::Stopping);
    assert_eq!(
        h.try_ev(Event::Stop {
            execution_id: "a".into(),
            mode: StopMode::Wait,
            reason: None
        }),
        Err(StepError::ExecutionNotInProgress {
            execution_id: "a".into(),
            status: ExecutionStatus::Stopping
        })
    );
    let cmds = h.succeed("a", "Build", "Build");
    assert!(started(&cmds).is_empty());
    assert_eq!(h.status("a"), ExecutionStatus::Stopped);
    assert_eq!(h.st.lock_holder("Build"), None);
    // A stopped stage is retryable.
    let cmds = h.ev(Event::Retry {
        execution_id: "a".into(),
        stage: "Build".into(),
        mode: RetryMode::FailedActions,
    });
    assert_eq!(started(&cmds), ["Staging.Deploy"]);
}

#[test]
fn stop_and_abandon_abandons_in_progress_actions_at_once() {
    let mut h = H::new(CHECKS);
    h.start("e1");
    h.succeed("e1", "Source", "Source");
    let cmds = h.ev(Event::Stop {
        execution_id: "e1".into(),
        mode: StopMode::Abandon,
        reason: None,
    });
    let abandoned: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::AbandonAction { action, .. } => Some(action.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(abandoned, ["Unit", "Lint"]);
    assert_eq!(h.status("e1"), ExecutionStatus::Stopped);
    assert_eq!(h.action("e1", "Checks", "Unit"), ActionStatus::Abandoned);
    // A result arriving late is refused.
    assert!(matches!(
        h.try_succeed("e1", "Checks", "Unit", BTreeMap::new()),
        Err(StepError::NotInStage { .. })
    ));
    let cmds = h.ev(Event::Retry {
        execution_id: "e1".into(),
        stage: "Checks".into(),
        mode: RetryMode::FailedActions,
    });
    assert_eq!(started(&cmds), ["Checks.Unit", "Checks.Lint"]);
}

#[test]
fn a_waiting_execution_stops_at_once() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.succeed("a", "Source", "Source");
    h.start("b");
    h.succeed("b", "Source", "Source");
    h.ev(Event::Stop {
        execution_id: "b".into(),
        mode: StopMode::Wait,
        reason: None,
    });
    assert_eq!(h.status("b"), ExecutionStatus::Stopped);
    assert_eq!(h.position("b"), Position::Finished);
}

#[test]
fn approvals_check_the_token_and_a_rejection_fails_the_action() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.through_build("a");
    h.succeed("a", "Staging", "Deploy");
    let token = h.token("a", "Approve", "Approval");
    let decide = |token: &str, approved: bool| Event::ApprovalResult {
        execution_id: "a".into(),
        stage: "Approve".into(),
        action: "Approval".into(),
        token: token.into(),
        decision: ApprovalDecision {
            approved,
            by: "bob".into(),
            comment: None,
        },
    };
    assert_eq!(
        h.try_ev(decide("forged", true)),
        Err(StepError::WrongApprovalToken {
            stage: "Approve".into(),
            action: "Approval".into()
        })
    );
    assert_eq!(
        h.try_succeed("a", "Approve", "Approval", BTreeMap::new()),
        Err(StepError::IsAnApproval {
            stage: "Approve".into(),
            action: "Approval".into()
        })
    );
    h.ev(decide(&token, false));
    assert_eq!(h.status("a"), ExecutionStatus::Failed);
    let x = h.st.execution("a").unwrap();
    let a = x.action("Approve", "Approval").unwrap();
    assert_eq!(a.error.as_deref(), Some("Rejected by bob"));
    assert!(!a.approval.as_ref().unwrap().approved);
    // Approving something that is not an approval.
    h.start("b");
    h.succeed("b", "Source", "Source");
    assert_eq!(
        h.try_ev(Event::ApprovalResult {
            execution_id: "b".into(),
            stage: "Build".into(),
            action: "Build".into(),
            token: "x".into(),
            decision: ApprovalDecision {
                approved: true,
                by: "bob".into(),
                comment: None
            }
        }),
        Err(StepError::NotAnApproval {
            stage: "Build".into(),
            action: "Build".into()
        })
    );
}

#[test]
fn an_unanswered_approval_fails_after_seven_days() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.through_build("a");
    let cmds = h.succeed("a", "Staging", "Deploy");
    let seven_days = 7 * 24 * 60 * 60 * 1000;
    assert!(cmds.contains(&Command::ScheduleWakeup {
        at: Timestamp(h.now + seven_days)
    }));
    h.now += seven_days - 1;
    h.ev(Event::Tick);
    assert_eq!(h.status("a"), ExecutionStatus::InProgress);
    h.now += 1;
    h.ev(Event::Tick);
    assert_eq!(h.status("a"), ExecutionStatus::Failed);
    assert!(
        h.st.execution("a")
            .unwrap()
            .action("Approve", "Approval")
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("timed out")
    );
}

#[test]
fn an_action_past_its_timeout_is_abandoned_and_failed() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.succeed("a", "Source", "Source");
    h.now += 8 * 60 * 60 * 1000;
    let cmds = h.ev(Event::Tick);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Command::AbandonAction { action, .. } if action == "Build"))
    );
    assert_eq!(h.status("a"), ExecutionStatus::Failed);
}

#[test]
fn a_disabled_transition_holds_the_latest_execution_until_enabled() {
    let mut h = H::new(DELIVERY);
    h.ev(Event::DisableTransition {
        stage: "Staging".into(),
        reason: "freeze".into(),
    });
    assert_eq!(
        h.try_ev(Event::DisableTransition {
            stage: "Staging".into(),
            reason: "again".into()
        }),
        Err(StepError::TransitionAlreadyDisabled("Staging".into()))
    );
    assert_eq!(
        h.try_ev(Event::DisableTransition {
            stage: "Source".into(),
            reason: "x".into()
        }),
        Err(StepError::NoInboundTransition("Source".into()))
    );
    h.start("a");
    h.through_build("a");
    assert_eq!(h.position("a"), Position::Waiting { stage: 2 });
    h.start("b");
    h.through_build("b");
    assert_eq!(h.status("a"), ExecutionStatus::Superseded);
    let cmds = h.ev(Event::EnableTransition {
        stage: "Staging".into(),
    });
    assert_eq!(started(&cmds), ["Staging.Deploy"]);
    assert_eq!(h.st.lock_holder("Staging"), Some("b"));
    assert_eq!(
        h.try_ev(Event::EnableTransition {
            stage: "Staging".into()
        }),
        Err(StepError::TransitionAlreadyEnabled("Staging".into()))
    );
}

#[test]
fn a_variable_that_cannot_be_resolved_fails_the_action() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.try_succeed("a", "Source", "Source", BTreeMap::new())
        .unwrap(); // no CommitId
    let cmds = h.succeed("a", "Build", "Build");
    assert!(started(&cmds).is_empty());
    assert_eq!(h.status("a"), ExecutionStatus::Failed);
    let err =
        h.st.execution("a")
            .unwrap()
            .action("Staging", "Deploy")
            .unwrap()
            .error
            .clone()
            .unwrap();
    assert!(err.contains("#{SourceVariables.CommitId}"), "{err}");
}

#[test]
fn operations_the_state_does_not_allow_are_typed_errors() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    assert_eq!(
        h.try_ev(Event::Start {
            execution_id: "a".into(),
            source_revisions: Vec::new(),
            variables: BTreeMap::new(),
            execution_type: ExecutionType::Standard
        }),
        Err(StepError::DuplicateExecution("a".into()))
    );
    assert_eq!(
        h.try_ev(Event::Start {
            execution_id: "b".into(),
            source_revisions: Vec::new(),
            variables: vars(&[("Nope", "1")]),
            execution_type: ExecutionType::Standard
        }),
        Err(StepError::UnknownVariable("Nope".into()))
    );
    assert_eq!(
        h.try_succeed("a", "Build", "Build", BTreeMap::new()),
        Err(StepError::NotInStage {
            execution_id: "a".into(),
            stage: "Build".into()
        })
    );
    assert_eq!(
        h.try_succeed("zz", "Build", "Build", BTreeMap::new()),
        Err(StepError::UnknownExecution("zz".into()))
    );
    assert!(matches!(
        h.try_ev(Event::ActionSucceeded {
            execution_id: "a".into(),
            stage: "Source".into(),
            action: "Source".into(),
            result: ActionResult {
                outputs: vec![Artifact {
                    name: "Other".into(),
                    location: "x".into()
                }],
                ..ActionResult::default()
            }
        }),
        Err(StepError::UnknownOutputArtifact { .. })
    ));
    h.succeed("a", "Source", "Source");
    h.fail("a", "Build", "Build");
    assert_eq!(
        h.try_ev(Event::Stop {
            execution_id: "a".into(),
            mode: StopMode::Abandon,
            reason: None
        }),
        Err(StepError::ExecutionNotInProgress {
            execution_id: "a".into(),
            status: ExecutionStatus::Failed
        })
    );
}

#[test]
fn pipeline_variables_take_defaults_and_start_time_overrides() {
    let yaml = r##"
name: vars
variables: {Env: dev}
source: {git: {branch: main}}
stages:
  - name: Deploy
    deploy: {stack: "app-#{variables.Env}"}
"##;
    let mut h = H::new(yaml);
    h.ev(Event::Start {
        execution_id: "a".into(),
        source_revisions: Vec::new(),
        variables: vars(&[("Env", "qa")]),
        execution_type: ExecutionType::Standard,
    });
    let cmds = h.succeed("a", "Source", "Source");
    let Some(Command::StartAction(s)) = cmds.iter().find(|c| matches!(c, Command::StartAction(_)))
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(s.configuration["StackName"], "app-qa");
}

#[test]
fn serving_answers_which_execution_and_commit_serve_a_target() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.ev(Event::ActionSucceeded {
        execution_id: "a".into(),
        stage: "Source".into(),
        action: "Source".into(),
        result: ActionResult {
            outputs: vec![Artifact {
                name: "SourceOutput".into(),
                location: "a/src".into(),
            }],
            variables: vars(&[("CommitId", "abc")]),
            summary: Some("fix the thing".into()),
            external_execution_id: Some("abc".into()),
        },
    });
    assert!(h.st.serving("dev").is_none());
    h.succeed("a", "Build", "Build");
    h.now += 1;
    h.succeed("a", "Staging", "Deploy");
    let s = h.st.serving("dev").unwrap();
    assert_eq!(s.execution.id, "a");
    assert_eq!(s.stage, "Staging");
    assert_eq!(s.execution.source_revisions[0].revision_id, "abc");
    assert!(h.st.serving("111111111111/us-east-1").is_none());
}

#[test]
fn a_rollback_reruns_one_stage_with_an_earlier_executions_artefacts() {
    let mut h = H::new(DELIVERY);
    h.start("a");
    h.through_build("a");
    h.succeed("a", "Staging", "Deploy");
    h.start("b");
    h.through_build("b");
    h.fail("b", "Staging", "Deploy");
    let rollback = |target: &str, stage: &str| Event::Rollback {
        execution_id: "r".into(),
        stage: stage.into(),
        target_execution_id: target.into(),
    };
    assert_eq!(
        h.try_ev(rollback("a", "Source")),
        Err(StepError::RollbackOfSourceStage("Source".into()))
    );
    assert_eq!(
        h.try_ev(rollback("b", "Staging")),
        Err(StepError::RollbackTargetNotSucceeded {
            execution_id: "b".into(),
            stage: "Staging".into()
        })
    );
    let cmds = h.ev(rollback("a", "Staging"));
    let Some(Command::StartAction(s)) = cmds.iter().find(|c| matches!(c, Command::StartAction(_)))
    else {
        panic!("{cmds:?}")
    };
    assert_eq!(
        (s.stage.as_str(), s.execution_id.as_str()),
        ("Staging", "r")
    );
    assert_eq!(s.inputs[0].location, "a/BuildOutput");
    assert_eq!(
        h.st.execution("b").unwrap().superseded_by.as_deref(),
        Some("r")
    );
    h.succeed("r", "Staging", "Deploy");
    let r = h.st.execution("r").unwrap();
    assert_eq!(r.status, ExecutionStatus::Succeeded);
    assert_eq!(r.execution_type, ExecutionType::Rollback);
    assert_eq!(r.stages[3].status, StageStatus::NotStarted);
    assert_eq!(
        h.try_ev(Event::Rollback {
            execution_id: "r2".into(),
            stage: "Staging".into(),
            target_execution_id: "r".into()
        }),
        Err(StepError::RollbackOfRollback("r".into()))
    );
}

#[test]
fn after_a_restart_resume_redispatches_in_progress_actions_from_the_stored_state() {
    let mut h = H::new(CHECKS);
    h.start("e1");
    let cmds = h.succeed("e1", "Source", "Source");
    // The stored state, read back as after a crash.
    let stored = serde_json::to_string(&h.st).unwrap();
    let restored: PipelineState = serde_json::from_str(&stored).unwrap();
    let again = restored.resume();
    let first: Vec<_> = cmds
        .iter()
        .filter(|c| matches!(c, Command::StartAction(_)))
        .collect();
    let resumed: Vec<_> = again
        .iter()
        .filter(|c| matches!(c, Command::StartAction(_)))
        .collect();
    assert_eq!(first, resumed);
    assert!(matches!(again.last(), Some(Command::ScheduleWakeup { .. })));
}
