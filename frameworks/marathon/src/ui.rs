//! The web UI: one page of plain HTML and JavaScript, served at `/`, reading only the
//! public `/v2` API.

/// The UI page.
pub const INDEX: &str = include_str!("ui.html");
