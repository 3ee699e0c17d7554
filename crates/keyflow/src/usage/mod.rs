//! Token usage read from upstream answers, streamed or not.
