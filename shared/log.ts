import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';

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

export type { Logger };
