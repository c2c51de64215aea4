//! Synthetic national data (filled in below).
