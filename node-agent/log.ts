/**
 * Progress logs: one JSON line per notable thing, on stderr (stdout stays free for a CLI's output).
 */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where the agent says what it does. Implementations must not throw. */
export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

function write(level: string, component: string, msg: string, fields?: LogFields): void {
  const line = { time: new Date().toISOString(), level, component, msg, ...fields };
  process.stderr.write(`${JSON.stringify(line, errorReplacer)}\n`);
}

/** Errors serialize as {} by default; keep what explains them. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

export function stderrLogger(component = 'node-agent'): Logger {
  return {
    info: (msg, fields) => write('info', component, msg, fields),
    warn: (msg, fields) => write('warn', component, msg, fields),
    error: (msg, fields) => write('error', component, msg, fields),
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));
