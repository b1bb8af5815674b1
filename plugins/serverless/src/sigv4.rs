//! AWS Signature Version 4 for the requests this plugin sends, through the
//! AWS SDK's own signer (`aws-sigv4`), so the canonical request, the scope
//! and the key derivation are the ones every AWS client uses.
//!
//! Pure: the signing time is an argument, so AWS's published test vectors
//! pin the wiring on the host target.

use std::time::SystemTime;

use aws_credential_types::Credentials as AwsCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use drover_plugin_sdk::PluginError;

/// The service name in the credential scope.
pub const SERVICE: &str = "emr-serverless";

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
            SERVICE,
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
}
