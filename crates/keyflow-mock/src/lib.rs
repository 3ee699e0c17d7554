//! keyflow-mock: a faithful fake of the SiliconFlow API for tests, the demo and benchmarks.
//!
//! It reproduces the upstream shapes of `shared/siliconflow-api.md` byte for
//! byte where they are known (error bodies, wrapped platform answers, SSE
//! framing with running usage), keeps keys, balances and per-key resources
//! in memory, and lets tests inject faults:
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use keyflow_mock::{Fault, MockConfig, MockServer};
//! let server = MockServer::start(MockConfig::default()).await?;
//! let state = server.state();
//! state.add_key("sk-test", 14.0, "account-1");
//! state.set_fault_times("sk-test", Fault::Overloaded, 1);
//! // point the client at server.url() + "/v1"
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Code map: `gate` (auth, recording, faults, RPM), `routes` (one file per
//! upstream surface), `state` (keys, counters, per-key resources),
//! `catalogue` (models, prices, image sizes), `error` (the error bodies).

mod catalogue;
mod config;
mod error;
mod fault;
mod gate;
mod routes;
mod server;
mod state;
mod text;

pub use catalogue::{cost, find as find_model, image_sizes, Kind, ModelSpec, Price, MODELS};
pub use config::{MockConfig, DEFAULT_FREE_MODELS};
pub use error::ApiError;
pub use fault::{Fault, RateMetric, StreamUsage, UserInfoMode};
pub use routes::{router, LSKY_TOKEN, SINK_KEY};
pub use server::MockServer;
pub use state::{MockState, RecordedRequest, Served};
pub use text::{fnv1a, tokens};
