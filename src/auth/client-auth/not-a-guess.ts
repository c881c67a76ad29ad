// Failed client authentications that prove nothing was guessed. The throttle
// (auth.client_auth_throttle) counts failures to slow down guessing of credentials; a private_key_jwt
// assertion whose signature verified but which is refused all the same (its jti was used
// before, it has expired, it names another audience) was signed by the client: whoever sends
// it captured it and guesses nothing by sending it again. Counting it would let one captured
// assertion, replayed max_failures times, lock the client out for the window.
import type { AppError } from '../../core/errors.js';

const uncounted = new WeakSet<AppError>();

/** Marks an invalid_client that the throttle must not count; returns it for `throw`. */
export function notAGuess(err: AppError): AppError {
  uncounted.add(err);
  return err;
}

export function isGuess(err: AppError): boolean {
  return !uncounted.has(err);
}
