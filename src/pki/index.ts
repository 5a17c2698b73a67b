// Public surface of src/pki: PEM, certificate parsing, signature and chain verification.
export { parsePemBlocks, encodePem, decodeBase64, encodeBase64, type PemBlock } from './pem.ts';
export { parseCertificate, bytesEqual, CertificateParseError, type ParsedCertificate } from './certificate.ts';
export { verifyCertificateSignature, verifyDataSignature } from './signature.ts';
export { verifyCertificateChain, EKU_SERVER_AUTH, EKU_CLIENT_AUTH, type VerifyChainOptions } from './chain.ts';
