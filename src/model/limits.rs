//! Size bounds enforced when decoding untrusted input.
//!
//! Every string and array an agent sends is bounded, so memory per event is
//! bounded however hostile the sender.

/// Longest accepted NDJSON line, in bytes.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// Identifiers: agent, workflow, run, approval and event ids.
pub const MAX_ID_BYTES: usize = 128;
/// Short names: tools, policies, versions, people.
pub const MAX_NAME_BYTES: usize = 128;
/// One-line titles.
pub const MAX_TITLE_BYTES: usize = 256;
/// Free text: reasons, details, errors, context, notes.
pub const MAX_TEXT_BYTES: usize = 4096;
/// Tool calls in one run.
pub const MAX_TOOL_CALLS: usize = 256;
/// Policy violations in one run.
pub const MAX_VIOLATIONS: usize = 64;
/// Structured reject options offered with one approval request.
pub const MAX_REJECT_OPTIONS: usize = 16;
/// Serialized size of an approval's tool arguments.
pub const MAX_ARGS_BYTES: usize = 16 * 1024;
