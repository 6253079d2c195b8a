//! upkeep: a daemontools-style supervision toolkit. The programs in bins/
//! are thin; everything they share lives here, one module per concept.
//! `unsafe` is allowed in `sys` only.

#![deny(unsafe_code)]

pub mod account;
pub mod control;
pub mod dirlist;
pub mod duration;
pub mod envmod;
pub mod errors;
pub mod event;
pub mod getopt;
pub mod handoff;
pub mod help;
pub mod lock;
pub mod pidlock;
pub mod pinned;
pub mod pppoe;
pub mod procfs;
pub mod racy;
pub mod runtimefile;
pub mod servicedir;
pub mod signals;
pub mod spawn;
pub mod status;
pub mod svevent;
pub mod svwait;
#[allow(unsafe_code)]
pub mod sys;
pub mod tai64;
pub mod tai64filter;
pub mod trust;
