//! The web UI: one page of HTML, CSS and JavaScript we wrote, embedded in the binary and
//! served at `/`. It reads and changes jobs only through the public REST API.

use libproc::http::HttpResponse;

const INDEX: &str = include_str!("ui/index.html");

/// Serves `/` (and `/ui/...`, the same page: it routes in the browser by the `#` part).
pub fn serve(_file: &str) -> HttpResponse {
    HttpResponse::new(200, "text/html; charset=utf-8", INDEX)
}
