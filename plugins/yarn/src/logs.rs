//! The AM container's logs through the NodeManager's REST API.
//!
//! The application report's `amContainerLogs` is the NodeManager's web page
//! for the AM container (`http://nm:8042/node/containerlogs/<container>/<user>`).
//! Its REST twin, `GET http://nm:8042/ws/v1/node/containerlogs/<container>/<file>?size=N`,
//! answers the first N bytes framed as YARN's `LogToolUtils.outputContainerLog`
//! writes them: header lines ending in `LogLength:<total>` and `LogContents:`,
//! then the bytes, then `End of LogType:<file>`. The API has no start offset,
//! so a chunk from `offset` asks for `offset + max` bytes and drops the first
//! `offset`.

use drover_plugin_sdk::http::{encode_component, parse_url};
use drover_plugin_sdk::{LogChunk, PluginError, excerpt};

pub fn check_stream(stream: &str) -> Result<(), PluginError> {
    match stream {
        "stdout" | "stderr" => Ok(()),
        other => Err(PluginError::Invalid(format!(
            "log stream must be stdout or stderr, not {other:?}"
        ))),
    }
}

/// The REST URL of `stream` of the container `am_container_logs` points at.
pub fn log_url(
    am_container_logs: &str,
    stream: &str,
    offset: u64,
    max_bytes: u32,
) -> Result<String, PluginError> {
    let parts = parse_url(am_container_logs)?;
    let path = parts.path_with_query.split('?').next().unwrap_or_default();
    let container = path
        .split('/')
        .skip_while(|p| *p != "containerlogs")
        .nth(1)
        .filter(|c| c.starts_with("container_"))
        .ok_or_else(|| {
            PluginError::Protocol(format!(
                "amContainerLogs {am_container_logs:?} does not name a container (…/containerlogs/container_…)"
            ))
        })?;
    let size = offset
        .saturating_add(u64::from(max_bytes))
        .min(i64::MAX as u64);
    Ok(format!(
        "{}://{}/ws/v1/node/containerlogs/{}/{stream}?size={size}",
        if parts.https { "https" } else { "http" },
        parts.authority,
        encode_component(container)
    ))
}

/// The bytes from `offset` of a framed log reply that asked for `offset + max` bytes.
pub fn parse_log(body: &[u8], offset: u64, url: &str) -> Result<LogChunk, PluginError> {
    const CONTENTS: &[u8] = b"LogContents:\n";
    let start = body
        .windows(CONTENTS.len())
        .position(|w| w == CONTENTS)
        .map(|i| i + CONTENTS.len())
        .ok_or_else(|| {
            PluginError::Protocol(format!(
                "{url} is not a container log (no \"LogContents:\" line): {:?}",
                excerpt(&String::from_utf8_lossy(body), 200)
            ))
        })?;
    let header = String::from_utf8_lossy(&body[..start]);
    let total: u64 = header
        .lines()
        .find_map(|l| l.strip_prefix("LogLength:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| PluginError::Protocol(format!("{url} sent no \"LogLength:\" line")))?;
    let rest = &body[start..];
    // The framing footer follows the bytes; the header says how many there are.
    let footer = rest
        .windows(b"\nEnd of LogType:".len())
        .rposition(|w| w == b"\nEnd of LogType:");
    let content = match footer {
        Some(end) => &rest[..end],
        None => rest,
    };
    let from = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(content.len());
    let data = content[from..].to_vec();
    Ok(LogChunk {
        next_offset: offset.max(from as u64) + data.len() as u64,
        data,
        total: Some(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_nodemanager_rest_url_from_am_container_logs() {
        assert_eq!(
            log_url(
                "http://nm1:8042/node/containerlogs/container_1_0001_02_000001/alice",
                "stderr",
                10,
                90
            )
            .unwrap(),
            "http://nm1:8042/ws/v1/node/containerlogs/container_1_0001_02_000001/stderr?size=100"
        );
        assert!(matches!(
            log_url("http://nm1:8042/elsewhere", "stdout", 0, 1),
            Err(PluginError::Protocol(_))
        ));
    }

    fn framed(content: &str, total: usize) -> Vec<u8> {
        format!(
            "Container: container_1_0001_01_000001 on nm1:45454\nLogAggregationType: LOCAL\n=====\n\
             LogType:stdout\nLogLastModifiedTime:Thu Jan 01 00:00:00 +0000 2026\nLogLength:{total}\n\
             LogContents:\n{content}\nEnd of LogType:stdout\n*******\n\n"
        )
        .into_bytes()
    }

    #[test]
    fn returns_the_bytes_after_the_offset() {
        let c = parse_log(&framed("hello\nworld\n", 12), 6, "u").unwrap();
        assert_eq!(c.data, b"world\n");
        assert_eq!((c.next_offset, c.total), (12, Some(12)));
        let c = parse_log(&framed("", 0), 0, "u").unwrap();
        assert_eq!((c.data.len(), c.next_offset), (0, 0));
    }

    #[test]
    fn refuses_pages_that_are_not_container_logs() {
        assert!(matches!(
            parse_log(b"<html>login</html>", 0, "u"),
            Err(PluginError::Protocol(_))
        ));
    }
}
