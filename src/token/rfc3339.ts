// RFC 3339 as Go's time.Parse(time.RFC3339) accepts it (case-sensitive `T`/`Z`, optional
// fraction, `Z` or ±hh:mm), returning unix ms or null. Formatting is formatExpiration.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function parseRfc3339(value: unknown): number | null {
  if (typeof value !== 'string' || !RFC3339.test(value)) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}
