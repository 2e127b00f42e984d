// Stable error codes of the kpm server API and their HTTP statuses. Every error response is
// `{ "error": CODE, "message": TEXT, "requestId": ID, ...extra }`; clients branch on CODE only.

export const ERROR_STATUS = {
  // malformed requests
  bad_request: 400, // body is not JSON, or JSON that does not parse
  invalid_body: 400, // JSON that breaks the schema: wrong type, unknown or missing field
  invalid_code: 400, // activation / reset / confirmation code unknown, used or expired
  body_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  // authentication
  unauthorized: 401, // no, malformed, unknown or revoked access token
  token_expired: 401, // access token past its lifetime: refresh it
  invalid_credentials: 401, // wrong email or password (never says which)
  invalid_otp: 401, // wrong second-factor code (or expired login ticket)
  otp_reused: 401, // a TOTP code (or an earlier step) that was already accepted
  account_not_activated: 403,
  account_disabled: 403,
  forbidden: 403,
  // security check
  challenge_required: 428, // solve `challenge` (captcha or proof of work) and send the solution
  challenge_failed: 428, // the solution was wrong or stale; a fresh `challenge` is attached
  too_many_attempts: 429, // hard cap reached; `retryAfter` seconds
  // validation of values
  password_policy: 422, // `rules`: the broken rules
  invalid_email: 422,
  invalid_region: 422,
  invalid_phone: 422,
  conflict: 409,
  // sign-in with an identity provider (docs/PROTOCOL.md "Sign-in with an identity provider")
  sso_denied: 403, // the user denied the request at the provider
  sso_expired: 410, // the device code or the kpm flow expired (or is unknown): start again
  sso_not_linked: 403, // the identity is not linked, and its address belongs to an existing account
  email_unverified: 403, // the identity is not linked, and its provider does not vouch for its address: no account is made
  provider_unsupported: 422, // the provider has no device authorization endpoint (RFC 8628)
  provider_error: 502, // the provider refused the request or sent no ID token
  provider_unavailable: 502, // discovery or a request to the provider failed
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export const isErrorCode = (s: unknown): s is ErrorCode => typeof s === 'string' && Object.hasOwn(ERROR_STATUS, s);
