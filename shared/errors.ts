/**
 * Typed domain errors. Services throw these; each HTTP app maps them once (in `onError`)
 * to API.md's error shape `{ error: { code, message } }` with `status`.
 */
export class DomainError extends Error {
  constructor(
    /** snake_case reason, part of the public API. */
    readonly code: string,
    message: string,
    /** HTTP status the boundary answers with. */
    readonly status: number,
    /** Extra public fields merged into the error object (e.g. `attemptsLeft`). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends DomainError {
  constructor(message: string, code = 'bad_request', details: Record<string, unknown> = {}) {
    super(code, message, 400, details);
  }
}
export class Unauthorized extends DomainError {
  constructor(message = 'Missing or invalid credentials.', code = 'unauthorized') {
    super(code, message, 401);
  }
}
export class Forbidden extends DomainError {
  constructor(message = 'You are not allowed to do this.', code = 'forbidden') {
    super(code, message, 403);
  }
}
export class NotFound extends DomainError {
  constructor(message: string, code = 'not_found') {
    super(code, message, 404);
  }
}
export class Conflict extends DomainError {
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(code, message, 409, details);
  }
}
export class InvalidCode extends DomainError {
  constructor(attemptsLeft: number) {
    super('invalid_code', 'That code is not valid. Check the message you received and try again.', 401, {
      attemptsLeft,
    });
  }
}
export class Throttled extends DomainError {
  constructor(retryAfterSeconds: number) {
    super('throttled', `Too many wrong codes. Please wait ${retryAfterSeconds} seconds and try again.`, 429, {
      retryAfterSeconds,
    });
  }
}
export class CodeGone extends DomainError {
  constructor(kind: 'expired' | 'revoked' | 'used') {
    const message = {
      expired: 'This code has expired. The parcel is being returned; contact the sender or support.',
      revoked: 'This code was replaced or cancelled. Use the newest code you received, or ask support to resend it.',
      used: 'This code was already used to open the door.',
    }[kind];
    super(`code_${kind}`, message, 410);
  }
}
export class DoorFault extends DomainError {
  constructor(compartment: number, reason: string) {
    super(
      'door_fault',
      `Compartment ${compartment} did not open (${reason}). Your code was not used: try again, or call support from this screen to have the parcel moved.`,
      409,
      { compartment, reason },
    );
  }
}
export class TooLarge extends DomainError {
  constructor(limit: number) {
    super('payload_too_large', `The request body is larger than ${limit} bytes.`, 413);
  }
}
