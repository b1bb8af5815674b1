//! Checking AWS Signature V4 by recomputing it with the AWS SDK's signer, and
//! the middleware that puts a whole router behind that check. Both AWS-shaped
//! stand-ins (EMR Serverless, EMR on EKS) sign with the same made-up account;
//! only the service name in the credential scope differs.

use std::borrow::Cow;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use tracing::warn;

use super::{ACCESS_KEY_ID, AwsError, REGION, SECRET_ACCESS_KEY};

/// How far a request's `x-amz-date` may be from the stand-in's clock (AWS: 15 minutes).
pub const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(15);
/// Larger request bodies are refused before they are read.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// `router` with every route behind a SigV4 check for `service`.
pub fn signed<S: Clone + Send + Sync + 'static>(router: Router<S>, service: &'static str) -> Router<S> {
    router.route_layer(middleware::from_fn_with_state(service, check_signature))
}

/// Refuses any request without a valid SigV4 signature; passes the rest on
/// with their body intact.
async fn check_signature(State(service): State<&'static str>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "ValidationException",
                "The request body is too large.",
            )
            .into_response();
        }
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    if let Err(e) = verify(
        service,
        parts.method.as_str(),
        path_and_query,
        &parts.headers,
        &body,
        Utc::now(),
    ) {
        warn!(path = %parts.uri.path(), error = %e.message, "refused an unsigned or badly signed request");
        return e.into_response();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

const INVALID_SIGNATURE: &str = "InvalidSignatureException";

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, PartialEq, Eq)]
pub struct Authorization<'a> {
    pub access_key_id: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

pub fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        let (k, v) = part.split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed_headers = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let auth = Authorization {
        access_key_id: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        signed_headers: signed_headers?.split(';').collect(),
        signature: signature?,
    };
    (scope.next()? == "aws4_request" && scope.next().is_none()).then_some(auth)
}

/// Ok when the request is signed by [`ACCESS_KEY_ID`] with [`SECRET_ACCESS_KEY`]
/// for [`REGION`] and `service`, within the allowed clock skew.
pub fn verify(
    service: &str,
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), AwsError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(value) = header("authorization") else {
        return Err(AwsError::forbidden(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let auth = parse_authorization(value).ok_or_else(|| {
        AwsError::forbidden(
            "IncompleteSignatureException",
            format!("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters (AWS4-HMAC-SHA256). Authorization={value}"),
        )
    })?;
    if auth.access_key_id != ACCESS_KEY_ID {
        return Err(AwsError::forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if auth.service != service {
        return Err(AwsError::forbidden(
            INVALID_SIGNATURE,
            format!("Credential should be scoped to correct service: '{service}'."),
        ));
    }
    if auth.region != REGION {
        return Err(AwsError::forbidden(
            INVALID_SIGNATURE,
            format!(
                "Credential should be scoped to a valid region, not '{}'.",
                auth.region
            ),
        ));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| {
        AwsError::forbidden(
            INVALID_SIGNATURE,
            "The request must carry an x-amz-date header.",
        )
    })?;
    let time = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| {
            AwsError::forbidden(
                INVALID_SIGNATURE,
                format!("x-amz-date {amz_date:?} is not a valid date."),
            )
        })?
        .and_utc();
    if !amz_date.starts_with(auth.date) {
        return Err(AwsError::forbidden(
            INVALID_SIGNATURE,
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                auth.date,
                &amz_date[..8.min(amz_date.len())]
            ),
        ));
    }
    if (now - time).abs() > MAX_CLOCK_SKEW {
        return Err(AwsError::forbidden(
            INVALID_SIGNATURE,
            format!(
                "Signature expired: {amz_date} is now earlier or later than the allowed 15 minutes around {}.",
                now.format("%Y%m%dT%H%M%SZ")
            ),
        ));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(AwsError::forbidden(
            INVALID_SIGNATURE,
            "The host header must be signed.",
        ));
    }
    let mut signed: Vec<(&str, String)> = Vec::new();
    for name in &auth.signed_headers {
        let values: Vec<&str> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(AwsError::forbidden(
                INVALID_SIGNATURE,
                format!("Signed header {name} is missing from the request."),
            ));
        }
        signed.push((name, values.join(",")));
    }
    let host = header("host").unwrap_or_default();
    let expected = signature(
        service,
        method,
        &format!("http://{host}{path_and_query}"),
        &signed,
        body,
        time,
    )
    .map_err(|e| {
        AwsError::forbidden(
            INVALID_SIGNATURE,
            format!("The request cannot be signed: {e}"),
        )
    })?;
    if expected != auth.signature {
        return Err(AwsError::forbidden(
            INVALID_SIGNATURE,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ));
    }
    Ok(())
}

/// The signature of a request with exactly `headers` signed.
fn signature(
    service: &str,
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
    time: DateTime<Utc>,
) -> Result<String, String> {
    let identity =
        Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None, "stand-in").into();
    let mut settings = SigningSettings::default();
    // Sign what the client signed, nothing more and nothing less.
    settings.excluded_headers = Some(Vec::<Cow<'static, str>>::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(service)
        .time(time.into())
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| e.to_string())?;
    let (_, signature) = sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "emr-serverless";

    #[test]
    fn parses_the_authorization_header() {
        let a = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/emr-serverless/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc",
        )
        .unwrap();
        assert_eq!(
            a,
            Authorization {
                access_key_id: "AKID",
                date: "20150830",
                region: "us-east-1",
                service: "emr-serverless",
                signed_headers: vec!["host", "x-amz-date"],
                signature: "abc",
            }
        );
        assert!(parse_authorization("Bearer x").is_none());
        assert!(
            parse_authorization(
                "AWS4-HMAC-SHA256 Credential=A/d/r/s/other, SignedHeaders=host, Signature=x"
            )
            .is_none()
        );
    }

    fn signed_headers(secret: &str, time: DateTime<Utc>, body: &[u8]) -> HeaderMap {
        let identity = Credentials::new(ACCESS_KEY_ID, secret, None, None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("emr-serverless")
            .time(time.into())
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let req = SignableRequest::new(
            "POST",
            "http://127.0.0.1:9/applications/a/jobruns",
            [("content-type", "application/json")].into_iter(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(req, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:9".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        for (k, v) in instructions.headers() {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn accepts_a_good_signature_and_refuses_a_wrong_secret_body_or_clock() {
        let now = Utc::now();
        let good = signed_headers(SECRET_ACCESS_KEY, now, b"{}");
        let path = "/applications/a/jobruns";
        verify(SERVICE, "POST", path, &good, b"{}", now).unwrap();
        let kind = |r: Result<(), AwsError>| r.unwrap_err().kind;
        assert_eq!(
            kind(verify(
                SERVICE,
                "POST",
                path,
                &signed_headers("wrong", now, b"{}"),
                b"{}",
                now
            )),
            INVALID_SIGNATURE
        );
        assert_eq!(
            kind(verify(SERVICE, "POST", path, &good, b"{ }", now)),
            INVALID_SIGNATURE
        );
        assert_eq!(
            kind(verify(SERVICE, "GET", path, &good, b"{}", now)),
            INVALID_SIGNATURE
        );
        assert_eq!(
            kind(verify(
                SERVICE,
                "POST",
                path,
                &good,
                b"{}",
                now + chrono::Duration::hours(1)
            )),
            INVALID_SIGNATURE
        );
        assert_eq!(
            kind(verify(SERVICE, "POST", path, &HeaderMap::new(), b"{}", now)),
            "MissingAuthenticationTokenException"
        );
    }
}
