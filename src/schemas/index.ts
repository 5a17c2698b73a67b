// Public surface of src/schemas: one valibot schema per request and response body, the parser that
// turns a failed parse into `400 invalid_request` naming the field, and the field rules they share.
export * from './fields.ts';
export * from './parse.ts';
export * from './requests.ts';
export * from './responses.ts';
