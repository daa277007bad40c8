//! Reading bounded response bodies.

use super::{UpstreamError, reqwest_error};

/// Read at most `limit` bytes of a response body; larger bodies are an error.
pub async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, UpstreamError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(UpstreamError::BadResponse(format!(
            "the response is larger than {limit} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| reqwest_error(&e))? {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::BadResponse(format!(
                "the response is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
