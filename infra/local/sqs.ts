/**
 * The SQS side of the local stack: fauxqs, an SQS-compatible emulator, in this process.
 * Clients reach it through @aws-sdk/client-sqs with AWS_ENDPOINT_URL_SQS.
 */
import { startFauxqs } from 'fauxqs';

export interface LocalSqs {
  /** http://127.0.0.1:PORT; queue URLs it hands out use the same host and port. */
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts the emulator on a free port. Queue URLs follow the request's Host, so 127.0.0.1 works. */
export async function startSqs(): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, logger: false });
  let stopped: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${server.port}`,
    stop: () => (stopped ??= server.stop()),
  };
}
