// parseWith: runs a schema over untrusted input → its typed output, or an AppError (invalid_request
// unless the failing path maps to another code) whose message names the first failing field path
// (`labels.site: …`). It never echoes an input value: messages come from the schemas (or the pure
// parsers they call) or say only what was expected. It knows nothing of HTTP.
import * as v from 'valibot';
import { AppError, type ErrorCode } from '../errors.ts';

export interface ParseOptions {
  /** Prepended to every path in a message (`machine.` for a webhook's machine). */
  readonly prefix?: string;
  /** A code other than invalid_request for a failure at (or under) this top-level field. */
  readonly codes?: Readonly<Record<string, ErrorCode>>;
}

/** The first issue only, like the hand-written checks it replaces: one precise message. */
const CONFIG = { abortEarly: true, message: fallbackMessage } as const;

export function parseWith<S extends v.GenericSchema>(schema: S, input: unknown, options: ParseOptions = {}): v.InferOutput<S> {
  const r = v.safeParse(schema, input, CONFIG);
  if (r.success) return r.output;
  const issue = r.issues[0];
  const path = pathOf(issue);
  const top = issue.path?.[0]?.key;
  const code = typeof top === 'string' && options.codes && Object.hasOwn(options.codes, top) ? options.codes[top]! : 'invalid_request';
  const unknownKey = issue.kind === 'schema' && issue.expected === 'never' && issue.path?.at(-1)?.origin === 'key';
  const where = path === null ? null : `${options.prefix ?? ''}${path}`;
  const message = unknownKey ? `unknown field "${where}"` : where === null ? (options.prefix ? `${options.prefix.replace(/\.$/, '')}: ${issue.message}` : issue.message) : `${where}: ${issue.message}`;
  throw new AppError(code, message);
}

/** The dotted path of an issue, keys cut to 64 characters; null at the top level. */
function pathOf(issue: v.BaseIssue<unknown>): string | null {
  if (!issue.path || issue.path.length === 0) return null;
  return issue.path.map((p) => String(p.key).slice(0, 64)).join('.');
}

/** For a check that brought no message of its own: what was expected, never what was received. */
function fallbackMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.kind === 'schema') return issue.input === undefined && issue.path?.at(-1)?.origin === 'key' ? 'is required' : `must be ${issue.expected ?? 'valid'}`;
  return `${issue.type.replaceAll('_', ' ')}: expected ${issue.expected ?? 'a valid value'}`;
}

/**
 * A refinement that calls an existing pure parser (`parse*` throwing AppError): the rule stays in
 * one place, and its message is the parser's (or `message`). Anything else the parser throws is a bug
 * and propagates.
 */
export function parsedBy<T>(parse: (value: T) => unknown, message?: string) {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      parse(dataset.value);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      addIssue({ message: message ?? err.message });
    }
  });
}
