//! Background work: the store writer, periodic key refresh, snapshot
//! rebuilds and reloads. Every task runs on the app's `TaskTracker` and
//! stops on its `CancellationToken`.

pub mod maintenance;
pub mod writer;
