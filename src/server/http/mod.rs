//! HTTP plumbing, apart from what any endpoint answers: the listener
//! (accept, keep-alive, timeouts, graceful shutdown), routing, admission,
//! body limits, NDJSON streaming, and the error answer.

pub(super) mod admission;
pub(super) mod body;
pub(super) mod listener;
pub(super) mod ndjson;
pub(super) mod response;
pub(super) mod router;
pub(super) mod throttle;
