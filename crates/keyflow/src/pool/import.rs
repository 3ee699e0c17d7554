//! Parsing pasted key lists.
