//! Slipway's pure model.
//!
//! Everything a user writes — SAM/CloudFormation templates, buildspecs, pipeline definitions —
//! is read here into positioned trees ([`syntax`]), resolved into deterministic values, and
//! checked, with every problem reported as a [`diag::Diagnostic`]. This crate does no I/O of
//! its own beyond what callers hand it: no async runtime, no sockets, no processes.

pub mod buildspec;
pub mod civil;
pub mod diag;
pub mod function;
pub mod invoke;
pub mod pipeline;
pub mod syntax;
pub mod template;
