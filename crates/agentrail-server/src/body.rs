//! Reading request bodies within limits: the raw size is capped while reading, and a gzip body
//! is decompressed through a cap, so neither a huge body nor a gzip bomb can exhaust memory.

use crate::error::ApiError;
use axum::body::Body;
use axum::http::{header, HeaderMap};
use std::io::Read;

/// Size limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of body as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Bytes of body after decompression.
    pub max_decompressed_bytes: usize,
    /// Events (or spans) in one request.
    pub max_events_per_request: usize,
    /// Bytes of one event's JSON.
    pub max_event_bytes: usize,
    /// How long a client may take to send a body.
    pub body_timeout: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_events_per_request: 10_000,
            max_event_bytes: 1 << 20,
            body_timeout: std::time::Duration::from_secs(30),
        }
    }
}

/// Reads the body (at most `max_body_bytes`) and decompresses it per `Content-Encoding`.
pub async fn read(headers: &HeaderMap, body: Body, limits: &Limits) -> Result<Vec<u8>, ApiError> {
    let read = tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body_bytes),
    )
    .await
    .map_err(|_| {
        ApiError::Timeout(format!(
            "the request body did not arrive within {} s",
            limits.body_timeout.as_secs()
        ))
    })?;
    let raw = read.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit")
        {
            ApiError::TooLarge(format!(
                "the request body is larger than {} bytes",
                limits.max_body_bytes
            ))
        } else {
            ApiError::BadRequest(format!("reading the request body: {e}"))
        }
    })?;
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("identity") | Some("") => Ok(raw.to_vec()),
        Some("gzip") | Some("x-gzip") => {
            // Up to max_decompressed_bytes of CPU-bound work: off the async workers.
            let max = limits.max_decompressed_bytes;
            tokio::task::spawn_blocking(move || gunzip(&raw, max))
                .await
                .map_err(|e| ApiError::Internal(format!("decompression task failed: {e}")))?
        }
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Encoding {other:?} is not supported; send gzip or no encoding"
        ))),
    }
}

/// Decompresses gzip, refusing to produce more than `max` bytes.
#[allow(clippy::disallowed_methods)] // read_to_end behind take(max + 1): the bounded form
pub fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(max));
    let read = flate2::read::MultiGzDecoder::new(data)
        .take(max as u64 + 1)
        .read_to_end(&mut out);
    match read {
        Ok(n) if n > max => Err(ApiError::TooLarge(format!(
            "the request body decompresses to more than {max} bytes"
        ))),
        Ok(_) => Ok(out),
        Err(e) => Err(ApiError::BadRequest(format!(
            "the gzip body is corrupt: {e}"
        ))),
    }
}

/// The media type of the body, lowercased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).map(|v| {
        v.to_str()
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzip_round_trips_and_caps_bombs() {
        assert_eq!(gunzip(&gz(b"hello"), 10).unwrap(), b"hello");
        let bomb = gz(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 100_000);
        assert!(matches!(gunzip(&bomb, 1 << 20), Err(ApiError::TooLarge(_))));
        assert!(matches!(
            gunzip(b"not gzip", 100),
            Err(ApiError::BadRequest(_))
        ));
    }
}
