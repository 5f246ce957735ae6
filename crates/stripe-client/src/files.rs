//! File uploads (`POST /v1/files` on `files.stripe.com`): `multipart/form-data` with the
//! `purpose` and the file. The body is built here as bytes (not streamed) so that a retry resends
//! exactly the same request.

use rand::Rng;
use reqwest::header::HeaderValue;
use serde::Deserialize;

use super::client::{Body, StripeAccount, StripeClient};
use super::error::StripeError;
use super::types::{string_enum, HasId};

string_enum! {
    /// What a file is for (the purposes this client uploads).
    pub enum FilePurpose {
        DisputeEvidence = "dispute_evidence",
        TerminalReaderSplashscreen = "terminal_reader_splashscreen",
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct File {
    pub id: String,
    pub purpose: FilePurpose,
    pub filename: Option<String>,
    pub size: i64,
    /// `pdf`, `png`, `jpg`, …
    #[serde(rename = "type")]
    pub file_type: Option<String>,
    pub created: i64,
}

impl HasId for File {
    fn id(&self) -> &str {
        &self.id
    }
}

/// One file to upload.
#[derive(Debug, Clone)]
pub struct UploadFile<'a> {
    pub purpose: FilePurpose,
    /// The name Stripe shows; quotes, backslashes and line breaks are replaced by `_`.
    pub filename: &'a str,
    /// `application/pdf`, `image/png`, `image/jpeg`, `image/gif`.
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

impl UploadFile<'_> {
    /// The multipart body with `boundary`.
    fn encode(&self, boundary: &str) -> Result<Body, StripeError> {
        let safe_name: String = self
            .filename
            .chars()
            .map(|c| {
                if matches!(c, '"' | '\\' | '\r' | '\n') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        if self
            .content_type
            .chars()
            .any(|c| c.is_control() || c == '"')
        {
            return Err(StripeError::InvalidArgument(
                "the file's content type is not a valid header value".into(),
            ));
        }
        let mut bytes = Vec::with_capacity(self.bytes.len() + 512);
        bytes.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{}\r\n",
                self.purpose.as_str()
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\nContent-Type: {}\r\n\r\n",
                self.content_type
            )
            .as_bytes(),
        );
        bytes.extend_from_slice(self.bytes);
        bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let content_type =
            HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                .map_err(|_| StripeError::InvalidArgument("bad multipart boundary".into()))?;
        Ok(Body {
            bytes,
            content_type,
        })
    }
}

/// A boundary that does not occur in `bytes`.
fn boundary_for(bytes: &[u8]) -> String {
    loop {
        let tail: String = rand::thread_rng()
            .sample_iter(&rand::distributions::Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        let boundary = format!("pos-backend-{tail}");
        if !bytes
            .windows(boundary.len())
            .any(|w| w == boundary.as_bytes())
        {
            return boundary;
        }
    }
}

impl StripeClient {
    /// Uploads a file (`files.stripe.com`; the simulator serves it on its own base URL).
    pub async fn upload_file(
        &self,
        account: &StripeAccount,
        file: &UploadFile<'_>,
        idempotency_key: &str,
    ) -> Result<File, StripeError> {
        let body = file.encode(&boundary_for(file.bytes))?;
        self.post_body(account, true, "/v1/files", body, idempotency_key)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_multipart_upload() {
        let file = UploadFile {
            purpose: FilePurpose::DisputeEvidence,
            filename: "re\"ceipt.pdf",
            content_type: "application/pdf",
            bytes: b"%PDF-1.4 x",
        };
        let body = file.encode("B").unwrap();
        assert_eq!(
            String::from_utf8(body.bytes).unwrap(),
            "--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\ndispute_evidence\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"re_ceipt.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4 x\r\n--B--\r\n"
        );
        assert_eq!(body.content_type, "multipart/form-data; boundary=B");
        assert!(!boundary_for(b"abc").is_empty());
    }
}
