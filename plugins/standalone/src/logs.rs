//! Driver logs through the worker's web UI: `GET {worker}/log/?driverId=…`
//! answers a header line `==== Bytes a-b of n of path ====` and then the bytes.

use drover_plugin_sdk::http::{encode_component, join};
use drover_plugin_sdk::{LogChunk, PluginError, excerpt};

pub fn check_stream(stream: &str) -> Result<(), PluginError> {
    match stream {
        "stdout" | "stderr" => Ok(()),
        other => Err(PluginError::Invalid(format!(
            "log stream must be stdout or stderr, not {other:?}"
        ))),
    }
}

/// The web UI address of worker `worker_id`, from the master's `/json/` view.
pub fn worker_ui(
    master: &serde_json::Value,
    worker_id: &str,
    url: &str,
) -> Result<String, PluginError> {
    let workers = master
        .get("workers")
        .and_then(|w| w.as_array())
        .ok_or_else(|| PluginError::Protocol(format!("{url} has no \"workers\" list")))?;
    let worker = workers
        .iter()
        .find(|w| w.get("id").and_then(|i| i.as_str()) == Some(worker_id))
        .ok_or_else(|| {
            PluginError::Unavailable(format!(
                "the master at {url} does not list worker {worker_id} (any more)"
            ))
        })?;
    worker
        .get("webuiaddress")
        .and_then(|a| a.as_str())
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            PluginError::Protocol(format!("worker {worker_id} in {url} has no webuiaddress"))
        })
}

pub fn log_url(
    worker_ui: &str,
    driver_id: &str,
    stream: &str,
    offset: u64,
    max_bytes: u32,
) -> String {
    // The worker parses byteLength as a Java int.
    let length = max_bytes.min(i32::MAX as u32);
    join(
        worker_ui,
        &format!(
            "/log/?driverId={}&logType={stream}&offset={offset}&byteLength={length}",
            encode_component(driver_id)
        ),
    )
}

/// Splits the worker's reply into the header's numbers and the log bytes.
pub fn parse_log_page(body: &[u8], url: &str) -> Result<LogChunk, PluginError> {
    let (header, data) = match body.iter().position(|&b| b == b'\n') {
        Some(nl) => (&body[..nl], &body[nl + 1..]),
        None => (body, &[][..]),
    };
    let header = String::from_utf8_lossy(header);
    let Some((start, end, total)) = parse_header(header.trim_end_matches('\r')) else {
        let text = String::from_utf8_lossy(body);
        // The worker answers this when the log file does not exist (yet).
        if text.starts_with("Error getting logs") {
            return Err(PluginError::Unavailable(format!(
                "{url}: {}",
                excerpt(&text, 300)
            )));
        }
        return Err(PluginError::Protocol(format!(
            "{url} did not answer a log page (no \"==== Bytes a-b of n\" header): {:?}",
            excerpt(&text, 200)
        )));
    };
    if end < start || end > total {
        return Err(PluginError::Protocol(format!(
            "{url} answered an impossible range {start}-{end} of {total}"
        )));
    }
    Ok(LogChunk {
        data: data.to_vec(),
        next_offset: end,
        total: Some(total),
    })
}

/// `==== Bytes a-b of n of path ====` → (a, b, n).
pub fn parse_header(line: &str) -> Option<(u64, u64, u64)> {
    let rest = line.strip_prefix("==== Bytes ")?;
    let (range, rest) = rest.split_once(" of ")?;
    let (total, _path) = rest.split_once(" of ")?;
    let (start, end) = range.split_once('-')?;
    Some((start.parse().ok()?, end.parse().ok()?, total.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_header_and_returns_the_bytes_after_it() {
        let body = b"==== Bytes 100-112 of 500 of /work/driver-1/stdout ====\nhello\nworld\n";
        let chunk = parse_log_page(body, "u").unwrap();
        assert_eq!(chunk.data, b"hello\nworld\n");
        assert_eq!((chunk.next_offset, chunk.total), (112, Some(500)));
    }

    #[test]
    fn an_empty_log_is_an_empty_chunk() {
        let chunk = parse_log_page(b"==== Bytes 0-0 of 0 of /w/d/stderr ====\n", "u").unwrap();
        assert_eq!(
            (chunk.data.len(), chunk.next_offset, chunk.total),
            (0, 0, Some(0))
        );
    }

    #[test]
    fn paths_with_of_in_them_still_parse() {
        assert_eq!(
            parse_header("==== Bytes 1-2 of 3 of /proof of concept/stdout ===="),
            Some((1, 2, 3))
        );
    }

    #[test]
    fn pages_without_the_header_are_errors() {
        assert!(matches!(
            parse_log_page(b"<html>login</html>", "u"),
            Err(PluginError::Protocol(_))
        ));
        assert!(matches!(
            parse_log_page(b"Error getting logs due to exception: No such file", "u"),
            Err(PluginError::Unavailable(_))
        ));
        assert!(matches!(
            parse_log_page(b"==== Bytes 9-3 of 10 of x ====\n", "u"),
            Err(PluginError::Protocol(_))
        ));
    }

    #[test]
    fn finds_the_workers_ui_in_the_masters_json() {
        let master = json!({"workers":[
            {"id":"worker-a","webuiaddress":"http://10.0.0.1:8081"},
            {"id":"worker-b","webuiaddress":"http://10.0.0.2:8081"}]});
        assert_eq!(
            worker_ui(&master, "worker-b", "u").unwrap(),
            "http://10.0.0.2:8081"
        );
        assert!(matches!(
            worker_ui(&master, "worker-z", "u"),
            Err(PluginError::Unavailable(_))
        ));
        assert!(matches!(
            worker_ui(&json!({}), "worker-a", "u"),
            Err(PluginError::Protocol(_))
        ));
    }

    #[test]
    fn builds_the_log_url() {
        assert_eq!(
            log_url("http://w:8081/", "driver-1", "stderr", 10, u32::MAX),
            "http://w:8081/log/?driverId=driver-1&logType=stderr&offset=10&byteLength=2147483647"
        );
    }
}
