//! Who may come in, and as whom: console sessions held on the server
//! (`session`), the admin credentials (`password`: configured, or a PBKDF2
//! hash once changed in the console), and one failed-credential limit per
//! client address shared by every way in (`limiter`), and the `/v1`
//! caller once authenticated (`client`).
//!
//! These are services: they hold their state in memory and read or write
//! the store they are handed. `admin/`, `/metrics` and `/v1`'s HTTP Basic
//! check them; none of them knows a surface.

pub mod client;
pub mod limiter;
pub mod password;
pub mod session;
