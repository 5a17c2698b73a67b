// @ts-check
// The k3s supervisor's join routes (filled in below).
/** @param {any} _ctx */
export function createJoinRoutes(_ctx) {
  return {
    /** @param {any} _r @returns {Promise<{ status: number, body: unknown, contentType?: string } | null>} */
    async handle(_r) {
      return null;
    },
  };
}
