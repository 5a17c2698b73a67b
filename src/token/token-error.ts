// The one error type of src/token: public code `invalid_token`, message mirroring k3s/kubeadm.
// It never carries the offending token text (it may be a credential).
import { AppError } from '../errors.ts';

export class TokenError extends AppError {
  constructor(message: string) {
    super('invalid_token', message);
    this.name = 'TokenError';
  }
}
