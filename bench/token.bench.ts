// Token core against the primitive each operation cannot avoid.
import { sha256 } from '@noble/hashes/sha2.js';
import vectors from '../test/vectors/ca-hash.json' with { type: 'json' };
import { buildBootstrapTokenSecret, generateBootstrapToken, hashClusterCA, parseJoinToken } from '../src/token/index.ts';
import { measure, report } from './measure.ts';

const single = new TextEncoder().encode(vectors.certificates.root);
const chain = vectors.certificates.intermediate + vectors.certificates.root;
const token = `K10${'a'.repeat(64)}::abcdef.0123456789abcdef`;
const expiresAt = new Date('2030-01-01T00:00:00Z');

report('token core (Node, single thread)', [
  [await measure('generateBootstrapToken', () => generateBootstrapToken()), await measure('crypto.getRandomValues(64 bytes)', () => crypto.getRandomValues(new Uint8Array(64)))],
  [await measure('hashClusterCA (1 cert: sha256 of PEM)', () => hashClusterCA(single)), await measure('sha256(PEM bytes)', () => sha256(single))],
  [await measure('hashClusterCA (2 certs: chain verify)', () => hashClusterCA(chain)), await measure('sha256(PEM bytes)', () => sha256(single))],
  [await measure('parseJoinToken (K10 bootstrap)', () => parseJoinToken(token)), await measure('regex test of the same token', () => /^K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}$/.test(token))],
  [await measure('buildBootstrapTokenSecret', () => buildBootstrapTokenSecret({ id: 'abcdef', secret: '0123456789abcdef', expiresAt })), await measure('JSON.stringify of a Secret', () => JSON.stringify({ a: 'abcdef', b: '0123456789abcdef', c: expiresAt.toISOString() }))],
]);
