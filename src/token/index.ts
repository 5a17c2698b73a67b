// Public surface of src/token: k3s/Kubernetes token formats, byte-compatible with upstream.
export {
  BOOTSTRAP_TOKEN_PATTERN,
  BOOTSTRAP_TOKEN_ID_PATTERN,
  TOKEN_ALPHABET,
  generateBootstrapToken,
  parseBootstrapToken,
  isBootstrapTokenId,
  randomAlphabetString,
  defaultRandomFill,
  type BootstrapToken,
  type RandomFill,
} from './bootstrap-token.ts';
export { parseJoinToken, formatJoinToken, formatJoinTokenWithHash, TOKEN_PREFIX, CA_HASH_LENGTH, type JoinToken } from './join-token.ts';
export { hashClusterCA, caCertPin, caCertPins, parseBundleCertificates, type HashClusterCAOptions } from './ca-hash.ts';
export {
  buildBootstrapTokenSecret,
  formatExpiration,
  validateTokenGroups,
  validateTokenUsages,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  BOOTSTRAP_TOKEN_SECRET_PREFIX,
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_GROUP_PATTERN,
  KNOWN_TOKEN_USAGES,
  DEFAULT_TOKEN_GROUPS,
  type BootstrapTokenSecretInput,
  type SecretObject,
  type TokenUsage,
} from './bootstrap-secret.ts';
export { parseDuration, formatDuration } from './duration.ts';
export { TokenError } from './token-error.ts';
export { shortHumanDuration } from './human-duration.ts';
export { parseRfc3339 } from './rfc3339.ts';
