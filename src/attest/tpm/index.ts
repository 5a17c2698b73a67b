// Public surface of src/attest/tpm: TPM public areas and names, AK checks, MakeCredential.
export { TpmRejectedError } from './tpm-error.ts';
export { parseTpm2bPublic, parseTpmtPublic, computeTpmName, akNameHex, validateAttestationKey, hashFor, TPM_ALG, TPM_ECC_CURVE, TPMA_OBJECT, TPM_PUBLIC_MAX_BYTES, type TpmPublic, type TpmaObjectName } from './tpm-public.ts';
export { makeCredential, credentialFromSeed, ekFromSpki, ekFromTpmPublic, parseEkPublicKey, kdfa, kdfe, type EkKey, type MadeCredential, type MakeCredentialInput, type MakeCredentialOptions } from './make-credential.ts';
export { verifyEkCertificate, parseEkPublicPem, parseEkRoots, type VerifiedEk } from './ek.ts';
export { issueTpmChallenge, quoteNonceHex, CREDENTIAL_BYTES, type ChallengeDeps, type ChallengeResult } from './challenge.ts';
export { createTpmVerifier } from './verifier.ts';
export { parseQuote, verifyQuote, type PcrPolicy, type ParsedQuote } from './quote.ts';
