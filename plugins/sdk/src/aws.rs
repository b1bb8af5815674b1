//! What every plugin for an AWS service needs (cargo feature `aws`): AWS
//! Signature Version 4 through the AWS SDK's own signer (`aws-sigv4`), so
//! the canonical request, the scope and the key derivation are the ones every
//! AWS client uses; the mapping of AWS's error replies onto [`PluginError`];
//! a [`Client`] that signs and sends one restJson1 exchange; and the
//! `sparkSubmitParameters` string the EMR APIs take.
//!
//! Behind a feature so that plugins for other cluster managers do not carry
//! the signer (about 200 KiB of a component). Everything but
//! [`Client::call`] is pure (the signing time is an argument), so AWS's
//! published test vectors pin the wiring on the host target.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::http::{self, Method};
use crate::spark::spark_properties;
use crate::{Application, ConfigKey, DeployMode, PluginError, Problem, Settings, excerpt};

/// Static credentials from the backend's settings.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// For temporary credentials; sent as `x-amz-security-token` (and signed).
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret or the token.
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// What to sign: the request exactly as it will be sent.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// Headers that will be sent and signed (the host comes from `url`).
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// The headers to add to `req` so that AWS accepts it: `authorization`,
/// `x-amz-date` and, with a session token, `x-amz-security-token`.
pub fn sign_request(
    req: &Request<'_>,
    creds: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
) -> Result<Vec<(String, String)>, PluginError> {
    let failed = |e: &dyn std::fmt::Display| {
        PluginError::Invalid(format!("cannot sign the request to {}: {e}", req.url))
    };
    let identity = AwsCredentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "drover backend settings",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(&e))?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url,
        req.headers.iter().copied(),
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| failed(&e))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| failed(&e))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}


/// An AWS error reply: `x-amzn-ErrorType` and `{"message"}` (AWS), or
/// `{"__type", "message"}` (moto, and AWS's awsJson protocols).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct AwsErrorBody {
    #[serde(rename = "__type", default)]
    pub type_: Option<String>,
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
}

/// The PluginError for a non-2xx reply. The error type decides, then the status.
pub fn error_for(
    status: u16,
    error_type_header: Option<&str>,
    body: &[u8],
    url: &str,
) -> PluginError {
    let parsed: AwsErrorBody = serde_json::from_slice(body).unwrap_or_default();
    // "ResourceNotFoundException:http://internal.amazon.com/…" or "aws.protocoltests#Foo".
    let kind = error_type_header
        .or(parsed.type_.as_deref())
        .map(|t| t.split(':').next().unwrap_or(t))
        .map(|t| t.rsplit('#').next().unwrap_or(t).trim().to_string())
        .filter(|t| !t.is_empty());
    let message = parsed
        .message
        .filter(|m| !m.trim().is_empty())
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            if text.trim().is_empty() {
                "no message".to_string()
            } else {
                excerpt(&text, 200)
            }
        });
    let text = match &kind {
        Some(k) => format!("{url} answered HTTP {status} {k}: {message}"),
        None => format!("{url} answered HTTP {status}: {message}"),
    };
    match kind.as_deref() {
        Some("ResourceNotFoundException") => PluginError::NotFound(text),
        // Stays wrong however often it is sent: the request or the settings must change.
        Some(
            "ValidationException"
            | "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignatureException"
            | "MissingAuthenticationTokenException"
            | "InvalidClientTokenId"
            | "ExpiredTokenException",
        ) => PluginError::Invalid(text),
        Some(
            "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "ServiceQuotaExceededException"
            | "InternalServerException"
            | "InternalFailure"
            | "ServiceUnavailable",
        ) => PluginError::Unavailable(text),
        _ => match status {
            404 => PluginError::NotFound(text),
            429 | 500..=599 => PluginError::Unavailable(text),
            401 | 403 => PluginError::Invalid(text),
            _ => PluginError::Rejected(text),
        },
    }
}


/// Signed restJson1 exchanges with one service endpoint, from a backend's
/// settings: `endpoint`, `region`, `access_key_id`, `secret_access_key` and
/// optionally `session_token`.
pub struct Client<'a> {
    pub endpoint: &'a str,
    pub region: &'a str,
    /// The signing name in the credential scope, e.g. `emr-serverless`.
    pub service: &'a str,
    pub credentials: Credentials,
}

impl<'a> Client<'a> {
    pub fn from_settings(settings: &'a Settings, service: &'a str) -> Result<Self, PluginError> {
        let endpoint = settings.require("endpoint")?;
        http::parse_url(endpoint)?;
        Ok(Client {
            endpoint,
            region: settings.require("region")?,
            service,
            credentials: Credentials {
                access_key_id: settings.require("access_key_id")?.to_string(),
                secret_access_key: settings.require("secret_access_key")?.to_string(),
                session_token: settings.get("session_token").map(str::to_string),
            },
        })
    }

    /// One signed exchange; a 2xx reply parsed as `T`, anything else mapped
    /// from the AWS error it carries ([`error_for`]).
    pub fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, PluginError> {
        let url = http::join(self.endpoint, path);
        let mut headers: Vec<(&str, &str)> = vec![("accept", "application/json")];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        let method_name = match method {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
        };
        let to_sign = Request {
            method: method_name,
            url: &url,
            headers: &headers,
            body: body.as_deref().unwrap_or_default(),
        };
        let signed = sign_request(
            &to_sign,
            &self.credentials,
            self.region,
            self.service,
            SystemTime::now(),
        )?;
        let mut all = headers.clone();
        all.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let reply = http::request(method, &url, &all, body)?;
        if reply.is_success() {
            reply.json(&url)
        } else {
            Err(error_for(
                reply.status,
                reply.header("x-amzn-errortype"),
                &reply.body,
                &url,
            ))
        }
    }
}

/// `sparkSubmitParameters` for `app` (`--class`, `--conf k=v`, `--jars`,
/// `--files`, `--py-files`) with `extra` Spark properties on top, and the
/// properties that cannot go there: the EMR services split that string on
/// whitespace, so a key or value with whitespace (or an empty value) is
/// returned apart, for the `spark-defaults` classification, which carries any
/// value.
pub fn spark_submit_parameters(
    app: &Application,
    extra: &[(String, String)],
) -> (String, BTreeMap<String, String>) {
    let mut props = spark_properties(app);
    for (k, v) in extra {
        crate::spark::set(&mut props, k, v);
    }
    let mut words: Vec<String> = Vec::new();
    if let Some(class) = app.main_class.as_deref().filter(|c| !c.trim().is_empty()) {
        words.extend(["--class".to_string(), class.to_string()]);
    }
    let mut defaults = BTreeMap::new();
    for (k, v) in props {
        if v.is_empty() || v.chars().any(char::is_whitespace) || k.chars().any(char::is_whitespace)
        {
            defaults.insert(k, v);
        } else {
            words.extend(["--conf".to_string(), format!("{k}={v}")]);
        }
    }
    for (flag, list) in [
        ("--jars", &app.jars),
        ("--files", &app.files),
        ("--py-files", &app.py_files),
    ] {
        if !list.is_empty() {
            words.extend([flag.to_string(), list.join(",")]);
        }
    }
    (words.join(" "), defaults)
}

/// The settings keys saying where `service` (its signing name, which is
/// also its endpoint's first label, e.g. `emr-serverless`) is: `endpoint`
/// and `region`, both required.
pub fn endpoint_keys(service: &str) -> [ConfigKey; 2] {
    [
        ConfigKey::new(
            "endpoint",
            &format!(
                "The service endpoint, https://{service}.REGION.amazonaws.com. \
                 An endpoint on this machine (127.0.0.1, localhost) may read local job files."
            ),
            true,
        ),
        ConfigKey::new("region", "AWS region, e.g. us-east-1.", true),
    ]
}

/// The settings keys of static credentials, as [`Client::from_settings`]
/// reads them; the secret ones marked so.
pub fn credential_keys() -> [ConfigKey; 3] {
    [
        ConfigKey::new("access_key_id", "AWS access key id.", true),
        ConfigKey::secret(
            "secret_access_key",
            "AWS secret access key (required; give it with secret_env).",
        ),
        ConfigKey::secret(
            "session_token",
            "AWS session token, for temporary credentials.",
        ),
    ]
}

/// What the backend's credentials lack for signing, found at load time: the
/// secret key is an optional key ([`ConfigKey::secret`]), so only this says
/// that it is missing.
pub fn credential_problems(settings: &Settings) -> Vec<Problem> {
    if settings.get("secret_access_key").is_some() {
        return Vec::new();
    }
    vec![Problem::new(
        "settings.secret_access_key",
        "the backend has no secret_access_key, so no request can be signed",
        "write secret_env = { secret_access_key = \"VAR_NAME\" } on the backend",
    )]
}

/// What an EMR service refuses in any application: a deploy mode other than
/// `mode`, the only one it runs (`why` says why, `hint` what to write), and
/// the Spark properties it sets itself (`sets_itself` says so of one).
pub fn emr_problems(
    app: &Application,
    mode: DeployMode,
    why: &str,
    hint: &str,
    sets_itself: impl Fn(&str) -> String,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if app.deploy_mode != mode {
        problems.push(Problem::new(
            "deploy_mode",
            format!(
                "{why}; this application asks for {} mode",
                app.deploy_mode.as_str()
            ),
            hint,
        ));
    }
    for key in ["spark.submit.deployMode", "spark.master"] {
        if app.conf.iter().any(|(k, _)| k == key) {
            problems.push(Problem::new(
                format!("conf.{key}"),
                sets_itself(key),
                format!("remove {key} from conf"),
            ));
        }
    }
    problems.extend(crate::spark::refuse_proxy_user(
        app,
        "EMR",
        "the service runs every job as the backend's execution role; there is no user to impersonate",
        "remove proxy_user; the job's identity is the backend's execution_role_arn",
    ));
    problems
}

/// drover's id for a job run: `{parent}/{run}`, its parent (application,
/// virtual cluster) first, so a driver stays reachable when the backend's
/// setting naming the parent changes later.
pub fn job_run_id(parent: &str, run: &str) -> String {
    format!("{parent}/{run}")
}

/// Splits a [`job_run_id`] into (parent, run); a bare run id belongs to
/// `default_parent`. `expected` names the form in the error, e.g. "an EMR
/// Serverless job run id (applicationId/jobRunId)".
pub fn split_job_run_id<'a>(
    id: &'a str,
    default_parent: &'a str,
    expected: &str,
) -> Result<(&'a str, &'a str), PluginError> {
    let (parent, run) = id.split_once('/').unwrap_or((default_parent, id));
    if parent.is_empty() || run.is_empty() || run.contains('/') {
        return Err(PluginError::Invalid(format!("{id:?} is not {expected}")));
    }
    Ok((parent, run))
}

/// One page of a paged list: its runs as (id, what the caller made of the
/// run), and the next page's token (`nextToken`).
pub type Page<T> = (Vec<(String, T)>, Option<String>);

/// What a paged list (ListJobRuns, newest first) shows of the `wanted` runs,
/// reading pages with `read(token)` until every wanted run has shown, the
/// list ends or `max_pages` are read. An error on the first page is the
/// call's; on a later page, what the earlier pages showed stands, and the
/// caller asks for the rest one by one.
pub fn list_wanted<T>(
    wanted: &BTreeSet<&str>,
    max_pages: usize,
    mut read: impl FnMut(Option<&str>) -> Result<Page<T>, PluginError>,
) -> Result<BTreeMap<String, T>, PluginError> {
    let mut listed = BTreeMap::new();
    let mut next: Option<String> = None;
    for page in 0..max_pages {
        if wanted.iter().all(|run| listed.contains_key(*run)) {
            break;
        }
        let (runs, token) = match read(next.as_deref()) {
            Ok(reply) => reply,
            Err(e) if page == 0 => return Err(e),
            Err(_) => break,
        };
        for (id, run) in runs {
            if wanted.contains(id.as_str()) {
                listed.insert(id, run);
            }
        }
        match token.filter(|t| !t.is_empty()) {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    Ok(listed)
}

/// A problem for each of `app`'s files given as a path on this machine, which
/// `service` (an AWS service reading job files from S3) cannot read; none
/// when the endpoint is on this machine ([`reads_local_files`]).
pub fn local_path_problems(settings: &Settings, app: &Application, service: &str) -> Vec<Problem> {
    if reads_local_files(settings) {
        return Vec::new();
    }
    let listed = [
        ("jars", &app.jars),
        ("files", &app.files),
        ("py_files", &app.py_files),
    ];
    let resource = std::iter::once(("resource".to_string(), &app.resource));
    let others = listed.iter().flat_map(|(field, list)| {
        list.iter()
            .enumerate()
            .map(move |(i, v)| (format!("{field}[{i}]"), v))
    });
    resource
        .chain(others)
        .filter(|(_, value)| is_local_path(value))
        .map(|(field, value)| {
            Problem::new(
                field,
                format!(
                    "{value} is a path on this machine, which {service} cannot read: \
                     the service reads job files from S3 (or its image, local:)"
                ),
                "give the file's s3:// URI, or have drover upload it before each submission: \
                 add a [backends.NAME.staging] table with s3 = \"https://s3.REGION.amazonaws.com\" \
                 and bucket = \"...\" to drover's config",
            )
        })
        .collect()
}

/// A positive whole number setting, at most `max`; `None` when unset.
pub fn positive(settings: &Settings, key: &str, max: Option<u32>) -> Result<Option<u32>, String> {
    let Some(v) = settings.get(key) else {
        return Ok(None);
    };
    match v.parse::<u32>() {
        Ok(n) if n >= 1 && max.is_none_or(|m| n <= m) => Ok(Some(n)),
        _ => Err(match max {
            Some(m) => format!(
                "the backend setting `{key}` must be a whole number from 1 to {m}, not {v:?}"
            ),
            None => {
                format!("the backend setting `{key}` must be a positive whole number, not {v:?}")
            }
        }),
    }
}

/// An endpoint on this machine (an emulator, drover's stand-in) runs job runs
/// here and can read local paths; a remote service cannot.
pub fn reads_local_files(settings: &Settings) -> bool {
    settings
        .get("endpoint")
        .and_then(|e| http::parse_url(e).ok())
        .is_some_and(|u| u.host == "localhost" || u.host == "::1" || u.host.starts_with("127."))
}

/// A plain path or a `file:` URI (anything else names a scheme the service may read).
pub fn is_local_path(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    if lower.starts_with("file:") {
        return true;
    }
    match value.split_once(':') {
        Some((scheme, _)) => {
            !(scheme.len() > 1
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn suite_creds(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(Into::into),
        }
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn signed(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        let req = Request {
            method,
            url,
            headers,
            body,
        };
        sign_request(
            &req,
            &suite_creds(None),
            "us-east-1",
            "service",
            suite_time(),
        )
        .unwrap()
    }

    // AWS's SigV4 test suite (aws-sig-v4-test-suite), case get-vanilla.
    #[test]
    fn signs_the_get_vanilla_test_vector() {
        let h = signed("GET", "https://example.amazonaws.com/", &[], b"");
        assert_eq!(header(&h, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            header(&h, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders=host;x-amz-date, \
                 Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
            )
        );
    }

    // Case get-vanilla-query-order-key-case: query parameters are sorted.
    #[test]
    fn signs_the_query_order_test_vector() {
        let h = signed(
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            &[],
            b"",
        );
        assert!(
            header(&h, "authorization").unwrap().ends_with(
                "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
            ),
            "{h:?}"
        );
    }

    // Case post-vanilla.
    #[test]
    fn signs_the_post_vanilla_test_vector() {
        let h = signed("POST", "https://example.amazonaws.com/", &[], b"");
        assert!(
            header(&h, "authorization").unwrap().ends_with(
                "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
            ),
            "{h:?}"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let req = Request {
            method: "GET",
            url: "https://emr-serverless.us-east-1.amazonaws.com/applications/a/jobruns/j",
            headers: &[],
            body: b"",
        };
        let h = sign_request(
            &req,
            &suite_creds(Some("TOKEN")),
            "us-east-1",
            "emr-serverless",
            suite_time(),
        )
        .unwrap();
        assert_eq!(header(&h, "x-amz-security-token"), Some("TOKEN"));
        let auth = header(&h, "authorization").unwrap();
        assert!(
            auth.contains("/20150830/us-east-1/emr-serverless/aws4_request")
                && auth.contains("SignedHeaders=host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
    }

    #[test]
    fn content_type_and_body_change_the_signature() {
        let url = "http://127.0.0.1:6066/applications/a/jobruns";
        let a = signed("POST", url, &[("content-type", "application/json")], b"{}");
        let b = signed("POST", url, &[("content-type", "application/json")], b"{ }");
        assert!(
            header(&a, "authorization")
                .unwrap()
                .contains("SignedHeaders=content-type;host;x-amz-date")
        );
        assert_ne!(header(&a, "authorization"), header(&b, "authorization"));
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let text = format!("{:?}", suite_creds(Some("TOKEN")));
        assert!(
            !text.contains("EXAMPLEKEY") && !text.contains("TOKEN"),
            "{text}"
        );
    }

    #[test]
    fn aws_errors_map_by_type_then_status() {
        let aws =
            |status, ty: Option<&str>, body: &str| error_for(status, ty, body.as_bytes(), "u");
        // AWS: the header names the type, the body has the message.
        let e = aws(
            404,
            Some("ResourceNotFoundException:http://internal.amazon.com/x"),
            r#"{"message":"Job run 00j does not exist"}"#,
        );
        assert!(
            matches!(&e, PluginError::NotFound(m) if m.contains("Job run 00j does not exist") && m.contains("ResourceNotFoundException")),
            "{e:?}"
        );
        // moto: 400 with __type in the body.
        let e = aws(
            400,
            None,
            r#"{"__type":"ResourceNotFoundException","message":"JobRun x does not exist"}"#,
        );
        assert!(matches!(e, PluginError::NotFound(_)), "{e:?}");
        assert!(matches!(
            aws(400, Some("ValidationException"), r#"{"message":"bad"}"#),
            PluginError::Invalid(_)
        ));
        assert!(matches!(
            aws(
                403,
                Some("InvalidSignatureException"),
                r#"{"message":"sig"}"#
            ),
            PluginError::Invalid(_)
        ));
        assert!(matches!(
            aws(400, Some("ThrottlingException"), "{}"),
            PluginError::Unavailable(_)
        ));
        assert!(
            matches!(aws(503, None, "<html>busy</html>"), PluginError::Unavailable(m) if m.contains("busy"))
        );
        assert!(matches!(
            aws(409, Some("ConflictException"), r#"{"message":"no"}"#),
            PluginError::Rejected(_)
        ));
        assert!(matches!(aws(404, None, ""), PluginError::NotFound(m) if m.contains("no message")));
        assert!(matches!(
            aws(400, Some("aws.protocols#ValidationException"), "{}"),
            PluginError::Invalid(_)
        ));
    }

    #[test]
    fn list_wanted_stops_once_every_wanted_run_has_shown() {
        let wanted: BTreeSet<&str> = ["r1", "r3"].into();
        let pages = [
            (vec![("r0", 0), ("r1", 1)], Some("t1")),
            (vec![("r2", 2), ("r3", 3)], Some("t2")),
            (vec![("r4", 4)], None),
        ];
        let mut tokens = Vec::new();
        let listed = list_wanted(&wanted, 10, |token| {
            tokens.push(token.map(str::to_string));
            let (runs, next) = &pages[tokens.len() - 1];
            let runs = runs.iter().map(|(id, v)| (id.to_string(), *v)).collect();
            Ok((runs, next.map(str::to_string)))
        })
        .unwrap();
        assert_eq!(listed, BTreeMap::from([("r1".to_string(), 1), ("r3".to_string(), 3)]));
        assert_eq!(tokens, [None, Some("t1".to_string())]);
    }

    #[test]
    fn list_wanted_fails_only_on_the_first_page_and_ends_on_a_blank_token() {
        let wanted: BTreeSet<&str> = ["r1", "r9"].into();
        let first = list_wanted::<u8>(&wanted, 10, |_| Err(PluginError::Unavailable("down".into())));
        assert_eq!(first, Err(PluginError::Unavailable("down".into())));
        let mut reads = 0;
        let later = list_wanted(&wanted, 10, |token| {
            reads += 1;
            match token {
                None => Ok((vec![("r1".to_string(), 1)], Some("t1".to_string()))),
                Some(_) => Err(PluginError::Unavailable("down".into())),
            }
        });
        assert_eq!(later, Ok(BTreeMap::from([("r1".to_string(), 1)])));
        assert_eq!(reads, 2);
        let mut reads = 0;
        let blank = list_wanted(&wanted, 10, |_| {
            reads += 1;
            Ok((vec![("r1".to_string(), 1)], Some(String::new())))
        });
        assert_eq!((blank.map(|l| l.len()), reads), (Ok(1), 1));
        let mut reads = 0;
        let _ = list_wanted(&wanted, 3, |_| {
            reads += 1;
            Ok((Vec::<(String, u8)>::new(), Some("more".to_string())))
        });
        assert_eq!(reads, 3, "at most max_pages");
    }
}
