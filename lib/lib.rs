//! upkeep: a daemontools-style supervision toolkit. The programs in bins/
//! are thin; everything they share lives here, one module per concept.
//! `unsafe` is allowed in `sys` only.

#![deny(unsafe_code)]

pub mod account;
pub mod boot;
pub mod control;
pub mod duration;
pub mod envdir;
pub mod envmod;
pub mod errors;
pub mod event;
pub mod getopt;
pub mod help;
pub mod limits;
pub mod lock;
pub mod multilog;
pub mod pidlock;
pub mod pppoe;
pub mod procfs;
pub mod proctitle;
pub mod report;
pub mod runtimefile;
pub mod scanner;
pub mod servicedir;
pub mod signals;
pub mod spawn;
pub mod status;
pub mod supervisor;
pub mod svwait;
#[allow(unsafe_code)]
pub mod sys;
pub mod tai64;
pub mod tai64filter;
pub mod trust;
pub mod vrrp;
