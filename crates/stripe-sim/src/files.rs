//! File uploads (`POST /v1/files`, Stripe's `files.stripe.com`, served on the simulator's own
//! base URL): `multipart/form-data` with `purpose` and a `file` part. Two purposes are taken:
//! `dispute_evidence` (PDF, JPEG or PNG, at most 5 MB, as Stripe documents for dispute evidence)
//! and `terminal_reader_splashscreen` (a reader's splash screen: JPEG or PNG under 2 MB, GIF
//! under 4 MB, as Stripe's splash screen guide says); the simulator keeps their name, type and
//! size, not their bytes.

use super::error::ApiError;
use super::state::{find, Ctx, Meta, Object, State};
use serde_json::{json, Value};

/// Stripe's limit on one dispute evidence file.
const MAX_EVIDENCE_BYTES: usize = 5 * 1024 * 1024;
/// Stripe's limits on a splash screen: JPEG and PNG less than 2 MB, GIF less than 4 MB.
const MAX_SPLASH_BYTES: usize = 2 * 1024 * 1024;
const MAX_SPLASH_GIF_BYTES: usize = 4 * 1024 * 1024;
pub(crate) const SPLASHSCREEN: &str = "terminal_reader_splashscreen";

/// The file part of a multipart request.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone)]
pub(crate) struct File {
    pub meta: Meta,
    pub purpose: String,
    pub filename: Option<String>,
    pub kind: &'static str,
    pub size: usize,
}

impl Object for File {
    fn meta(&self) -> &Meta {
        &self.meta
    }
}

impl File {
    pub fn render(&self) -> Value {
        json!({
            "id": self.meta.id,
            "object": "file",
            "created": self.meta.created,
            "expires_at": null,
            "filename": self.filename,
            "purpose": self.purpose,
            "size": self.size,
            "title": null,
            "type": self.kind,
            // The simulator does not serve file contents.
            "url": null,
        })
    }
}

/// The text fields of a multipart body (as form pairs) and its file part.
pub(crate) type Multipart = (Vec<(String, String)>, Option<Upload>);

/// Splits a `multipart/form-data` body into its text fields and its file part. `None`: not a
/// well-formed multipart body for `content_type`.
pub(crate) fn parse_multipart(content_type: &str, body: &[u8]) -> Option<Multipart> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()?
        .trim_matches('"');
    if boundary.is_empty() {
        return None;
    }
    let delimiter = format!("--{boundary}");
    let mut pairs = Vec::new();
    let mut upload = None;
    let mut rest = body;
    // Preamble, then one part per delimiter until the closing `--boundary--`.
    let start = find_bytes(rest, delimiter.as_bytes())?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some((pairs, upload));
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find_bytes(rest, format!("\r\n{delimiter}").as_bytes())?;
        let part = &rest[..end];
        rest = &rest[end + 2 + delimiter.len()..];
        let header_end = find_bytes(part, b"\r\n\r\n")?;
        let headers = std::str::from_utf8(&part[..header_end]).ok()?;
        let content = &part[header_end + 4..];
        let mut name = None;
        let mut filename = None;
        for line in headers.split("\r\n") {
            let (key, value) = line.split_once(':')?;
            // The part's Content-Type is not trusted: the content says what the file is.
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                {
                    for attr in value.split(';').skip(1) {
                        let (k, v) = attr.trim().split_once('=')?;
                        let v = v.trim_matches('"').to_string();
                        match k {
                            "name" => name = Some(v),
                            "filename" => filename = Some(v),
                            _ => {}
                        }
                    }
                }
            }
        }
        let name = name?;
        if filename.is_some() || name == "file" {
            upload = Some(Upload {
                filename,
                bytes: content.to_vec(),
            });
        } else {
            pairs.push((name, String::from_utf8(content.to_vec()).ok()?));
        }
    }
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The file type of an upload, from its content (PDF, JPEG, PNG, GIF); `None`: another kind.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("gif")
    } else {
        None
    }
}

/// `POST /v1/files`
pub(crate) fn create(state: &mut State, ctx: &Ctx) -> Result<Value, ApiError> {
    let purpose = ctx.params.str("purpose").unwrap_or_default();
    let Some(upload) = ctx.upload else {
        return Err(ApiError::invalid(
            "Missing required param: file. Upload it as the `file` part of a multipart/form-data request.",
        )
        .with_param("file"));
    };
    if upload.bytes.is_empty() {
        return Err(ApiError::invalid("The file is empty.").with_param("file"));
    }
    let kind = sniff(&upload.bytes);
    match purpose {
        "dispute_evidence" => {
            if upload.bytes.len() > MAX_EVIDENCE_BYTES {
                return Err(ApiError::invalid(format!(
                    "The file is {} bytes; dispute evidence files must be at most {MAX_EVIDENCE_BYTES} bytes.",
                    upload.bytes.len()
                ))
                .with_param("file"));
            }
            if !matches!(kind, Some("pdf" | "jpg" | "png")) {
                return Err(
                    ApiError::invalid("Dispute evidence must be a PDF, JPEG or PNG file.")
                        .with_param("file"),
                );
            }
        }
        SPLASHSCREEN => {
            let limit = match kind {
                Some("jpg" | "png") => MAX_SPLASH_BYTES,
                Some("gif") => MAX_SPLASH_GIF_BYTES,
                _ => {
                    return Err(ApiError::invalid(
                        "A reader splash screen must be a JPEG, PNG or GIF image.",
                    )
                    .with_param("file"))
                }
            };
            if upload.bytes.len() >= limit {
                return Err(ApiError::invalid(format!(
                    "The file is {} bytes; a splash screen must be less than {limit} bytes (JPEG and PNG less than 2 MB, GIF less than 4 MB).",
                    upload.bytes.len()
                ))
                .with_param("file"));
            }
        }
        other => {
            return Err(ApiError::invalid(format!(
                "The simulator only takes files of purpose dispute_evidence or {SPLASHSCREEN}, not {other}."
            ))
            .with_param("purpose"))
        }
    }
    let kind = kind.expect("checked");
    let file = File {
        meta: state.meta("file", ctx.ns(), ctx.now),
        purpose: purpose.to_string(),
        filename: upload.filename.clone(),
        kind,
        size: upload.bytes.len(),
    };
    let rendered = file.render();
    state.files.insert(file.meta.id.clone(), file);
    Ok(rendered)
}

/// A dispute's file evidence must name a `dispute_evidence` upload of the same account.
pub(crate) fn check_evidence_file(
    state: &State,
    ns: &str,
    id: &str,
    param: &str,
) -> Result<(), ApiError> {
    match find(&state.files, ns, id) {
        Some(f) if f.purpose == "dispute_evidence" => Ok(()),
        Some(f) => Err(ApiError::invalid(format!(
            "File {id} has purpose {}; dispute evidence needs a file of purpose dispute_evidence.",
            f.purpose
        ))
        .with_param(param)),
        None => Err(ApiError::invalid(format!("No such file upload: '{id}'"))
            .with_code("resource_missing")
            .with_param(param)),
    }
}
