import { LogItem, Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { ConstructorOptions } from '@aws-lambda-powertools/logger/types';

/*
 * Structured JSON logs for the functions, by Powertools for AWS Lambda: one JSON line per entry
 * with level, message, timestamp and service, plus the invocation's request id
 * (function_request_id), function name and cold_start once `withRequestContext` is in the
 * handler's middy chain. Errors passed as `{ error }` keep their name, message and stack. The
 * level comes from POWERTOOLS_LOG_LEVEL (default INFO).
 */

/** The logger of one function (`stratus-api`, `stratus-controllers`, ...). */
export const functionLogger = (serviceName: string): Logger => new Logger({ serviceName });

/** Middy middleware: adds the Lambda request id and cold_start to every line of the invocation. */
export const withRequestContext = (logger: Logger) => injectLambdaContext(logger, { resetKeys: true });

/** Where a StreamLogger writes its lines. */
export interface LineSink {
  write(line: string): unknown;
}

/**
 * The same JSON lines for a long-running process outside Lambda (the node agent), every level
 * written to one stream (stderr by default) rather than Powertools' split of info on stdout and
 * warnings on stderr: stdout stays free for a CLI's own output.
 */
export class StreamLogger extends Logger {
  /** Unset while Powertools' constructor prints what it buffered (its own warnings): stderr then. */
  private readonly sink: LineSink | undefined;

  constructor(options: ConstructorOptions = {}, sink: LineSink = process.stderr) {
    super(options);
    this.sink = sink;
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    (this.sink ?? process.stderr).write(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }

  /** Children (createChild) write where their parent does. */
  protected override createLogger(options?: ConstructorOptions): Logger {
    return new StreamLogger(options, this.sink ?? process.stderr);
  }
}

export type { Logger };
