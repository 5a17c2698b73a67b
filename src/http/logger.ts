// Structured one-line JSON logs. Callers pass ids and reasons, never secrets; the sink is injected
// (console in Workers/Deno, a buffer in tests).
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export interface Logger {
  log(level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

export function createConsoleLogger(sink: (line: string) => void = (l) => console.log(l)): Logger {
  return {
    log(level, event, fields = {}) {
      sink(JSON.stringify({ level, event, ...fields }));
    },
  };
}

export const silentLogger: Logger = { log() {} };
