// @ts-check
// API discovery, /version and OpenAPI (filled in below).
/** @param {{ path: string, method: string, accept: string, user: import('./authn.mjs').User, url: () => URL }} _r @returns {{ status: number, body: unknown, contentType?: string } | null} */
export function handleDiscovery(_r) {
  return null;
}
