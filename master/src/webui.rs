//! The master's web UI as HTTP: `/` answers the page (`index.html`) and `/static/<file>`
//! its stylesheet and ES modules. The files live in `master/webui/` and are built into the
//! binary (`include_bytes!`), so one binary serves the UI; `--webui_dir=<dir>` serves them
//! from disk instead (edit, reload, no rebuild). Every master serves the UI, leading or
//! not: the page itself finds out (a standby answers `/master/state` with a redirect) and
//! sends the browser to the leader.
//!
//! Only names in [`ASSETS`]' form are served: relative, `/`-separated, made of
//! `[A-Za-z0-9_.-]` with no component starting with `.` (so no `..`, no hidden files).

use std::path::Path;

use libproc::HttpResponse;

/// One built-in file of the UI: its path under `master/webui/`, type and bytes.
pub struct Asset {
    /// Path relative to `master/webui/`, e.g. `static/app.js`.
    pub path: &'static str,
    /// Bytes as built into the binary.
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, body: include_bytes!(concat!("../webui/", $path)) }),*]
    };
}

/// Every file of the UI, built in.
pub const ASSETS: &[Asset] = assets![
    "index.html",
    "static/style.css",
    "static/app.js",
    "static/router.js",
    "static/source.js",
    "static/format.js",
    "static/table.js",
    "static/chart.js",
    "static/history.js",
    "static/columns.js",
    "static/agent_api.js",
    "static/pages/home.js",
    "static/pages/frameworks.js",
    "static/pages/framework.js",
    "static/pages/agents.js",
    "static/pages/agent.js",
    "static/pages/task.js",
    "static/pages/roles.js",
    "static/pages/offers.js",
    "static/pages/sandbox.js",
    "static/pages/log.js",
    "static/recordio.js",
    "static/live_model.js",
    "static/pailer.js",
];

/// The content type for a file name, by extension.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Whether `rel` is a name this module may serve (see the module docs).
fn safe_name(rel: &str) -> bool {
    !rel.is_empty()
        && rel.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        })
}

/// The answer for a route of the master's (the path without its leading `/`), if it is
/// the UI's: `""` is the page, `static/...` its files. `dir` is `--webui_dir`.
pub fn serve(route: &str, dir: Option<&Path>) -> HttpResponse {
    let rel = if route.is_empty() || route == "index.html" {
        "index.html"
    } else if route.starts_with("static/") {
        route
    } else {
        return HttpResponse::not_found();
    };
    if !safe_name(rel) {
        return HttpResponse::not_found();
    }
    let body: Vec<u8> = match dir {
        Some(dir) => match std::fs::read(dir.join(rel)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HttpResponse::not_found(),
            Err(e) => {
                return HttpResponse::text(
                    500,
                    format!("cannot read {rel} from --webui_dir: {e}\n"),
                )
            }
        },
        None => match ASSETS.iter().find(|a| a.path == rel) {
            Some(a) => a.body.to_vec(),
            None => return HttpResponse::not_found(),
        },
    };
    // The UI is small; always revalidating keeps an upgraded master's UI current.
    HttpResponse::new(200, content_type(rel), body).with_header("Cache-Control", "no-cache")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(r: &HttpResponse) -> String {
        String::from_utf8_lossy(&r.body).into_owned()
    }

    #[test]
    fn root_is_the_page_and_static_files_have_their_types() {
        let r = serve("", None);
        assert_eq!(r.status, 200);
        assert!(body(&r).contains("<script type=\"module\""));
        assert_eq!(r.headers[0].1, "text/html; charset=utf-8");
        let r = serve("static/app.js", None);
        assert_eq!(r.status, 200);
        assert_eq!(r.headers[0].1, "text/javascript; charset=utf-8");
        assert_eq!(
            serve("static/style.css", None).headers[0].1,
            "text/css; charset=utf-8"
        );
    }

    #[test]
    fn every_module_the_page_imports_is_built_in() {
        // Each `from './x.js'` / `import('./x.js')` in a built-in module names a built-in file.
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = String::from_utf8_lossy(a.body);
            let dir = Path::new(a.path).parent().unwrap_or(Path::new(""));
            for part in text
                .split(['\'', '"'])
                .filter(|p| p.starts_with("./") || p.starts_with("../"))
            {
                if !part.ends_with(".js") {
                    continue;
                }
                let mut joined = dir.to_path_buf();
                for c in part.split('/') {
                    match c {
                        "." => {}
                        ".." => {
                            joined.pop();
                        }
                        c => joined.push(c),
                    }
                }
                let joined = joined.to_string_lossy().into_owned();
                assert!(
                    ASSETS.iter().any(|x| x.path == joined),
                    "{} imports {part} ({joined}), which is not in ASSETS",
                    a.path
                );
            }
        }
    }

    #[test]
    fn unknown_and_unsafe_names_are_not_found() {
        for bad in [
            "static/../index.html",
            "static/.hidden",
            "static/missing.js",
            "static/a//b.js",
            "static/a%2fb.js",
            "other",
        ] {
            assert_eq!(serve(bad, None).status, 404, "{bad}");
        }
    }

    #[test]
    fn webui_dir_serves_from_disk_and_stays_inside_it() {
        let dir = std::env::temp_dir().join(format!("webui-dir-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("static")).unwrap();
        std::fs::write(dir.join("index.html"), "dev page").unwrap();
        std::fs::write(dir.join("static/new.js"), "export {}").unwrap();
        assert_eq!(body(&serve("", Some(&dir))), "dev page");
        assert_eq!(serve("static/new.js", Some(&dir)).status, 200);
        assert_eq!(serve("static/../../etc/passwd", Some(&dir)).status, 404);
        assert_eq!(serve("static/app.js", Some(&dir)).status, 404);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
