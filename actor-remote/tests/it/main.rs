//! Integration tests of actor-remote: one binary, against a real NATS server
//! (`ACTOR_NATS_URL`; `.ci/run` starts one, locally `.ci/nats.sh start`). Without one they
//! skip with a message, except under `CI=true`, where they fail.

mod calls;
mod cancel_safety;
mod failure;
mod pool;
mod serving;
mod support;
mod tracing;
mod ui;
mod wire;
