//! upkeep: a daemontools-style supervision toolkit. The programs in bins/
//! are thin; everything they share lives here, one module per concept.
//! `unsafe` is allowed in `sys` only.

#![deny(unsafe_code)]

pub mod control;
pub mod duration;
pub mod errors;
pub mod event;
pub mod lock;
pub mod pidlock;
pub mod pppoe;
pub mod servicedir;
pub mod signals;
pub mod spawn;
pub mod statefile;
pub mod status;
pub mod supervisor;
#[allow(unsafe_code)]
pub mod sys;
pub mod tai64;
