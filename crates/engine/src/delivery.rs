//! The deployment driver: CodeDeploy-for-Lambda deployments carried out from the pure state
//! machine ([`Deployment::step`]). Each new state is committed before its actions run; timers
//! are deadlines in that state, fired by [`Engine::tick`] on the injected clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll, Wake};

use serde_json::{Value, json};
use slipway_deploy::alarm::{self, AlarmSpec};
use slipway_deploy::lambda::RoutingConfig;
use slipway_deploy::traffic::{
    self, Action, AlarmState, AliasUpdatePolicy, Deployment, DeploymentConfig, DeploymentStatus,
    Event, FULL, HookStatus, NewDeployment,
};
use slipway_model::function::Version;
use slipway_model::invoke::{InvocationType, InvokeRequest};
use slipway_store::state::{Batch, Collection};

use crate::exec::Operation;
use crate::providers::{self, function_name};
use crate::{Engine, EngineError};

/// Runs a future to completion on this thread (the invoker's futures are short: an `Event`
/// invoke is accepted and answered at once). A server calls the engine from a blocking task.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = TaskContext::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

impl Engine {
    /// A deployment by ID, from any target.
    pub fn deployment(&self, id: &str) -> Result<Option<Deployment>, EngineError> {
        Ok(self.find_deployment(id)?.map(|(_, d, _)| d))
    }

    /// `slipway deployments`: every deployment of a target, oldest first.
    pub fn deployments(&self, target: &str) -> Result<Vec<Deployment>, EngineError> {
        let mut out: Vec<Deployment> = self
            .store
            .list_docs(Collection::Deployments, target)?
            .into_iter()
            .filter_map(|(_, d)| serde_json::from_value(d.value).ok())
            .collect();
        out.sort_by_key(|d| d.created_ms);
        Ok(out)
    }

    fn find_deployment(&self, id: &str) -> Result<Option<(String, Deployment, u64)>, EngineError> {
        let Some((t, d)) = self.store.find_doc(Collection::Deployments, id)? else {
            return Ok(None);
        };
        let dep = serde_json::from_value(d.value).map_err(|source| EngineError::Corrupt {
            what: "deployment",
            key: id.to_owned(),
            source,
        })?;
        Ok(Some((t, dep, d.generation)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_deployment(
        &self,
        op: &Operation,
        l_rec: &crate::exec::LoadedView<'_>,
        policy: &AliasUpdatePolicy,
        function: &str,
        alias: &str,
        from: u32,
        to: u32,
    ) -> Result<Deployment, EngineError> {
        let target = op.target.clone();
        // The deployment group's configuration and alarms.
        let group = l_rec
            .resources
            .values()
            .find(|r| {
                r.resource_type == "AWS::CodeDeploy::DeploymentGroup"
                    && r.physical_id == policy.deployment_group_name
            })
            .map(|r| r.resolved.clone())
            .unwrap_or(Value::Null);
        let custom = |name: &str| -> Option<DeploymentConfig> {
            let key = format!("AWS::CodeDeploy::DeploymentConfig|{name}");
            let doc = self
                .store
                .get_doc(Collection::Resources, &target, &key)
                .ok()
                .flatten()?;
            DeploymentConfig::from_properties(doc.value.get("Properties")?)?.ok()
        };
        let (config, alarms) = traffic::group_settings(&group, &custom)
            .unwrap_or((DeploymentConfig::AllAtOnce, Vec::new()));
        let hooks = traffic::Hooks {
            before_allow_traffic: policy
                .before_allow_traffic_hook
                .as_deref()
                .map(|h| function_name(h).to_owned()),
            after_allow_traffic: policy
                .after_allow_traffic_hook
                .as_deref()
                .map(|h| function_name(h).to_owned()),
        };
        let now = self.clock.now_ms();
        let d = Deployment::new(
            NewDeployment {
                function: function.to_owned(),
                alias: alias.to_owned(),
                current_version: from,
                target_version: to,
                config,
                hooks,
                alarms,
            },
            now,
        );
        Ok(d)
    }

    /// Feeds one event to a deployment: the new state is committed, then its actions run.
    pub fn deployment_event(&self, id: &str, event: Event) -> Result<Deployment, EngineError> {
        let Some((target, d, g)) = self.find_deployment(id)? else {
            return Err(EngineError::DeploymentNotFound { id: id.to_owned() });
        };
        let now = self.clock.now_ms();
        let (next, actions) = d.step(event, now)?;
        self.store.commit(Batch::new().put_live(
            Collection::Deployments,
            &target,
            id,
            Some(g),
            serde_json::to_value(&next).unwrap_or(Value::Null),
            !next.status.is_terminal(),
        ))?;
        let mut follow = Vec::new();
        for a in actions {
            match a {
                Action::SetAliasWeight {
                    function,
                    alias,
                    primary,
                    additional,
                } => self.set_weight(&target, &function, &alias, primary, additional)?,
                Action::InvokeHook {
                    function,
                    deployment_id,
                    execution_id,
                    ..
                } => {
                    if !self.invoke_hook(&target, &function, &deployment_id, &execution_id) {
                        follow.push(Event::HookResult {
                            execution_id,
                            status: HookStatus::Failed,
                        });
                    }
                }
                // Timers are the deadlines in the state; `tick` fires them.
                Action::ScheduleTimer { .. } => {}
                Action::ReportSuccess | Action::ReportFailure { .. } => {}
                // Rolling back a finished deployment: point the alias at the old version.
                Action::StartRollbackDeployment { to_version, .. } => {
                    self.set_weight(&target, &next.function, &next.alias, to_version, None)?;
                }
            }
        }
        let mut last = next;
        for e in follow {
            last = self.deployment_event(id, e)?;
        }
        if last.status.is_terminal() {
            self.wake_waiting()
                .inspect_err(|_| self.wake.store(true, Ordering::SeqCst))?;
        }
        Ok(last)
    }

    fn set_weight(
        &self,
        target: &str,
        function: &str,
        alias: &str,
        primary: u32,
        additional: Option<(u32, u32)>,
    ) -> Result<(), EngineError> {
        let mut routing = RoutingConfig::new();
        if let Some((v, w)) = additional {
            routing.insert(v.to_string(), f64::from(w) / f64::from(FULL));
        }
        providers::set_alias(
            self.store.as_ref(),
            target,
            function,
            alias,
            &primary.to_string(),
            &routing,
        )?;
        self.hooks.alias_changed(target, function, alias);
        Ok(())
    }

    /// Invokes a hook asynchronously; false when the invoke itself failed.
    fn invoke_hook(
        &self,
        target: &str,
        function: &str,
        deployment_id: &str,
        execution_id: &str,
    ) -> bool {
        let payload = json!({
            "DeploymentId": deployment_id,
            "LifecycleEventHookExecutionId": execution_id,
        });
        let mut req =
            InvokeRequest::new(function, Version::Latest, payload.to_string().into_bytes());
        req.invocation_type = InvocationType::Event;
        // The hook of this target: another target may have a function of the same name.
        req.location = crate::providers::Target::parse(target).map(|t| t.location());
        block_on(self.invoker.invoke(req)).is_ok()
    }

    /// CodeDeploy's `PutLifecycleEventHookExecutionStatus`.
    pub fn put_lifecycle_event_hook_execution_status(
        &self,
        deployment_id: &str,
        execution_id: &str,
        status: HookStatus,
    ) -> Result<Deployment, EngineError> {
        self.deployment_event(
            deployment_id,
            Event::HookResult {
                execution_id: execution_id.to_owned(),
                status,
            },
        )
    }

    /// `slipway deployment stop ID`.
    pub fn stop_deployment(&self, id: &str) -> Result<Deployment, EngineError> {
        self.deployment_event(id, Event::Stop)
    }

    /// `slipway deployment skip-wait ID`.
    pub fn skip_wait(&self, id: &str) -> Result<Deployment, EngineError> {
        self.deployment_event(id, Event::SkipWait)
    }

    /// `slipway deployment continue ID`.
    pub fn continue_deployment(&self, id: &str) -> Result<Deployment, EngineError> {
        self.deployment_event(id, Event::Continue)
    }

    /// Fires what is due at the clock's now: alarm evaluations, then shift steps and hook
    /// timeouts (overdue ones in order), then operations whose deployment ended.
    pub fn tick(&self) -> Result<(), EngineError> {
        // The deployments not ended only (an indexed read), not every one ever made.
        for (target, id, doc) in self.store.list_live_docs(Collection::Deployments)? {
            let Ok(d) = serde_json::from_value::<Deployment>(doc.value) else {
                continue;
            };
            if d.status.is_terminal() {
                continue;
            }
            // Created and committed together with its stack step, but not started yet.
            let d = if d.status == DeploymentStatus::Created {
                self.deployment_event(&id, Event::Start)?
            } else {
                d
            };
            let mut d = self.evaluate_alarms(&target, &d)?;
            let mut guard = 0;
            while !d.status.is_terminal()
                && d.next_timer().is_some_and(|at| at <= self.clock.now_ms())
                && guard < 1000
            {
                d = self.deployment_event(&id, Event::TimerFired)?;
                guard += 1;
            }
        }
        // Deployments that end wake their operations at once (`deployment_event`); the tick
        // only catches up on what that could not do.
        if self.wake.swap(false, Ordering::SeqCst) {
            self.wake_waiting()
                .inspect_err(|_| self.wake.store(true, Ordering::SeqCst))?;
        }
        Ok(())
    }

    fn evaluate_alarms(&self, target: &str, d: &Deployment) -> Result<Deployment, EngineError> {
        let now = self.clock.now_ms();
        let mut cur = d.clone();
        for (name, previous) in d.alarms.clone() {
            let key = format!("AWS::CloudWatch::Alarm|{name}");
            let Some(doc) = self.store.get_doc(Collection::Resources, target, &key)? else {
                continue;
            };
            let Some(props) = doc.value.get("Properties") else {
                continue;
            };
            let Ok(spec) = AlarmSpec::from_properties(&name, props) else {
                continue;
            };
            let span =
                spec.period_s * 1000 * u64::from(spec.evaluation_periods + alarm::EXTRA_PERIODS);
            let samples = self.metrics.samples(
                target,
                &spec.namespace,
                &spec.metric_name,
                &spec.dimensions,
                now.saturating_sub(span),
                now,
            );
            let e = alarm::evaluate(&spec, &samples, now, previous);
            if e.state != previous {
                cur = self.deployment_event(
                    &d.id,
                    Event::AlarmChanged {
                        alarm: name,
                        state: e.state,
                    },
                )?;
                if cur.status.is_terminal() {
                    break;
                }
            }
        }
        Ok(cur)
    }

    /// After a restart: every live deployment's alias is put where the persisted state says
    /// (the crash may have come between the commit and the alias update), and a hook that was
    /// to be invoked is invoked (again: hooks are invoked at least once).
    pub(crate) fn reconcile_deployments(&self) -> Result<(), EngineError> {
        for (target, _, doc) in self.store.list_live_docs(Collection::Deployments)? {
            let Ok(d) = serde_json::from_value::<Deployment>(doc.value) else {
                continue;
            };
            if d.status.is_terminal() {
                continue;
            }
            let (primary, additional) = if d.weight >= FULL {
                (d.target_version, None)
            } else if d.weight == 0 {
                (d.current_version, None)
            } else {
                (d.current_version, Some((d.target_version, d.weight)))
            };
            self.set_weight(&target, &d.function, &d.alias, primary, additional)?;
            if let traffic::Phase::Hook {
                event,
                execution_id,
                ..
            } = &d.phase
                && d.hook_executions.get(execution_id) == Some(&None)
            {
                let function = match event {
                    traffic::LifecycleEvent::BeforeAllowTraffic => &d.hooks.before_allow_traffic,
                    traffic::LifecycleEvent::AfterAllowTraffic => &d.hooks.after_allow_traffic,
                };
                if let Some(f) = function {
                    self.invoke_hook(&target, f, &d.id, execution_id);
                }
            }
        }
        Ok(())
    }

    /// The alarm states a deployment last saw (for progress output).
    pub fn alarm_states(&self, id: &str) -> Result<BTreeMap<String, AlarmState>, EngineError> {
        Ok(self.deployment(id)?.map(|d| d.alarms).unwrap_or_default())
    }
}
