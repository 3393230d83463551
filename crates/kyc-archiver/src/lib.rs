//! kyc-archiver: keeps Alibaba Cloud ID Verification evidence before the cloud deletes it.
//!
//! The [`pipeline`] archives one transaction into an [`store::ObjectStore`]; [`video`] races
//! the evidence video's deadlines; [`verify`] re-reads stored bundles; [`config`] is the one
//! table of settings; [`app`] wires configuration into resources. The binary in `main.rs`
//! only parses arguments and calls these.

pub mod app;
pub mod config;
pub mod enqueue;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod queue;
pub mod store;
pub mod verify;
pub mod video;
