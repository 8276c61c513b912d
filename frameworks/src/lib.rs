//! The framework SDK.
