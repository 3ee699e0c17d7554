//! Background work driven by time rather than requests: snapshot rebuilds
//! and reloads, usage counts written behind, scheduled refresh, log
//! retention. Every task runs on the app's `TaskTracker` and stops on its
//! `CancellationToken`. The store writer they feed is `store::writer`.

pub mod maintenance;
