// The one error type route handlers throw; app.ts turns it into `{ error, message, requestId, ... }`.
import { ERROR_STATUS, type ErrorCode } from '../protocol/errors.js';
import type { ChallengeT } from '../protocol/schemas.js';

export interface ErrorExtra {
  rules?: string[];
  challenge?: ChallengeT;
  retryAfter?: number;
  /** the sign-in is over (its ticket expired or used up, the device signed out): start again, do not retry the step */
  signInAgain?: true;
}

export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: ErrorExtra = {},
  ) {
    super(message);
    this.status = ERROR_STATUS[code];
  }
}

export const apiError = (code: ErrorCode, message: string, extra?: ErrorExtra) => new ApiError(code, message, extra);
