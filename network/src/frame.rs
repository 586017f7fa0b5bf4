//! Framing on a stream: one byte naming the channel when the stream opens, then frames of a
//! 4-byte little-endian length and that many payload bytes.

use bytes::Bytes;

use crate::Channel;

/// Why a peer's stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The stream named a channel that does not exist.
    #[error("unknown channel id {0}")]
    UnknownChannel(u8),
    /// A frame longer than the channel allows.
    #[error("frame of {length} bytes on {channel:?} exceeds the limit of {limit}")]
    TooLarge {
        /// The channel.
        channel: Channel,
        /// Announced length.
        length: u32,
        /// The channel's limit.
        limit: u32,
    },
    /// The stream broke mid-frame.
    #[error("stream ended inside a frame")]
    Truncated,
}

/// The header of one frame.
pub(crate) fn header(length: usize) -> [u8; 4] {
    (length as u32).to_le_bytes()
}

/// Checks an announced frame length against the channel's limit.
pub(crate) fn check_length(channel: Channel, length: u32, limit: u32) -> Result<usize, FrameError> {
    if length > limit {
        return Err(FrameError::TooLarge { channel, length, limit });
    }
    Ok(length as usize)
}

/// Reads the next frame; `Ok(None)` at a clean end of stream.
pub(crate) async fn read_frame(
    stream: &mut quinn::RecvStream,
    channel: Channel,
    limit: u32,
) -> Result<Option<Bytes>, FrameError> {
    let mut length = [0u8; 4];
    match stream.read_exact(&mut length).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(quinn::ReadExactError::FinishedEarly(_)) => return Err(FrameError::Truncated),
        // The connection or the stream went away: an end, not a framing fault.
        Err(quinn::ReadExactError::ReadError(_)) => return Ok(None),
    }
    let length = check_length(channel, u32::from_le_bytes(length), limit)?;
    let mut payload = vec![0u8; length];
    match stream.read_exact(&mut payload).await {
        Ok(()) => Ok(Some(Bytes::from(payload))),
        Err(quinn::ReadExactError::FinishedEarly(_)) => Err(FrameError::Truncated),
        Err(quinn::ReadExactError::ReadError(_)) => Ok(None),
    }
}
