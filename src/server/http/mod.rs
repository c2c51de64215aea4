//! HTTP plumbing, apart from what any endpoint answers: the listener
//! (accept, keep-alive, timeouts, graceful shutdown), routing, admission,
//! body limits, NDJSON streaming, and the error answer.

pub mod admission;
pub mod body;
pub mod listener;
pub mod ndjson;
pub mod response;
pub mod router;
