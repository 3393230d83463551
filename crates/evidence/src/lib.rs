//! The core of kyc-archiver, without network I/O.
//!
//! What an evidence bundle is ([`manifest`]), where its objects live ([`layout`]), how images
//! are recognised ([`image`]), how the deadlines of the service are computed ([`deadline`]),
//! how long evidence is retained ([`retention`]) and how a stored bundle is judged
//! ([`verify`]). Everything here is deterministic and testable without services; the
//! `kyc-archiver` crate does the I/O.

pub mod deadline;
pub mod image;
pub mod layout;
pub mod manifest;
pub mod message;
pub mod retention;
pub mod verify;
