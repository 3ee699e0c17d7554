//! Rendering key exports.
