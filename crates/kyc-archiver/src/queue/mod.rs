//! RabbitMQ: the topology, publishing with confirms, the worker, and moving messages back
//! from the dead-letter and parking queues.

mod publish;
pub mod replay;
mod topology;
pub mod worker;

pub use publish::{QueueError, confirm_channel, connect, publish};
pub use topology::{DEFAULT_RETRY_DELAYS, Topology};
pub use worker::{WorkerSettings, WorkerState, run};
