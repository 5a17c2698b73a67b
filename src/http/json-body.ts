// Reads a JSON object body: content-type must be JSON, size is bounded by the body-limit
// middleware, syntax errors and non-objects become `invalid_request`. No schema here.
import type { Context } from 'hono';
import { AppError } from '../errors.ts';

export async function readJsonObject(c: Context): Promise<Record<string, unknown>> {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AppError('unsupported_media_type', 'content-type must be application/json');
  let text: string;
  try {
    text = await c.req.text();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('invalid_request', 'the request body could not be read');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError('invalid_request', 'the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AppError('invalid_request', 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}
