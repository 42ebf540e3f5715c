//! agentrail-core: the pure heart of agentrail, and the kit an auditor's verifier can depend on alone.
//!
//! It owns every byte format that agentrail shares with the world: the v1 event model and its
//! validation ([`event`]), RFC 8785 canonical JSON ([`json`]), RFC 6962 / RFC 9162 Merkle trees and
//! proofs ([`merkle`]), C2SP signed notes ([`note`]) and C2SP checkpoints and tlog-proofs
//! ([`checkpoint`]).
//!
//! Architecture invariant: this crate does no I/O, spawns no threads, reads no clock and touches no
//! database. Everything it computes is a pure function of its inputs, so a verifier built on it
//! trusts nothing but the bytes it is given.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod event;
pub mod hash;
pub mod json;
pub mod merkle;
pub mod note;
pub mod text;
pub mod timefmt;

pub use hash::Hash;
