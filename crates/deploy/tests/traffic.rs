//! The deployment state machine on a virtual clock: a 30-minute canary runs in microseconds.

use slipway_deploy::traffic::{
    Action, AlarmState, Deployment, DeploymentConfig, DeploymentError, DeploymentStatus, Event,
    FailureReason, HookStatus, Hooks, LifecycleEvent, MINUTE_MS, NewDeployment, Phase,
};

fn new(config: &str, hooks: Hooks) -> Deployment {
    Deployment::new(
        NewDeployment {
            function: "app-Fn-ABC".into(),
            alias: "live".into(),
            current_version: 1,
            target_version: 2,
            config: DeploymentConfig::predefined(config).unwrap_or_else(|e| panic!("{e}")),
            hooks,
            alarms: vec!["Errors".into()],
        },
        1_000,
    )
}

fn step(d: &Deployment, e: Event, now: u64) -> (Deployment, Vec<Action>) {
    d.step(e, now).unwrap_or_else(|err| panic!("{err}"))
}

fn weights(actions: &[Action]) -> Vec<(u32, Option<(u32, u32)>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::SetAliasWeight {
                primary,
                additional,
                ..
            } => Some((*primary, *additional)),
            _ => None,
        })
        .collect()
}

fn hook_id(actions: &[Action]) -> String {
    actions
        .iter()
        .find_map(|a| match a {
            Action::InvokeHook { execution_id, .. } => Some(execution_id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no hook in {actions:?}"))
}

/// Fires the timer whenever it is due until the deployment stops waiting on one;
/// returns every action with the time it happened.
fn run_timers(mut d: Deployment) -> (Deployment, Vec<(u64, Action)>) {
    let mut log = Vec::new();
    while let (Some(at), DeploymentStatus::InProgress) = (d.next_timer(), d.status) {
        if matches!(d.phase, Phase::Hook { .. }) {
            break;
        }
        let (n, acts) = step(&d, Event::TimerFired, at);
        log.extend(acts.into_iter().map(|a| (at, a)));
        d = n;
    }
    (d, log)
}

#[test]
fn canary_10_percent_for_exactly_five_minutes_then_all() {
    let d = new("Canary10Percent5Minutes", Hooks::default());
    let t0 = 10 * MINUTE_MS;
    let (d, acts) = step(&d, Event::Start, t0);
    assert_eq!(weights(&acts), [(1, Some((2, 100)))]);
    assert_eq!(d.next_timer(), Some(t0 + 5 * MINUTE_MS));
    // A timer firing a millisecond early only re-arms.
    let (d, early) = step(&d, Event::TimerFired, t0 + 5 * MINUTE_MS - 1);
    assert_eq!(
        early,
        [Action::ScheduleTimer {
            at_ms: t0 + 5 * MINUTE_MS
        }]
    );
    assert_eq!(d.weight, 100);
    let (d, acts) = step(&d, Event::TimerFired, t0 + 5 * MINUTE_MS);
    assert_eq!(weights(&acts), [(2, None)]);
    assert_eq!(acts.last(), Some(&Action::ReportSuccess));
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    assert_eq!(d.next_timer(), None);
}

#[test]
fn linear_every_minute_takes_ten_steps() {
    let d = new("Linear10PercentEvery1Minute", Hooks::default());
    let (d, first) = step(&d, Event::Start, 0);
    let (d, log) = run_timers(d);
    let mut all: Vec<(u64, Action)> = first.into_iter().map(|a| (0, a)).collect();
    all.extend(log);
    let shifts: Vec<(u64, u32)> = all
        .iter()
        .filter_map(|(t, a)| match a {
            Action::SetAliasWeight {
                additional: Some((2, w)),
                ..
            } => Some((t / MINUTE_MS, *w / 10)),
            Action::SetAliasWeight {
                primary: 2,
                additional: None,
                ..
            } => Some((t / MINUTE_MS, 100)),
            _ => None,
        })
        .collect();
    assert_eq!(
        shifts,
        (0..10)
            .map(|k| (k, (k as u32 + 1) * 10))
            .collect::<Vec<_>>()
    );
    assert_eq!(d.status, DeploymentStatus::Succeeded);
}

#[test]
fn hooks_run_before_and_after_traffic() {
    let hooks = Hooks {
        before_allow_traffic: Some("CodeDeployHook_pre".into()),
        after_allow_traffic: Some("CodeDeployHook_post".into()),
    };
    let d = new("Canary10Percent30Minutes", hooks);
    let (d, acts) = step(&d, Event::Start, 0);
    assert!(weights(&acts).is_empty(), "no traffic during PreTraffic");
    let pre = hook_id(&acts);
    assert!(matches!(
        &acts[0],
        Action::InvokeHook { function, event: LifecycleEvent::BeforeAllowTraffic, .. }
            if function == "CodeDeployHook_pre"
    ));
    assert_eq!(
        d.next_timer(),
        Some(60 * MINUTE_MS),
        "default hook timeout is one hour"
    );
    let (d, acts) = step(
        &d,
        Event::HookResult {
            execution_id: pre.clone(),
            status: HookStatus::Succeeded,
        },
        2_000,
    );
    assert_eq!(weights(&acts), [(1, Some((2, 100)))]);
    // Reporting twice is CodeDeploy's LifecycleEventAlreadyCompletedException.
    assert_eq!(
        d.step(
            Event::HookResult {
                execution_id: pre,
                status: HookStatus::Succeeded
            },
            3_000
        )
        .err(),
        Some(DeploymentError::LifecycleEventAlreadyCompleted {
            execution_id: format!("{}-before", d.id)
        })
    );
    let (d, acts) = step(&d, Event::TimerFired, 2_000 + 30 * MINUTE_MS);
    assert_eq!(weights(&acts), [(2, None)]);
    let post = hook_id(&acts);
    assert_eq!(d.status, DeploymentStatus::InProgress);
    let (d, acts) = step(
        &d,
        Event::HookResult {
            execution_id: post,
            status: HookStatus::Succeeded,
        },
        2_000 + 31 * MINUTE_MS,
    );
    assert_eq!(acts, [Action::ReportSuccess]);
    assert_eq!(d.status, DeploymentStatus::Succeeded);
}

#[test]
fn pre_traffic_failure_leaves_alias_untouched() {
    let hooks = Hooks {
        before_allow_traffic: Some("pre".into()),
        after_allow_traffic: None,
    };
    let (d, acts) = step(&new("AllAtOnce", hooks), Event::Start, 0);
    let (d, acts2) = step(
        &d,
        Event::HookResult {
            execution_id: hook_id(&acts),
            status: HookStatus::Failed,
        },
        5,
    );
    assert_eq!(
        acts2,
        [Action::ReportFailure {
            reason: FailureReason::HookFailed {
                event: LifecycleEvent::BeforeAllowTraffic
            },
            rolled_back: false
        }]
    );
    assert_eq!(d.status, DeploymentStatus::Failed);
}

#[test]
fn post_traffic_failure_and_hook_timeout_move_traffic_back() {
    let hooks = Hooks {
        before_allow_traffic: None,
        after_allow_traffic: Some("post".into()),
    };
    let (d, acts) = step(&new("AllAtOnce", hooks), Event::Start, 0);
    assert_eq!(weights(&acts), [(2, None)]);
    let (failed, back) = step(
        &d,
        Event::HookResult {
            execution_id: hook_id(&acts),
            status: HookStatus::Failed,
        },
        10,
    );
    assert_eq!(weights(&back), [(1, None)]);
    assert_eq!(failed.status, DeploymentStatus::Failed);
    // Nobody reports: one hour later the hook times out.
    let (timed_out, acts) = step(&d, Event::TimerFired, 60 * MINUTE_MS);
    assert_eq!(weights(&acts), [(1, None)]);
    assert_eq!(
        timed_out.failure,
        Some(FailureReason::HookTimedOut {
            event: LifecycleEvent::AfterAllowTraffic
        })
    );
}

#[test]
fn alarm_during_shift_rolls_back_at_once() {
    let (d, _) = step(
        &new("Canary10Percent30Minutes", Hooks::default()),
        Event::Start,
        0,
    );
    let (d, acts) = step(
        &d,
        Event::AlarmChanged {
            alarm: "Errors".into(),
            state: AlarmState::Ok,
        },
        MINUTE_MS,
    );
    assert!(acts.is_empty());
    let (d, acts) = step(
        &d,
        Event::AlarmChanged {
            alarm: "Errors".into(),
            state: AlarmState::Alarm,
        },
        2 * MINUTE_MS,
    );
    assert_eq!(weights(&acts), [(1, None)]);
    assert!(matches!(
        acts.last(),
        Some(Action::ReportFailure {
            rolled_back: true,
            ..
        })
    ));
    assert_eq!(d.status, DeploymentStatus::Stopped);
    assert_eq!(d.next_timer(), None);
    assert!(d.step(Event::TimerFired, 30 * MINUTE_MS).is_err());
    assert!(matches!(
        d.step(
            Event::AlarmChanged {
                alarm: "Other".into(),
                state: AlarmState::Alarm
            },
            0
        ),
        Err(DeploymentError::UnknownAlarm { .. })
    ));
}

#[test]
fn alarm_already_in_alarm_fails_before_traffic() {
    let d = new("Canary10Percent5Minutes", Hooks::default());
    let (d, _) = step(
        &d,
        Event::AlarmChanged {
            alarm: "Errors".into(),
            state: AlarmState::Alarm,
        },
        0,
    );
    assert_eq!(d.status, DeploymentStatus::Created, "not live yet");
    let (d, acts) = step(&d, Event::Start, 1);
    assert!(weights(&acts).is_empty());
    assert_eq!(d.status, DeploymentStatus::Stopped);
}

#[test]
fn skip_wait_goes_to_full_traffic_now() {
    let (d, _) = step(
        &new("Linear10PercentEvery10Minutes", Hooks::default()),
        Event::Start,
        0,
    );
    let (d, _) = step(&d, Event::TimerFired, 10 * MINUTE_MS);
    assert_eq!(d.weight, 200);
    let (d, acts) = step(&d, Event::SkipWait, 11 * MINUTE_MS);
    assert_eq!(weights(&acts), [(2, None)]);
    assert_eq!(d.status, DeploymentStatus::Succeeded);
    assert!(matches!(
        d.step(Event::SkipWait, 0),
        Err(DeploymentError::NotAllowed { .. })
    ));
}

#[test]
fn operator_stop_rollback_continue() {
    let (d, _) = step(
        &new("Canary10Percent5Minutes", Hooks::default()),
        Event::Start,
        0,
    );
    let (stopped, acts) = step(&d, Event::Stop, 1);
    assert_eq!(weights(&acts), [(1, None)]);
    assert_eq!(stopped.status, DeploymentStatus::Stopped);
    let (rolled, _) = step(&d, Event::Rollback, 1);
    assert_eq!(rolled.status, DeploymentStatus::Failed);
    assert_eq!(rolled.failure, Some(FailureReason::RolledBackByOperator));
    assert!(matches!(
        d.step(Event::Continue, 1),
        Err(DeploymentError::NotAllowed { .. })
    ));
    assert!(matches!(
        d.step(Event::Start, 1),
        Err(DeploymentError::NotAllowed { .. })
    ));
    // After success, a rollback is a new deployment.
    let (done, _) = step(&d, Event::SkipWait, 2);
    let (_, acts) = step(&done, Event::Rollback, 3);
    assert_eq!(
        acts,
        [Action::StartRollbackDeployment {
            from_version: 2,
            to_version: 1
        }]
    );
    // Waiting for Continue.
    let mut w = new("AllAtOnce", Hooks::default());
    w.wait_for_continue = true;
    let (w, acts) = step(&w, Event::Start, 0);
    assert!(acts.is_empty());
    assert_eq!(w.status, DeploymentStatus::Ready);
    let (w, acts) = step(&w, Event::Continue, 5);
    assert_eq!(weights(&acts), [(2, None)]);
    assert_eq!(w.status, DeploymentStatus::Succeeded);
    // Queued deployments start later.
    let (q, _) = step(&new("AllAtOnce", Hooks::default()), Event::Enqueue, 0);
    assert_eq!(q.status, DeploymentStatus::Queued);
    assert!(q.step(Event::Enqueue, 0).is_err());
}

#[test]
fn persisted_state_resumes_with_the_same_future() {
    let hooks = Hooks {
        before_allow_traffic: None,
        after_allow_traffic: None,
    };
    let (d, _) = step(&new("Linear10PercentEvery3Minutes", hooks), Event::Start, 0);
    let (d, _) = step(&d, Event::TimerFired, 3 * MINUTE_MS);
    let (d, _) = step(&d, Event::TimerFired, 6 * MINUTE_MS);
    let saved = serde_json::to_string(&d).unwrap_or_else(|e| panic!("{e}"));
    let restored: Deployment = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restored, d);
    // Crash at 7m30s: the restarted executor re-arms the timer from the state: 1m30s left.
    assert_eq!(restored.next_timer(), Some(9 * MINUTE_MS));
    let (a, la) = run_timers(d);
    let (b, lb) = run_timers(restored);
    assert_eq!(a, b);
    assert_eq!(la, lb);
    assert_eq!(a.status, DeploymentStatus::Succeeded);
    // Every phase serialises.
    for phase in [
        Phase::Pending,
        Phase::Hook {
            event: LifecycleEvent::AfterAllowTraffic,
            execution_id: "x".into(),
            deadline_ms: 7,
        },
        Phase::WaitingForContinue,
        Phase::Shifting {
            started_ms: 1,
            applied: 2,
        },
        Phase::Done,
    ] {
        let s = serde_json::to_string(&phase).unwrap_or_else(|e| panic!("{e}"));
        let back: Phase = serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, phase);
    }
}

#[test]
fn resuming_after_a_long_outage_catches_up_step_by_step() {
    let (d, _) = step(
        &new("Linear10PercentEvery1Minute", Hooks::default()),
        Event::Start,
        0,
    );
    let saved = serde_json::to_string(&d).unwrap_or_else(|e| panic!("{e}"));
    let d: Deployment = serde_json::from_str(&saved).unwrap_or_else(|e| panic!("{e}"));
    // Down for 4m30s: each overdue step is applied in order, never skipped, never past 100%.
    let now = 4 * MINUTE_MS + 30_000;
    let mut d = d;
    let mut seen = Vec::new();
    while let Some(at) = d.next_timer().filter(|at| *at <= now) {
        let (n, acts) = step(&d, Event::TimerFired, now);
        assert!(acts.contains(&Action::ScheduleTimer {
            at_ms: at + MINUTE_MS
        }));
        seen.push(n.weight);
        d = n;
    }
    assert_eq!(seen, [200, 300, 400, 500]);
    assert_eq!(d.next_timer(), Some(5 * MINUTE_MS));
}
