//! Slipway's deploy engine, pure core.
//!
//! Everything here is synchronous, deterministic data and functions over it: no clock (time is
//! an injected `now` in milliseconds), no I/O, no randomness that is not seeded. The executor
//! (which owns the store, the runtime and the gateway) calls into these modules, persists what
//! they return *before* acting on it, and feeds results back in:
//!
//! - [`stack`]: CloudFormation stack statuses, the stack record the store keeps, the closed set of
//!   stack operations checked against the current status, and the exact event sequences.
//! - [`plan`]: `plan(desired, current) -> Plan` — change-set rows (Add / Modify / Remove with
//!   `Replacement` and `Details`), ordered steps each with its undo, `Plan::inverse()` for
//!   rollback, and a printable change-set table.
//! - [`replacement`]: which property changes replace a resource, per type, from the
//!   CloudFormation reference's "Update requires:" lines.
//! - [`names`]: physical names generated as CloudFormation does, deterministically.
//! - [`lambda`]: `$LATEST`, published versions and aliases with Lambda's rules and errors.
//! - [`traffic`]: CodeDeploy-for-Lambda deployment configurations, their exact schedules, and the
//!   deployment state machine (hooks, timers, alarms, operator actions).
//! - [`alarm`]: CloudWatch metric-alarm evaluation (M out of N, statistics, missing data).
//! - [`schedule`]: EventBridge `rate(…)`/`cron(…)` expressions and their next firing.
//! - [`events`]: the S3, SNS, SQS and scheduled events functions receive, and who gets one.

pub mod alarm;
pub mod events;
pub mod lambda;
pub mod names;
pub mod plan;
pub mod replacement;
pub mod schedule;
pub mod stack;
pub mod traffic;
