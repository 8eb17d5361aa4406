/**
 * Why a sync peer refused a frame, a batch or a handshake. Sent to the other side as
 * `{ type: 'error', code, message }` before the connection is closed; nothing of the refused
 * frame is applied.
 */
export type SyncErrorCode =
  /** hello carried an unknown bank, a wrong secret, or a bank this credential is not for. */
  | 'bad_credentials'
  /** A frame that is not what the protocol allows at this point (bad JSON, wrong type, no hello). */
  | 'protocol_error'
  /** The frame's sequence number is not the next one: a replayed or reordered frame. */
  | 'replayed_frame'
  /** The frame's MAC does not verify: tampered with, or not from the session's peer. */
  | 'bad_mac'
  /** The frame's framing or batch encoding is broken. */
  | 'malformed_frame'
  /** Larger than the peer accepts. */
  | 'frame_too_large'
  /** An Automerge sync message that does not decode or apply. */
  | 'malformed_sync_message'
  /** A document this peer may not write (another bank's, unknown kind, cloud-authored facts). */
  | 'forbidden_document'
  /** Changes to a document that is read-only for this peer (a bank's config, for its hub). */
  | 'read_only_document'
  /** The peer's side failed while applying (storage error): try again later. */
  | 'internal_error'
  /** Another cloud node serves this bank now: reconnect to the error's `location`. */
  | 'moved';

/** A refusal: the whole frame (or handshake) is rejected and the connection closed. */
export class SyncRejected extends Error {
  constructor(
    readonly code: SyncErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SyncRejected';
  }
}

/** A refusal reason returned by an authorization hook. */
export interface Refusal {
  code: Extract<SyncErrorCode, 'forbidden_document' | 'read_only_document'>;
  message: string;
}
