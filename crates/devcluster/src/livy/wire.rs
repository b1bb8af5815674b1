//! Livy's wire shapes: `CreateBatchRequest` (unknown fields refused, as
//! Jackson does) and the Spark properties it stands for, the `{"msg"}`
//! error answers, and the Scala-flavoured reading of `from`/`size`.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CreateBatchRequest {
    pub(super) file: Option<String>,
    pub(super) proxy_user: Option<String>,
    pub(super) args: Option<Vec<String>>,
    pub(super) class_name: Option<String>,
    pub(super) jars: Option<Vec<String>>,
    pub(super) py_files: Option<Vec<String>>,
    pub(super) files: Option<Vec<String>>,
    pub(super) driver_memory: Option<String>,
    pub(super) driver_cores: Option<i32>,
    pub(super) executor_memory: Option<String>,
    pub(super) executor_cores: Option<i32>,
    pub(super) num_executors: Option<i32>,
    pub(super) archives: Option<Vec<String>>,
    pub(super) queue: Option<String>,
    pub(super) name: Option<String>,
    pub(super) conf: Option<BTreeMap<String, String>>,
}

impl CreateBatchRequest {
    /// The Spark properties `SparkProcessBuilder` and `prepareConf` derive from the request.
    pub(super) fn spark_conf(&self, app_tag: &str) -> BTreeMap<String, String> {
        let mut conf = self.conf.clone().unwrap_or_default();
        let mut set = |key: &str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                conf.insert(key.to_owned(), v);
            }
        };
        let list = |l: &Option<Vec<String>>| l.as_ref().map(|l| l.join(","));
        set("spark.jars", list(&self.jars));
        set("spark.submit.pyFiles", list(&self.py_files));
        set("spark.files", list(&self.files));
        set("spark.yarn.dist.archives", list(&self.archives));
        set("spark.driver.memory", self.driver_memory.clone());
        set(
            "spark.driver.cores",
            self.driver_cores.map(|n| n.to_string()),
        );
        set("spark.executor.memory", self.executor_memory.clone());
        set(
            "spark.executor.cores",
            self.executor_cores.map(|n| n.to_string()),
        );
        set(
            "spark.executor.instances",
            self.num_executors.map(|n| n.to_string()),
        );
        set("spark.yarn.queue", self.queue.clone());
        set("spark.app.name", self.name.clone());
        set("spark.yarn.tags", Some(app_tag.to_owned()));
        conf
    }
}

/// Livy's error answers: a status and `{"msg": …}` (`ResponseMessage`).
#[derive(Debug)]
pub(super) struct LivyError {
    status: StatusCode,
    msg: String,
}

impl LivyError {
    pub(super) fn bad_request(msg: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            msg: msg.into(),
        }
    }

    /// What the POST handler answers for an `IllegalArgumentException`.
    pub(super) fn rejected(reason: impl AsRef<str>) -> Self {
        Self::bad_request(format!("Rejected, Reason: {}", reason.as_ref()))
    }

    pub(super) fn not_found(id_or_name: &str) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            msg: format!("Session '{id_or_name}' not found."),
        }
    }

    /// `params("from").toInt` failing: Scalatra's error handler answers 500.
    pub(super) fn not_a_number(value: &str) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            msg: format!("java.lang.NumberFormatException: For input string: \"{value}\""),
        }
    }
}

impl IntoResponse for LivyError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({"msg": self.msg}))).into_response()
    }
}

/// An optional integer query parameter, parsed like Scala's `toInt`.
pub(super) fn int_param(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, LivyError> {
    q.get(key)
        .map(|v| {
            v.parse::<i32>()
                .map(i64::from)
                .map_err(|_| LivyError::not_a_number(v))
        })
        .transpose()
}

/// Scala's `seq.view(from, until)`: both ends clamped into the sequence.
pub(super) fn slice<T>(items: &[T], from: i64, until: i64) -> &[T] {
    let len = items.len() as i64;
    let from = from.clamp(0, len) as usize;
    let until = until.clamp(0, len) as usize;
    &items[from..until.max(from)]
}


#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn slices_clamp_like_scala_views() {
        let items = [0, 1, 2, 3, 4];
        assert_eq!(slice(&items, 1, 3), [1, 2]);
        assert_eq!(slice(&items, 3, 100), [3, 4]);
        assert_eq!(slice(&items, 7, 9), [] as [i32; 0]);
        assert_eq!(slice(&items, -2, 2), [0, 1]);
    }

    #[test]
    fn request_fields_become_the_spark_properties_livy_passes() {
        let req: CreateBatchRequest = serde_json::from_value(json!({
            "file": "/a/app.py",
            "pyFiles": ["/a/dep.py", "/a/lib.zip"],
            "driverMemory": "1g",
            "numExecutors": 2,
            "name": "n",
            "conf": {"spark.x": "y"},
        }))
        .unwrap();
        let conf = req.spark_conf("livy-batch-0-abc");
        assert_eq!(conf["spark.submit.pyFiles"], "/a/dep.py,/a/lib.zip");
        assert_eq!(conf["spark.driver.memory"], "1g");
        assert_eq!(conf["spark.executor.instances"], "2");
        assert_eq!(conf["spark.app.name"], "n");
        assert_eq!(conf["spark.yarn.tags"], "livy-batch-0-abc");
        assert_eq!(conf["spark.x"], "y");
    }

    #[test]
    fn unknown_request_fields_are_refused() {
        let err = serde_json::from_value::<CreateBatchRequest>(json!({"file": "x", "klass": "y"}))
            .unwrap_err();
        assert!(err.to_string().contains("klass"), "{err}");
    }
}

